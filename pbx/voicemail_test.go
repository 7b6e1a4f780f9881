package pbx

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// leftover writes the files a crash leaves of a recording in progress:
// ID.json and seconds of audio in ID.pcm (meta "" writes unreadable JSON).
func leftover(t *testing.T, dir, id, box string, seconds float64, meta string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if meta == "" {
		b, _ := json.Marshal(recordingMeta{ID: id, Box: box, CallerNumber: "5551234", CalledNumber: box, StartedAt: time.Now().Add(-time.Minute)})
		meta = string(b)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(meta), 0o640); err != nil {
		t.Fatal(err)
	}
	tone := media.Tone(440, seconds, media.SampleRate, 0.3)
	pcm := make([]byte, 2*len(tone))
	for i, s := range tone {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(s))
	}
	if err := os.WriteFile(filepath.Join(dir, id+".pcm"), pcm, 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverLeftoverRecordings(t *testing.T) {
	diskFull := func(string, media.Audio) error { return fmt.Errorf("write: %w", syscall.ENOSPC) }
	tests := []struct {
		name     string
		seconds  float64
		meta     string // "" for good metadata
		box      string
		writeWAV func(string, media.Audio) error
		// after Recover
		wantMessages int
		wantFiles    []string // left in messages/, by extension
		wantLog      string
	}{
		{name: "recording saved", seconds: 2, box: "600", wantMessages: 1, wantLog: "interrupted recording saved"},
		{name: "disk full: kept for the next start", seconds: 2, box: "600", writeWAV: diskFull,
			wantFiles: []string{".json", ".pcm"}, wantLog: "kept for the next start"},
		{name: "under a second: removed", seconds: 0.5, box: "600", writeWAV: diskFull, wantLog: "under a second removed"},
		{name: "unreadable metadata: removed", seconds: 2, meta: "{", box: "600", wantLog: "unreadable recording metadata removed"},
		{name: "box gone: removed", seconds: 2, box: "699", wantLog: "box is gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dataDir := t.TempDir()
			st, err := store.Open(ctx, dataDir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			changed := 0
			v := &voicemail{store: st, log: slog.New(slog.NewTextHandler(&logs, nil)), dataDir: dataDir, now: time.Now,
				writeWAV: tt.writeWAV, changed: func(string) { changed++ }}
			dir := filepath.Join(dataDir, MessagesDir)
			const id = "0123456789abcdef01234567"
			leftover(t, dir, id, tt.box, tt.seconds, tt.meta)

			if err := v.Recover(ctx); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q, want %q in it", logs.String(), tt.wantLog)
			}
			msgs, err := st.Messages(ctx, "600")
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != tt.wantMessages || changed != tt.wantMessages {
				t.Fatalf("%d messages stored (%d changes told), want %d", len(msgs), changed, tt.wantMessages)
			}
			var files []string
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() == id+".wav" && tt.wantMessages == 1 {
					continue // the stored message
				}
				files = append(files, strings.TrimPrefix(e.Name(), id))
			}
			if strings.Join(files, " ") != strings.Join(tt.wantFiles, " ") {
				t.Errorf("left in messages/: %q, want %q", files, tt.wantFiles)
			}

			if tt.writeWAV == nil || tt.wantFiles == nil {
				return
			}
			// Space again: the next start stores what was kept, once.
			logs.Reset()
			v.writeWAV = nil
			for range 2 {
				if err := v.Recover(ctx); err != nil {
					t.Fatalf("Recover again: %v", err)
				}
			}
			msgs, _ = st.Messages(ctx, "600")
			if len(msgs) != 1 || changed != 1 {
				t.Fatalf("after space came back: %d messages (%d changes told), want 1", len(msgs), changed)
			}
			if _, err := os.Stat(filepath.Join(dir, id+".pcm")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("raw recording still there after it was stored: %v", err)
			}
		})
	}
}
