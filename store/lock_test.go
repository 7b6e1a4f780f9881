package store

import (
	"errors"
	"testing"
)

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	if locked, err := DataDirLocked(dir); err != nil || locked {
		t.Fatalf("fresh dir locked = %v, %v", locked, err)
	}
	unlock, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockDataDir(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("second lock: %v, want ErrLocked", err)
	}
	if locked, err := DataDirLocked(dir); err != nil || !locked {
		t.Errorf("DataDirLocked while held = %v, %v", locked, err)
	}
	unlock()
	if locked, err := DataDirLocked(dir); err != nil || locked {
		t.Errorf("DataDirLocked after unlock = %v, %v", locked, err)
	}
	unlock, err = LockDataDir(dir)
	if err != nil {
		t.Fatalf("relock after unlock: %v", err)
	}
	unlock()
}
