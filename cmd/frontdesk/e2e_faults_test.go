package main

// Fault tests for voicemail deposits (issue 8, "Faults"): the server is
// SIGKILLed while 20 callers leave messages, and the data directory runs out
// of space during a deposit. The callers are Go SIP phones (goPhone of
// e2e_sipclient_test.go) that stream a tone of their own as the message,
// end it with '#' and then listen: the PBX plays "vm-message-saved" only
// after the message's row is committed, so a caller who hears audio after
// its '#' has reached the "message saved" point.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/media/whisper/ggmlgen"
)

// faultCall is a call from a goPhone that sends toneLeft frames of a tone
// (the caller's message), silence otherwise.
type faultCall struct {
	*goCall
	hz       float64
	toneLeft atomic.Int64 // 20 ms frames of the tone still to send
}

// faultDial calls number and waits (at most timeout) for the answer: a
// goPhone call whose sender can play a tone.
func faultDial(p *goPhone, number string, hz float64, timeout time.Duration) (*faultCall, error) {
	fc := &faultCall{hz: hz}
	gc, err := p.invite(number, timeout, fc.sendTone)
	if err != nil {
		return nil, err
	}
	fc.goCall = gc
	return fc, nil
}

// sendTone sends a 20 ms PCMU frame for every 20 ms since the call began:
// the call's tone while toneLeft counts frames, silence otherwise. On a
// machine so busy that ticks come late (other tests, the transcription
// engine), the frames due go out together, so a caller still sends all of
// its message.
func (fc *faultCall) sendTone(c *goCall) {
	const frameDur = 20 * time.Millisecond
	silence := bytes.Repeat([]byte{0xFF}, 160)
	tone := make([]byte, 160)
	tick := time.NewTicker(frameDur)
	defer tick.Stop()
	start := time.Now()
	sent, n := int64(0), 0
	for {
		select {
		case <-c.stop:
			return
		case <-c.d.Context().Done():
			return
		case <-tick.C:
		}
		for due := int64(time.Since(start) / frameDur); sent < due; sent++ {
			frame := silence
			if fc.toneLeft.Load() > 0 {
				for i := range tone {
					v := 0.3 * math.MaxInt16 * math.Sin(2*math.Pi*fc.hz*float64(n+i)/8000)
					tone[i] = linearToUlaw(int16(v))
				}
				n += len(tone)
				frame = tone
				fc.toneLeft.Add(-1)
			}
			if _, err := c.dtmf.Write(frame); err != nil {
				return
			}
		}
	}
}

// pressPound sends '#' as an RFC 4733 event (no t.Fatal: it runs in the
// callers' goroutines).
func (c *faultCall) pressPound() error { return c.dtmf.WriteDTMF('#') }

// linearToUlaw encodes one sample as G.711 mu-law (ITU-T G.711, the inverse
// of ulawToLinear).
func linearToUlaw(s int16) byte {
	const bias, clip = 0x84, 32635
	sign := byte(0)
	v := int(s)
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, clip) + bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0F
	return ^(sign | byte(exp<<4) | byte(mant))
}

func TestLinearToUlawRoundTrip(t *testing.T) {
	for _, s := range []int16{0, 1, -1, 100, -100, 1000, -1000, 8000, -8000, 32000, -32000, math.MaxInt16, math.MinInt16} {
		got := ulawToLinear(linearToUlaw(s))
		// G.711 keeps 4 bits of mantissa: the error is under 1/16 of the value (+ the bias step).
		if d := math.Abs(float64(got) - float64(s)); d > math.Abs(float64(s))/16+16 {
			t.Errorf("mu-law round trip of %d gave %d", s, got)
		}
	}
}

// faultOutcome is what one caller saw.
type faultOutcome struct {
	caller   string
	hz       float64
	answered bool
	pressed  bool          // sent '#' after talking
	heard    time.Duration // non-silent audio heard after '#'
	remoteBY bool          // the PBX ended the call
	err      error
}

// reachedSaved says whether the caller heard the PBX speak after its '#':
// the "message saved" prompt, which is played only once the message is
// stored. 100 ms (two 50 ms frames above -50 dBFS) rules out a stray packet.
func (o faultOutcome) reachedSaved() bool { return o.pressed && o.heard >= 100*time.Millisecond }

// faultLeaveMessage has p call box, wait for the greeting and the beep,
// send its tone for talk, press '#', and listen for up to listen (or until
// stop closes, the moment the server is killed) to what the PBX says.
// talking, if not nil, is called when the caller starts talking.
func faultLeaveMessage(p *goPhone, box string, hz float64, talk, listen time.Duration, stop <-chan struct{}, talking func()) faultOutcome {
	o := faultOutcome{caller: p.user, hz: hz}
	c, err := faultDial(p, box, hz, 3*time.Second)
	if err != nil {
		o.err = err
		return o
	}
	o.answered = true
	defer func() {
		if !c.Ended() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.d.Hangup(ctx)
			cancel()
		}
		c.close()
	}()
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-stop:
			return false
		case <-c.d.Context().Done():
			return false
		}
	}
	if !wait(vmRecording + 200*time.Millisecond) {
		return o
	}
	c.toneLeft.Store(int64(talk / (20 * time.Millisecond)))
	if talking != nil {
		talking()
	}
	ok := wait(talk)
	// '#' follows the whole message, even from a sender that lags the clock.
	for ok && c.toneLeft.Load() > 0 {
		ok = wait(10 * time.Millisecond)
	}
	c.toneLeft.Store(0)
	if !ok {
		return o
	}
	mark := c.HeardSamples()
	if err := c.pressPound(); err != nil {
		o.err = err
		return o
	}
	o.pressed = true
	select {
	case <-c.d.Context().Done():
		o.remoteBY = true
	case <-time.After(listen):
	case <-stop:
	}
	o.heard = analyzeTones(c.Heard(mark), nil).Active
	return o
}

// faultLogLine is one JSON line of the server log.
type faultLogLine struct {
	Msg     string `json:"msg"`
	Level   string `json:"level"`
	Caller  string `json:"caller"`
	Box     string `json:"box"`
	Message int64  `json:"message"`
	Error   string `json:"error"`
	Seconds any    `json:"seconds"` // a string when saved, a number when too short
	Count   int64  `json:"count"`   // jobs requeued at start
	Raw     string `json:"-"`
}

// faultLog parses the server's JSON log (lines that are not JSON, such as
// a panic's trace, come back as Msg "raw: ...").
func faultLog(t *testing.T, srv *frontdeskServer) []faultLogLine {
	t.Helper()
	f, err := os.Open(srv.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []faultLogLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l faultLogLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			l.Msg = "raw: " + sc.Text()
		}
		l.Raw = sc.Text()
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading server log %s: %v", srv.LogPath, err)
	}
	return lines
}

// faultRow is one row of the messages table.
type faultRow struct {
	ID       int64
	Caller   string
	Duration float64
	Audio    string
	Deleted  bool
}

// faultOpenDB opens the database read-only (the server may be running).
func faultOpenDB(t *testing.T, dataDir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "frontdesk.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// faultIntegrity runs PRAGMA integrity_check and fails the test unless it
// says "ok".
func faultIntegrity(t *testing.T, dataDir string) {
	t.Helper()
	db := faultOpenDB(t, dataDir)
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	defer rows.Close()
	var res []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if len(res) != 1 || res[0] != "ok" {
		t.Errorf("PRAGMA integrity_check: %q, want [ok]", res)
	}
}

func faultRows(t *testing.T, dataDir string) []faultRow {
	t.Helper()
	db := faultOpenDB(t, dataDir)
	rows, err := db.Query(`SELECT id, caller_number, duration_ms, audio, deleted_at IS NOT NULL FROM messages ORDER BY id`)
	if err != nil {
		t.Fatalf("reading messages: %v", err)
	}
	defer rows.Close()
	var out []faultRow
	for rows.Next() {
		var r faultRow
		var ms int64
		if err := rows.Scan(&r.ID, &r.Caller, &ms, &r.Audio, &r.Deleted); err != nil {
			t.Fatal(err)
		}
		r.Duration = float64(ms) / 1000
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// faultCheckStore checks the data directory of a running server: the CLI
// lists exactly the rows of the database; each listed message has its WAV,
// readable by media.ReadWAVFile, at 8 kHz, lasting its listed duration (at
// least the one-second minimum), holding its caller's tone; DATA/messages
// holds nothing else (no .pcm, .json, .tmp-*, no WAV without a row); the
// database passes integrity_check. It returns the rows by id.
func faultCheckStore(t *testing.T, dataDir, box string, callerHz map[string]float64) map[int64]faultRow {
	t.Helper()
	listed := boxMessages(t, dataDir, box)
	rows := faultRows(t, dataDir)
	byID := map[int64]faultRow{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	var listedIDs, rowIDs []int64
	for _, m := range listed {
		listedIDs = append(listedIDs, m.ID)
	}
	for _, r := range rows {
		if !r.Deleted {
			rowIDs = append(rowIDs, r.ID)
		}
	}
	slices.Sort(listedIDs)
	if !slices.Equal(listedIDs, rowIDs) {
		t.Errorf("vm messages lists %v, the database holds %v", listedIDs, rowIDs)
	}
	freqs := slices.Sorted(func(yield func(float64) bool) {
		for _, hz := range callerHz {
			if !yield(hz) {
				return
			}
		}
	})
	wavs := map[string]bool{}
	for _, m := range listed {
		r, ok := byID[m.ID]
		if !ok {
			continue
		}
		wavs[r.Audio] = true
		if m.Duration <= 0 || m.Duration < 1 {
			t.Errorf("message %d from %s lasts %.2f s: want at least the 1 s minimum", m.ID, m.CallerNumber, m.Duration)
		}
		a, err := media.ReadWAVFile(filepath.Join(dataDir, "messages", r.Audio))
		if err != nil {
			t.Errorf("message %d from %s is listed, but its audio %s is not readable: %v", m.ID, m.CallerNumber, r.Audio, err)
			continue
		}
		if a.Rate != 8000 || a.Seconds() <= 0 {
			t.Errorf("message %d: audio %s is %d Hz, %.2f s", m.ID, r.Audio, a.Rate, a.Seconds())
		}
		if d := a.Seconds() - m.Duration; math.Abs(d) > 0.05 {
			t.Errorf("message %d is listed at %.2f s, its WAV lasts %.2f s", m.ID, m.Duration, a.Seconds())
		}
		if hz, ok := callerHz[m.CallerNumber]; ok {
			an := analyzeTones(wavAudio{SampleRate: a.Rate, Samples: a.Samples}, freqs)
			if an.Dominant() != hz || an.Share[hz] < 0.5 {
				t.Errorf("message %d from %s does not hold the caller's %.0f Hz tone: %v", m.ID, m.CallerNumber, hz, an)
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(dataDir, "messages"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !wavs[e.Name()] {
			t.Errorf("DATA/messages/%s belongs to no listed message (half-written or orphaned)", e.Name())
		}
	}
	faultIntegrity(t, dataDir)
	return byID
}

// faultSegment is one stored transcript segment.
type faultSegment struct {
	StartMS, EndMS int64
	Text           string
}

// faultTranscript is a message's transcription as the database holds it:
// its job, and its transcript if there is one.
type faultTranscript struct {
	State    string // the job's state; "" when the message has no job
	Attempts int
	Error    string
	Stored   bool // a transcripts row exists
	Model    string
	Text     string
	Seconds  float64
	Segments []faultSegment
	Indexed  string // the transcript in the search index (message_search)
}

// same says whether two stored transcripts are the same (the job's
// attempts and state aside).
func (a faultTranscript) same(b faultTranscript) bool {
	return a.Stored == b.Stored && a.Model == b.Model && a.Text == b.Text && a.Seconds == b.Seconds &&
		slices.Equal(a.Segments, b.Segments)
}

// faultTranscripts reads every message's transcription job and transcript,
// by message id. It fails the test on rows that belong to no message or
// segments of no transcript.
func faultTranscripts(t *testing.T, db *sql.DB) map[int64]faultTranscript {
	t.Helper()
	rows, err := db.Query(`SELECT m.id, COALESCE(j.state, ''), COALESCE(j.attempts, 0), COALESCE(j.error, ''),
			tr.message_id IS NOT NULL, COALESCE(tr.model, ''), COALESCE(tr.text, ''), COALESCE(tr.seconds, 0),
			COALESCE((SELECT s.transcript FROM message_search s WHERE s.rowid = m.id), '(not indexed)')
		FROM messages m LEFT JOIN transcription_jobs j ON j.message_id = m.id LEFT JOIN transcripts tr ON tr.message_id = m.id`)
	if err != nil {
		t.Fatalf("reading transcription jobs: %v", err)
	}
	defer rows.Close()
	out := map[int64]faultTranscript{}
	for rows.Next() {
		var id int64
		var f faultTranscript
		if err := rows.Scan(&id, &f.State, &f.Attempts, &f.Error, &f.Stored, &f.Model, &f.Text, &f.Seconds, &f.Indexed); err != nil {
			t.Fatal(err)
		}
		out[id] = f
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	segs, err := db.Query(`SELECT message_id, idx, start_ms, end_ms, text FROM transcript_segments ORDER BY message_id, idx`)
	if err != nil {
		t.Fatalf("reading transcript segments: %v", err)
	}
	defer segs.Close()
	for segs.Next() {
		var id int64
		var idx int
		var s faultSegment
		if err := segs.Scan(&id, &idx, &s.StartMS, &s.EndMS, &s.Text); err != nil {
			t.Fatal(err)
		}
		f, ok := out[id]
		switch {
		case !ok || !f.Stored:
			t.Errorf("transcript segment %d of message %d belongs to no transcript (%+v)", idx, id, f)
		case idx != len(f.Segments):
			t.Errorf("message %d: transcript segment %d follows %d segments: segments are missing", id, idx, len(f.Segments))
		}
		f.Segments = append(f.Segments, s)
		out[id] = f
	}
	if err := segs.Err(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT COUNT(*) FROM transcription_jobs WHERE message_id NOT IN (SELECT id FROM messages)`,
		`SELECT COUNT(*) FROM transcripts WHERE message_id NOT IN (SELECT id FROM messages)`,
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d, want 0 (rows of no message)", q, n)
		}
	}
	return out
}

// faultJobsAtKill counts the transcription jobs by state as the killed
// server left them: on a copy of the database and its write-ahead log, so
// that nothing touches the data directory before the restart.
func faultJobsAtKill(t *testing.T, dataDir string) map[string]int {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"frontdesk.db", "frontdesk.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "frontdesk.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT state, COUNT(*) FROM transcription_jobs GROUP BY state`)
	if err != nil {
		t.Fatalf("transcription jobs at the kill: %v", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// faultWaitTranscripts polls the database until no message's transcription
// is queued or running (or timeout passes, which fails the test) and
// returns every message's transcription and the time that took.
func faultWaitTranscripts(t *testing.T, dataDir string, timeout time.Duration) (map[int64]faultTranscript, time.Duration) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "frontdesk.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	for {
		var pending int
		err := db.QueryRow(`SELECT COUNT(*) FROM transcription_jobs WHERE state IN ('queued', 'running')`).Scan(&pending)
		if err != nil {
			t.Fatalf("polling transcription jobs: %v", err)
		}
		if pending == 0 {
			break
		}
		if time.Since(start) > timeout {
			counts := map[string]int{}
			for _, f := range faultTranscripts(t, db) {
				counts[f.State]++
			}
			t.Fatalf("%d messages still wait for their transcripts %v after the restart: jobs by state %v", pending, timeout, counts)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return faultTranscripts(t, db), time.Since(start)
}

// faultCleanTranscript transcribes a message's WAV with `frontdesk
// transcribe` (a process of its own, the model and threads the server
// uses): what an uninterrupted transcription of it gives.
func faultCleanTranscript(t *testing.T, dataDir, wav, model string) transcriptView {
	t.Helper()
	out := runCLI(t, dataDir, "transcribe", filepath.Join(dataDir, "messages", wav), "--model", model, "--threads", "1", "--json")
	var v transcriptView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("transcribe --json: %v\n%s", err, out)
	}
	return v
}

// faultCheckTranscripts checks every message's transcription once the queue
// has drained after a restart. With the engine (e2eWhisper): each message
// has its transcript, from the model in use, or its job failed with a
// reason; a transcript is whole: its segments are numbered without gaps,
// lie within the message's audio, make up its text, which the search index
// holds, and match what a clean transcription of the WAV gives (done for
// the messages in fresh; the others must equal what was stored before).
// Without it each job waits with the no-engine reason, and no transcript
// exists. It returns the number of messages compared with a clean run and
// of failed jobs.
func faultCheckTranscripts(t *testing.T, round int, dataDir, model string, rows map[int64]faultRow, got, before map[int64]faultTranscript) (compared int, failed []string) {
	t.Helper()
	for id, r := range rows {
		f, ok := got[id]
		if !ok || f.State == "" {
			t.Errorf("round %d: message %d has no transcription job", round, id)
			continue
		}
		if !e2eWhisper {
			if f.State != "no-model" || !strings.Contains(f.Error, "no transcription engine") || f.Stored {
				t.Errorf("round %d: message %d on a build without whisper: job %s (%q), transcript stored %v; want no-model, no transcript",
					round, id, f.State, f.Error, f.Stored)
			}
			continue
		}
		switch f.State {
		case "done":
		case "failed":
			if strings.TrimSpace(f.Error) == "" {
				t.Errorf("round %d: message %d: transcription failed without a reason", round, id)
			}
			failed = append(failed, fmt.Sprintf("%d: %s", id, f.Error))
			if f.Stored {
				t.Errorf("round %d: message %d: transcription failed, yet a transcript is stored: %+v", round, id, f)
			}
			continue
		default:
			t.Errorf("round %d: message %d: transcription ended %q (%q), want done or failed with a reason", round, id, f.State, f.Error)
			continue
		}
		if !f.Stored {
			t.Errorf("round %d: message %d: job done, but no transcript stored", round, id)
			continue
		}
		if f.Model != filepath.Base(model) || f.Seconds <= 0 {
			t.Errorf("round %d: message %d: transcript by model %q in %.3f s, want %s and a time", round, id, f.Model, f.Seconds, filepath.Base(model))
		}
		// The text is the segments' joined as whisper.Result.Text joins them.
		var joined []byte
		for i, s := range f.Segments {
			if s.StartMS < 0 || s.EndMS < s.StartMS || float64(s.EndMS) > r.Duration*1000+10 {
				t.Errorf("round %d: message %d (%.2f s): segment %d %+v lies outside the audio", round, id, r.Duration, i, s)
			}
			if i > 0 && len(joined) > 0 && joined[len(joined)-1] != ' ' {
				joined = append(joined, ' ')
			}
			joined = append(joined, strings.Trim(s.Text, " \n")...)
		}
		if f.Text != string(joined) {
			t.Errorf("round %d: message %d: transcript text %q is not its segments' %q (half-written?)", round, id, f.Text, joined)
		}
		if f.Indexed != f.Text {
			t.Errorf("round %d: message %d: the search index holds %q, the transcript %q", round, id, f.Indexed, f.Text)
		}
		if old, ok := before[id]; ok && old.Stored {
			if !f.same(old) {
				t.Errorf("round %d: message %d's transcript changed after a restart: was %+v, now %+v", round, id, old, f)
			}
			continue
		}
		clean := faultCleanTranscript(t, dataDir, r.Audio, model)
		compared++
		if clean.Text != f.Text || len(clean.Segments) != len(f.Segments) {
			t.Errorf("round %d: message %d: stored transcript %q in %d segments; a clean transcription gives %q in %d segments (cut or doubled?)",
				round, id, f.Text, len(f.Segments), clean.Text, len(clean.Segments))
			continue
		}
		for i, c := range clean.Segments {
			s := f.Segments[i]
			if c.Text != s.Text || math.Abs(c.Start*1000-float64(s.StartMS)) > 1 || math.Abs(c.End*1000-float64(s.EndMS)) > 1 {
				t.Errorf("round %d: message %d: segment %d is %+v, a clean transcription gives %+v", round, id, i, s, c)
			}
		}
	}
	return compared, failed
}

// faultTinyModel writes the tiny random-weight whisper model (ggmlgen) for
// the server to transcribe with; its text is meaningless, its work real.
func faultTinyModel(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ggml-tiny-random.bin")
	if err := ggmlgen.WriteTinyModelFile(path, 1); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKillDuringDeposits: 20 callers leave messages in one shared box at
// the same time, and the server is SIGKILLed at a random moment while the
// calls are in progress; it is restarted on the same data directory.
// Three rounds. After each restart:
//   - every caller that heard the PBX speak after its '#' (the "message
//     saved" prompt, played after the row is committed) has its message
//     listed, with its own tone in a readable WAV;
//   - every message the killed server logged as saved is listed;
//   - every listed message has its audio, lasting its listed duration;
//   - nothing is left in DATA/messages but the listed messages' WAVs (the
//     recordings the kill interrupted were recovered or removed at start);
//   - the messages of earlier rounds are all still there, unchanged;
//   - the database passes PRAGMA integrity_check;
//   - transcription resumes: every message gets its transcript (or, on a
//     build without whisper, waits with the no-engine reason), or its job
//     fails with a reason; the jobs the kill cut off are queued again; no
//     transcript is half-written (see faultCheckTranscripts), and those of
//     earlier rounds are unchanged.
//
// Built with -tags whisper (make test-whisper, in the Debian sid root), the
// server transcribes with the tiny generated model, so transcriptions run
// and wait in the queue when the kills come; the test checks that some did.
func TestKillDuringDeposits(t *testing.T) {
	const (
		box     = "600"
		callers = 20
		rounds  = 3
		first   = 101
	)
	dataDir := t.TempDir()
	callerHz := map[string]float64{}
	for i := range callers {
		ext := strconv.Itoa(first + i)
		runCLI(t, dataDir, "ext", "add", ext, "--name", "Caller "+ext, "--secret", sippTestSecret(ext), "--no-voicemail")
		callerHz[ext] = 400 + 60*float64(i) // 400 .. 1540 Hz, 60 Hz apart
	}
	runCLI(t, dataDir, "vm", "add", box, "--name", "Sales", "--pin", vmPIN)
	vmSetShortGreeting(t, dataDir, box)
	serveArgs := []string{"--log-format", "json"}
	model := ""
	if e2eWhisper {
		model = faultTinyModel(t)
		runCLI(t, dataDir, "model", "use", model)
		// One thread, as faultCleanTranscript uses.
		serveArgs = append(serveArgs, "--transcribe-threads", "1")
	}

	serve := func() *frontdeskServer { return startServer(t, dataDir, serveArgs...) }
	srv := serve()
	earlier := map[int64]faultRow{}
	var report []string
	var totalHeard, totalInFlight, totalJobsAtKill int
	earlierTr := map[int64]faultTranscript{}
	for round := 1; round <= rounds; round++ {
		phones := make([]*goPhone, callers)
		for i := range phones {
			ext := strconv.Itoa(first + i)
			phones[i] = newGoPhone(t, ext, sippTestSecret(ext), srv.SIPAddr)
		}
		stop := make(chan struct{})
		outcomes := make([]faultOutcome, callers)
		var wg sync.WaitGroup
		var talkOnce sync.Once
		firstTalk := make(chan time.Time, 1)
		start := time.Now()
		for i, p := range phones {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Calls start within 1.5 s; messages of 2-4 s.
				time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
				talk := 2*time.Second + time.Duration(rand.IntN(2000))*time.Millisecond
				outcomes[i] = faultLeaveMessage(p, box, callerHz[p.user], talk, 4*time.Second, stop, func() {
					talkOnce.Do(func() { firstTalk <- time.Now() })
				})
			}()
		}
		// The kill comes at a random moment after the first caller starts
		// talking, in a window of its own for each round, so that the rounds
		// together cut recordings (round 1: most callers are talking), stores
		// and prompts (round 2: some have pressed '#') and calls that are
		// over or hearing "saved" (round 3: every caller has pressed '#';
		// callers start within 1.5 s and talk for 2-4 s).
		windows := [][2]time.Duration{{500 * time.Millisecond, 2 * time.Second}, {2 * time.Second, 4 * time.Second}, {4 * time.Second, 6 * time.Second}}
		w := windows[(round-1)%len(windows)]
		afterTalk := w[0] + time.Duration(rand.Int64N(int64(w[1]-w[0])))
		var talkAt time.Time
		select {
		case talkAt = <-firstTalk:
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: no caller started talking within 15 s", round)
		}
		time.Sleep(time.Until(talkAt.Add(afterTalk)))
		killAt := time.Since(start)
		srv.Kill()
		close(stop)
		wg.Wait()

		// What the killed server says it stored before it died.
		loggedSaved := map[string]int64{} // caller -> message id
		for _, l := range faultLog(t, srv) {
			switch {
			case l.Msg == "voicemail: message saved" && l.Box == box:
				loggedSaved[l.Caller] = l.Message
			case strings.HasPrefix(l.Msg, "raw: panic"), l.Msg == "voicemail: message not saved",
				// Every caller talks for 2 s or more before '#'.
				l.Msg == "voicemail: message too short, discarded":
				t.Errorf("round %d: killed server logged %q for caller %s: %s %v %s", round, l.Msg, l.Caller, l.Error, l.Seconds, l.Raw)
			}
		}
		// The recordings in progress at the kill (ID.json, ID.pcm), by ID.
		_, leftovers := messageFiles(t, dataDir)
		// The transcription queue as the kill left it, and what the killed
		// server transcribed.
		jobsAtKill := faultJobsAtKill(t, dataDir)
		var transcribedBefore, failedBefore int
		for _, l := range faultLog(t, srv) {
			switch l.Msg {
			case "transcribed":
				transcribedBefore++
			case "transcription failed":
				failedBefore++
				t.Logf("round %d: killed server: %s", round, l.Raw)
			}
		}
		inFlight := map[string]bool{}
		for _, f := range leftovers {
			if id, ok := strings.CutSuffix(f, ".json"); ok {
				inFlight[id] = true
			}
		}

		srv = serve()
		var recovered, discarded int
		recoveredIDs := map[int64]bool{}
		for _, l := range faultLog(t, srv) {
			switch l.Msg {
			case "voicemail recovery: interrupted recording saved":
				recovered++
				recoveredIDs[l.Message] = true
			case "voicemail recovery: interrupted recording under a second removed":
				discarded++
			}
		}
		rows := faultCheckStore(t, dataDir, box, callerHz)

		var answered, heard, pressed int
		for _, o := range outcomes {
			if o.answered {
				answered++
			}
			if o.pressed {
				pressed++
			}
			if !o.reachedSaved() {
				continue
			}
			heard++
			id, ok := loggedSaved[o.caller]
			if !ok {
				t.Errorf("round %d: caller %s heard %v of audio after its '#', but the server never logged its message saved",
					round, o.caller, o.heard)
				continue
			}
			if r, ok := rows[id]; !ok || r.Deleted || r.Caller != o.caller {
				t.Errorf("round %d: caller %s reached \"message saved\" (message %d), but after the restart it is not listed (%+v)",
					round, o.caller, id, r)
			}
		}
		for caller, id := range loggedSaved {
			if r, ok := rows[id]; !ok || r.Deleted || r.Caller != caller {
				t.Errorf("round %d: the killed server logged message %d from %s saved; after the restart it is missing (%+v)", round, id, caller, r)
			}
		}
		for id, r := range earlier {
			if now, ok := rows[id]; !ok || now != r {
				t.Errorf("round %d: message %d of an earlier round changed or vanished: was %+v, now %+v", round, id, r, now)
			}
		}
		// Every new message is accounted for: logged saved by the killed
		// server, recovered at the restart, or a recording in flight whose
		// row was committed just before the kill (its log line and the
		// removal of its ID.pcm and ID.json were cut short).
		loggedIDs := map[int64]bool{}
		for _, id := range loggedSaved {
			loggedIDs[id] = true
		}
		added, committedUnlogged := 0, 0
		for id, r := range rows {
			if _, ok := earlier[id]; ok {
				continue
			}
			added++
			switch {
			case loggedIDs[id], recoveredIDs[id]:
			case inFlight[strings.TrimSuffix(r.Audio, ".wav")]:
				committedUnlogged++
			default:
				t.Errorf("round %d: message %d (%+v) is neither logged saved, nor recovered, nor a recording in flight at the kill", round, id, r)
			}
		}
		for id := range recoveredIDs {
			if r, ok := rows[id]; !ok || r.Deleted {
				t.Errorf("round %d: the restarted server logged message %d recovered, but it is not listed", round, id)
			}
		}
		// The test must have exercised something: calls were up and some
		// reached the saved point, or a recording was cut by the kill.
		if answered == 0 {
			t.Errorf("round %d: no call was answered before the kill at %v", round, killAt)
		}
		line := fmt.Sprintf("round %d: kill at %.2f s (%.2f s after the first caller started talking at %.2f s); %d calls answered, %d pressed '#', %d heard \"saved\"; "+
			"logged saved %d; recordings in flight at the kill %d (committed, not yet logged %d; recovered %d; under 1 s removed %d); messages now %d (+%d); lost 0 of those that reached \"saved\"",
			round, killAt.Seconds(), afterTalk.Seconds(), talkAt.Sub(start).Seconds(), answered, pressed, heard, len(loggedSaved), len(inFlight), committedUnlogged, recovered, discarded, len(rows), added)
		if t.Failed() {
			line = strings.Replace(line, "lost 0", "LOST SOME (see errors)", 1)
		}
		// Transcription resumes after the restart.
		got, drained := faultWaitTranscripts(t, dataDir, 8*time.Minute)
		compared, failed := faultCheckTranscripts(t, round, dataDir, model, rows, got, earlierTr)
		var requeued int64
		for _, l := range faultLog(t, srv) {
			if l.Msg == "transcription: interrupted jobs queued again" {
				requeued = l.Count
			}
		}
		if requeued != int64(jobsAtKill["running"]) {
			t.Errorf("round %d: %d transcriptions were running at the kill, the restarted server queued %d again", round, jobsAtKill["running"], requeued)
		}
		for _, f := range failed {
			t.Logf("round %d: transcription failed: message %s", round, f)
		}
		line += fmt.Sprintf("; transcription at the kill: %d running, %d queued, %d done so far (%d transcribed by the killed server, %d attempts failed), %d waiting for an engine; "+
			"%d queued again at the restart; all %d settled %.1f s after the restart (%d compared with a clean run, %d failed)",
			jobsAtKill["running"], jobsAtKill["queued"], jobsAtKill["done"], transcribedBefore, failedBefore, jobsAtKill["no-model"],
			requeued, len(got), drained.Seconds(), compared, len(failed))
		t.Log(line)
		report = append(report, line)
		earlier = rows
		earlierTr = got
		totalJobsAtKill += jobsAtKill["running"] + jobsAtKill["queued"]
		totalHeard += heard
		totalInFlight += len(inFlight)
	}
	// Over the rounds the kills must have hit both sides of the "saved"
	// point, or the test proved nothing.
	if totalHeard == 0 || totalInFlight == 0 {
		t.Errorf("over %d rounds %d callers reached \"saved\" and %d recordings were in flight at the kills: want both > 0", rounds, totalHeard, totalInFlight)
	}
	// With the engine, the kills must have caught transcription at work.
	if e2eWhisper && totalJobsAtKill == 0 {
		t.Errorf("over %d rounds no transcription was running or queued at a kill", rounds)
	}
	fmt.Println("TestKillDuringDeposits:\n  " + strings.Join(report, "\n  "))
}

// faultMountTmpfs mounts a tmpfs of size bytes on a new temporary directory
// and unmounts it at the end of the test. Tests run as root here.
func faultMountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatalf("TestDiskFullDuringDeposit mounts a small tmpfs and must run as root (uid %d); run the tests as root", os.Getuid())
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mounting a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// faultFree is the free space of the filesystem holding dir.
func faultFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// faultFill writes a filler file so that about leave bytes stay free.
func faultFill(t *testing.T, dir, name string, leave int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for faultFree(t, dir) > leave {
		n := min(int64(len(chunk)), faultFree(t, dir)-leave)
		if _, err := f.Write(chunk[:n]); err != nil {
			break // full: that is the point
		}
	}
	if err := f.Sync(); err != nil {
		t.Logf("sync filler: %v", err)
	}
}

func faultHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return sha256.Sum256(b)
}

// TestDiskFullDuringDeposit: the data directory lives on a small tmpfs. A
// first message is stored; then the disk is filled, leaving no space or
// less than a message needs, and a caller leaves a message. The caller must
// hear an apology (vm-sorry-error: the server says so in its log, and the
// caller hears it speak after its '#' or the beep) and the server must end
// the call; nothing is listed for the failed deposit, nothing half-written
// stays in DATA/messages, the first message is intact and the database
// passes integrity_check. When the space is freed, a new message is stored.
func TestDiskFullDuringDeposit(t *testing.T) {
	const box = "600"
	dataDir := faultMountTmpfs(t, 16<<20)
	callerHz := map[string]float64{"101": 440, "102": 700}
	for ext := range callerHz {
		runCLI(t, dataDir, "ext", "add", ext, "--name", "Caller "+ext, "--secret", sippTestSecret(ext), "--no-voicemail")
	}
	runCLI(t, dataDir, "vm", "add", box, "--name", "Sales", "--pin", vmPIN)
	vmSetShortGreeting(t, dataDir, box)
	srv := startServer(t, dataDir, "--log-format", "json")
	phone := newGoPhone(t, "101", sippTestSecret("101"), srv.SIPAddr)
	phone2 := newGoPhone(t, "102", sippTestSecret("102"), srv.SIPAddr)

	leave := func(p *goPhone) faultOutcome {
		t.Helper()
		o := faultLeaveMessage(p, box, callerHz[p.user], 3*time.Second, 8*time.Second, nil, nil)
		if o.err != nil || !o.answered {
			t.Fatalf("caller %s: call failed: %v", p.user, o.err)
		}
		return o
	}
	logFrom := func(n int) []faultLogLine { return faultLog(t, srv)[n:] }

	// A first message, stored normally.
	o := leave(phone)
	if !o.reachedSaved() || !o.remoteBY {
		t.Fatalf("first message: caller heard %v after '#', PBX hung up %v; want the saved prompt and a hangup", o.heard, o.remoteBY)
	}
	first := faultCheckStore(t, dataDir, box, callerHz)
	if len(first) != 1 {
		t.Fatalf("after the first message the box holds %d messages, want 1", len(first))
	}
	var firstRow faultRow
	for _, r := range first {
		firstRow = r
	}
	firstWAV := filepath.Join(dataDir, "messages", firstRow.Audio)
	firstHash := faultHash(t, firstWAV)

	for _, tc := range []struct {
		name  string
		leave int64 // bytes left free
	}{
		{"no space at all", 0},
		{"space for part of the recording", 24 << 10},
		{"space for the recording, not for its WAV", 96 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := len(faultLog(t, srv))
			faultFill(t, dataDir, "filler", tc.leave)
			t.Logf("free space: %d bytes", faultFree(t, dataDir))
			o := faultLeaveMessage(phone, box, callerHz["101"], 3*time.Second, 8*time.Second, nil, nil)
			if !o.answered {
				// Refusing the call outright is no apology; the brief wants
				// the caller told.
				t.Errorf("with the disk full the call was not answered: %v", o.err)
			}
			var apology, saved, tooShort bool
			var problems []string
			// The log line may follow the caller's hangup by a moment.
			waitFor(3*time.Second, func() bool {
				for _, l := range logFrom(mark) {
					if l.Msg == "voicemail: message not saved" || l.Msg == "voicemail: start recording" {
						return true
					}
				}
				return false
			})
			for _, l := range logFrom(mark) {
				switch {
				case l.Msg == "voicemail: message not saved" || l.Msg == "voicemail: start recording":
					apology = true
					problems = append(problems, l.Msg+": "+l.Error)
				case l.Msg == "voicemail: message saved":
					saved = true
				case l.Msg == "voicemail: message too short, discarded":
					tooShort = true
				case strings.HasPrefix(l.Msg, "raw: panic"), strings.Contains(l.Msg, "fatal error"):
					t.Errorf("server log: %s", l.Msg)
				}
			}
			t.Logf("caller: answered %v, pressed '#' %v, heard %v after it, PBX hung up %v; server: %q",
				o.answered, o.pressed, o.heard, o.remoteBY, problems)
			if !apology || saved || tooShort {
				t.Errorf("disk full: server logged apology=%v saved=%v too-short=%v; want the sorry-error path (message not saved)", apology, saved, tooShort)
			}
			if o.answered && !o.remoteBY {
				t.Errorf("disk full: the PBX did not end the call after its apology")
			}
			if o.pressed && o.heard < 500*time.Millisecond {
				t.Errorf("disk full: the caller heard only %v after '#', want the apology", o.heard)
			}
			select {
			case <-srv.exited:
				t.Fatalf("the server exited with the disk full: %v", srv.waitErr)
			default:
			}
			if err := os.Remove(filepath.Join(dataDir, "filler")); err != nil {
				t.Fatal(err)
			}
			// Nothing listed for the failed deposit, nothing left behind, the
			// first message unchanged, the database sound.
			rows := faultCheckStore(t, dataDir, box, callerHz)
			if len(rows) != len(first) {
				t.Errorf("after the failed deposit the box holds %d messages, want %d", len(rows), len(first))
			}
			if faultHash(t, firstWAV) != firstHash || rows[firstRow.ID] != firstRow {
				t.Errorf("the first message changed: %+v", rows[firstRow.ID])
			}

			// Space is back: service resumes.
			o2 := leave(phone2)
			if !o2.reachedSaved() {
				t.Errorf("after freeing space: the caller heard %v after '#', want the saved prompt", o2.heard)
			}
			rows = faultCheckStore(t, dataDir, box, callerHz)
			if len(rows) != len(first)+1 {
				t.Errorf("after freeing space the box holds %d messages, want %d", len(rows), len(first)+1)
			}
			first = rows
		})
	}
	if srv.Stop(); srv.waitErr != nil {
		t.Errorf("server exit after the disk-full deposits: %v", srv.waitErr)
	}
	faultIntegrity(t, dataDir)
}
