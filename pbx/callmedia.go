package pbx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"

	"github.com/frontdesk-pbx/frontdesk/media"
)

// callMedia is the PBX's own end of an answered call: it plays prompts to the
// caller, collects the digits they press (RFC 4733 events in the RTP stream,
// or SIP INFO pushed in by the server), and hands decoded audio to whoever
// records. One goroutine reads the RTP stream for the whole call.
type callMedia struct {
	ds       *diago.DialogServerSession
	alaw     bool
	digits   chan rune
	digitsMu sync.Mutex    // orders pushDigit against unreadDigit
	done     chan struct{} // closed when the stream ends (hangup)

	mu   sync.Mutex
	sink func([]int16) // receives decoded audio while recording

	// reading is held around each read of the stream; pause takes it for
	// good when a bridge takes over the caller's audio.
	reading sync.Mutex
	paused  bool
}

// startCallMedia answers nothing itself: ds must be answered already.
func startCallMedia(ds *diago.DialogServerSession) (*callMedia, error) {
	reader, err := ds.AudioReaderDTMF()
	if err != nil {
		return nil, fmt.Errorf("audio reader: %w", err)
	}
	codec := dmedia.CodecAudioFromSession(ds.MediaSession())
	m := &callMedia{ds: ds, alaw: codec.PayloadType == 8, digits: make(chan rune, 32), done: make(chan struct{})}
	reader.OnDTMF(func(d rune) error {
		m.pushDigit(d)
		return nil
	})
	go m.read(reader)
	return m, nil
}

func (m *callMedia) pushDigit(d rune) {
	m.digitsMu.Lock()
	defer m.digitsMu.Unlock()
	select {
	case m.digits <- d:
	default: // a caller pressing faster than we read loses the extra digits
	}
}

// unreadDigit puts a key back at the front, ahead of keys that arrived since
// (a key that cut a prompt short is the next one to read).
func (m *callMedia) unreadDigit(d rune) {
	m.digitsMu.Lock()
	defer m.digitsMu.Unlock()
	var later []rune
	for len(m.digits) > 0 {
		later = append(later, <-m.digits)
	}
	m.digits <- d
	for _, x := range later {
		select {
		case m.digits <- x:
		default:
		}
	}
}

func (m *callMedia) read(r io.Reader) {
	defer close(m.done)
	buf := make([]byte, dmedia.RTPBufSize)
	var pcm []int16
	for {
		m.reading.Lock()
		if m.paused {
			m.reading.Unlock()
			return
		}
		n, err := r.Read(buf)
		m.reading.Unlock()
		if err != nil {
			return
		}
		// Telephone-event packets carry digits, not audio.
		if m.ds.RTPPacketReader.PacketHeader.PayloadType == dmedia.CodecTelephoneEvent8000.PayloadType {
			continue
		}
		m.mu.Lock()
		sink := m.sink
		m.mu.Unlock()
		if sink != nil {
			pcm = media.DecodeG711(pcm[:0], buf[:n], m.alaw)
			sink(pcm)
		}
	}
}

// pause stops reading the caller's stream so something else (a bridge) can.
// It waits for the read in progress, at most a moment: phones send a packet
// every 20 ms.
func (m *callMedia) pause() {
	locked := make(chan struct{})
	go func() {
		m.reading.Lock()
		m.paused = true
		m.reading.Unlock()
		close(locked)
	}()
	select {
	case <-locked:
	case <-time.After(200 * time.Millisecond):
	}
}

// record sends decoded audio to sink until stop is called.
func (m *callMedia) record(sink func([]int16)) (stop func()) {
	m.mu.Lock()
	m.sink = sink
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		m.sink = nil
		m.mu.Unlock()
	}
}

// errHangup means the caller hung up.
var errHangup = errors.New("caller hung up")

// play plays audio; when interruptible, a digit pressed meanwhile stops it
// and is returned, taken off the queue (unreadDigit puts it back for a
// caller that wants it as the first of a number). It returns errHangup when
// the call ends.
func (m *callMedia) play(ctx context.Context, a media.Audio, interruptible bool) (rune, error) {
	pb, err := m.ds.PlaybackCreate()
	if err != nil {
		return 0, fmt.Errorf("playback: %w", err)
	}
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	var pressed rune
	var watch sync.WaitGroup
	if interruptible {
		watch.Add(1)
		go func() {
			defer watch.Done()
			select {
			case d := <-m.digits:
				pressed = d
				halt()
			case <-stop:
			}
		}()
	}
	r := &pcmReader{samples: a.Samples, stop: stop, ctx: ctx}
	_, err = pb.Play(r, "audio/pcm")
	halt()
	watch.Wait()
	if pressed != 0 {
		return pressed, nil
	}
	if err != nil || ctx.Err() != nil || m.ended() {
		return 0, errHangup
	}
	return 0, nil
}

func (m *callMedia) ended() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// readDigits collects digits until '#', max digits, or timeout after the last
// key. A '*' alone is returned as "*".
func (m *callMedia) readDigits(ctx context.Context, max int, timeout time.Duration) (string, error) {
	var got []rune
	for {
		select {
		case d := <-m.digits:
			if d == '#' {
				return string(got), nil
			}
			got = append(got, d)
			if len(got) >= max || d == '*' && len(got) == 1 {
				return string(got), nil
			}
		case <-time.After(timeout):
			return string(got), nil
		case <-m.done:
			return string(got), errHangup
		case <-ctx.Done():
			return string(got), errHangup
		}
	}
}

// waitDigit waits for one key press.
func (m *callMedia) waitDigit(ctx context.Context, timeout time.Duration) (rune, error) {
	select {
	case d := <-m.digits:
		return d, nil
	case <-time.After(timeout):
		return 0, nil
	case <-m.done:
		return 0, errHangup
	case <-ctx.Done():
		return 0, errHangup
	}
}

// pcmReader feeds samples to diago's playback as little-endian PCM and stops
// early when stop closes or ctx ends.
type pcmReader struct {
	samples []int16
	pos     int
	stop    chan struct{}
	ctx     context.Context
}

func (r *pcmReader) Read(p []byte) (int, error) {
	select {
	case <-r.stop:
		return 0, io.EOF
	case <-r.ctx.Done():
		return 0, io.EOF
	default:
	}
	n := 0
	for n+2 <= len(p) && r.pos < len(r.samples) {
		binary.LittleEndian.PutUint16(p[n:], uint16(r.samples[r.pos]))
		n += 2
		r.pos++
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
