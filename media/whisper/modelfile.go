package whisper

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrBadModel is wrapped by every error about a model file that is not a
// complete whisper.cpp ggml model.
var ErrBadModel = errors.New("not a usable whisper model file")

// ggmlMagic opens every whisper.cpp ggml model file ("ggml").
const ggmlMagic = 0x67676d6c

// ggml tensor types a whisper model file may hold: bytes per block and
// values per block (ggml_type_size, ggml_blck_size).
var ggmlTypes = map[int32]struct{ size, block int64 }{
	0:  {4, 1},     // F32
	1:  {2, 1},     // F16
	2:  {18, 32},   // Q4_0
	3:  {20, 32},   // Q4_1
	6:  {22, 32},   // Q5_0
	7:  {24, 32},   // Q5_1
	8:  {34, 32},   // Q8_0
	10: {84, 256},  // Q2_K
	11: {110, 256}, // Q3_K
	12: {144, 256}, // Q4_K
	13: {176, 256}, // Q5_K
	14: {210, 256}, // Q6_K
	30: {2, 1},     // BF16
}

// modelInfo is what checkModelFile learnt about a file.
type modelInfo struct {
	nVocab, nAudioCtx, nAudioState, nAudioHead, nAudioLayer int32
	nTextCtx, nTextState, nTextHead, nTextLayer, nMels      int32
	ftype                                                   int32
	tensors                                                 int
}

func (m modelInfo) multilingual() bool { return m.nVocab >= 51865 }

// checkModelFile walks the structure of a whisper.cpp model file (header,
// mel filters, vocabulary, every tensor's header and the length of its
// data) without reading the weights. libwhisper trusts the file: a short
// read leaves lengths uninitialised, an odd dimension count overruns a
// stack array, a truncated last tensor loads as garbage, a vocabulary
// without " " aborts the first transcription. So a file is handed to it
// only once it is known to be whole and consistent; whisper.cpp itself
// still checks tensor names and shapes and fails cleanly on those.
func checkModelFile(path string) (modelInfo, error) {
	var info modelInfo
	f, err := os.Open(path)
	if err != nil {
		return info, fmt.Errorf("whisper model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return info, fmt.Errorf("whisper model: %w", err)
	}
	if !st.Mode().IsRegular() {
		return info, fmt.Errorf("whisper model %s: %w: not a regular file", path, ErrBadModel)
	}
	r := &modelReader{r: bufio.NewReaderSize(f, 1<<16), size: st.Size()}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("whisper model %s: %w: %s", path, ErrBadModel, fmt.Sprintf(format, args...))
	}

	magic, err := r.u32("magic")
	if err != nil {
		return info, bad("%v", err)
	}
	if magic != ggmlMagic {
		return info, bad("wrong magic %#08x (want %#08x, a whisper.cpp ggml file)", magic, ggmlMagic)
	}
	hp := []*int32{&info.nVocab, &info.nAudioCtx, &info.nAudioState, &info.nAudioHead, &info.nAudioLayer,
		&info.nTextCtx, &info.nTextState, &info.nTextHead, &info.nTextLayer, &info.nMels, &info.ftype}
	for _, p := range hp {
		if *p, err = r.i32("hyperparameters"); err != nil {
			return info, bad("%v", err)
		}
	}
	if err := info.sane(); err != nil {
		return info, bad("%v", err)
	}

	// Mel filterbank: whisper computes its features with it, so it must
	// match the encoder's input width and its own 400-point FFT.
	nMel, err := r.i32("mel filters")
	if err != nil {
		return info, bad("%v", err)
	}
	nFFT, err := r.i32("mel filters")
	if err != nil {
		return info, bad("%v", err)
	}
	if nMel != info.nMels || nFFT != 201 {
		return info, bad("mel filterbank is %d×%d, want %d×201", nMel, nFFT, info.nMels)
	}
	if err := r.skip(int64(nMel)*int64(nFFT)*4, "mel filters"); err != nil {
		return info, bad("%v", err)
	}

	// Vocabulary: the text tokens; whisper numbers the special ones after.
	nTokens, err := r.i32("vocabulary")
	if err != nil {
		return info, bad("%v", err)
	}
	if nTokens <= 0 || nTokens > info.nVocab {
		return info, bad("vocabulary has %d tokens, want 1..%d", nTokens, info.nVocab)
	}
	space := false
	for i := range nTokens {
		n, err := r.u32("vocabulary")
		if err != nil {
			return info, bad("token %d: %v", i, err)
		}
		if n > 1024 {
			return info, bad("token %d is %d bytes long", i, n)
		}
		tok, err := r.bytes(int64(n), "vocabulary")
		if err != nil {
			return info, bad("token %d: %v", i, err)
		}
		if string(tok) == " " {
			space = true
		}
	}
	if !space {
		return info, bad(`vocabulary has no " " token`)
	}

	// Tensors, to the end of the file.
	for r.off < r.size {
		i := info.tensors
		nDims, err := r.i32("tensor header")
		if err != nil {
			return info, bad("tensor %d: %v", i, err)
		}
		nameLen, err := r.i32("tensor header")
		if err != nil {
			return info, bad("tensor %d: %v", i, err)
		}
		typ, err := r.i32("tensor header")
		if err != nil {
			return info, bad("tensor %d: %v", i, err)
		}
		if nDims < 1 || nDims > 3 {
			return info, bad("tensor %d has %d dimensions", i, nDims)
		}
		if nameLen < 1 || nameLen > 256 {
			return info, bad("tensor %d has a %d-byte name", i, nameLen)
		}
		tt, ok := ggmlTypes[typ]
		if !ok {
			return info, bad("tensor %d has unknown type %d", i, typ)
		}
		elems := int64(1)
		for range nDims {
			d, err := r.i32("tensor header")
			if err != nil {
				return info, bad("tensor %d: %v", i, err)
			}
			if d < 1 || d > 1<<20 {
				return info, bad("tensor %d has a dimension of %d", i, d)
			}
			elems *= int64(d)
			if elems > 1<<32 {
				return info, bad("tensor %d is too big", i)
			}
		}
		name, err := r.bytes(int64(nameLen), "tensor header")
		if err != nil {
			return info, bad("tensor %d: %v", i, err)
		}
		if elems%tt.block != 0 {
			return info, bad("tensor %s: %d values do not fill blocks of %d", name, elems, tt.block)
		}
		if err := r.skip(elems/tt.block*tt.size, "tensor "+string(name)); err != nil {
			return info, bad("%v", err)
		}
		info.tensors++
	}
	want := 11 + 15*int(info.nAudioLayer) + 24*int(info.nTextLayer)
	if info.tensors != want {
		return info, bad("%d tensors, want %d for %d encoder and %d decoder layers",
			info.tensors, want, info.nAudioLayer, info.nTextLayer)
	}
	return info, nil
}

// sane bounds the hyperparameters to what whisper.cpp can run: outside
// them it sizes buffers from nonsense or trips assertions mid-transcription.
func (m modelInfo) sane() error {
	in := func(v, lo, hi int32) bool { return v >= lo && v <= hi }
	switch {
	case !in(m.nVocab, 51864, 1<<20):
		return fmt.Errorf("n_vocab %d (whisper's special tokens need at least 51864)", m.nVocab)
	case !in(m.nAudioCtx, 1, 1500):
		return fmt.Errorf("n_audio_ctx %d", m.nAudioCtx)
	case !in(m.nTextCtx, 8, 1<<14):
		return fmt.Errorf("n_text_ctx %d", m.nTextCtx)
	case !in(m.nAudioState, 1, 1<<14) || m.nAudioState != m.nTextState:
		return fmt.Errorf("n_audio_state %d, n_text_state %d (must be equal)", m.nAudioState, m.nTextState)
	case !in(m.nAudioHead, 1, 1024) || m.nAudioState%m.nAudioHead != 0:
		return fmt.Errorf("n_audio_head %d for a state of %d", m.nAudioHead, m.nAudioState)
	case !in(m.nTextHead, 1, 1024) || m.nTextState%m.nTextHead != 0:
		return fmt.Errorf("n_text_head %d for a state of %d", m.nTextHead, m.nTextState)
	case !in(m.nAudioLayer, 1, 256) || !in(m.nTextLayer, 1, 256):
		return fmt.Errorf("%d encoder and %d decoder layers", m.nAudioLayer, m.nTextLayer)
	case m.nMels != 80 && m.nMels != 128:
		return fmt.Errorf("n_mels %d (whisper uses 80 or 128)", m.nMels)
	case !in(m.ftype%1000, 0, 30) || m.ftype < 0:
		return fmt.Errorf("ftype %d", m.ftype)
	}
	return nil
}

// modelReader reads little-endian values and knows how much file is left,
// so that running out is reported as where the file ends.
type modelReader struct {
	r         *bufio.Reader
	off, size int64
	buf       [4]byte
}

func (r *modelReader) need(n int64, what string) error {
	if n > r.size-r.off {
		return fmt.Errorf("the file ends inside the %s (%d bytes short at byte %d): truncated?",
			what, n-(r.size-r.off), r.size)
	}
	return nil
}

func (r *modelReader) bytes(n int64, what string) ([]byte, error) {
	if err := r.need(n, what); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	r.off += n
	return b, nil
}

func (r *modelReader) skip(n int64, what string) error {
	if err := r.need(n, what); err != nil {
		return err
	}
	if _, err := r.r.Discard(int(n)); err != nil {
		return fmt.Errorf("reading the %s: %w", what, err)
	}
	r.off += n
	return nil
}

func (r *modelReader) u32(what string) (uint32, error) {
	if err := r.need(4, what); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(r.r, r.buf[:]); err != nil {
		return 0, fmt.Errorf("reading the %s: %w", what, err)
	}
	r.off += 4
	return binary.LittleEndian.Uint32(r.buf[:]), nil
}

func (r *modelReader) i32(what string) (int32, error) {
	v, err := r.u32(what)
	return int32(v), err
}
