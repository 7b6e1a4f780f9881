//go:build whisper

package whisper

/*
#cgo pkg-config: whisper ggml
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ggml.h>
#include <ggml-backend.h>
#include <whisper.h>

// The engine's log: information is dropped, warnings and errors go to
// stderr, except while a model loads, when errors are kept so that Load
// can return them (they say what whisper.cpp disliked in the file).
static int frontdesk_capture;
static char frontdesk_errors[512];

static void frontdesk_log(enum ggml_log_level level, const char *text, void *user) {
	(void)user;
	if (level != GGML_LOG_LEVEL_ERROR && level != GGML_LOG_LEVEL_WARN) {
		return;
	}
	if (frontdesk_capture && level == GGML_LOG_LEVEL_ERROR) {
		size_t have = strlen(frontdesk_errors);
		snprintf(frontdesk_errors + have, sizeof frontdesk_errors - have, "%s", text);
		return;
	}
	fputs(text, stderr);
}

static void frontdesk_init(void) {
	whisper_log_set(frontdesk_log, NULL);
	ggml_log_set(frontdesk_log, NULL);
	// Debian's ggml keeps its CPU code in plugins, one per CPU family;
	// nothing runs until they are loaded.
	ggml_backend_load_all();
}

static struct whisper_context *frontdesk_load(const char *path, char **errs) {
	frontdesk_errors[0] = 0;
	*errs = frontdesk_errors;
	if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) == NULL) {
		// whisper.cpp would abort the process (GGML_ASSERT(device)).
		snprintf(frontdesk_errors, sizeof frontdesk_errors,
			"no ggml CPU backend could be loaded (Debian: the libggml0 package's backends0 directory)");
		return NULL;
	}
	frontdesk_capture = 1;
	struct whisper_context_params cp = whisper_context_default_params();
	struct whisper_context *ctx = whisper_init_from_file_with_params(path, cp);
	frontdesk_capture = 0;
	return ctx;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	wb "github.com/ggerganov/whisper.cpp/bindings/go"
)

// Available reports whether this binary can transcribe.
func Available() bool { return true }

// EngineName says which engine this binary has.
func EngineName() string {
	return fmt.Sprintf("whisper.cpp (libwhisper %s, ggml %s)",
		C.GoString(C.whisper_version()), C.GoString(C.ggml_version()))
}

var (
	initOnce sync.Once

	// engine admits one call into libwhisper at a time, across all models.
	// The official Go bindings keep the callbacks of a running whisper_full
	// in package-level maps without a lock, written at the start and end of
	// every call: two transcriptions at once would kill the process with
	// "concurrent map writes". One at a time, each on Options.Threads
	// threads, is also what a small office server can afford. It is a
	// channel so that a caller can give up waiting.
	engine = make(chan struct{}, 1)
)

func acquire(ctx context.Context) error {
	select {
	case engine <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release() { <-engine }

type cgoModel struct {
	mu           sync.Mutex // one transcription at a time on this context
	wctx         *wb.Context
	path         string
	threads      int
	multilingual bool
}

// Load reads a whisper.cpp ggml model file. The file's structure is checked
// in Go first: libwhisper trusts what it reads and can crash the process on
// a damaged file.
func Load(path string, opts Options) (Model, error) {
	info, err := checkModelFile(path)
	if err != nil {
		return nil, err
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	initOnce.Do(func() { C.frontdesk_init() })

	if err := acquire(context.Background()); err != nil {
		return nil, err
	}
	defer release()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var errs *C.char
	wctx := C.frontdesk_load(cpath, &errs)
	if wctx == nil {
		msg := strings.Join(strings.Fields(C.GoString(errs)), " ")
		if msg == "" {
			msg = "whisper.cpp could not load it"
		}
		if strings.HasPrefix(msg, "no ggml CPU backend") {
			return nil, fmt.Errorf("whisper: %s", msg)
		}
		return nil, fmt.Errorf("whisper model %s: %w: %s", path, ErrBadModel, msg)
	}
	return &cgoModel{
		wctx:         (*wb.Context)(unsafe.Pointer(wctx)),
		path:         path,
		threads:      threads,
		multilingual: info.multilingual(),
	}, nil
}

// Transcribe recognises 16 kHz mono samples. Cancelling ctx stops it before
// the next 30 s window and returns ctx's error.
func (m *cgoModel) Transcribe(ctx context.Context, samples []float32, language string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wctx == nil {
		return Result{}, errors.New("whisper: model is closed")
	}

	langID := -1 // detect
	switch language = strings.ToLower(strings.TrimSpace(language)); {
	case language == "" || language == "auto":
		language = "auto"
		if !m.multilingual {
			langID = 0 // an English-only model knows one language
		}
	default:
		code := C.CString(language)
		langID = int(C.whisper_lang_id(code))
		C.free(unsafe.Pointer(code))
		if langID < 0 {
			return Result{}, fmt.Errorf("whisper: unknown language %q", language)
		}
		if !m.multilingual && langID != 0 {
			return Result{}, fmt.Errorf("whisper: model %s is English-only, cannot transcribe %q", m.path, language)
		}
	}
	if len(samples) == 0 {
		res := Result{Segments: []Segment{}}
		if language != "auto" {
			res.Language = language
		}
		return res, nil
	}

	if err := acquire(ctx); err != nil {
		return Result{}, err
	}
	defer release()

	params := m.wctx.Whisper_full_default_params(wb.SAMPLING_GREEDY)
	params.SetThreads(m.threads)
	params.SetTranslate(false)
	params.SetNoContext(true) // no previous window as prompt: fewer repetition loops
	params.SetSingleSegment(false)
	params.SetPrintProgress(false)
	params.SetPrintRealtime(false)
	params.SetPrintTimestamps(false)
	params.SetPrintSpecial(false)
	if err := params.SetLanguage(langID); err != nil {
		return Result{}, fmt.Errorf("whisper: language %q: %w", language, err)
	}

	keepGoing := func() bool { return ctx.Err() == nil }
	if err := m.wctx.Whisper_full(params, samples, keepGoing, nil, nil); err != nil {
		return Result{}, fmt.Errorf("whisper: transcription failed: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	// Whisper counts time in 10 ms steps and may place the end of the last
	// segment past the end of the audio (it thinks in 30 s windows).
	length := time.Duration(len(samples)) * time.Second / SampleRate
	clamp := func(t int64) time.Duration {
		return min(max(time.Duration(t)*10*time.Millisecond, 0), length)
	}
	n := m.wctx.Whisper_full_n_segments()
	res := Result{Segments: make([]Segment, 0, n)}
	if id := m.wctx.Whisper_full_lang_id(); id >= 0 && (n > 0 || language != "auto") {
		// (With nothing heard, as when the audio is under whisper's
		// 100 ms minimum, no language was detected.)
		res.Language = wb.Whisper_lang_str(id)
	}
	for i := range n {
		text := m.wctx.Whisper_full_get_segment_text(i)
		if !utf8.ValidString(text) {
			// Tokens are byte sequences: a character can be split
			// between segments.
			text = strings.ToValidUTF8(text, "")
		}
		start := clamp(m.wctx.Whisper_full_get_segment_t0(i))
		end := max(clamp(m.wctx.Whisper_full_get_segment_t1(i)), start)
		res.Segments = append(res.Segments, Segment{Start: start, End: end, Text: strings.TrimSpace(text)})
	}
	return res, nil
}

// Close frees the model. It waits for a transcription in progress.
func (m *cgoModel) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wctx != nil {
		m.wctx.Whisper_free()
		m.wctx = nil
	}
	return nil
}
