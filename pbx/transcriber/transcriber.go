// Package transcriber turns every new voicemail into text on the office's own
// box: it works through the transcription queue kept in the database, one
// message at a time, with a bounded number of threads at low CPU priority so
// calls are never slowed by it.
package transcriber

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/media/whisper"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// ModelSetting is the setting that names the model file in use.
const ModelSetting = "whisper.model"

// Retry policy for a failed transcription.
const (
	maxAttempts = 5
	firstRetry  = 10 * time.Second
	poll        = 2 * time.Second
)

// Reasons shown for messages waiting on a model.
const (
	ReasonNoModel  = "not transcribed: no model (run: frontdesk model pull base.en && frontdesk model use base.en)"
	ReasonNoEngine = "not transcribed: this build has no transcription engine"
)

// Loader loads a model; whisper.Load in production, a fake in tests.
type Loader func(path string, opts whisper.Options) (whisper.Model, error)

// Worker transcribes queued messages.
type Worker struct {
	store   *store.Store
	dataDir string
	log     *slog.Logger
	threads int
	load    Loader
	now     func() time.Time
	// engine reports whether transcription is possible at all in this build.
	engine bool

	wake chan struct{}

	mu        sync.Mutex
	model     whisper.Model
	modelPath string
	hinted    bool // the no-model hint was logged
}

// New makes a worker. threads <= 0 means the number of cores less one (at
// least one), leaving a core for calls.
func New(st *store.Store, dataDir string, log *slog.Logger, threads int, load Loader, engine bool) *Worker {
	if threads <= 0 {
		threads = max(1, runtime.NumCPU()-1)
	}
	return &Worker{store: st, dataDir: dataDir, log: log, threads: threads, load: load, engine: engine,
		now: time.Now, wake: make(chan struct{}, 1)}
}

// Wake asks the worker to look at the queue now (a new message arrived).
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run works through the queue until ctx ends. Jobs a crash interrupted run
// again; a model set later (with the CLI, while the server runs) brings
// the messages that waited for one back into the queue.
func (w *Worker) Run(ctx context.Context) {
	// Transcription runs on one OS thread at a lower priority; whisper's own
	// threads, started from it, inherit that priority.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 10); err != nil {
		w.log.Debug("transcription: could not lower priority", "error", err)
	}
	defer w.closeModel()
	if n, err := w.store.RequeueRunning(ctx); err != nil {
		w.log.Error("transcription", "error", err)
	} else if n > 0 {
		w.log.Info("transcription: interrupted jobs queued again", "count", n)
	}
	lastModel := ""
	for ctx.Err() == nil {
		path, _ := w.store.Setting(ctx, ModelSetting)
		if path != lastModel && path != "" && w.engine {
			if n, err := w.store.RequeueWaiting(ctx, w.now()); err == nil && n > 0 {
				w.log.Info("transcription: model set, transcribing the backlog", "model", path, "messages", n)
			}
		}
		lastModel = path
		worked, err := w.runOne(ctx, path)
		if err != nil {
			w.log.Error("transcription", "error", err)
		}
		if worked {
			continue
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-time.After(poll):
		}
	}
}

// runOne handles the next due job, if any.
func (w *Worker) runOne(ctx context.Context, modelPath string) (bool, error) {
	job, ok, err := w.store.NextJob(ctx, w.now())
	if err != nil || !ok {
		return false, err
	}
	log := w.log.With("message", job.MessageID, "attempt", job.Attempts)
	switch {
	case !w.engine:
		return true, w.store.JobWaiting(ctx, job.MessageID, ReasonNoEngine)
	case modelPath == "":
		if !w.hinted {
			w.log.Warn("voicemail is not being transcribed: no model set. Run: frontdesk model pull base.en && frontdesk model use base.en")
			w.hinted = true
		}
		return true, w.store.JobWaiting(ctx, job.MessageID, ReasonNoModel)
	}
	started := time.Now()
	tr, err := w.transcribe(ctx, job, modelPath)
	if ctx.Err() != nil {
		return true, nil // shutting down: the job is requeued at the next start
	}
	if err != nil {
		next := time.Time{}
		if job.Attempts < maxAttempts {
			next = w.now().Add(firstRetry << (job.Attempts - 1))
		}
		log.Warn("transcription failed", "error", err, "retry_at", next)
		return true, w.store.JobFailed(ctx, job.MessageID, err.Error(), next)
	}
	tr.Seconds = time.Since(started).Seconds()
	if err := w.store.SaveTranscript(ctx, tr); err != nil {
		return true, err
	}
	log.Info("transcribed", "seconds", fmt.Sprintf("%.2f", tr.Seconds), "segments", len(tr.Segments), "language", tr.Language)
	return true, nil
}

// transcribe runs the model over one message.
func (w *Worker) transcribe(ctx context.Context, job store.Job, modelPath string) (store.Transcript, error) {
	model, err := w.modelFor(modelPath)
	if err != nil {
		return store.Transcript{}, err
	}
	a, err := media.ReadWAVFile(filepath.Join(w.dataDir, "messages", job.Audio))
	if err != nil {
		return store.Transcript{}, fmt.Errorf("read message audio: %w", err)
	}
	if a.Rate != media.SampleRate {
		a = media.Audio{Rate: media.SampleRate, Samples: media.Resample(a.Samples, a.Rate, media.SampleRate)}
	}
	samples, offset := whisper.Prepare(a)
	tr := store.Transcript{MessageID: job.MessageID, Model: filepath.Base(modelPath), Language: job.Language}
	if len(samples) == 0 {
		return tr, nil // nothing but silence: an empty transcript
	}
	res, err := model.Transcribe(ctx, samples, job.Language)
	if err != nil {
		return tr, err
	}
	if res.Language != "" {
		tr.Language = res.Language
	}
	tr.Text = res.Text()
	for _, s := range res.Segments {
		tr.Segments = append(tr.Segments, store.TextSpan{
			StartMS: (offset + s.Start).Milliseconds(), EndMS: (offset + s.End).Milliseconds(), Text: s.Text,
		})
	}
	return tr, nil
}

// modelFor loads the model at path once and keeps it; a new path replaces it.
func (w *Worker) modelFor(path string) (whisper.Model, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.model != nil && w.modelPath == path {
		return w.model, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	m, err := w.load(path, whisper.Options{Threads: w.threads})
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	if w.model != nil {
		w.model.Close()
	}
	w.model, w.modelPath = m, path
	return m, nil
}

func (w *Worker) closeModel() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.model != nil {
		w.model.Close()
		w.model = nil
	}
}
