package media

import "testing"

func BenchmarkResample8kTo16k30s(b *testing.B) {
	in := Tone(440, 30, 8000, 0.3)
	for b.Loop() {
		Resample(in, 8000, 16000)
	}
}
