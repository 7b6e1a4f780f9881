package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SampleRate is the rate of telephone audio: G.711 on the wire, prompts and
// stored messages.
const SampleRate = 8000

// maxWAVBytes bounds what ReadWAV accepts (an hour of 48 kHz stereo).
const maxWAVBytes = 48000 * 2 * 2 * 3600

// ErrNotWAV is returned for input that is not a WAV file ReadWAV understands.
var ErrNotWAV = errors.New("not a PCM WAV file")

// Audio is mono 16-bit PCM at Rate samples per second.
type Audio struct {
	Rate    int
	Samples []int16
}

// Duration in seconds.
func (a Audio) Seconds() float64 {
	if a.Rate == 0 {
		return 0
	}
	return float64(len(a.Samples)) / float64(a.Rate)
}

// ReadWAV reads a RIFF/WAVE file of 16-bit or 8-bit PCM (format 1) or
// G.711 (formats 6 and 7), mono or stereo at any rate, and returns it as
// mono 16-bit PCM at its own rate. Stereo is mixed down.
func ReadWAV(r io.Reader) (Audio, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return Audio{}, fmt.Errorf("%w: %v", ErrNotWAV, err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return Audio{}, fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	var format, channels, bits uint16
	var rate uint32
	haveFmt := false
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return Audio{}, fmt.Errorf("%w: no data chunk", ErrNotWAV)
		}
		id, size := string(hdr[0:4]), binary.LittleEndian.Uint32(hdr[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return Audio{}, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return Audio{}, fmt.Errorf("%w: short fmt chunk", ErrNotWAV)
			}
			format = binary.LittleEndian.Uint16(b[0:2])
			channels = binary.LittleEndian.Uint16(b[2:4])
			rate = binary.LittleEndian.Uint32(b[4:8])
			bits = binary.LittleEndian.Uint16(b[14:16])
			if format == 0xFFFE && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: the real format is in the GUID
				format = binary.LittleEndian.Uint16(b[24:26])
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return Audio{}, fmt.Errorf("%w: data before fmt", ErrNotWAV)
			}
			return decodeData(r, size, format, channels, bits, rate)
		default:
			if size > maxWAVBytes {
				return Audio{}, fmt.Errorf("%w: chunk %q of %d bytes", ErrNotWAV, id, size)
			}
			if _, err := io.CopyN(io.Discard, r, int64(size+size%2)); err != nil {
				return Audio{}, fmt.Errorf("%w: short %q chunk", ErrNotWAV, id)
			}
		}
	}
}

func decodeData(r io.Reader, size uint32, format, channels, bits uint16, rate uint32) (Audio, error) {
	if channels < 1 || channels > 2 {
		return Audio{}, fmt.Errorf("%w: %d channels (want 1 or 2)", ErrNotWAV, channels)
	}
	if rate < 4000 || rate > 192000 {
		return Audio{}, fmt.Errorf("%w: sample rate %d", ErrNotWAV, rate)
	}
	var width int
	var decode func(b []byte) int16
	switch {
	case format == 1 && bits == 16:
		width, decode = 2, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) }
	case format == 1 && bits == 8:
		width, decode = 1, func(b []byte) int16 { return int16(int(b[0])-128) << 8 }
	case format == 7 && bits == 8:
		width, decode = 1, func(b []byte) int16 { return UlawToLinear(b[0]) }
	case format == 6 && bits == 8:
		width, decode = 1, func(b []byte) int16 { return AlawToLinear(b[0]) }
	default:
		return Audio{}, fmt.Errorf("%w: format %d with %d bits (want PCM 8/16-bit or G.711)", ErrNotWAV, format, bits)
	}
	// Files written while streaming sometimes say 0 or 0xFFFFFFFF: read to EOF.
	limit := int64(size)
	if size == 0 || size == 0xFFFFFFFF || size > maxWAVBytes {
		limit = maxWAVBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return Audio{}, fmt.Errorf("read WAV data: %w", err)
	}
	frame := width * int(channels)
	n := len(data) / frame
	out := make([]int16, n)
	for i := range n {
		f := data[i*frame:]
		if channels == 1 {
			out[i] = decode(f)
		} else {
			out[i] = int16((int32(decode(f)) + int32(decode(f[width:]))) / 2)
		}
	}
	return Audio{Rate: int(rate), Samples: out}, nil
}

// ReadWAVFile reads a WAV file from disk.
func ReadWAVFile(path string) (Audio, error) {
	f, err := os.Open(path)
	if err != nil {
		return Audio{}, err
	}
	defer f.Close()
	a, err := ReadWAV(bufio.NewReader(f))
	if err != nil {
		return Audio{}, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// WriteWAV writes mono 16-bit PCM.
func WriteWAV(w io.Writer, a Audio) error {
	dataLen := uint32(len(a.Samples) * 2)
	hdr := make([]byte, 44)
	copy(hdr[0:], "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], 36+dataLen)
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], 1) // PCM
	binary.LittleEndian.PutUint16(hdr[22:], 1) // mono
	binary.LittleEndian.PutUint32(hdr[24:], uint32(a.Rate))
	binary.LittleEndian.PutUint32(hdr[28:], uint32(a.Rate*2))
	binary.LittleEndian.PutUint16(hdr[32:], 2)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], dataLen)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	buf := make([]byte, len(a.Samples)*2)
	for i, s := range a.Samples {
		binary.LittleEndian.PutUint16(buf[i*2:], uint16(s))
	}
	_, err := w.Write(buf)
	return err
}

// WriteWAVFileAtomic writes a WAV with WriteFileAtomic.
func WriteWAVFileAtomic(path string, a Audio) error {
	return WriteFileAtomic(path, func(w io.Writer) error { return WriteWAV(w, a) })
}

// WriteFileAtomic writes a file so that path either doesn't exist or holds
// the whole file: a temporary file in the same directory, fsync, rename,
// fsync of the directory. A crash at any point leaves no half-written file
// under path (only a .tmp-* file that startup clean-up removes).
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	bw := bufio.NewWriterSize(tmp, 64*1024)
	if err := errors.Join(write(bw), bw.Flush()); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
