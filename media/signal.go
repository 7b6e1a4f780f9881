package media

import (
	"math"
)

// Tone returns a sine tone (the beep before recording, test signals).
func Tone(hz float64, seconds float64, rate int, amplitude float64) []int16 {
	n := int(seconds * float64(rate))
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amplitude * 32767 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return out
}

// Silence returns seconds of silence.
func Silence(seconds float64, rate int) []int16 { return make([]int16, int(seconds*float64(rate))) }

// RMS is the root-mean-square level of samples, 0 to 32767.
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(samples)))
}

// SpeechLevel is the RMS above which a 20 ms frame counts as sound rather
// than line noise (about -40 dBFS; G.711 idle noise sits far below).
const SpeechLevel = 330

// VoiceActivity tracks sound and silence in a stream of frames, to end a
// recording after a stretch of silence that follows speech.
type VoiceActivity struct {
	heard         bool
	silentSamples int
	voicedSamples int
}

// Add feeds one frame.
func (v *VoiceActivity) Add(frame []int16) {
	if RMS(frame) >= SpeechLevel {
		v.heard = true
		v.silentSamples = 0
		v.voicedSamples += len(frame)
		return
	}
	v.silentSamples += len(frame)
}

// SilentFor reports whether speech was heard and has been followed by at
// least n samples of silence.
func (v *VoiceActivity) SilentFor(n int) bool { return v.heard && v.silentSamples >= n }

// Voiced is how many samples had sound.
func (v *VoiceActivity) Voiced() int { return v.voicedSamples }

// TrimTrailingSilence drops trailing silent 20 ms frames, keeping keep samples of them.
func TrimTrailingSilence(samples []int16, rate int, keep int) []int16 {
	frame := rate / 50
	end := len(samples)
	for end >= frame && RMS(samples[end-frame:end]) < SpeechLevel {
		end -= frame
	}
	return samples[:min(len(samples), end+keep)]
}

// Resample converts between rates with a windowed-sinc low-pass filter
// (Blackman window), so downsampling doesn't alias and upsampling doesn't
// image. Rates are integers, so output sample i sits at input position
// i*from/to, whose fractional part takes only to/gcd(from, to) values: the
// filter taps for each are computed once (8 to 16 kHz needs two sets).
func Resample(in []int16, from, to int) []int16 {
	if from == to || len(in) == 0 {
		return append([]int16(nil), in...)
	}
	g := gcd(from, to)
	up, down := to/g, from/g                         // output i is at input (i*down)/up
	cutoff := math.Min(1, float64(to)/float64(from)) // relative to the input Nyquist
	const halfTaps = 16
	width := float64(halfTaps) / cutoff
	reach := int(math.Ceil(width))
	// taps[p][k] weighs input floor(center)-reach+1+k for fractional phase p/up.
	taps := make([][]float64, up)
	for p := range up {
		frac := float64(p) / float64(up)
		row := make([]float64, 2*reach)
		var norm float64
		for k := range row {
			x := float64(k-reach+1) - frac
			if math.Abs(x) > width {
				continue
			}
			w := 0.42 + 0.5*math.Cos(math.Pi*x/width) + 0.08*math.Cos(2*math.Pi*x/width) // Blackman
			row[k] = cutoff * sinc(cutoff*x) * w
			norm += row[k]
		}
		for k := range row {
			row[k] /= norm
		}
		taps[p] = row
	}
	outLen := len(in) * up / down
	out := make([]int16, outLen)
	for i := range out {
		pos := i * down
		base, phase := pos/up, pos%up
		first := base - reach + 1
		var acc, norm float64
		for k, c := range taps[phase] {
			j := first + k
			if j < 0 || j >= len(in) {
				continue // at the edges, renormalise over the taps that exist
			}
			acc += float64(in[j]) * c
			norm += c
		}
		if norm != 0 {
			acc /= norm
		}
		out[i] = int16(math.Max(-32768, math.Min(32767, math.Round(acc))))
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}
