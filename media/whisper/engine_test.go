//go:build whisper

package whisper

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
)

// Run with: make test-whisper (or packaging/sidroot.sh go test -tags whisper ./media/whisper/...)

// phoneAudio is 6 s of 8 kHz telephone-band sound that Prepare keeps:
// gliding harmonics with a syllable-rate envelope, voice-like enough.
func phoneAudio() media.Audio {
	const rate, secs = 8000, 6
	s := make([]int16, rate*secs)
	for i := range s {
		t := float64(i) / rate
		f0 := 140 + 40*math.Sin(2*math.Pi*0.7*t)
		env := 0.4 + 0.6*math.Abs(math.Sin(2*math.Pi*2.5*t))
		var v float64
		for h := 1.0; h <= 8; h++ {
			v += math.Sin(2*math.Pi*f0*h*t) / h
		}
		s[i] = int16(6000 * env * v)
	}
	return media.Audio{Rate: rate, Samples: s}
}

func loadTiny(t testing.TB, seed int64) Model {
	t.Helper()
	path, _ := tinyModel(t, seed)
	start := time.Now()
	m, err := Load(path, Options{Threads: 2})
	if err != nil {
		t.Fatalf("loading the generated model: %v", err)
	}
	t.Logf("loaded the tiny model in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { m.Close() })
	return m
}

// checkResult: segments in order, inside the audio, a language named.
func checkResult(t testing.TB, r Result, length time.Duration) {
	t.Helper()
	if r.Language == "" {
		t.Errorf("no language in %+v", r)
	}
	if len(r.Segments) == 0 {
		t.Fatalf("no segments in %+v", r)
	}
	for i, s := range r.Segments {
		if s.Start < 0 || s.End < s.Start || s.End > length {
			t.Errorf("segment %d %v-%v outside the %v of audio", i, s.Start, s.End, length)
		}
		if i > 0 && s.Start < r.Segments[i-1].Start {
			t.Errorf("segment %d starts at %v, before segment %d (%v)", i, s.Start, i-1, r.Segments[i-1].Start)
		}
	}
}

func TestEngineIsBuiltIn(t *testing.T) {
	if !Available() {
		t.Fatal("Available() = false in a whisper build")
	}
	if name := EngineName(); !strings.Contains(name, "whisper.cpp (libwhisper 1.") {
		t.Fatalf("EngineName() = %q", name)
	}
	t.Log(EngineName())
}

func TestTinyModelTranscribesPhoneAudio(t *testing.T) {
	m := loadTiny(t, 1)
	samples, offset := Prepare(phoneAudio())
	length := time.Duration(len(samples)) * time.Second / SampleRate
	if length < 5*time.Second || offset != 0 {
		t.Fatalf("Prepare kept %v from %v", length, offset)
	}
	for _, lang := range []string{"auto", "en", "de"} {
		start := time.Now()
		r, err := m.Transcribe(context.Background(), samples, lang)
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		t.Logf("%s: %v for %v of audio: language %q, %d segments, %q",
			lang, time.Since(start).Round(time.Millisecond), length, r.Language, len(r.Segments), trunc(r.Text(), 80))
		checkResult(t, r, length)
		if lang != "auto" && r.Language != lang {
			t.Errorf("asked for %q, result says %q", lang, r.Language)
		}
	}
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func TestTranscribeEdgeCases(t *testing.T) {
	m := loadTiny(t, 1)
	ctx := context.Background()
	if r, err := m.Transcribe(ctx, nil, "en"); err != nil || len(r.Segments) != 0 || r.Language != "en" {
		t.Errorf("no audio: %+v, %v", r, err)
	}
	if _, err := m.Transcribe(ctx, make([]float32, SampleRate), "klingon"); err == nil {
		t.Error("unknown language accepted")
	}
	// Shorter than whisper's 100 ms minimum: no text, no failure.
	if _, err := m.Transcribe(ctx, make([]float32, SampleRate/20), "en"); err != nil {
		t.Errorf("50 ms of audio: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Transcribe(cancelled, make([]float32, SampleRate), "en"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Transcribe(ctx, make([]float32, SampleRate), "en"); err == nil {
		t.Error("transcribed with a closed model")
	}
}

// Damaged model files: each is refused with an error (in Go, before
// libwhisper sees it, or by libwhisper itself), the process survives, and a
// good model still works afterwards.
func TestBadModelFilesFailCleanly(t *testing.T) {
	_, good := tinyModel(t, 1)
	le := func(b []byte, off int, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	edit := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	renamed := edit(func(b []byte) {
		i := bytes.Index(b, []byte("decoder.ln.weight"))
		copy(b[i:], "decoder.ln.weighs")
	})
	reshaped := edit(func(b []byte) {
		// encoder.conv1.bias is [1, 32]: say [32, 1] instead.
		i := bytes.Index(b, []byte("encoder.conv1.bias"))
		le(b, i-8, 32)
		le(b, i-4, 1)
	})
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"wrong magic", edit(func(b []byte) { copy(b, "lmgf") }), "wrong magic"},
		{"gguf", edit(func(b []byte) { copy(b, "GGUF") }), "wrong magic"},
		{"empty", nil, "truncated"},
		{"cut in the header", good[:30], "truncated"},
		{"cut in the mel filters", good[:10000], "truncated"},
		{"cut in the vocabulary", good[:200000], "truncated"},
		{"cut in a tensor", good[:len(good)/2], "truncated"},
		{"last byte missing", good[:len(good)-1], "truncated"},
		{"unknown tensor name", renamed, "unknown tensor"},
		{"wrong tensor shape", reshaped, "wrong shape"},
	}
	for _, c := range cases {
		path := writeTemp(t, "bad.bin", c.data)
		m, err := Load(path, Options{Threads: 1})
		if err == nil {
			m.Close()
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrBadModel saying %q", c.name, err, c.want)
		}
		t.Logf("%s: %v", c.name, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.bin"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	m := loadTiny(t, 1)
	samples, _ := Prepare(phoneAudio())
	r, err := m.Transcribe(context.Background(), samples, "auto")
	if err != nil {
		t.Fatalf("good model after bad ones: %v", err)
	}
	checkResult(t, r, time.Duration(len(samples))*time.Second/SampleRate)
}

// Two models, several goroutines each, transcribing at once.
func TestConcurrentTranscriptions(t *testing.T) {
	models := []Model{loadTiny(t, 1), loadTiny(t, 2)}
	samples, _ := Prepare(phoneAudio())
	length := time.Duration(len(samples)) * time.Second / SampleRate
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	results := make(chan Result, 8)
	start := time.Now()
	for i := range 6 {
		wg.Go(func() {
			r, err := models[i%2].Transcribe(context.Background(), samples, []string{"auto", "en", "fr"}[i%3])
			if err != nil {
				errs <- err
				return
			}
			results <- r
		})
	}
	wg.Wait()
	close(errs)
	close(results)
	for err := range errs {
		t.Error(err)
	}
	for r := range results {
		checkResult(t, r, length)
	}
	t.Logf("6 transcriptions on 2 models in %v", time.Since(start).Round(time.Millisecond))
}

// With FRONTDESK_TEST_MODEL pointing at a real model (e.g. ggml-base.en.bin),
// a sentence spoken by espeak-ng, passed through the telephone rate, must
// come back with a word error rate of at most 25 %.
func TestRealModelWordErrorRate(t *testing.T) {
	path := os.Getenv("FRONTDESK_TEST_MODEL")
	if path == "" {
		t.Skip("FRONTDESK_TEST_MODEL not set: no real whisper model to measure accuracy with")
	}
	const text = "Hello, this is Anna from the accounting office. " +
		"Please call me back about the invoice for the new printer before Friday afternoon."
	wav := filepath.Join(t.TempDir(), "say.wav")
	if out, err := exec.Command("espeak-ng", "-v", "en-us", "-s", "150", "-w", wav, text).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	spoken, err := media.ReadWAVFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	phone := media.Audio{Rate: media.SampleRate, Samples: media.Resample(spoken.Samples, spoken.Rate, media.SampleRate)}
	samples, _ := Prepare(phone)

	start := time.Now()
	m, err := Load(path, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	loaded := time.Since(start)
	start = time.Now()
	r, err := m.Transcribe(context.Background(), samples, "en")
	if err != nil {
		t.Fatal(err)
	}
	length := time.Duration(len(samples)) * time.Second / SampleRate
	checkResult(t, r, length)
	wer := wordErrorRate(text, r.Text())
	t.Logf("%s: load %v, %v for %v of audio, WER %.1f %%\n  said: %s\n heard: %s",
		filepath.Base(path), loaded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
		length.Round(time.Millisecond), 100*wer, text, r.Text())
	if wer > 0.25 {
		t.Fatalf("word error rate %.1f %% > 25 %%", 100*wer)
	}
}

// wordErrorRate is the word-level edit distance over the reference length,
// ignoring case and punctuation.
func wordErrorRate(ref, hyp string) float64 {
	words := func(s string) []string {
		return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '\'')
		})
	}
	a, b := words(ref), words(hyp)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return float64(prev[len(b)]) / float64(max(len(a), 1))
}

func TestWordErrorRate(t *testing.T) {
	for _, c := range []struct {
		ref, hyp string
		want     float64
	}{
		{"Hello, world.", "hello world", 0},
		{"call me back", "call me", 1.0 / 3},
		{"call me back", "fall me back now", 2.0 / 3},
	} {
		if got := wordErrorRate(c.ref, c.hyp); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("WER(%q, %q) = %v, want %v", c.ref, c.hyp, got, c.want)
		}
	}
}
