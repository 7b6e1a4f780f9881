package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Written is what WriteFile produced.
type Written struct {
	Manifest Manifest
	Size     int64
	SHA256   string // of the whole archive
}

// WriteFile writes a backup to path atomically: into path.partial, synced,
// then renamed, so a crash never leaves a truncated archive under the name.
func WriteFile(ctx context.Context, st *store.Store, dataDir, path string) (Written, error) {
	partial := path + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return Written{}, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(partial) // no-op after the rename
	h := sha256.New()
	cw := &counter{w: io.MultiWriter(f, h)}
	m, err := Create(ctx, st, dataDir, cw)
	if err == nil {
		err = f.Sync()
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return Written{}, err
	}
	if err := os.Rename(partial, path); err != nil {
		return Written{}, fmt.Errorf("backup: %w", err)
	}
	return Written{Manifest: m, Size: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Scheduled archives are named with this prefix and the UTC time, so they
// sort oldest first.
const scheduledPrefix = "frontdesk-"

// Scheduler writes a backup every Every into Dir and keeps the Keep newest.
type Scheduler struct {
	Store   *store.Store
	DataDir string
	Dir     string
	Every   time.Duration
	Keep    int
	Log     *slog.Logger
	Now     func() time.Time // nil: time.Now
}

// Run backs up every s.Every until ctx ends. The first backup is due one
// interval after the newest existing one, so restarts don't pile them up.
func (s *Scheduler) Run(ctx context.Context) {
	if s.Every <= 0 {
		return
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	wait := s.Every
	if last, ok := s.newest(); ok {
		wait = max(0, last.Add(s.Every).Sub(now()))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("scheduled backup failed", "dir", s.Dir, "error", err)
		}
		wait = s.Every
	}
}

// Once writes one backup now and prunes old ones; it returns the new path.
func (s *Scheduler) Once(ctx context.Context) (string, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return "", fmt.Errorf("backup dir: %w", err)
	}
	path := filepath.Join(s.Dir, scheduledPrefix+now().UTC().Format("20060102-150405")+".tar.gz")
	w, err := WriteFile(ctx, s.Store, s.DataDir, path)
	if err != nil {
		return "", err
	}
	s.Log.Info("scheduled backup written", "path", path, "bytes", w.Size, "messages", w.Manifest.Count("messages"), "sha256", w.SHA256)
	_ = s.Store.Audit(context.WithoutCancel(ctx), "system", "backup.scheduled", "", 0, filepath.Base(path))
	return path, s.prune()
}

// archives lists the scheduled archives in Dir, oldest first.
func (s *Scheduler) archives() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("backup dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, scheduledPrefix) && strings.HasSuffix(n, ".tar.gz") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// newest returns the time of the newest scheduled archive.
func (s *Scheduler) newest() (time.Time, bool) {
	names, err := s.archives()
	if err != nil || len(names) == 0 {
		return time.Time{}, false
	}
	stamp := strings.TrimSuffix(strings.TrimPrefix(names[len(names)-1], scheduledPrefix), ".tar.gz")
	t, err := time.Parse("20060102-150405", stamp)
	return t, err == nil
}

// prune removes all but the Keep newest scheduled archives.
func (s *Scheduler) prune() error {
	if s.Keep <= 0 {
		return nil
	}
	names, err := s.archives()
	if err != nil {
		return err
	}
	var errs []error
	for len(names) > s.Keep {
		if err := os.Remove(filepath.Join(s.Dir, names[0])); err != nil {
			errs = append(errs, err)
		} else {
			s.Log.Info("old backup removed", "path", filepath.Join(s.Dir, names[0]))
		}
		names = names[1:]
	}
	return errors.Join(errs...)
}
