package media

import "math"

// HoldMusic returns Frontdesk's own music on hold: a slow arpeggio over
// four chords, synthesized (no recording to license), about 16 s long so it
// can loop. Soft attack and decay keep it easy on a phone speaker.
func HoldMusic(rate int) Audio {
	chords := [][]float64{
		{261.63, 329.63, 392.00, 523.25}, // C
		{220.00, 261.63, 329.63, 440.00}, // Am
		{174.61, 220.00, 261.63, 349.23}, // F
		{196.00, 246.94, 293.66, 392.00}, // G
	}
	const noteSeconds = 0.5
	noteLen := int(noteSeconds * float64(rate))
	var out []int16
	for _, chord := range chords {
		for rep := 0; rep < 2; rep++ {
			for _, f := range chord {
				for i := range noteLen {
					t := float64(i) / float64(rate)
					env := math.Min(1, t/0.03) * math.Exp(-2.2*t) // quick attack, gentle decay
					v := 0.22 * env * (math.Sin(2*math.Pi*f*t) + 0.3*math.Sin(4*math.Pi*f*t))
					out = append(out, int16(v*32767))
				}
			}
		}
	}
	return Audio{Rate: rate, Samples: out}
}
