package media

import "github.com/zaf/g711"

// UlawToLinear decodes one G.711 mu-law byte.
func UlawToLinear(b byte) int16 { return g711.DecodeUlawFrame(b) }

// AlawToLinear decodes one G.711 A-law byte.
func AlawToLinear(b byte) int16 { return g711.DecodeAlawFrame(b) }

// DecodeG711 appends the PCM samples of one G.711 payload to dst. alaw picks
// A-law (payload type 8) over mu-law (0).
func DecodeG711(dst []int16, payload []byte, alaw bool) []int16 {
	for _, b := range payload {
		if alaw {
			dst = append(dst, g711.DecodeAlawFrame(b))
		} else {
			dst = append(dst, g711.DecodeUlawFrame(b))
		}
	}
	return dst
}
