// Package ggmlgen writes whisper models in whisper.cpp's ggml file format
// with random weights. Real Whisper weights cannot be fetched where the
// tests run, so the tests make a tiny model instead: it loads and runs
// through the real engine in a fraction of a second and produces
// meaningless text, which is all a test of the plumbing needs.
//
// The layout, all little-endian, as whisper.cpp's loader reads it:
//
//	uint32 magic 0x67676d6c ("ggml")
//	int32  n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
//	       n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype
//	int32  n_mel, n_fft; float32 filters[n_mel*n_fft]       (mel filterbank)
//	int32  n_tokens; then per token: uint32 len, bytes       (text tokens)
//	tensors until the end of the file, each:
//	       int32 n_dims, name_len, type; int32 ne[n_dims] (fastest first);
//	       name; data (type 0 = float32, 1 = float16)
//
// The special tokens (end of text, languages, timestamps...) are not in the
// file: whisper.cpp numbers them after the text tokens, up to n_vocab.
package ggmlgen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
)

// Magic is the first word of a ggml whisper model file.
const Magic = 0x67676d6c

// Tensor data types used in the file (ggml_type numbers).
const (
	TypeF32 = 0
	TypeF16 = 1
)

// Hparams are a model's dimensions, in the order of the file header.
type Hparams struct {
	NVocab, NAudioCtx, NAudioState, NAudioHead, NAudioLayer int32
	NTextCtx, NTextState, NTextHead, NTextLayer, NMels      int32
	Ftype                                                   int32 // 0 all float32, 1 big matrices float16
}

// Tiny is the smallest model the engine runs as it runs a real one: the
// real vocabulary size (multilingual, so language detection works) and the
// real 30 s audio window (1500 encoder positions, 80 mel bands), but a
// 32-wide state, one attention head, one layer each side, and 64 text
// positions instead of 448, which caps the tokens decoded per window (a
// random model never stops early). The file is about 4 MB.
var Tiny = Hparams{
	NVocab: 51865, NAudioCtx: 1500, NAudioState: 32, NAudioHead: 1, NAudioLayer: 1,
	NTextCtx: 64, NTextState: 32, NTextHead: 1, NTextLayer: 1, NMels: 80,
	Ftype: 1,
}

// Sizes fixed by whisper itself.
const (
	nFFT       = 201   // frequency bins of its 400-point FFT
	nTextToken = 50257 // text tokens of the multilingual tokenizer, ids 0..50256
)

// Tensor describes one tensor of a model file.
type Tensor struct {
	Name string
	Ne   []int32 // dimensions, fastest-varying first, as ggml counts them
	Type int32   // TypeF32 or TypeF16
}

// Tensors lists the tensors a model with these dimensions has, in the
// order the conversion script writes them (whisper.cpp finds them by name).
func Tensors(h Hparams) []Tensor {
	big := int32(TypeF32) // the type of matrices and conv kernels
	if h.Ftype == 1 {
		big = TypeF16
	}
	var ts []Tensor
	add := func(name string, typ int32, ne ...int32) {
		ts = append(ts, Tensor{Name: name, Ne: ne, Type: typ})
	}
	block := func(prefix string, n int32, cross bool) {
		attn := func(p string) {
			add(p+"_ln.weight", TypeF32, n)
			add(p+"_ln.bias", TypeF32, n)
			add(p+".query.weight", big, n, n)
			add(p+".query.bias", TypeF32, n)
			add(p+".key.weight", big, n, n) // the key has no bias
			add(p+".value.weight", big, n, n)
			add(p+".value.bias", TypeF32, n)
			add(p+".out.weight", big, n, n)
			add(p+".out.bias", TypeF32, n)
		}
		attn(prefix + "attn")
		if cross {
			attn(prefix + "cross_attn")
		}
		add(prefix+"mlp_ln.weight", TypeF32, n)
		add(prefix+"mlp_ln.bias", TypeF32, n)
		add(prefix+"mlp.0.weight", big, n, 4*n)
		add(prefix+"mlp.0.bias", TypeF32, 4*n)
		add(prefix+"mlp.2.weight", big, 4*n, n)
		add(prefix+"mlp.2.bias", TypeF32, n)
	}

	s := h.NAudioState
	add("encoder.positional_embedding", TypeF32, s, h.NAudioCtx)
	add("encoder.conv1.weight", big, 3, h.NMels, s)
	add("encoder.conv1.bias", TypeF32, 1, s)
	add("encoder.conv2.weight", big, 3, s, s)
	add("encoder.conv2.bias", TypeF32, 1, s)
	for i := range h.NAudioLayer {
		block(fmt.Sprintf("encoder.blocks.%d.", i), s, false)
	}
	add("encoder.ln_post.weight", TypeF32, s)
	add("encoder.ln_post.bias", TypeF32, s)

	t := h.NTextState
	add("decoder.positional_embedding", TypeF32, t, h.NTextCtx)
	add("decoder.token_embedding.weight", big, t, h.NVocab)
	for i := range h.NTextLayer {
		block(fmt.Sprintf("decoder.blocks.%d.", i), t, true)
	}
	add("decoder.ln.weight", TypeF32, t)
	add("decoder.ln.bias", TypeF32, t)
	return ts
}

// WriteTinyModel writes the Tiny model with weights drawn from seed.
func WriteTinyModel(w io.Writer, seed int64) error {
	return WriteModel(w, Tiny, seed)
}

// WriteTinyModelFile writes the Tiny model with weights drawn from seed to
// a new file at path, for tests that hand a model path to the engine.
func WriteTinyModelFile(path string, seed int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("tiny model: %w", err)
	}
	if err := WriteTinyModel(f, seed); err != nil {
		f.Close()
		return fmt.Errorf("tiny model %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tiny model %s: %w", path, err)
	}
	return nil
}

// WriteModel writes a model with the given dimensions and random weights
// drawn from seed: the same seed gives the same bytes.
func WriteModel(w io.Writer, h Hparams, seed int64) error {
	if h.NMels <= 0 || h.NAudioState <= 0 || h.NAudioState != h.NTextState ||
		h.NAudioHead <= 0 || h.NAudioState%h.NAudioHead != 0 ||
		h.NTextHead <= 0 || h.NTextState%h.NTextHead != 0 || h.NVocab <= nTextToken ||
		(h.Ftype != 0 && h.Ftype != 1) {
		return fmt.Errorf("ggmlgen: unusable dimensions %+v", h)
	}
	out := &writer{w: bufio.NewWriterSize(w, 1<<16)}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))

	out.u32(Magic)
	for _, v := range []int32{h.NVocab, h.NAudioCtx, h.NAudioState, h.NAudioHead, h.NAudioLayer,
		h.NTextCtx, h.NTextState, h.NTextHead, h.NTextLayer, h.NMels, h.Ftype} {
		out.i32(v)
	}

	out.i32(h.NMels)
	out.i32(nFFT)
	for _, f := range melFilters(int(h.NMels)) {
		out.f32(f)
	}

	out.i32(nTextToken)
	for id := range nTextToken {
		tok := token(id)
		out.u32(uint32(len(tok)))
		out.bytes([]byte(tok))
	}

	for _, t := range Tensors(h) {
		out.i32(int32(len(t.Ne)))
		out.i32(int32(len(t.Name)))
		out.i32(t.Type)
		n := 1
		for _, d := range t.Ne {
			out.i32(d)
			n *= int(d)
		}
		out.bytes([]byte(t.Name))
		gen := weights(t, rng)
		for i := range n {
			v := gen(i)
			if t.Type == TypeF16 {
				out.u16(f16(v))
			} else {
				out.f32(v)
			}
		}
	}
	if out.err != nil {
		return out.err
	}
	return out.w.Flush()
}

// weights picks how a tensor is filled: layer-norm gains 1, biases 0,
// sinusoids for positions (as Whisper's encoder has), and Gaussian noise
// scaled by fan-in for matrices, so activations stay in a sane range.
func weights(t Tensor, rng *rand.Rand) func(i int) float32 {
	name := t.Name
	switch {
	case hasSuffix(name, "ln.weight") || hasSuffix(name, "ln_post.weight"):
		return func(int) float32 { return 1 }
	case hasSuffix(name, ".bias"):
		return func(int) float32 { return 0 }
	case hasSuffix(name, "positional_embedding"):
		width := int(t.Ne[0])
		return func(i int) float32 {
			pos, ch := i/width, i%width
			half := width / 2
			k := ch % half
			freq := math.Exp(-math.Log(10000) * float64(k) / float64(max(half-1, 1)))
			if ch < half {
				return float32(math.Sin(float64(pos) * freq))
			}
			return float32(math.Cos(float64(pos) * freq))
		}
	}
	fanIn := int(t.Ne[0])
	if len(t.Ne) == 3 { // conv kernel: width × input channels
		fanIn = int(t.Ne[0] * t.Ne[1])
	}
	std := 1 / math.Sqrt(float64(fanIn))
	return func(int) float32 { return float32(rng.NormFloat64() * std) }
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

// token makes up the text of token id: the 256 single bytes first (so " ",
// which whisper.cpp looks up by text, exists), then distinct syllable
// words, every other one with a leading space as in the real vocabulary,
// and last the empty token the multilingual vocabulary has at 50256.
func token(id int) string {
	switch {
	case id < 256:
		return string([]byte{byte(id)})
	case id == nTextToken-1:
		return ""
	}
	const cons, vows = "bdfgklmnprstvz", "aeiou"
	n := id - 256
	var b []byte
	if n%2 == 0 {
		b = append(b, ' ')
	}
	n /= 2
	for {
		b = append(b, cons[n%len(cons)], vows[(n/len(cons))%len(vows)])
		n /= len(cons) * len(vows)
		if n == 0 {
			break
		}
		n--
	}
	return string(b)
}

// melFilters computes an n×201 triangular mel filterbank over 0-8 kHz
// with the Slaney mel scale and area normalisation, the kind Whisper uses.
func melFilters(n int) []float32 {
	const sr, fftSize = 16000.0, 400.0
	hzToMel := func(f float64) float64 {
		const fSp, minLogHz, minLogMel = 200.0 / 3, 1000.0, 15.0
		if f < minLogHz {
			return f / fSp
		}
		return minLogMel + math.Log(f/minLogHz)/(math.Log(6.4)/27)
	}
	melToHz := func(m float64) float64 {
		const fSp, minLogHz, minLogMel = 200.0 / 3, 1000.0, 15.0
		if m < minLogMel {
			return m * fSp
		}
		return minLogHz * math.Exp((m-minLogMel)*(math.Log(6.4)/27))
	}
	lo, hi := hzToMel(0), hzToMel(sr/2)
	edges := make([]float64, n+2)
	for i := range edges {
		edges[i] = melToHz(lo + (hi-lo)*float64(i)/float64(n+1))
	}
	out := make([]float32, n*nFFT)
	for m := range n {
		l, c, r := edges[m], edges[m+1], edges[m+2]
		norm := 2 / (r - l)
		for k := range nFFT {
			f := float64(k) * sr / fftSize
			w := math.Max(0, math.Min((f-l)/(c-l), (r-f)/(r-c)))
			out[m*nFFT+k] = float32(w * norm)
		}
	}
	return out
}

// f16 converts to IEEE half precision, rounding to nearest even.
func f16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case (b>>23)&0xff == 0xff: // Inf, NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		half := uint32(1) << (shift - 1)
		v := mant >> shift
		if rem := mant & (1<<shift - 1); rem > half || (rem == half && v&1 == 1) {
			v++
		}
		return sign | uint16(v)
	}
	v := uint32(exp)<<10 | mant>>13
	if rem := mant & 0x1fff; rem > 0x1000 || (rem == 0x1000 && v&1 == 1) {
		v++ // may carry into the exponent, which is still right
	}
	return sign | uint16(v)
}

type writer struct {
	w   *bufio.Writer
	err error
	buf [4]byte
}

func (w *writer) bytes(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

func (w *writer) u32(v uint32) {
	binary.LittleEndian.PutUint32(w.buf[:], v)
	w.bytes(w.buf[:4])
}

func (w *writer) u16(v uint16) {
	binary.LittleEndian.PutUint16(w.buf[:], v)
	w.bytes(w.buf[:2])
}

func (w *writer) i32(v int32)   { w.u32(uint32(v)) }
func (w *writer) f32(v float32) { w.u32(math.Float32bits(v)) }
