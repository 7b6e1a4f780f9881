package whisper

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frontdesk-pbx/frontdesk/media/whisper/ggmlgen"
)

// tinyModel writes the generated test model to a temporary file.
func tinyModel(t testing.TB, seed int64) (path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := ggmlgen.WriteTinyModel(&buf, seed); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "ggml-tiny-random.bin")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckModelFileAcceptsGeneratedModel(t *testing.T) {
	path, _ := tinyModel(t, 1)
	info, err := checkModelFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !info.multilingual() || info.tensors != len(ggmlgen.Tensors(ggmlgen.Tiny)) {
		t.Fatalf("info %+v", info)
	}
}

// Every way of cutting the file short must be reported, not passed on to
// libwhisper: at every section boundary and around it, and at a spread of
// points through the file.
func TestCheckModelFileRejectsTruncation(t *testing.T) {
	_, data := tinyModel(t, 1)
	cuts := map[int]bool{0: true, 1: true, 3: true, 4: true, 47: true, 48: true, len(data) - 1: true}
	for off := range boundaries(t, data) {
		for d := -1; d <= 1; d++ {
			if off+d > 0 && off+d < len(data) {
				cuts[off+d] = true
			}
		}
	}
	for i := 1; i < 150; i++ {
		cuts[len(data)*i/150] = true
	}
	dir := t.TempDir()
	for n := range cuts {
		path := filepath.Join(dir, "cut.bin")
		if err := os.WriteFile(path, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := checkModelFile(path); !errors.Is(err, ErrBadModel) {
			t.Fatalf("cut at %d of %d bytes: err = %v, want ErrBadModel", n, len(data), err)
		}
	}
	t.Logf("%d truncations rejected", len(cuts))
}

// boundaries yields the offsets where the file's sections and tensors start.
func boundaries(t testing.TB, data []byte) map[int]bool {
	le := binary.LittleEndian
	b := map[int]bool{4: true, 48: true}
	off := 48
	nMel, nFFT := int(le.Uint32(data[off:])), int(le.Uint32(data[off+4:]))
	off += 8 + nMel*nFFT*4
	b[off] = true
	n := int(le.Uint32(data[off:]))
	off += 4
	for range n {
		off += 4 + int(le.Uint32(data[off:]))
	}
	b[off] = true
	for off < len(data) {
		dims, nameLen, typ := int(le.Uint32(data[off:])), int(le.Uint32(data[off+4:])), le.Uint32(data[off+8:])
		elems := 1
		for i := range dims {
			elems *= int(le.Uint32(data[off+12+4*i:]))
		}
		b[off+12+4*dims] = true // name
		off += 12 + 4*dims + nameLen
		b[off] = true // data
		if typ == 1 {
			off += 2 * elems
		} else {
			off += 4 * elems
		}
		b[off] = true
	}
	if off != len(data) {
		t.Fatalf("walked to %d of %d bytes", off, len(data))
	}
	return b
}

func TestCheckModelFileRejectsBadContent(t *testing.T) {
	_, good := tinyModel(t, 1)
	le := binary.LittleEndian
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "ends inside the magic"},
		{"text", []byte("this is not a model, just some text\n"), "wrong magic"},
		{"gguf", edit(func(b []byte) []byte { copy(b, "GGUF"); return b }), "wrong magic"},
		{"state mismatch", edit(func(b []byte) []byte { le.PutUint32(b[4+6*4:], 64); return b }), "must be equal"},
		{"heads", edit(func(b []byte) []byte { le.PutUint32(b[4+3*4:], 5); return b }), "n_audio_head"},
		{"small vocab", edit(func(b []byte) []byte { le.PutUint32(b[4:], 1000); return b }), "n_vocab"},
		{"mels", edit(func(b []byte) []byte { le.PutUint32(b[48:], 81); return b }), "mel filterbank"},
		{"trailing bytes", append(bytes.Clone(good), 1, 0, 0, 0, 9), "ends inside the tensor header"},
		{"trailing zeros", append(bytes.Clone(good), make([]byte, 16)...), "0 dimensions"},
		{"extra tensor", append(bytes.Clone(good), lastTensor(t, good)...), "tensors, want"},
		{"no space token", edit(func(b []byte) []byte {
			i := bytes.Index(b[64376:], []byte{1, 0, 0, 0, ' '})
			b[64376+i+4] = 0 // the token " " becomes "\x00", a duplicate
			return b
		}), `no " " token`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := checkModelFile(writeTemp(t, "m.bin", c.data))
			if !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrBadModel mentioning %q", err, c.want)
			}
		})
	}
	if _, err := checkModelFile(filepath.Join(t.TempDir(), "missing.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := checkModelFile(t.TempDir()); !errors.Is(err, ErrBadModel) {
		t.Fatalf("directory: %v", err)
	}
}

// lastTensor returns the bytes of the file's last tensor (decoder.ln.bias).
func lastTensor(t testing.TB, data []byte) []byte {
	name := []byte("decoder.ln.bias")
	i := bytes.LastIndex(data, name)
	if i < 0 {
		t.Fatal("no decoder.ln.bias")
	}
	start := i - 12 - 4 // one dimension
	return data[start:]
}
