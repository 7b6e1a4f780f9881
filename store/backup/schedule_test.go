package backup

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// TestSchedulerKeepsNewest: each run writes a verified archive and only the
// Keep newest stay.
func TestSchedulerKeepsNewest(t *testing.T) {
	f := newFixture(t)
	st, err := store.Open(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	s := &Scheduler{Store: st, DataDir: f.dir, Dir: t.TempDir(), Every: 24 * time.Hour, Keep: 3,
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return clock }}
	var written []string
	for range 5 {
		p, err := s.Once(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, p)
		clock = clock.Add(24 * time.Hour)
	}
	names, err := s.archives()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"frontdesk-20261103-030000.tar.gz", "frontdesk-20261104-030000.tar.gz", "frontdesk-20261105-030000.tar.gz"}
	if !slices.Equal(names, want) {
		t.Fatalf("kept %v, want %v", names, want)
	}
	r, err := os.Open(written[len(written)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m, err := Verify(r)
	if err != nil {
		t.Fatalf("newest scheduled backup doesn't verify: %v", err)
	}
	if m.Count("messages") != len(f.messages) {
		t.Errorf("backup holds %d messages, want %d", m.Count("messages"), len(f.messages))
	}
	if last, ok := s.newest(); !ok || !last.Equal(time.Date(2026, 11, 5, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("newest = %v %v", last, ok)
	}
}
