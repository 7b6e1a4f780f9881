package whisper

import (
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
)

func TestPrepareTrimsSilenceAndResamples(t *testing.T) {
	var s []int16
	s = append(s, media.Silence(1, 8000)...)
	s = append(s, media.Tone(440, 2, 8000, 0.3)...)
	s = append(s, media.Silence(1.5, 8000)...)
	out, offset := Prepare(media.Audio{Rate: 8000, Samples: s})
	secs := float64(len(out)) / SampleRate
	if secs < 2.3 || secs > 2.5 {
		t.Fatalf("prepared %.2f s, want the 2 s of sound plus 0.2 s padding each side", secs)
	}
	if offset < 750*time.Millisecond || offset > 850*time.Millisecond {
		t.Fatalf("offset %v, want 0.8 s (1 s of silence less the padding)", offset)
	}
	for _, v := range out {
		if v < -1 || v > 1 {
			t.Fatalf("sample %f outside [-1, 1]", v)
		}
	}
	if out, _ := Prepare(media.Audio{Rate: 8000, Samples: media.Silence(2, 8000)}); len(out) != 0 {
		t.Fatalf("silence prepared to %d samples, want none", len(out))
	}
}

func TestResultText(t *testing.T) {
	r := Result{Segments: []Segment{{Text: " Hello,"}, {Text: " this is Anna.\n"}, {Text: "Call me back."}}}
	if got, want := r.Text(), "Hello, this is Anna. Call me back."; got != want {
		t.Fatalf("Text() = %q, want %q", got, want)
	}
}
