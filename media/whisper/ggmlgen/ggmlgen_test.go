package ggmlgen

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

func TestWriteTinyModelIsDeterministicAndSized(t *testing.T) {
	var a, b, c bytes.Buffer
	if err := WriteTinyModel(&a, 1); err != nil {
		t.Fatal(err)
	}
	if err := WriteTinyModel(&b, 1); err != nil {
		t.Fatal(err)
	}
	if err := WriteTinyModel(&c, 2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different files")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different seeds, same file")
	}
	if got := binary.LittleEndian.Uint32(a.Bytes()); got != Magic {
		t.Fatalf("magic %#x", got)
	}
	// Header, filters, vocabulary, then every tensor's header and data.
	want := 4 + 11*4 + 8 + int(Tiny.NMels)*nFFT*4 + 4
	for id := range nTextToken {
		want += 4 + len(token(id))
	}
	for _, ts := range Tensors(Tiny) {
		n, size := 1, 4
		if ts.Type == TypeF16 {
			size = 2
		}
		for _, d := range ts.Ne {
			n *= int(d)
		}
		want += 12 + 4*len(ts.Ne) + len(ts.Name) + n*size
	}
	if a.Len() != want {
		t.Fatalf("file is %d bytes, layout says %d", a.Len(), want)
	}
	if a.Len() > 6<<20 {
		t.Fatalf("tiny model is %d bytes", a.Len())
	}
	t.Logf("tiny model: %d bytes, %d tensors", a.Len(), len(Tensors(Tiny)))
}

func TestTensorCountMatchesWhisperCpp(t *testing.T) {
	// whisper.cpp: per encoder layer 15 tensors, per decoder layer 24, and
	// 11 outside the layers.
	for _, layers := range [][2]int32{{1, 1}, {4, 4}, {32, 4}} {
		h := Tiny
		h.NAudioLayer, h.NTextLayer = layers[0], layers[1]
		if got, want := len(Tensors(h)), 11+15*int(layers[0])+24*int(layers[1]); got != want {
			t.Errorf("%v layers: %d tensors, want %d", layers, got, want)
		}
	}
	seen := map[string]bool{}
	for _, ts := range Tensors(Tiny) {
		if seen[ts.Name] {
			t.Errorf("tensor %s twice", ts.Name)
		}
		seen[ts.Name] = true
	}
}

func TestTokensAreDistinctAndIncludeSpace(t *testing.T) {
	seen := make(map[string]int, nTextToken)
	for id := range nTextToken {
		tok := token(id)
		if prev, dup := seen[tok]; dup {
			t.Fatalf("token %d and %d are both %q", prev, id, tok)
		}
		seen[tok] = id
	}
	if _, ok := seen[" "]; !ok {
		t.Fatal(`no " " token`)
	}
}

func TestF16(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff}, {1e6, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00}, {6.103515625e-05, 0x0400}, {5.960464477539063e-08, 0x0001},
		{1e-9, 0}, {0.333333343, 0x3555}, {1.0009765625, 0x3c01},
	} {
		if got := f16(c.in); got != c.want {
			t.Errorf("f16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if got := f16(float32(math.NaN())); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
		t.Errorf("f16(NaN) = %#04x", got)
	}
}

func TestMelFiltersAreTriangles(t *testing.T) {
	f := melFilters(80)
	for m := range 80 {
		nonzero := 0
		for k := range nFFT {
			v := f[m*nFFT+k]
			if v < 0 || math.IsNaN(float64(v)) {
				t.Fatalf("filter %d bin %d = %g", m, k, v)
			}
			if v > 0 {
				nonzero++
			}
		}
		if nonzero == 0 {
			t.Errorf("filter %d is empty", m)
		}
	}
}
