package transcriber

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/media/whisper"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// fakeModel "recognises" one segment per second of audio.
type fakeModel struct{ fail error }

func (f fakeModel) Transcribe(_ context.Context, samples []float32, lang string) (whisper.Result, error) {
	if f.fail != nil {
		return whisper.Result{}, f.fail
	}
	var r whisper.Result
	r.Language = "en"
	secs := len(samples) / whisper.SampleRate
	for i := range secs {
		r.Segments = append(r.Segments, whisper.Segment{Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second, Text: " word"})
	}
	return r, nil
}

func (fakeModel) Close() error { return nil }

type fixture struct {
	st      *store.Store
	dir     string
	w       *Worker
	loads   atomic.Int32
	failing atomic.Bool
}

func newFixture(t *testing.T, engine bool) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	st, err := store.Open(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if err := st.AddBox(context.Background(), store.Box{Number: "600", Name: "Sales", Kind: store.BoxShared}); err != nil {
		t.Fatal(err)
	}
	load := func(path string, _ whisper.Options) (whisper.Model, error) {
		f.loads.Add(1)
		b, err := os.ReadFile(path)
		if err != nil || string(b) != "good model" {
			return nil, errors.New("bad model file: wrong magic")
		}
		if f.failing.Load() {
			return fakeModel{fail: errors.New("engine exploded")}, nil
		}
		return fakeModel{}, nil
	}
	f.w = New(st, f.dir, slog.New(slog.NewTextHandler(io.Discard, nil)), 1, load, engine)
	return f
}

// deposit stores a message of silence, 3 s of tone, silence.
func (f *fixture) deposit(t *testing.T) int64 {
	t.Helper()
	os.MkdirAll(filepath.Join(f.dir, "messages"), 0o750)
	name := time.Now().Format("150405.000000000") + ".wav"
	var s []int16
	s = append(s, media.Silence(1, 8000)...)
	s = append(s, media.Tone(300, 3, 8000, 0.3)...)
	s = append(s, media.Silence(1, 8000)...)
	if err := media.WriteWAVFileAtomic(filepath.Join(f.dir, "messages", name), media.Audio{Rate: 8000, Samples: s}); err != nil {
		t.Fatal(err)
	}
	id, err := f.st.AddMessage(context.Background(), store.Message{Box: "600", CallerNumber: "5551234", CalledNumber: "600",
		StartedAt: time.Now(), Duration: 5, Audio: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) model(t *testing.T, content string) {
	t.Helper()
	path := filepath.Join(f.dir, "model-"+content+".bin")
	os.WriteFile(path, []byte(content), 0o600)
	if err := f.st.SetSetting(context.Background(), ModelSetting, path); err != nil {
		t.Fatal(err)
	}
}

// drain runs jobs until none is due.
func (f *fixture) drain(t *testing.T) {
	t.Helper()
	path, _ := f.st.Setting(context.Background(), ModelSetting)
	for range 20 {
		worked, err := f.w.runOne(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		if !worked {
			return
		}
	}
}

func (f *fixture) state(t *testing.T, id int64) store.Job {
	t.Helper()
	j, err := f.st.JobOf(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestNoModelThenBacklog(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true)
	id := f.deposit(t)
	f.drain(t)
	if j := f.state(t, id); j.State != store.JobNoModel || j.Error != ReasonNoModel {
		t.Fatalf("without a model: %+v, want no-model with the hint", j)
	}
	f.model(t, "good model")
	if n, _ := f.st.RequeueWaiting(ctx, time.Now()); n != 1 {
		t.Fatalf("backlog %d, want 1", n)
	}
	f.drain(t)
	tr, err := f.st.Transcript(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// The tone starts 1 s in; segment times are in the message's own time.
	if len(tr.Segments) != 3 || tr.Segments[0].StartMS < 700 || tr.Segments[0].StartMS > 900 {
		t.Fatalf("segments %+v: want 3, the first starting about 0.8 s in", tr.Segments)
	}
	if j := f.state(t, id); j.State != store.JobDone {
		t.Fatalf("job %+v, want done", j)
	}
}

func TestNoEngine(t *testing.T) {
	f := newFixture(t, false)
	f.model(t, "good model")
	id := f.deposit(t)
	f.drain(t)
	if j := f.state(t, id); j.State != store.JobNoModel || j.Error != ReasonNoEngine {
		t.Fatalf("without an engine: %+v", j)
	}
}

func TestBadModelFailsClearlyAndNextJobRuns(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true)
	f.model(t, "garbage")
	first := f.deposit(t)
	f.drain(t)
	j := f.state(t, first)
	if j.State != store.JobQueued || j.Attempts != 1 || j.Error == "" {
		t.Fatalf("after a bad model: %+v, want queued for a retry with the error", j)
	}
	if _, err := f.st.Message(ctx, first); err != nil {
		t.Fatalf("message lost after a failed transcription: %v", err)
	}
	// Give up after the last attempt.
	for range maxAttempts {
		f.st.JobFailed(ctx, first, j.Error, time.Now().Add(-time.Second)) // due now
		f.drain(t)
	}
	if j := f.state(t, first); j.State != store.JobFailed {
		t.Fatalf("after %d attempts: %+v, want failed", maxAttempts, j)
	}
	f.model(t, "good model")
	second := f.deposit(t)
	f.drain(t)
	if j := f.state(t, second); j.State != store.JobDone {
		t.Fatalf("the next job after a failure: %+v, want done", j)
	}
}

func TestInterruptedJobRunsAgainWithoutDuplicate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true)
	f.model(t, "good model")
	id := f.deposit(t)
	f.drain(t)
	// Pretend a crash cut a second run short: the job is "running" again.
	if _, ok, _ := f.st.NextJob(ctx, time.Now()); ok {
		t.Fatal("a done job was claimed")
	}
	if err := f.st.JobFailed(ctx, id, "", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.st.NextJob(ctx, time.Now()); !ok {
		t.Fatal("could not claim the job")
	}
	if n, _ := f.st.RequeueRunning(ctx); n != 1 {
		t.Fatalf("requeued %d, want 1", n)
	}
	f.drain(t)
	tr, err := f.st.Transcript(ctx, id)
	if err != nil || len(tr.Segments) != 3 {
		t.Fatalf("transcript after the rerun: %+v, %v (want exactly 3 segments, no duplicates)", tr, err)
	}
}

func TestRunStopsAndRetries(t *testing.T) {
	f := newFixture(t, true)
	f.model(t, "good model")
	f.failing.Store(true)
	id := f.deposit(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.w.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for f.state(t, id).Error == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	j := f.state(t, id)
	if j.Attempts != 1 || j.State != store.JobQueued || j.Error != "engine exploded" {
		t.Fatalf("after one failing run: %+v, want queued for a retry", j)
	}
}
