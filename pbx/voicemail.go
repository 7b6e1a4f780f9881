package pbx

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Voicemail limits.
const (
	minMessage      = time.Second // shorter recordings are discarded
	recordingFsync  = time.Second // how often a recording in progress reaches the disk
	beepHz          = 1000
	digitTimeout    = 6 * time.Second
	pinAttempts     = 3
	lockoutFailures = 10
	// DefaultPINLockout is both the window wrong PINs are counted over and
	// how long a box then stays locked.
	DefaultPINLockout = 15 * time.Minute
)

// Data-dir subdirectories.
const (
	MessagesDir  = "messages"
	GreetingsDir = "greetings"
)

// voicemail deposits messages and runs the *56 menu.
type voicemail struct {
	counters *counters
	store    *store.Store
	log      *slog.Logger
	dataDir  string
	prompts  *media.Prompts
	now      func() time.Time
	// changed is told about every change to a box's messages (lamps, email).
	changed func(box string)
	// info routes SIP INFO digits to sessions.
	info *infoDigits
	// lockout is the wrong-PIN window and lock time.
	lockout time.Duration
	// operator connects a caller who pressed 0 to the box's operator; false
	// when nobody took the call there.
	operator func(ds *diago.DialogServerSession, cm *callMedia, caller party, dest Destination) (string, bool)
	// writeWAV stores a finished message's audio (media.WriteWAVFileAtomic
	// when nil; tests fill the disk).
	writeWAV func(path string, a media.Audio) error
}

// boxChanged tells the lamps (and mail queue) a box changed.
func (v *voicemail) boxChanged(box string) {
	if v.changed != nil {
		v.changed(box)
	}
}

// answer answers a call with our codecs and starts its media; digits sent
// as SIP INFO reach it until the call ends.
func (v *voicemail) answer(ds *diago.DialogServerSession) (*callMedia, error) {
	if err := ds.AnswerOptions(diago.AnswerOptions{Codecs: codecs, RTPNAT: dmedia.RTPNATSymetric}); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	cm, err := startCallMedia(ds)
	if err != nil {
		return nil, err
	}
	callID := ds.InviteRequest.CallID().Value()
	v.info.add(callID, cm)
	go func() {
		<-ds.Context().Done()
		v.info.remove(callID)
	}()
	return cm, nil
}

// deposit records a message in box on an answered call. It returns the
// call-log status.
func (v *voicemail) deposit(ds *diago.DialogServerSession, cm *callMedia, box store.Box, caller party, called string) string {
	callerNumber, callerName := caller.Number, caller.Name
	ctx := ds.Context()
	log := v.log.With("box", box.Number, "caller", callerNumber)
	greeting, err := v.greeting(box)
	if err != nil {
		log.Warn("voicemail: greeting", "error", err)
	}
	if d, err := cm.play(ctx, greeting, true); err != nil {
		return store.CallVoicemail
	} else if d == '0' && box.Operator != "" && v.operator != nil {
		if dest, err := ParseDestination(box.Operator); err == nil {
			if status, ok := v.operator(ds, cm, caller, dest); ok {
				return status
			}
		}
		log.Info("voicemail: operator did not answer, taking a message", "operator", box.Operator)
	}
	if _, err := cm.play(ctx, media.Audio{Rate: media.SampleRate, Samples: media.Tone(beepHz, 0.3, media.SampleRate, 0.4)}, false); err != nil {
		return store.CallVoicemail
	}

	rec, err := v.startRecording(box.Number, callerNumber, callerName, called)
	if err != nil {
		log.Error("voicemail: start recording", "error", err)
		v.sayAndHangUp(ctx, cm, "vm-sorry-error")
		return store.CallFailed
	}
	reason := v.record(ctx, cm, rec, box)
	received, expected := rtpCounts(ds)
	log = log.With("rtp_received", received, "rtp_expected", expected)
	id, seconds, err := v.finishRecording(ctx, rec, box)
	if !errors.Is(err, errTooShort) {
		v.counters.deposit(err == nil, received, expected)
	}
	switch {
	case errors.Is(err, errTooShort):
		log.Info("voicemail: message too short, discarded", "seconds", seconds, "ended_by", reason)
		v.sayAndHangUp(ctx, cm, "vm-too-short")
		return store.CallVoicemail
	case err != nil:
		log.Error("voicemail: message not saved", "error", err)
		v.sayAndHangUp(ctx, cm, "vm-sorry-error")
		return store.CallFailed
	}
	log.Info("voicemail: message saved", "message", id, "seconds", fmt.Sprintf("%.1f", seconds), "ended_by", reason)
	v.sayAndHangUp(ctx, cm, "vm-message-saved")
	return store.CallVoicemail
}

// rtpCounts reads how many RTP packets arrived from the caller and how many
// the sequence numbers say were sent (the difference is loss).
func rtpCounts(ds *diago.DialogServerSession) (received, expected uint64) {
	rs := ds.RTPSession()
	if rs == nil {
		return 0, 0
	}
	st := rs.ReadStats()
	if st.PacketsCount == 0 {
		return 0, 0
	}
	// 16-bit sequence numbers wrap; a message is far shorter than 65536 packets.
	return st.PacketsCount, uint64(st.LastSequenceNumber-st.FirstPktSequenceNumber) + 1
}

func (v *voicemail) sayAndHangUp(ctx context.Context, cm *callMedia, prompt string) {
	if a, err := v.prompts.Get(prompt); err == nil {
		_, _ = cm.play(ctx, a, false)
	}
}

// greeting is the box's own greeting, or the default that says its number
// (and its name, when espeak-ng can say it).
func (v *voicemail) greeting(box store.Box) (media.Audio, error) {
	if box.Greeting != "" {
		a, err := media.ReadWAVFile(filepath.Join(v.dataDir, GreetingsDir, box.Greeting))
		if err == nil {
			return toTelephone(a), nil
		}
		v.log.Warn("voicemail: custom greeting unreadable, using the default", "box", box.Number, "error", err)
	}
	words := []string{"vm-mailbox"}
	words = append(words, media.DigitWords(box.Number)...)
	a, err := v.prompts.Join(words...)
	if err != nil {
		return media.Audio{Rate: media.SampleRate}, err
	}
	if name, err := v.spokenName(box); err == nil {
		a.Samples = append(append(a.Samples, media.Silence(0.15, media.SampleRate)...), name.Samples...)
	}
	rest, err := v.prompts.Join("vm-not-available", "vm-leave-message")
	if err != nil {
		return a, err
	}
	a.Samples = append(append(a.Samples, media.Silence(0.15, media.SampleRate)...), rest.Samples...)
	return a, nil
}

// spokenName renders a box's name with espeak-ng once and keeps it.
func (v *voicemail) spokenName(box store.Box) (media.Audio, error) {
	sum := hex.EncodeToString([]byte(box.Name))
	if len(sum) > 40 {
		sum = sum[:40]
	}
	path := filepath.Join(v.dataDir, GreetingsDir, "name-"+box.Number+"-"+sum+".wav")
	if a, err := media.ReadWAVFile(path); err == nil {
		return a, nil
	}
	a, err := Speak(context.Background(), box.Name)
	if err != nil {
		return media.Audio{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err == nil {
		_ = media.WriteWAVFileAtomic(path, a)
	}
	return a, nil
}

// Speak renders text with espeak-ng (when installed) as 8 kHz audio.
func Speak(ctx context.Context, text string) (media.Audio, error) {
	bin, err := exec.LookPath("espeak-ng")
	if err != nil {
		return media.Audio{}, fmt.Errorf("espeak-ng is not installed: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-v", "en-us", "-s", "150", "--stdout", "--", text).Output()
	if err != nil {
		return media.Audio{}, fmt.Errorf("espeak-ng: %w", err)
	}
	a, err := media.ReadWAV(bytes.NewReader(out))
	if err != nil {
		return media.Audio{}, fmt.Errorf("espeak-ng output: %w", err)
	}
	return toTelephone(a), nil
}

// toTelephone converts audio to 8 kHz.
func toTelephone(a media.Audio) media.Audio {
	if a.Rate == media.SampleRate {
		return a
	}
	return media.Audio{Rate: media.SampleRate, Samples: media.Resample(a.Samples, a.Rate, media.SampleRate)}
}

// recordingMeta is written beside a recording in progress, so a restart after
// a crash can finish the message from what reached the disk.
type recordingMeta struct {
	ID           string    `json:"id"`
	Box          string    `json:"box"`
	CallerNumber string    `json:"caller_number"`
	CallerName   string    `json:"caller_name"`
	CalledNumber string    `json:"called_number"`
	StartedAt    time.Time `json:"started_at"`
}

type recording struct {
	meta     recordingMeta
	dir      string
	file     *os.File
	buf      *bufio.Writer
	mu       sync.Mutex
	lastSync time.Time
	samples  int
	err      error
}

func (r *recording) pcmPath() string  { return filepath.Join(r.dir, r.meta.ID+".pcm") }
func (r *recording) metaPath() string { return filepath.Join(r.dir, r.meta.ID+".json") }

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startRecording writes the metadata, then opens the raw audio file that
// frames are appended to while the caller speaks.
func (v *voicemail) startRecording(box, callerNumber, callerName, called string) (*recording, error) {
	dir := filepath.Join(v.dataDir, MessagesDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	r := &recording{dir: dir, meta: recordingMeta{ID: newID(), Box: box, CallerNumber: callerNumber, CallerName: callerName,
		CalledNumber: called, StartedAt: v.now()}}
	meta, _ := json.Marshal(r.meta)
	if err := media.WriteFileAtomic(r.metaPath(), func(w io.Writer) error { _, err := w.Write(meta); return err }); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(r.pcmPath(), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o640)
	if err != nil {
		os.Remove(r.metaPath())
		return nil, err
	}
	r.file, r.buf, r.lastSync = f, bufio.NewWriterSize(f, 32*1024), time.Now()
	return r, nil
}

// write appends one frame; it syncs to disk about once a second.
func (r *recording) write(frame []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	var b [2]byte
	for _, s := range frame {
		binary.LittleEndian.PutUint16(b[:], uint16(s))
		if _, err := r.buf.Write(b[:]); err != nil {
			r.err = err
			return
		}
	}
	r.samples += len(frame)
	if time.Since(r.lastSync) >= recordingFsync {
		if err := r.buf.Flush(); err != nil {
			r.err = err
			return
		}
		r.err = r.file.Sync()
		r.lastSync = time.Now()
	}
}

func (r *recording) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := errors.Join(r.err, r.buf.Flush(), r.file.Close())
	r.err = errors.Join(r.err, errors.New("closed"))
	return err
}

// record captures audio until hangup, '#', silence after speech or the
// maximum length, and says which.
func (v *voicemail) record(ctx context.Context, cm *callMedia, rec *recording, box store.Box) string {
	var va media.VoiceActivity
	silent := make(chan struct{})
	var once sync.Once
	silenceSamples := box.SilenceSeconds * media.SampleRate
	stop := cm.record(func(frame []int16) {
		rec.write(frame)
		va.Add(frame)
		if silenceSamples > 0 && va.SilentFor(silenceSamples) {
			once.Do(func() { close(silent) })
		}
	})
	defer stop()
	maxLen := time.NewTimer(time.Duration(box.MaxSeconds) * time.Second)
	defer maxLen.Stop()
	for {
		select {
		case d := <-cm.digits:
			if d == '#' {
				return "pound"
			}
		case <-silent:
			return "silence"
		case <-maxLen.C:
			return "max-length"
		case <-cm.done:
			return "hangup"
		case <-ctx.Done():
			return "hangup"
		}
	}
}

var errTooShort = errors.New("message too short")

// finishRecording turns the raw recording into the stored message: WAV via
// temp file, fsync and rename, then the database row in one transaction.
//
// A recording whose audio could not all be written (disk full) is not a
// message: keeping what reached the disk would store a truncated message,
// or call it too short, while the caller is told it was saved. It is
// removed, and so are the files of a message that could not be stored: the
// caller hears an apology, so nothing must turn up later (Recover at the
// next start) and the space is given back at once.
func (v *voicemail) finishRecording(ctx context.Context, rec *recording, box store.Box) (int64, float64, error) {
	if err := rec.close(); err != nil {
		v.discard(rec.dir, rec.meta.ID)
		return 0, float64(rec.samples) / media.SampleRate, fmt.Errorf("recording: %w", err)
	}
	id, seconds, err := v.completeMessage(context.WithoutCancel(ctx), rec.dir, rec.meta, box.Emails)
	switch {
	case err == nil:
		v.boxChanged(box.Number)
	case !errors.Is(err, errTooShort):
		v.discard(rec.dir, rec.meta.ID)
	}
	return id, seconds, err
}

// completeMessage converts ID.pcm into ID.wav and stores the row, or
// discards a recording under a second. Used at hangup and after a crash.
func (v *voicemail) completeMessage(ctx context.Context, dir string, meta recordingMeta, emails []string) (int64, float64, error) {
	raw, err := os.ReadFile(filepath.Join(dir, meta.ID+".pcm"))
	if err != nil {
		return 0, 0, err
	}
	samples := make([]int16, len(raw)/2)
	for i := range samples {
		samples[i] = int16(binary.LittleEndian.Uint16(raw[i*2:]))
	}
	// Drop the silence that ended the recording, keeping half a second.
	samples = media.TrimTrailingSilence(samples, media.SampleRate, media.SampleRate/2)
	a := media.Audio{Rate: media.SampleRate, Samples: samples}
	if a.Seconds() < minMessage.Seconds() {
		v.discard(dir, meta.ID)
		return 0, a.Seconds(), errTooShort
	}
	wav := meta.ID + ".wav"
	write := v.writeWAV
	if write == nil {
		write = media.WriteWAVFileAtomic
	}
	if err := write(filepath.Join(dir, wav), a); err != nil {
		return 0, a.Seconds(), err
	}
	id, err := v.store.AddMessage(ctx, store.Message{
		Box: meta.Box, CallerNumber: meta.CallerNumber, CallerName: meta.CallerName, CalledNumber: meta.CalledNumber,
		StartedAt: meta.StartedAt, Duration: a.Seconds(), Audio: wav,
	}, emails)
	if err != nil {
		return 0, a.Seconds(), err
	}
	os.Remove(filepath.Join(dir, meta.ID+".pcm"))
	os.Remove(filepath.Join(dir, meta.ID+".json"))
	return id, a.Seconds(), nil
}

func (v *voicemail) discard(dir, id string) {
	for _, ext := range []string{".pcm", ".wav", ".json"} {
		os.Remove(filepath.Join(dir, id+ext))
	}
}

// Recover finishes or cleans recordings a crash interrupted: each ID.json
// left behind either becomes a stored message (when its audio, or a second
// or more of it, reached the disk) or is removed with its files. One that
// can't be stored now (the disk is full) is logged and left as it is, for
// the next start to try again: it never keeps the server from starting.
// The error is for a messages directory or database that can't be read.
func (v *voicemail) Recover(ctx context.Context) error {
	dir := filepath.Join(v.dataDir, MessagesDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scan %s: %w", dir, err)
	}
	known, err := v.store.AudioFiles(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			os.Remove(filepath.Join(dir, name)) // a WAV write that never finished
			continue
		}
		id, ok := strings.CutSuffix(name, ".json")
		if !ok {
			continue
		}
		if known[id+".wav"] {
			// The row was committed; only the cleanup was cut short.
			os.Remove(filepath.Join(dir, id+".pcm"))
			os.Remove(filepath.Join(dir, name))
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		var meta recordingMeta
		if err != nil || json.Unmarshal(raw, &meta) != nil || meta.ID != id {
			v.log.Warn("voicemail recovery: unreadable recording metadata removed", "file", name)
			v.discard(dir, id)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, id+".pcm")); err != nil {
			v.discard(dir, id)
			continue
		}
		box, err := v.store.Box(ctx, meta.Box)
		if err != nil {
			v.log.Warn("voicemail recovery: box is gone, recording removed", "box", meta.Box)
			v.discard(dir, id)
			continue
		}
		msg, secs, err := v.completeMessage(ctx, dir, meta, box.Emails)
		switch {
		case errors.Is(err, errTooShort):
			v.log.Info("voicemail recovery: interrupted recording under a second removed", "box", meta.Box)
		case err != nil:
			// The raw recording and its metadata stay (completeMessage
			// leaves them, and no half-written WAV): the next start retries.
			v.log.Warn("voicemail recovery: interrupted recording could not be stored now, kept for the next start",
				"box", meta.Box, "recording", id, "error", err)
		default:
			v.log.Info("voicemail recovery: interrupted recording saved", "box", meta.Box, "message", msg, "seconds", fmt.Sprintf("%.1f", secs))
			v.boxChanged(meta.Box)
		}
	}
	return nil
}
