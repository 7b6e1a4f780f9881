package main

// End-to-end voicemail tests with real SIP clients: baresip phones leave
// messages (a spoken sentence, a tone), the Go phone of e2e_sipclient_test.go
// dials *56 and presses keys as RFC 4733 telephone-events, and subscribes
// to message-summary for the lamp. What the PBX stored is read back through
// the CLI (`vm messages --json`, `vm list --json`, `audit --json`) and from
// the WAV files in DATA/messages.

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// boxMessage is one row of `vm messages --json`.
type boxMessage struct {
	ID           int64   `json:"id"`
	CallerNumber string  `json:"caller_number"`
	CallerName   string  `json:"caller_name"`
	CalledNumber string  `json:"called_number"`
	Duration     float64 `json:"duration_seconds"`
	Played       bool    `json:"played"`
	Status       string  `json:"status"`
}

func boxMessages(t *testing.T, dataDir, box string) []boxMessage {
	t.Helper()
	var msgs []boxMessage
	out := runCLI(t, dataDir, "vm", "messages", box, "--json")
	if err := json.Unmarshal([]byte(out), &msgs); err != nil {
		t.Fatalf("vm messages --json: %v\n%s", err, out)
	}
	return msgs
}

const (
	vmGreeting = time.Second            // the short custom greeting the tests set
	vmBeep     = 400 * time.Millisecond // the beep after it (pbx.beepHz, 0.4 s)
	// vmRecording is when recording starts, counted from the answer.
	vmRecording = vmGreeting + vmBeep

	vmPIN = "4321"
)

// Kill ends the server with SIGKILL, as a crash or power cut would: no
// shutdown code runs. It waits for the process to be gone.
func (s *frontdeskServer) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// vmSetShortGreeting gives box a 1 s greeting (a 500 Hz tone) instead of
// the ~10 s spoken default, so deposits start recording 1.4 s after the
// answer.
func vmSetShortGreeting(t *testing.T, dataDir, box string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "short-greeting.wav")
	if err := writeToneWAV(path, 500, 8000, vmGreeting); err != nil {
		t.Fatal(err)
	}
	runCLI(t, dataDir, "vm", "greeting", "set", box, path)
}

// vmWaitMessages polls `vm messages` until box holds n messages.
func vmWaitMessages(t *testing.T, dataDir, box string, n int) []boxMessage {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs := boxMessages(t, dataDir, box)
		if len(msgs) == n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("box %s holds %d messages, want %d: %+v", box, len(msgs), n, msgs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// vmLeaveMessage has phone call dial, waits for the greeting and the beep,
// stays talking for talk, and hangs up.
func vmLeaveMessage(p *baresipPhone, dial string, talk time.Duration) {
	p.t.Helper()
	p.Dial(dial)
	p.WaitEstablished()
	time.Sleep(vmRecording + talk)
	p.Hangup()
	p.WaitClosed()
}

// vmSpeech renders text with espeak-ng and converts it with sox to what
// baresip's aufile plays here: 8 kHz, mono, 16-bit PCM.
func vmSpeech(t *testing.T, text string) wavAudio {
	t.Helper()
	dir := t.TempDir()
	raw, conv := filepath.Join(dir, "espeak.wav"), filepath.Join(dir, "speech-8k.wav")
	for _, args := range [][]string{
		{"espeak-ng", "-v", "en-us", "-w", raw, text},
		{"sox", raw, "-r", "8000", "-c", "1", "-b", "16", conv},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	w, err := readWAV(conv)
	if err != nil {
		t.Fatal(err)
	}
	if w.SampleRate != 8000 {
		t.Fatalf("sox produced %d Hz, want 8000", w.SampleRate)
	}
	return w
}

// speechSpan is the time from the first to the end of the last 20 ms frame
// loud enough to count as sound for the PBX (RMS >= 330, media.SpeechLevel).
func speechSpan(w wavAudio) time.Duration {
	frame := w.SampleRate / 50
	first, last := -1, -1
	for i := 0; i+frame <= len(w.Samples); i += frame {
		var e float64
		for _, s := range w.Samples[i : i+frame] {
			e += float64(s) * float64(s)
		}
		if math.Sqrt(e/float64(frame)) >= 330 {
			if first < 0 {
				first = i
			}
			last = i + frame
		}
	}
	if first < 0 {
		return 0
	}
	return time.Duration(last-first) * time.Second / time.Duration(w.SampleRate)
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// messageFiles lists DATA/messages by kind: the finished WAVs, and anything
// else (a recording in progress or left by a crash: .pcm, .json, .tmp-*).
func messageFiles(t *testing.T, dataDir string) (wavs, others []string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, "messages"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".wav") && !strings.HasPrefix(e.Name(), ".tmp-") {
			wavs = append(wavs, filepath.Join(dataDir, "messages", e.Name()))
		} else {
			others = append(others, e.Name())
		}
	}
	return wavs, others
}

// assertStoredMessages checks that DATA/messages holds exactly one valid
// WAV per message row, whose length is the row's duration, and nothing
// else. It returns the WAVs decoded, in the order of their durations.
func assertStoredMessages(t *testing.T, dataDir string, msgs []boxMessage) []wavAudio {
	t.Helper()
	wavs, others := messageFiles(t, dataDir)
	if len(others) > 0 {
		t.Errorf("DATA/messages holds leftovers of unfinished recordings: %v", others)
	}
	if len(wavs) != len(msgs) {
		t.Errorf("DATA/messages holds %d WAV files for %d message rows: %v", len(wavs), len(msgs), wavs)
	}
	var audio []wavAudio
	for _, p := range wavs {
		w, err := readWAV(p)
		if err != nil {
			t.Errorf("message audio %s: %v", filepath.Base(p), err)
			continue
		}
		if w.SampleRate != 8000 {
			t.Errorf("message audio %s is %d Hz, want 8000", filepath.Base(p), w.SampleRate)
		}
		audio = append(audio, w)
	}
	slices.SortFunc(audio, func(a, b wavAudio) int { return int(a.Duration() - b.Duration()) })
	rows := slices.Clone(msgs)
	slices.SortFunc(rows, func(a, b boxMessage) int { return int(seconds(a.Duration) - seconds(b.Duration)) })
	for i := range min(len(rows), len(audio)) {
		if d := audio[i].Duration() - seconds(rows[i].Duration); d.Abs() > 50*time.Millisecond {
			t.Errorf("message %d says %.2f s, but its WAV lasts %v", rows[i].ID, rows[i].Duration, audio[i].Duration())
		}
	}
	return audio
}

// auditEntry is one row of `frontdesk audit --json`.
type auditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Box    string    `json:"box"`
	Detail string    `json:"detail"`
}

// auditActions counts the audit log's entries for box by action.
func auditActions(t *testing.T, dataDir, box string) map[string]int {
	t.Helper()
	var entries []auditEntry
	out := runCLI(t, dataDir, "audit", "--json", "--limit", "1000")
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	counts := map[string]int{}
	for _, e := range entries {
		if e.Box == box {
			counts[e.Action]++
		}
	}
	return counts
}

// vmBox is one row of `vm list --json`.
type vmBox struct {
	Number      string    `json:"number"`
	LockedUntil time.Time `json:"locked_until"`
	New         int       `json:"new"`
	Saved       int       `json:"saved"`
}

func vmListBox(t *testing.T, dataDir, number string) vmBox {
	t.Helper()
	var boxes []vmBox
	out := runCLI(t, dataDir, "vm", "list", "--json")
	if err := json.Unmarshal([]byte(out), &boxes); err != nil {
		t.Fatalf("vm list --json: %v\n%s", err, out)
	}
	for _, b := range boxes {
		if b.Number == number {
			return b
		}
	}
	t.Fatalf("vm list has no box %s:\n%s", number, out)
	return vmBox{}
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVoicemailDepositSmoke: a call to a shared box leaves one message
// (with the default spoken greeting).
func TestVoicemailDepositSmoke(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", "4321", "--members", "101")
	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: 440})
	alice.WaitRegistered()
	alice.Dial("sip:600@" + srv.SIPAddr)
	alice.WaitEstablished()
	time.Sleep(12 * time.Second)
	alice.Hangup()
	alice.WaitClosed()
	deadline := time.Now().Add(5 * time.Second)
	var msgs []boxMessage
	for time.Now().Before(deadline) {
		if msgs = boxMessages(t, srv.DataDir, "600"); len(msgs) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(msgs) != 1 {
		t.Fatalf("box 600 has %d messages, want 1", len(msgs))
	}
	t.Logf("message: %+v", msgs[0])
	// This build has no transcription engine: the message says so, and is kept.
	deadline = time.Now().Add(10 * time.Second)
	var views []struct {
		Transcription string `json:"transcription"`
		Note          string `json:"transcription_note"`
	}
	for time.Now().Before(deadline) {
		if err := json.Unmarshal([]byte(runCLI(t, srv.DataDir, "vm", "messages", "600", "--json")), &views); err != nil {
			t.Fatal(err)
		}
		if len(views) == 1 && views[0].Transcription == "no-model" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(views) != 1 || views[0].Transcription != "no-model" || !strings.Contains(views[0].Note, "not transcribed") {
		t.Fatalf("transcription state %+v, want no-model with a 'not transcribed' note", views)
	}
}

// TestVoicemailSpokenMessage: a baresip phone whose microphone plays an
// espeak-ng sentence leaves a message, in a shared box it dials and in the
// personal box of an extension that is not registered (the call is
// forwarded there). The stored message holds the whole sentence and
// nothing much more, and says who called whom.
func TestVoicemailSpokenMessage(t *testing.T) {
	speech := vmSpeech(t, "Hi, this is Carol from Acme. Please call me back.")
	span := speechSpan(speech)
	t.Logf("sentence: %v long, speech over %v", speech.Duration(), span)

	tests := []struct {
		name, dial, box string
	}{
		{name: "shared box 600", dial: "600", box: "600"},
		{name: "unregistered 102 forwards to its box", dial: "102", box: "102"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "")
			runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice Smith", "--secret", "alice-secret-1")
			runCLI(t, srv.DataDir, "ext", "add", "102", "--name", "Bob", "--secret", "bob-secret-22", "--pin", vmPIN)
			runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "102")
			vmSetShortGreeting(t, srv.DataDir, tc.box)

			// The microphone stays silent through the greeting and the beep
			// (plus 0.2 s), says the sentence, then stays silent.
			lead := vmRecording + 200*time.Millisecond
			mic := make([]int16, int(lead.Seconds()*8000))
			mic = append(mic, speech.Samples...)
			mic = append(mic, make([]int16, 30*8000)...)
			micPath := filepath.Join(t.TempDir(), "mic.wav")
			if err := writeWAV(micPath, 8000, mic); err != nil {
				t.Fatal(err)
			}
			alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1",
				Registrar: srv.SIPAddr, SourceWAV: micPath})
			alice.WaitRegistered()
			alice.Dial("sip:" + tc.dial + "@" + srv.SIPAddr)
			alice.WaitEstablished()
			time.Sleep(lead + speech.Duration() + 200*time.Millisecond) // hang up right after the sentence
			alice.Hangup()
			alice.WaitClosed()

			msgs := vmWaitMessages(t, srv.DataDir, tc.box, 1)
			m := msgs[0]
			t.Logf("message: %+v", m)
			if m.CallerNumber != "101" || m.CallerName != "Alice Smith" {
				t.Errorf("message from %q %q, want 101 \"Alice Smith\"", m.CallerNumber, m.CallerName)
			}
			if m.CalledNumber != tc.dial {
				t.Errorf("message called number %q, want %q", m.CalledNumber, tc.dial)
			}
			if m.Played || m.Status != "open" {
				t.Errorf("fresh message: played=%v status=%q, want unplayed and \"open\"", m.Played, m.Status)
			}
			if d := seconds(m.Duration) - speech.Duration(); d.Abs() > time.Second {
				t.Errorf("message lasts %.2f s, the sentence %v: want them within 1 s", m.Duration, speech.Duration())
			}
			audio := assertStoredMessages(t, srv.DataDir, msgs)
			if len(audio) == 1 {
				got := speechSpan(audio[0])
				t.Logf("stored message: %v long, speech over %v (sentence: %v)", audio[0].Duration(), got, span)
				if d := got - span; d.Abs() > 300*time.Millisecond {
					t.Errorf("stored message has speech over %v, the sentence over %v: part of it is missing or extra sound was recorded", got, span)
				}
			}
			if tc.box != "600" {
				if other := boxMessages(t, srv.DataDir, "600"); len(other) != 0 {
					t.Errorf("box 600 got %d messages from a call to %s", len(other), tc.dial)
				}
			}
		})
	}
}

// TestVoicemailTooShortDiscarded: hanging up right after the beep leaves no
// message and no file.
func TestVoicemailTooShortDiscarded(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN)
	vmSetShortGreeting(t, srv.DataDir, "600")
	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: 440})
	alice.WaitRegistered()
	alice.Dial("sip:600@" + srv.SIPAddr)
	alice.WaitEstablished()
	time.Sleep(vmRecording + 100*time.Millisecond)
	alice.Hangup()
	alice.WaitClosed()

	if !waitFor(5*time.Second, func() bool { return strings.Contains(srv.Log(), "message too short, discarded") }) {
		t.Errorf("server log has no \"message too short, discarded\" after a hangup right after the beep")
	}
	if msgs := boxMessages(t, srv.DataDir, "600"); len(msgs) != 0 {
		t.Errorf("box 600 holds %d messages after a call hung up right after the beep, want 0: %+v", len(msgs), msgs)
	}
	if wavs, others := messageFiles(t, srv.DataDir); len(wavs)+len(others) != 0 {
		t.Errorf("DATA/messages still holds files of the discarded message: %v %v", wavs, others)
	}
}

// TestVoicemailMenuPlaysMessage: a 700 Hz message is left in box 600; a
// phone dials *56600, sends the PIN as RFC 4733 events and presses 1, and
// hears the 700 Hz tone, which it did not hear before pressing 1. The
// message is then marked played.
func TestVoicemailMenuPlaysMessage(t *testing.T) {
	const messageHz = 700.0
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "ext", "add", "102", "--name", "Bob", "--secret", "bob-secret-22")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	vmSetShortGreeting(t, srv.DataDir, "600")

	bob := startBaresip(t, phoneConfig{Name: "bob", User: "102", Password: "bob-secret-22", Registrar: srv.SIPAddr, ToneHz: messageHz})
	bob.WaitRegistered()
	vmLeaveMessage(bob, "sip:600@"+srv.SIPAddr, 2*time.Second)
	msgs := vmWaitMessages(t, srv.DataDir, "600", 1)
	if msgs[0].Played {
		t.Fatalf("message played before anyone listened: %+v", msgs[0])
	}

	alice := newGoPhone(t, "101", "alice-secret-1", srv.SIPAddr)
	call := alice.Dial(vmMenuNumber("600"))
	time.Sleep(500 * time.Millisecond) // into "please enter your PIN"
	call.Press(vmPIN + "#")
	time.Sleep(300 * time.Millisecond)
	beforeOne := call.HeardSamples()
	call.Press("1")
	var heard time.Duration
	ok := waitFor(15*time.Second, func() bool {
		heard = toneSeconds(call.Heard(beforeOne), messageHz)
		return heard >= 1500*time.Millisecond
	})
	all := call.Heard(0)
	call.Hangup()
	if !ok {
		t.Errorf("after pressing 1 the phone heard only %v of the %v Hz message (%v of audio received after the key: %v)",
			heard, messageHz, call.Heard(beforeOne).Duration(), analyzeTones(call.Heard(beforeOne), []float64{messageHz}))
	}
	before := wavAudio{SampleRate: 8000, Samples: all.Samples[:beforeOne]}
	t.Logf("heard %v of %v Hz after pressing 1; before it: %v", heard, messageHz, analyzeTones(before, []float64{messageHz}))
	// The PIN cuts "enter your PIN" short, so not much is said before 1.
	if a := analyzeTones(before, []float64{messageHz}); a.Active < 300*time.Millisecond {
		t.Errorf("the phone heard only %v of prompts before pressing 1: %v", a.Active, a)
	}
	if s := toneSeconds(before, messageHz); s > 0 {
		t.Errorf("the phone heard %v of the %v Hz message before pressing 1", s, messageHz)
	}
	if !waitFor(3*time.Second, func() bool { return boxMessages(t, srv.DataDir, "600")[0].Played }) {
		t.Errorf("message not marked played after it was played through *56: %+v", boxMessages(t, srv.DataDir, "600"))
	}
	if n := auditActions(t, srv.DataDir, "600")["vm.login"]; n != 1 {
		t.Errorf("audit log has %d vm.login entries for box 600, want 1", n)
	}
}

// vmMenuNumber is the number to dial for box's *56 menu.
func vmMenuNumber(box string) string { return "*56" + box }

// TestVoicemailWrongPINsLockBox: three wrong PINs end a *56 call (the PBX
// hangs up); ten wrong PINs across four calls lock the box for
// --pin-lockout, during which the right PIN is refused; afterwards the
// right PIN works again.
func TestVoicemailWrongPINsLockBox(t *testing.T) {
	const lockout = 20 * time.Second
	srv := startServer(t, "", "--pin-lockout", lockout.String())
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	alice := newGoPhone(t, "101", "alice-secret-1", srv.SIPAddr)

	// Three calls, three wrong PINs each: 9 failures, each call hung up by
	// the PBX. After the first, the caller skips the "wrong PIN" and
	// "goodbye" prompts with extra keys, to save time.
	for i := 1; i <= 3; i++ {
		call := alice.Dial(vmMenuNumber("600"))
		if i == 1 {
			call.Press("1#2#3#")
		} else {
			call.Press("1#2#3###")
		}
		if !call.WaitRemoteHangup(8 * time.Second) {
			t.Fatalf("call %d: the PBX did not hang up within 8 s of the third wrong PIN", i)
		}
		call.Hangup()
		counts := auditActions(t, srv.DataDir, "600")
		if counts["vm.wrong_pin"] != 3*i || counts["vm.login"] != 0 {
			t.Fatalf("after call %d the audit log counts %d wrong PINs and %d logins, want %d and 0: %v",
				i, counts["vm.wrong_pin"], counts["vm.login"], 3*i, counts)
		}
		if b := vmListBox(t, srv.DataDir, "600"); !b.LockedUntil.IsZero() {
			t.Fatalf("box locked after only %d wrong PINs: locked_until %v", 3*i, b.LockedUntil)
		}
	}

	// The tenth wrong PIN locks the box.
	call := alice.Dial(vmMenuNumber("600"))
	call.Press("9#")
	lockedAt := time.Now()
	var box vmBox
	if !waitFor(5*time.Second, func() bool { box = vmListBox(t, srv.DataDir, "600"); return !box.LockedUntil.IsZero() }) {
		t.Fatalf("box 600 not locked after the tenth wrong PIN (vm list: %+v)", box)
	}
	t.Logf("box 600 locked until %v", box.LockedUntil)
	if box.LockedUntil.Before(lockedAt.Add(lockout-2*time.Second)) || box.LockedUntil.After(lockedAt.Add(lockout+time.Second)) {
		t.Errorf("box locked until %v, want about %v from the tenth wrong PIN (%v)", box.LockedUntil, lockout, lockedAt)
	}
	call.Press("#") // cut the "box locked" message short
	if !call.WaitRemoteHangup(5 * time.Second) {
		t.Errorf("the PBX did not hang up the call that locked the box")
	}
	call.Hangup()
	if !strings.Contains(srv.Log(), "voicemail box locked") {
		t.Errorf("server log has no \"voicemail box locked\" warning")
	}
	if n := auditActions(t, srv.DataDir, "600")["vm.box_locked"]; n != 1 {
		t.Errorf("audit log has %d vm.box_locked entries, want 1", n)
	}

	// While locked, the right PIN is refused: the call ends, no login.
	call = alice.Dial(vmMenuNumber("600"))
	call.Press(vmPIN + "#")
	if !call.WaitRemoteHangup(8 * time.Second) {
		t.Errorf("the PBX did not hang up a call to the locked box")
	}
	call.Hangup()
	counts := auditActions(t, srv.DataDir, "600")
	if counts["vm.login"] != 0 || counts["vm.locked_refused"] == 0 {
		t.Errorf("right PIN while locked: audit log counts %d logins and %d locked refusals, want 0 and at least 1: %v",
			counts["vm.login"], counts["vm.locked_refused"], counts)
	}

	// Once the lock time has passed, the right PIN works again.
	time.Sleep(time.Until(box.LockedUntil) + 200*time.Millisecond)
	call = alice.Dial(vmMenuNumber("600"))
	call.Press(vmPIN + "#")
	if !waitFor(5*time.Second, func() bool { return auditActions(t, srv.DataDir, "600")["vm.login"] == 1 }) {
		t.Errorf("right PIN after the lock expired: no vm.login in the audit log: %v", auditActions(t, srv.DataDir, "600"))
	}
	if call.Ended() {
		t.Errorf("the PBX hung up after the right PIN once the lock had expired")
	}
	call.Hangup()
}

// TestMWISubscribeNotify: extension 101 subscribes to message-summary
// (answering the 401 challenge); the PBX NOTIFYs "no" at once, "yes 1/0"
// after a message is left in shared box 600 (101 is a member), and "no
// 0/0" after 101 deletes it through *56 (PIN, 1, 7).
func TestMWISubscribeNotify(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "ext", "add", "102", "--name", "Bob", "--secret", "bob-secret-22")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	vmSetShortGreeting(t, srv.DataDir, "600")

	alice := newGoPhone(t, "101", "alice-secret-1", srv.SIPAddr)
	if code := alice.Subscribe(600); code != 200 {
		t.Fatalf("SUBSCRIBE with credentials answered %d, want 200", code)
	}
	n := alice.WaitNotify("the initial state", 5*time.Second, func(mwiNotify) bool { return true })
	if n.Waiting() != "no" || !strings.HasPrefix(n.VoiceMessage(), "0/0") {
		t.Errorf("initial NOTIFY: Messages-Waiting %q, Voice-Message %q; want no, 0/0: %q", n.Waiting(), n.VoiceMessage(), n.Body)
	}
	if !strings.EqualFold(n.Event, "message-summary") || n.ContentType != "application/simple-message-summary" ||
		!strings.HasPrefix(n.SubscriptionState, "active") {
		t.Errorf("initial NOTIFY: Event %q, Content-Type %q, Subscription-State %q; want message-summary, application/simple-message-summary, active",
			n.Event, n.ContentType, n.SubscriptionState)
	}

	bob := startBaresip(t, phoneConfig{Name: "bob", User: "102", Password: "bob-secret-22", Registrar: srv.SIPAddr, ToneHz: 440})
	bob.WaitRegistered()
	vmLeaveMessage(bob, "sip:600@"+srv.SIPAddr, 1500*time.Millisecond)
	n = alice.WaitNotify("Messages-Waiting: yes", 5*time.Second, func(n mwiNotify) bool { return n.Waiting() == "yes" })
	if !strings.HasPrefix(n.VoiceMessage(), "1/0") {
		t.Errorf("NOTIFY after one new message: Voice-Message %q, want 1/0", n.VoiceMessage())
	}

	call := alice.Dial(vmMenuNumber("600"))
	time.Sleep(300 * time.Millisecond)
	call.Press(vmPIN + "#")
	call.Press("1")
	// Playing the message marks it played: the lamp goes off, the message stays saved.
	n = alice.WaitNotify("the message played", 10*time.Second, func(n mwiNotify) bool { return strings.HasPrefix(n.VoiceMessage(), "0/1") })
	if n.Waiting() != "no" {
		t.Errorf("NOTIFY after the message was played: Messages-Waiting %q, want no", n.Waiting())
	}
	call.Press("7")
	n = alice.WaitNotify("the message deleted", 10*time.Second, func(n mwiNotify) bool { return strings.HasPrefix(n.VoiceMessage(), "0/0") })
	if n.Waiting() != "no" {
		t.Errorf("NOTIFY after the message was deleted: Messages-Waiting %q, want no", n.Waiting())
	}
	call.Hangup()
	if msgs := boxMessages(t, srv.DataDir, "600"); len(msgs) != 0 {
		t.Errorf("box 600 still lists %d messages after 7 (delete): %+v", len(msgs), msgs)
	}
	// The PBX saw our 200s (it logs each NOTIFY's final status).
	if n := strings.Count(srv.Log(), `msg="mwi: NOTIFY" extension=101 status=200`); n < 4 {
		t.Errorf("server log shows %d NOTIFYs to 101 answered with 200, want at least 4", n)
	}
}

// TestVoicemailServerKilledDuringDeposit: the server is SIGKILLed 5 s into
// a recording. After a restart on the same data directory the message is
// there (recovered from what reached the disk), whole and consistent, and
// no trace of the unfinished recording is left.
func TestVoicemailServerKilledDuringDeposit(t *testing.T) {
	const talk = 5 * time.Second
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN)
	vmSetShortGreeting(t, srv.DataDir, "600")
	alice := startBaresip(t, phoneConfig{Name: "alice", User: "101", Password: "alice-secret-1", Registrar: srv.SIPAddr, ToneHz: 440})
	alice.WaitRegistered()
	alice.Dial("sip:600@" + srv.SIPAddr)
	alice.WaitEstablished()
	time.Sleep(vmRecording + talk)
	srv.Kill()
	// The phone's PBX is gone: stop it too, or its shutdown would wait
	// for the dead server to answer its BYE and un-REGISTER.
	_ = alice.cmd.Process.Kill()
	<-alice.exited

	wavs, others := messageFiles(t, srv.DataDir)
	t.Logf("DATA/messages after the crash: %v %v", wavs, others)
	var pcm, meta bool
	for _, f := range others {
		pcm = pcm || strings.HasSuffix(f, ".pcm")
		meta = meta || strings.HasSuffix(f, ".json")
	}
	if !pcm || !meta {
		t.Errorf("no recording in progress (ID.pcm and ID.json) in DATA/messages when the server was killed: %v %v", wavs, others)
	}

	srv2 := startServer(t, srv.DataDir)
	msgs := boxMessages(t, srv2.DataDir, "600")
	audio := assertStoredMessages(t, srv2.DataDir, msgs)
	switch len(msgs) {
	case 0:
		t.Errorf("the interrupted message was not recovered, though its ID.pcm and ID.json had reached the disk")
	case 1:
		m := msgs[0]
		t.Logf("recovered message: %+v", m)
		if m.Duration < 1 {
			t.Errorf("recovered message of %.2f s: under a second should have been discarded", m.Duration)
		}
		// Audio reaches the disk at least once a second.
		if d := seconds(m.Duration); d < talk-1500*time.Millisecond || d > talk+time.Second {
			t.Errorf("recovered message lasts %v, want about %v (what was said before the crash)", d, talk)
		}
		if m.CallerNumber != "101" || m.CallerName != "Alice" || m.CalledNumber != "600" {
			t.Errorf("recovered message from %q %q to %q, want 101 Alice to 600", m.CallerNumber, m.CallerName, m.CalledNumber)
		}
		if len(audio) == 1 {
			assertToneIn(t, "recovered message", audio[0], 440)
		}
	default:
		t.Errorf("box 600 holds %d messages after one interrupted call: %+v", len(msgs), msgs)
	}
	if !strings.Contains(srv2.Log(), "interrupted recording saved") {
		t.Errorf("restarted server did not log \"interrupted recording saved\"")
	}
}

// assertToneIn checks that audio is mostly the tone hz.
func assertToneIn(t *testing.T, what string, w wavAudio, hz float64) {
	t.Helper()
	a := analyzeTones(w, []float64{hz})
	if a.Share[hz] < 0.5 || a.Active < w.Duration()/2 {
		t.Errorf("%s is not the caller's %.0f Hz tone: %v", what, hz, a)
	}
}

// TestVoicemailPINTypeAhead: a caller who mistypes the PIN and at once types
// it again, without waiting for "wrong PIN", gets in: keys pressed while
// the PBX checks the first PIN and starts its prompt must be read in the
// order they were pressed.
func TestVoicemailPINTypeAhead(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	alice := newGoPhone(t, "101", "alice-secret-1", srv.SIPAddr)
	call := alice.Dial(vmMenuNumber("600"))
	call.Press("1#" + vmPIN + "#")
	if !waitFor(5*time.Second, func() bool { return auditActions(t, srv.DataDir, "600")["vm.login"] == 1 }) {
		var details []string
		var entries []auditEntry
		_ = json.Unmarshal([]byte(runCLI(t, srv.DataDir, "audit", "--json")), &entries)
		for _, e := range entries {
			details = append(details, e.Action+" "+e.Detail)
		}
		t.Errorf("keys %q: no login after the second, right PIN; audit log (newest first): %q", "1#"+vmPIN+"#", details)
	}
	call.Hangup()
}

// Keys sent as SIP INFO work in the *56 menu like RFC 4733 events.
func TestVoicemailMenuSIPInfoDigits(t *testing.T) {
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	alice := newGoPhone(t, "101", "alice-secret-1", srv.SIPAddr)
	call := alice.Dial(vmMenuNumber("600"))
	time.Sleep(500 * time.Millisecond)
	call.PressInfo(vmPIN + "#")
	if !waitFor(10*time.Second, func() bool { return auditActions(t, srv.DataDir, "600")["vm.login"] == 1 }) {
		t.Fatalf("no vm.login after the PIN arrived as SIP INFO: %v", auditActions(t, srv.DataDir, "600"))
	}
	call.Hangup()
}

// With --mwi-unsolicited, a registered phone that never subscribed gets a
// message-summary NOTIFY when a box it watches gets a message.
func TestMWIUnsolicited(t *testing.T) {
	srv := startServer(t, "", "--mwi-unsolicited")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", "Alice", "--secret", "alice-secret-1")
	runCLI(t, srv.DataDir, "ext", "add", "102", "--name", "Bob", "--secret", "bob-secret-22")
	runCLI(t, srv.DataDir, "vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--members", "101")
	vmSetShortGreeting(t, srv.DataDir, "600")
	alice := newGoPhone(t, "101", "alice-secret-1", srv.SIPAddr)
	alice.AnswerCalls() // registers; it never SUBSCRIBEs
	bob := startBaresip(t, phoneConfig{Name: "bob", User: "102", Password: "bob-secret-22", Registrar: srv.SIPAddr, ToneHz: 500})
	bob.WaitRegistered()
	vmLeaveMessage(bob, "sip:600@"+srv.SIPAddr, 2*time.Second)
	n := alice.WaitNotify("Messages-Waiting: yes", 10*time.Second, func(n mwiNotify) bool { return n.Waiting() == "yes" })
	if n.VoiceMessage() != "1/0 (0/0)" {
		t.Fatalf("unsolicited NOTIFY says %q, want 1/0 (0/0)", n.VoiceMessage())
	}
}
