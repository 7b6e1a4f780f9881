package media

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/frontdesk-pbx/frontdesk/embed"
)

// goertzelPower measures how much of a signal sits at one frequency.
func goertzelPower(s []int16, hz float64, rate int) float64 {
	k := 2 * math.Cos(2*math.Pi*hz/float64(rate))
	var s1, s2 float64
	for _, x := range s {
		s0 := float64(x) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - k*s1*s2
}

func TestWAVRoundTrip(t *testing.T) {
	in := Audio{Rate: 8000, Samples: Tone(440, 0.5, 8000, 0.5)}
	var buf bytes.Buffer
	if err := WriteWAV(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadWAV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if out.Rate != in.Rate || !slices.Equal(out.Samples, in.Samples) {
		t.Fatalf("round trip changed the audio: rate %d, %d samples", out.Rate, len(out.Samples))
	}
}

// wavBytes builds a WAV header and data by hand for the format table.
func wavBytes(format, channels, bits uint16, rate uint32, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, format)
	binary.Write(&b, binary.LittleEndian, channels)
	binary.Write(&b, binary.LittleEndian, rate)
	binary.Write(&b, binary.LittleEndian, rate*uint32(channels*bits/8))
	binary.Write(&b, binary.LittleEndian, channels*bits/8)
	binary.Write(&b, binary.LittleEndian, bits)
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func TestReadWAVFormats(t *testing.T) {
	tests := []struct {
		name    string
		file    []byte
		want    []int16
		wantErr bool
	}{
		{"16-bit stereo mixes down", wavBytes(1, 2, 16, 8000, []byte{0x00, 0x10, 0x00, 0x30}), []int16{0x2000}, false},
		{"8-bit unsigned", wavBytes(1, 1, 8, 8000, []byte{128, 255}), []int16{0, 127 << 8}, false},
		{"mu-law", wavBytes(7, 1, 8, 8000, []byte{0xFF}), []int16{0}, false},
		{"24-bit refused", wavBytes(1, 1, 24, 8000, []byte{1, 2, 3}), nil, true},
		{"6 channels refused", wavBytes(1, 6, 16, 8000, nil), nil, true},
		{"not RIFF", []byte("OggS...................."), nil, true},
		{"truncated header", wavBytes(1, 1, 16, 8000, nil)[:20], nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ReadWAV(bytes.NewReader(tc.file))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted: %+v", a)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.Samples, tc.want) {
				t.Fatalf("samples %v, want %v", a.Samples, tc.want)
			}
		})
	}
}

func TestResampleKeepsTheToneAndDropsAliases(t *testing.T) {
	// 1 kHz and 6 kHz at 16 kHz, down to 8 kHz: 1 kHz stays, 6 kHz (above the
	// new Nyquist) must be filtered out instead of folding to 2 kHz.
	in := Tone(1000, 1, 16000, 0.3)
	hi := Tone(6000, 1, 16000, 0.3)
	for i := range in {
		in[i] += hi[i]
	}
	out := Resample(in, 16000, 8000)
	if len(out) != 8000 {
		t.Fatalf("%d samples, want 8000", len(out))
	}
	keep, alias := goertzelPower(out, 1000, 8000), goertzelPower(out, 2000, 8000)
	if alias > keep/100 {
		t.Fatalf("aliased 6 kHz at 2 kHz: power %.3g vs tone %.3g", alias, keep)
	}
	up := Resample(Tone(1000, 1, 8000, 0.3), 8000, 16000)
	if goertzelPower(up, 7000, 16000) > goertzelPower(up, 1000, 16000)/100 {
		t.Fatal("upsampling left an image at 7 kHz")
	}
}

func TestVoiceActivity(t *testing.T) {
	var v VoiceActivity
	frame := func(amp float64) []int16 { return Tone(300, 0.02, 8000, amp) }
	for range 10 {
		v.Add(frame(0))
	}
	if v.SilentFor(1) {
		t.Fatal("silence before any speech counted as the end of speech")
	}
	v.Add(frame(0.3))
	for range 49 {
		v.Add(frame(0.001))
	}
	if v.SilentFor(8000) {
		t.Fatal("0.98 s of silence counted as 1 s")
	}
	v.Add(frame(0))
	if !v.SilentFor(8000) {
		t.Fatal("1 s of silence after speech not detected")
	}
}

func TestSpokenWords(t *testing.T) {
	tests := []struct {
		got, want []string
	}{
		{NumberWords(0), []string{"digit-0"}},
		{NumberWords(13), []string{"n-13"}},
		{NumberWords(40), []string{"n-40"}},
		{NumberWords(42), []string{"n-40", "digit-2"}},
		{NumberWords(600), []string{"digit-6", "n-hundred"}},
		{NumberWords(115), []string{"digit-1", "n-hundred", "n-15"}},
		{DigitWords("6a01"), []string{"digit-6", "digit-0", "digit-1"}},
		{OrdinalWords(23), []string{"n-20", "ord-3"}},
		{DateTimeWords(time.Date(2026, 11, 23, 15, 5, 0, 0, time.UTC)),
			[]string{"day-1", "month-11", "n-20", "ord-3", "digit-3", "n-oh", "digit-5", "time-pm"}},
		{DateTimeWords(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
			[]string{"day-4", "month-1", "ord-1", "n-12", "n-oclock", "time-am"}},
	}
	for _, tc := range tests {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("got %v, want %v", tc.got, tc.want)
		}
	}
}

// Every prompt the code can ask for exists in the built-in set.
func TestBuiltinPromptsCoverSpokenWords(t *testing.T) {
	p := NewPrompts(embed.Prompts(), "", "en")
	var names []string
	for n := range 1000 {
		names = append(names, NumberWords(n)...)
	}
	for d := 1; d <= 31; d++ {
		names = append(names, OrdinalWords(d)...)
	}
	for m := range 24 * 60 {
		names = append(names, DateTimeWords(time.Date(2026, time.Month(m%12+1), m%28+1, m/60, m%60, 0, 0, time.UTC))...)
	}
	for _, n := range names {
		a, err := p.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		if a.Rate != SampleRate || a.Seconds() < 0.1 {
			t.Fatalf("prompt %s: %d Hz, %.2f s", n, a.Rate, a.Seconds())
		}
	}
}

func TestPromptOverrideDirectory(t *testing.T) {
	dir := t.TempDir()
	mine := Audio{Rate: 16000, Samples: Tone(500, 0.5, 16000, 0.3)}
	f, err := os.Create(filepath.Join(dir, "vm-goodbye.wav"))
	if err != nil {
		t.Fatal(err)
	}
	WriteWAV(f, mine)
	f.Close()
	builtin := fstest.MapFS{}
	p := NewPrompts(builtin, dir, "en")
	a, err := p.Get("vm-goodbye")
	if err != nil {
		t.Fatal(err)
	}
	if a.Rate != 8000 || len(a.Samples) != 4000 {
		t.Fatalf("override not resampled to 8 kHz: %d Hz, %d samples", a.Rate, len(a.Samples))
	}
	if _, err := p.Get("vm-missing"); err == nil {
		t.Fatal("missing prompt returned no error")
	}
}

func TestWriteWAVFileAtomicLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.wav")
	if err := WriteWAVFileAtomic(path, Audio{Rate: 8000, Samples: Tone(440, 0.1, 8000, 0.3)}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "m.wav" {
		t.Fatalf("dir holds %v, want only m.wav", entries)
	}
	if a, err := ReadWAVFile(path); err != nil || len(a.Samples) != 800 {
		t.Fatalf("read back: %v, %d samples", err, len(a.Samples))
	}
}

func FuzzReadWAV(f *testing.F) {
	f.Add(wavBytes(1, 1, 16, 8000, []byte{1, 2, 3, 4}))
	f.Add(wavBytes(7, 2, 8, 44100, []byte{1, 2}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ReadWAV(bytes.NewReader(data))
		if err == nil && (a.Rate < 4000 || a.Rate > 192000) {
			t.Fatalf("accepted rate %d", a.Rate)
		}
	})
}

func TestAsteriskSoundNames(t *testing.T) {
	tests := []struct{ ours, theirs string }{
		{"digit-7", "digits/7"},
		{"n-40", "digits/40"},
		{"month-1", "digits/mon-0"},
		{"day-3", "digits/day-3"},
		{"ord-21", "digits/h-21"},
		{"vm-goodbye", "vm-goodbye"},
		{"vm-enter-pin", "vm-password"},
	}
	for _, tc := range tests {
		if got, ok := AsteriskName(tc.ours); !ok || got != tc.theirs {
			t.Errorf("AsteriskName(%s) = %q, %v; want %q", tc.ours, got, ok, tc.theirs)
		}
	}
	// A sounds dir laid out like Asterisk's is used.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "en", "digits"), 0o755)
	f, _ := os.Create(filepath.Join(dir, "en", "digits", "5.wav"))
	WriteWAV(f, Audio{Rate: 8000, Samples: Tone(300, 0.25, 8000, 0.3)})
	f.Close()
	a, err := NewPrompts(fstest.MapFS{}, dir, "en").Get("digit-5")
	if err != nil || len(a.Samples) != 2000 {
		t.Fatalf("digit-5 from an Asterisk-style dir: %v, %d samples", err, len(a.Samples))
	}
}

func TestHoldMusicIsAudibleAndLoops(t *testing.T) {
	m := HoldMusic(8000)
	if s := m.Seconds(); s < 10 || s > 30 {
		t.Fatalf("hold music is %.1f s, want a 10-30 s loop", s)
	}
	if RMS(m.Samples) < SpeechLevel {
		t.Fatalf("hold music RMS %.0f is below the level counted as sound", RMS(m.Samples))
	}
	if goertzelPower(m.Samples[:4000], 261.63, 8000) < goertzelPower(m.Samples[:4000], 1000, 8000)*10 {
		t.Fatal("the first note is not middle C")
	}
}

func TestResampleOddRatio(t *testing.T) {
	in := Tone(1000, 1, 44100, 0.3)
	out := Resample(in, 44100, 8000)
	if len(out) != 8000 {
		t.Fatalf("%d samples, want 8000", len(out))
	}
	if goertzelPower(out, 1000, 8000) < 100*goertzelPower(out, 2500, 8000) {
		t.Fatal("1 kHz did not survive 44.1 to 8 kHz")
	}
	if r := RMS(out[100 : len(out)-100]); r < 0.3*32767/math.Sqrt2*0.95 || r > 0.3*32767/math.Sqrt2*1.05 {
		t.Fatalf("level changed: RMS %.0f", r)
	}
}
