package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockName is the lock file a running server holds in its data directory.
const LockName = "frontdesk.lock"

// ErrLocked means a server is running on the data directory.
var ErrLocked = errors.New("a Frontdesk server is running on this data directory; stop it first (systemctl stop frontdesk)")

// LockDataDir takes the data directory's lock, held until unlock or the
// process ends (the kernel drops it even after kill -9). The server holds
// it while it runs, so two servers can't share a directory and a restore
// can't swap the directory out from under one.
func LockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, LockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return func() { f.Close() }, nil
}

// DataDirLocked reports whether a server holds dir's lock (false when dir
// doesn't exist).
func DataDirLocked(dir string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, LockName))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check data dir lock: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		return false, fmt.Errorf("check data dir lock: %w", err)
	}
	return false, nil
}
