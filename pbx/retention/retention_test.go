package retention

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// TestPurgeOnce: expired trash goes (row and file), recordings past the
// audio retention lose their file but keep their row, transcript and a
// purge audit row, and newer messages are untouched.
func TestPurgeOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetInboxSettings(ctx, "600", store.InboxSettings{TrashDays: 7}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	msgDir := filepath.Join(dir, "messages")
	if err := os.MkdirAll(msgDir, 0o750); err != nil {
		t.Fatal(err)
	}
	add := func(name string, age time.Duration) int64 {
		if err := os.WriteFile(filepath.Join(msgDir, name), []byte("RIFF"), 0o600); err != nil {
			t.Fatal(err)
		}
		id, err := st.AddMessage(ctx, store.Message{Box: "600", CallerNumber: "5551" + name[:1], CalledNumber: "600",
			StartedAt: now.Add(-age), Duration: 5, Audio: name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	old := add("a.wav", 40*24*time.Hour)    // past the 30-day audio retention
	fresh := add("b.wav", 2*24*time.Hour)   // kept
	trashed := add("c.wav", 3*24*time.Hour) // trashed 10 days from now: past 7 trash days
	if err := st.SaveTranscript(ctx, store.Transcript{MessageID: old, Language: "en", Model: "t", Text: "call me"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Trash(ctx, store.Actor{Name: "system", Manager: true}, trashed); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSetting(ctx, store.AudioRetentionSetting, "30"); err != nil {
		t.Fatal(err)
	}
	k := New(st, dir, slog.New(slog.DiscardHandler))
	k.now = func() time.Time { return now.Add(10 * 24 * time.Hour) }
	n, err := k.PurgeOnce(ctx)
	if err != nil || n != 2 {
		t.Fatalf("PurgeOnce = %d, %v; want 2 files", n, err)
	}
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(msgDir, name)); return err == nil }
	tests := []struct {
		name      string
		id        int64
		file      string
		wantFile  bool
		wantRow   bool
		wantAudio bool
	}{
		{"past audio retention", old, "a.wav", false, true, false},
		{"recent", fresh, "b.wav", true, true, true},
		{"expired trash", trashed, "c.wav", false, false, false},
	}
	for _, tt := range tests {
		if got := exists(tt.file); got != tt.wantFile {
			t.Errorf("%s: file exists %v, want %v", tt.name, got, tt.wantFile)
		}
		m, err := st.Message(ctx, tt.id)
		if (err == nil) != tt.wantRow {
			t.Errorf("%s: row present %v (%v), want %v", tt.name, err == nil, err, tt.wantRow)
			continue
		}
		if err == nil && m.AudioPurged == tt.wantAudio {
			t.Errorf("%s: audio purged %v, want %v", tt.name, m.AudioPurged, !tt.wantAudio)
		}
	}
	if tr, err := st.Transcript(ctx, old); err != nil || tr.Text != "call me" {
		t.Errorf("transcript after the audio went: %+v, %v", tr, err)
	}
	rows, err := st.AuditQuery(ctx, store.AuditFilter{Action: "message.audio_purged"})
	if err != nil || len(rows) != 1 || rows[0].MessageID != old || rows[0].Actor != "system" {
		t.Errorf("audio purge audit = %+v, %v", rows, err)
	}
	// Idempotent: nothing more to do.
	if n, err := k.PurgeOnce(ctx); err != nil || n != 0 {
		t.Errorf("second PurgeOnce = %d, %v", n, err)
	}
}
