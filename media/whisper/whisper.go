// Package whisper turns voicemail audio into text on the office's own box
// with whisper.cpp. The engine is linked only with the build tag `whisper`
// (cgo against a system libwhisper); without it the package still builds,
// pure Go, and reports the engine as unavailable.
package whisper

import (
	"context"
	"errors"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
)

// SampleRate is what whisper listens at.
const SampleRate = 16000

// ErrUnavailable is returned when the binary was built without whisper.
var ErrUnavailable = errors.New("transcription engine not built in (build with -tags whisper against libwhisper)")

// Segment is one stretch of recognised speech.
type Segment struct {
	Start time.Duration `json:"start"`
	End   time.Duration `json:"end"`
	Text  string        `json:"text"`
}

// Result is a whole transcript.
type Result struct {
	Language string    `json:"language"`
	Segments []Segment `json:"segments"`
}

// Text joins the segments.
func (r Result) Text() string {
	var out []byte
	for i, s := range r.Segments {
		if i > 0 && len(out) > 0 && out[len(out)-1] != ' ' {
			out = append(out, ' ')
		}
		out = append(out, trimSpace(s.Text)...)
	}
	return string(out)
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\n') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\n') {
		s = s[:len(s)-1]
	}
	return s
}

// Model is a loaded model that can transcribe, one audio at a time.
type Model interface {
	// Transcribe recognises 16 kHz mono samples in [-1, 1]. language is a
	// code such as "en", or "auto" to detect it.
	Transcribe(ctx context.Context, samples []float32, language string) (Result, error)
	Close() error
}

// Options for loading a model.
type Options struct {
	Threads int // CPU threads for one transcription
}

// Prepare converts 8 kHz telephone audio into what whisper wants: 16 kHz
// float samples through a proper resampling filter, with leading and
// trailing silence trimmed. It returns where the kept audio starts in the
// original, so segment times can be given in the message's own time.
func Prepare(a media.Audio) (samples []float32, offset time.Duration) {
	frame := a.Rate / 50
	start, end := 0, len(a.Samples)
	for start+frame <= end && media.RMS(a.Samples[start:start+frame]) < media.SpeechLevel {
		start += frame
	}
	for end-frame >= start && media.RMS(a.Samples[end-frame:end]) < media.SpeechLevel {
		end -= frame
	}
	if start >= end {
		return nil, 0 // nothing but silence
	}
	// Keep a little silence around speech: whisper hears word edges better.
	pad := a.Rate / 5
	start, end = max(0, start-pad), min(len(a.Samples), end+pad)
	up := media.Resample(a.Samples[start:end], a.Rate, SampleRate)
	out := make([]float32, len(up))
	for i, s := range up {
		out[i] = float32(s) / 32768
	}
	return out, time.Duration(start) * time.Second / time.Duration(a.Rate)
}
