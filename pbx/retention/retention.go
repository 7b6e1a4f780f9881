// Package retention deletes what the office has said not to keep: messages
// that have been in a box's trash longer than the box keeps them (rows and
// audio), and recordings older than the audio retention setting (audio
// only: the message, its transcript and the audit log stay). The store
// audits every purge.
package retention

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Keeper purges expired trash on a timer.
type Keeper struct {
	st      *store.Store
	dataDir string
	log     *slog.Logger
	every   time.Duration
	now     func() time.Time
}

// New returns a Keeper that checks every hour.
func New(st *store.Store, dataDir string, log *slog.Logger) *Keeper {
	return &Keeper{st: st, dataDir: dataDir, log: log, every: time.Hour, now: time.Now}
}

// Run purges at start and then every hour until ctx ends.
func (k *Keeper) Run(ctx context.Context) {
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		if _, err := k.PurgeOnce(ctx); err != nil && ctx.Err() == nil {
			k.log.Error("trash purge", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PurgeOnce purges what has expired now and returns how many files went.
// Rows are updated first, then files removed: a crash in between leaves an
// orphan file, never a message that claims audio it doesn't have.
func (k *Keeper) PurgeOnce(ctx context.Context) (int, error) {
	files, err := k.st.PurgeExpired(ctx, k.now())
	if err != nil {
		return 0, err
	}
	if len(files) > 0 {
		k.log.Info("trash purged", "messages", len(files))
	}
	days, err := k.st.AudioRetentionDays(ctx)
	if err != nil {
		return len(files), err
	}
	old, err := k.st.PurgeOldAudio(ctx, k.now(), days)
	if len(old) > 0 {
		k.log.Info("old recordings deleted", "messages", len(old), "retention_days", days)
	}
	files = append(files, old...)
	errs := []error{err}
	for _, f := range files {
		if f == "" || filepath.Base(f) != f {
			continue // never follow a name out of the messages directory
		}
		if err := os.Remove(filepath.Join(k.dataDir, "messages", f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return len(files), errors.Join(errs...)
}
