//go:build whisper

package transcriber

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/media/whisper"
	"github.com/frontdesk-pbx/frontdesk/media/whisper/ggmlgen"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// These tests run the real engine (in the Debian sid root, `make test-whisper`)
// with a tiny random-weight model: the words mean nothing, so they check
// structure, states and times, not text.

func tinyModel(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ggml-tiny-random.bin")
	if err := ggmlgen.WriteTinyModelFile(path, 1); err != nil {
		t.Fatal(err)
	}
	return path
}

// depositWAV stores a message of seconds of tone bursts as a deposit does.
func depositWAV(t *testing.T, st *store.Store, dataDir string, seconds int) int64 {
	t.Helper()
	os.MkdirAll(filepath.Join(dataDir, "messages"), 0o750)
	var s []int16
	for i := range seconds {
		s = append(s, media.Tone(200+float64(i%5)*90, 0.7, 8000, 0.3)...)
		s = append(s, media.Silence(0.3, 8000)...)
	}
	name := fmt.Sprintf("m%d.wav", time.Now().UnixNano())
	if err := media.WriteWAVFileAtomic(filepath.Join(dataDir, "messages", name), media.Audio{Rate: 8000, Samples: s}); err != nil {
		t.Fatal(err)
	}
	id, err := st.AddMessage(context.Background(), store.Message{Box: "600", CallerNumber: "5551234", CallerName: "Anna",
		CalledNumber: "600", StartedAt: time.Now(), Duration: float64(seconds), Audio: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runUntil runs the worker until cond holds or the timeout passes.
func runUntil(t *testing.T, w *Worker, timeout time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	deadline := time.Now().Add(timeout)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
}

// The whole path: a stored message is queued, whisper transcribes it, the
// segments are kept in the message's time, and the text is searchable.
func TestRealEngineQueueToSearch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	if err := st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
		t.Fatal(err)
	}
	lang := "en"
	if err := st.UpdateBox(ctx, "600", store.BoxUpdate{TranscribeLang: &lang}); err != nil {
		t.Fatal(err)
	}
	st.SetSetting(ctx, ModelSetting, tinyModel(t, dir))
	short := depositWAV(t, st, dir, 6)
	long := depositWAV(t, st, dir, 45) // longer than whisper's 30 s window
	w := New(st, dir, quietLog(), 1, whisper.Load, whisper.Available())
	runUntil(t, w, 120*time.Second, func() bool {
		a, _ := st.JobOf(ctx, short)
		b, _ := st.JobOf(ctx, long)
		return a.State == store.JobDone && b.State == store.JobDone
	})
	for id, seconds := range map[int64]int{short: 6, long: 45} {
		j, _ := st.JobOf(ctx, id)
		if j.State != store.JobDone {
			t.Fatalf("message %d: job %+v, want done", id, j)
		}
		tr, err := st.Transcript(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Model != "ggml-tiny-random.bin" || tr.Language != "en" || tr.Seconds <= 0 {
			t.Fatalf("message %d transcript %+v: want the model's name, en, a duration", id, tr)
		}
		for _, s := range tr.Segments {
			if s.StartMS < 0 || s.EndMS < s.StartMS || s.EndMS > int64(seconds*1000+500) {
				t.Fatalf("message %d: segment %+v outside its %d s of audio", id, s, seconds)
			}
		}
		// Whatever the random model said is what search finds.
		if words := strings.Fields(tr.Text); len(words) > 0 {
			word := strings.Trim(words[0], ".,!?\"'")
			if len([]rune(word)) >= 2 {
				hits, err := st.SearchMessages(ctx, word, nil, 10)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, h := range hits {
					found = found || h.ID == id
				}
				if !found {
					t.Errorf("searching %q (from message %d's transcript) found %d other messages, not it", word, id, len(hits))
				}
			}
		}
		t.Logf("message %d (%d s): %d segments in %.2f s", id, seconds, len(tr.Segments), tr.Seconds)
	}
	// The caller's name is searchable whatever the transcript says.
	if hits, _ := st.SearchMessages(ctx, "anna", nil, 10); len(hits) != 2 {
		t.Fatalf("caller-name search found %d messages, want 2", len(hits))
	}
}

// A bad model makes the job fail with a clear error; the message stays;
// with a good model the next job runs.
func TestRealEngineBadModel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared})
	good := tinyModel(t, dir)
	raw, _ := os.ReadFile(good)
	for name, content := range map[string][]byte{
		"wrong-magic.bin": append([]byte("GGUF"), raw[4:]...),
		"truncated.bin":   raw[:len(raw)/3],
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, content, 0o600)
		st.SetSetting(ctx, ModelSetting, path)
		id := depositWAV(t, st, dir, 3)
		w := New(st, dir, quietLog(), 1, whisper.Load, true)
		runUntil(t, w, 20*time.Second, func() bool { j, _ := st.JobOf(ctx, id); return j.Error != "" })
		j, _ := st.JobOf(ctx, id)
		if j.Error == "" || !strings.Contains(j.Error, "model") {
			t.Fatalf("%s: job %+v, want a clear model error", name, j)
		}
		if _, err := st.Message(ctx, id); err != nil {
			t.Fatalf("%s: message lost: %v", name, err)
		}
		t.Logf("%s: %s", name, j.Error)
	}
	st.SetSetting(ctx, ModelSetting, good)
	next := depositWAV(t, st, dir, 3)
	w := New(st, dir, quietLog(), 1, whisper.Load, true)
	runUntil(t, w, 60*time.Second, func() bool { j, _ := st.JobOf(ctx, next); return j.State == store.JobDone })
	if j, _ := st.JobOf(ctx, next); j.State != store.JobDone {
		t.Fatalf("the next job after bad models: %+v, want done", j)
	}
}

// A process killed (SIGKILL) while it transcribes leaves the job running;
// the next start runs it again and stores exactly one transcript.
func TestRealEngineKilledMidTranscription(t *testing.T) {
	if dir := os.Getenv("FRONTDESK_TRANSCRIBER_CHILD"); dir != "" {
		st, err := store.Open(context.Background(), dir)
		if err != nil {
			os.Exit(3)
		}
		New(st, dir, quietLog(), 1, whisper.Load, true).Run(context.Background())
		os.Exit(0)
	}
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	st.AddBox(ctx, store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared})
	st.SetSetting(ctx, ModelSetting, tinyModel(t, dir))
	id := depositWAV(t, st, dir, 240) // long enough to be caught running

	child := exec.Command(os.Args[0], "-test.run", "^TestRealEngineKilledMidTranscription$")
	child.Env = append(os.Environ(), "FRONTDESK_TRANSCRIBER_CHILD="+dir)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if j, _ := st.JobOf(ctx, id); j.State == store.JobRunning {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	j, _ := st.JobOf(ctx, id)
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if j.State != store.JobRunning {
		t.Fatalf("job was %q when the process was killed; want it caught running", j.State)
	}
	if _, err := st.Transcript(ctx, id); err == nil {
		t.Fatal("a transcript exists although the process was killed while transcribing")
	}
	w := New(st, dir, quietLog(), 1, whisper.Load, true)
	runUntil(t, w, 120*time.Second, func() bool { j, _ := st.JobOf(ctx, id); return j.State == store.JobDone })
	j, _ = st.JobOf(ctx, id)
	if j.State != store.JobDone || j.Attempts != 2 {
		t.Fatalf("after restart: %+v, want done on the second attempt", j)
	}
	tr, err := st.Transcript(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// Greedy decoding is deterministic: one clean run gives the segments the
	// stored transcript must have, no more (a double store would add some).
	model, err := whisper.Load(tr.Model, whisper.Options{Threads: 1})
	if err != nil {
		model, err = whisper.Load(filepath.Join(dir, tr.Model), whisper.Options{Threads: 1})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	msg, _ := st.Message(ctx, id)
	a, err := media.ReadWAVFile(filepath.Join(dir, "messages", msg.Audio))
	if err != nil {
		t.Fatal(err)
	}
	samples, _ := whisper.Prepare(a)
	want, err := model.Transcribe(ctx, samples, "auto")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Segments) != len(want.Segments) {
		t.Fatalf("stored %d segments, a clean run gives %d: the transcript was stored twice or cut", len(tr.Segments), len(want.Segments))
	}
}
