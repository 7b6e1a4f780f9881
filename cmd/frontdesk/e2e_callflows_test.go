package main

// End-to-end tests of the call stories with real baresip phones: every
// device of an extension rings, busy, no answer, the caller giving up,
// hold and resume, the caller's name on the callee's phone, and the call
// log each of them leaves. They reuse the baresip driver of
// e2e_baresip_test.go and check three things where they apply: what the
// phones saw (ctrl_tcp events), what went over the wire (each phone's SIP
// trace) and what the PBX recorded (`frontdesk calls --json`).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	// secondDeviceToneHz is the tone of a second device registered to the
	// callee's extension; it is no harmonic of the other two tones.
	secondDeviceToneHz = 1600.0

	aliceName   = "Alice Front" // display name of extension 101
	aliceSecret = "alice-secret-8x2k"
	bobSecret   = "bob-secret-4p9q"
)

// callFlowPBX is a running frontdesk with extensions 101 (Alice Front) and
// 102 (Bob).
type callFlowPBX struct {
	t   *testing.T
	srv *frontdeskServer
}

// newCallFlowPBX starts frontdesk and creates 101 and 102; bobRingSeconds
// is 102's no-answer timeout (0: the default). Neither has a voicemail box:
// these are the stories of extensions without one, where a busy or
// unanswered call ends with 486 or 480 (e2e_voicemail_test.go covers
// calls that voicemail answers).
func newCallFlowPBX(t *testing.T, bobRingSeconds int) *callFlowPBX {
	t.Helper()
	srv := startServer(t, "")
	runCLI(t, srv.DataDir, "ext", "add", "101", "--name", aliceName, "--secret", aliceSecret, "--no-voicemail")
	args := []string{"ext", "add", "102", "--name", "Bob", "--secret", bobSecret, "--no-voicemail"}
	if bobRingSeconds > 0 {
		args = append(args, "--ring-seconds", fmt.Sprint(bobRingSeconds))
	}
	runCLI(t, srv.DataDir, args...)
	return &callFlowPBX{t: t, srv: srv}
}

// phone starts a baresip registered as ext (101 or 102) and waits for the
// registration.
func (x *callFlowPBX) phone(name, ext string, toneHz float64) *baresipPhone {
	x.t.Helper()
	secret := map[string]string{"101": aliceSecret, "102": bobSecret}[ext]
	p := startBaresip(x.t, phoneConfig{Name: name, User: ext, Password: secret,
		Registrar: x.srv.SIPAddr, ToneHz: toneHz})
	p.WaitRegistered()
	return p
}

// alice and bob start the usual pair of phones.
func (x *callFlowPBX) aliceAndBob() (alice, bob *baresipPhone) {
	x.t.Helper()
	return x.phone("alice", "101", aliceToneHz), x.phone("bob", "102", bobToneHz)
}

// bobURI is what Alice dials.
func (x *callFlowPBX) bobURI() string { return "sip:102@" + x.srv.SIPAddr }

// callLogRow is one entry of `frontdesk calls --json`, decoded with the
// field names the CLI documents (not the store's Go type, so that a
// renamed field fails here).
type callLogRow struct {
	ID         int64      `json:"id"`
	SIPCallID  string     `json:"sip_call_id"`
	FromNumber string     `json:"from_number"`
	FromName   string     `json:"from_name"`
	ToNumber   string     `json:"to_number"`
	StartedAt  time.Time  `json:"started_at"`
	AnsweredAt *time.Time `json:"answered_at"`
	EndedAt    *time.Time `json:"ended_at"`
	Status     string     `json:"status"`
	HangupBy   string     `json:"hangup_by"`
}

func (c callLogRow) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// finishedCall waits until the call log holds exactly one call and that
// call has ended, and returns it. The PBX writes the end of a call after
// the last SIP exchange, so it may lag the phones' CALL_CLOSED a little.
func (x *callFlowPBX) finishedCall() callLogRow {
	x.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rows []callLogRow
		out := runCLI(x.t, x.srv.DataDir, "calls", "--json")
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			x.t.Fatalf("calls --json: %v\n%s", err, out)
		}
		if len(rows) > 1 {
			x.t.Fatalf("call log has %d rows, want exactly one call:\n%s", len(rows), out)
		}
		if len(rows) == 1 && rows[0].EndedAt != nil {
			x.t.Logf("call log: %v", rows[0])
			return rows[0]
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("call log shows no ended call after 10 s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkUnansweredLog checks the log row of a call that was never answered.
func checkUnansweredLog(t *testing.T, c callLogRow, wantStatus, wantHangupBy string) {
	t.Helper()
	if c.Status != wantStatus || c.HangupBy != wantHangupBy {
		t.Errorf("call log: status %q, hangup_by %q; want %q, %q (%v)", c.Status, c.HangupBy, wantStatus, wantHangupBy, c)
	}
	if c.FromNumber != "101" || c.FromName != aliceName || c.ToNumber != "102" {
		t.Errorf("call log: from %q (%q) to %q, want from 101 (%q) to 102 (%v)", c.FromNumber, c.FromName, c.ToNumber, aliceName, c)
	}
	if c.AnsweredAt != nil {
		t.Errorf("call log: answered_at set on an unanswered call (%v)", c)
	}
	if c.EndedAt != nil && c.EndedAt.Before(c.StartedAt) {
		t.Errorf("call log: ended_at before started_at (%v)", c)
	}
}

// ---------------------------------------------------------------------------
// SIP trace helpers

// received returns the messages of the phone's SIP trace that the PBX sent
// to it, sent those it sent to the PBX.
func received(p *baresipPhone, srv *frontdeskServer) []sipTraceMessage {
	p.t.Helper()
	var out []sipTraceMessage
	for _, m := range p.SIPTrace() {
		if m.Src == srv.SIPAddr {
			out = append(out, m)
		}
	}
	return out
}

func sent(p *baresipPhone, srv *frontdeskServer) []sipTraceMessage {
	p.t.Helper()
	var out []sipTraceMessage
	for _, m := range p.SIPTrace() {
		if m.Dst == srv.SIPAddr {
			out = append(out, m)
		}
	}
	return out
}

// requests keeps the requests of the given method.
func requests(msgs []sipTraceMessage, method string) []sipTraceMessage {
	var out []sipTraceMessage
	for _, m := range msgs {
		if m.IsRequest(method) {
			out = append(out, m)
		}
	}
	return out
}

// responses keeps the responses with the given code to requests of the
// given method.
func responses(msgs []sipTraceMessage, code int, method string) []sipTraceMessage {
	var out []sipTraceMessage
	for _, m := range msgs {
		if m.StatusCode() == code && m.CSeqMethod() == method {
			out = append(out, m)
		}
	}
	return out
}

// distinct drops retransmissions: messages with the same first line, Via
// branch and CSeq as an earlier one.
func distinct(msgs []sipTraceMessage) []sipTraceMessage {
	seen := map[string]bool{}
	var out []sipTraceMessage
	for _, m := range msgs {
		k := m.StartLine + "|" + m.Header("Via") + "|" + m.Header("CSeq")
		if !seen[k] {
			seen[k] = true
			out = append(out, m)
		}
	}
	return out
}

// startLines lists the messages' first lines, for error messages.
func startLines(msgs []sipTraceMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "\n  %v (CSeq %s)", m, m.Header("CSeq"))
	}
	return b.String()
}

// sdpDirection returns the media direction attribute of an SDP body
// ("sendrecv" when none is given, as RFC 3264 says).
func sdpDirection(body string) string {
	for _, line := range strings.Split(body, "\n") {
		switch a := strings.TrimSpace(line); a {
		case "a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive":
			return strings.TrimPrefix(a, "a=")
		}
	}
	return "sendrecv"
}

// traced waits until pick finds messages in the SIP trace and returns
// them, or nil after 3 s. baresip may report a call closed (on hangup, at
// once) before the last messages of the call have gone out or come in.
func traced(pick func() []sipTraceMessage) []sipTraceMessage {
	deadline := time.Now().Add(3 * time.Second)
	for {
		if msgs := pick(); len(msgs) > 0 || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitTrace polls the phone's SIP trace until cond holds for it.
func waitTrace(p *baresipPhone, what string, cond func([]sipTraceMessage) bool) {
	p.t.Helper()
	deadline := time.Now().Add(phoneTimeout)
	for {
		msgs := p.SIPTrace()
		if cond(msgs) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("phone %s: %s did not show in the SIP trace within %v; trace:%s",
				p.cfg.Name, what, phoneTimeout, startLines(msgs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Audio helpers

// recordedSamples returns how many samples the phone's (single, possibly
// still open) received-audio recording holds so far, or 0 if there is none
// yet. sndfile writes each decoded frame straight to the file, so the file
// grows as audio arrives.
func recordedSamples(p *baresipPhone) int {
	p.t.Helper()
	files := p.Recordings("dec")
	if len(files) == 0 {
		return 0
	}
	raw, err := os.ReadFile(files[len(files)-1])
	if err != nil || len(raw) < 12 {
		return 0
	}
	for off := 12; off+8 <= len(raw); {
		id := string(raw[off : off+4])
		size := int(raw[off+4]) | int(raw[off+5])<<8 | int(raw[off+6])<<16 | int(raw[off+7])<<24
		if id == "data" {
			return (len(raw) - off - 8) / 2 // the size field is final only at close
		}
		off += 8 + size + size%2
	}
	return 0
}

// recordingFrom writes the part of a finished recording that starts at
// sample from to a new WAV and returns its path.
func recordingFrom(t *testing.T, path string, from int) string {
	t.Helper()
	w, err := readWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if from > len(w.Samples) {
		from = len(w.Samples)
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(path), ".wav")+fmt.Sprintf("-from-%d.wav", from))
	if err := writeWAV(out, w.SampleRate, w.Samples[from:]); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertHeardNothing checks that the phone recorded no audio at all (it
// never took part in a call's media).
func assertHeardNothing(t *testing.T, p *baresipPhone) {
	t.Helper()
	for _, f := range p.Recordings("dec") {
		w, err := readWAV(f)
		if err != nil {
			continue // an empty, never-finalised file
		}
		if a := analyzeTones(w, []float64{aliceToneHz}); a.Active > 0 {
			t.Errorf("phone %s received audio although it never answered: %v", p.cfg.Name, a)
		}
	}
}

// ---------------------------------------------------------------------------
// Tests

// fromDisplay matches a From header value with a quoted display name, e.g.
// `"Alice Front" <sip:101@127.0.0.1>;tag=x`.
var fromDisplay = regexp.MustCompile(`^(?:"((?:[^"\\]|\\.)*)"|([^<]*?))\s*<sip:([^@>;]+)@`)

// checkCallerShown checks that the INVITE the phone received from the PBX
// shows the caller as extension 101 named "Alice Front".
func checkCallerShown(t *testing.T, p *baresipPhone, srv *frontdeskServer) {
	t.Helper()
	invites := requests(received(p, srv), "INVITE")
	if len(invites) == 0 {
		t.Errorf("phone %s: no INVITE from the PBX in the SIP trace", p.cfg.Name)
		return
	}
	for _, inv := range invites {
		from := inv.Header("From")
		m := fromDisplay.FindStringSubmatch(from)
		if m == nil {
			t.Errorf("phone %s: INVITE From %q: want a display name and a sip: URI", p.cfg.Name, from)
			continue
		}
		name := m[1] + strings.TrimSpace(m[2])
		t.Logf("phone %s: INVITE From: %s", p.cfg.Name, from)
		if name != aliceName || m[3] != "101" {
			t.Errorf("phone %s: INVITE From %q shows %q <%s>, want %q <101>", p.cfg.Name, from, name, m[3], aliceName)
		}
	}
}

// TestCallFlowAllDevicesRing: with two devices registered to 102, a call
// to 102 rings both; the first to answer gets the call, the other stops
// ringing (CANCEL), audio flows between the caller and the answering
// device only, and the log holds one answered call. Both devices must show
// the caller as "Alice Front" <101>.
func TestCallFlowAllDevicesRing(t *testing.T) {
	for _, answerer := range []string{"desk", "mobile"} {
		t.Run(answerer+"-answers", func(t *testing.T) {
			x := newCallFlowPBX(t, 0)
			alice := x.phone("alice", "101", aliceToneHz)
			desk := x.phone("desk", "102", bobToneHz)
			mobile := x.phone("mobile", "102", secondDeviceToneHz)

			type extRow struct {
				Number  string `json:"number"`
				Devices int    `json:"registered_devices"`
			}
			var exts []extRow
			out := runCLI(t, x.srv.DataDir, "ext", "list", "--json")
			if err := json.Unmarshal([]byte(out), &exts); err != nil {
				t.Fatalf("ext list --json: %v\n%s", err, out)
			}
			if i := slices.IndexFunc(exts, func(e extRow) bool { return e.Number == "102" }); i < 0 || exts[i].Devices != 2 {
				t.Fatalf("ext list: want 102 with 2 registered devices:\n%s", out)
			}

			alice.Dial(x.bobURI())
			desk.WaitIncoming()
			mobile.WaitIncoming()
			alice.WaitRinging()
			checkCallerShown(t, desk, x.srv)
			checkCallerShown(t, mobile, x.srv)

			ans, other := desk, mobile
			if answerer == "mobile" {
				ans, other = mobile, desk
			}
			ans.Accept()
			alice.WaitEstablished()
			ans.WaitEstablished()
			// The other device must stop ringing without ever being connected.
			other.waitEvent("CALL_CLOSED", "CALL_ESTABLISHED")
			cancels := traced(func() []sipTraceMessage { return distinct(requests(received(other, x.srv), "CANCEL")) })
			if len(cancels) != 1 {
				t.Errorf("phone %s: got %d CANCELs from the PBX, want 1; trace:%s",
					other.cfg.Name, len(cancels), startLines(other.SIPTrace()))
			} else {
				// RFC 3326: phones show "answered elsewhere" instead of a
				// missed call when the CANCEL says so. Not required yet.
				t.Logf("phone %s: CANCEL Reason: %q", other.cfg.Name, cancels[0].Header("Reason"))
			}

			time.Sleep(2500 * time.Millisecond) // talk
			alice.Hangup()
			ans.WaitClosed()
			alice.WaitClosed()

			assertHeardTone(t, "caller alice", alice.RecordedWAV(), ans.cfg.ToneHz, []float64{aliceToneHz, other.cfg.ToneHz}, time.Second)
			assertHeardTone(t, "answering "+ans.cfg.Name, ans.RecordedWAV(), aliceToneHz, []float64{ans.cfg.ToneHz, other.cfg.ToneHz}, time.Second)
			assertHeardNothing(t, other)

			c := x.finishedCall()
			if c.Status != "answered" || c.FromNumber != "101" || c.FromName != aliceName || c.ToNumber != "102" || c.HangupBy != "caller" {
				t.Errorf("call log: %v; want status answered from 101 (%s) to 102, hung up by the caller", c, aliceName)
			}
		})
	}
}

// TestCallFlowCallerShown: the INVITE that reaches the callee's phone
// carries the calling extension's name and number in From, so the phone
// can show who is calling.
func TestCallFlowCallerShown(t *testing.T) {
	x := newCallFlowPBX(t, 0)
	alice, bob := x.aliceAndBob()
	alice.Dial(x.bobURI())
	in := bob.WaitIncoming()
	if !strings.Contains(in.PeerURI, "sip:101@") {
		t.Errorf("bob: incoming call from %q, want sip:101@...", in.PeerURI)
	}
	checkCallerShown(t, bob, x.srv)
	alice.Hangup()
	bob.WaitClosed()
	alice.WaitClosed()
}

// TestCallFlowBusy: the callee rejects the ringing call (baresip sends 486);
// the caller gets 486 Busy Here and the log says busy.
func TestCallFlowBusy(t *testing.T) {
	x := newCallFlowPBX(t, 0)
	alice, bob := x.aliceAndBob()
	alice.Dial(x.bobURI())
	bob.WaitIncoming()
	alice.WaitRinging()
	bob.Reject()
	closed := alice.WaitClosed()
	bob.WaitClosed()

	if !strings.HasPrefix(closed.Param, "486") {
		t.Errorf("alice: call closed with %q, want 486 (busy)", closed.Param)
	}
	if got := traced(func() []sipTraceMessage { return responses(sent(bob, x.srv), 486, "INVITE") }); len(got) == 0 {
		t.Errorf("bob: sent no 486 to the INVITE; trace:%s", startLines(bob.SIPTrace()))
	} else {
		t.Logf("bob sent %q", got[0].StartLine)
	}
	if got := traced(func() []sipTraceMessage { return responses(received(alice, x.srv), 486, "INVITE") }); len(got) == 0 {
		t.Errorf("alice: got no 486 to the INVITE; trace:%s", startLines(alice.SIPTrace()))
	}
	checkUnansweredLog(t, x.finishedCall(), "busy", "")
}

// TestCallFlowNoAnswer: 102 rings for its --ring-seconds (3) and nobody
// answers: the PBX stops the ringing with a CANCEL and tells the caller
// 480; the log says no-answer.
func TestCallFlowNoAnswer(t *testing.T) {
	const ringSeconds = 3
	x := newCallFlowPBX(t, ringSeconds)
	alice, bob := x.aliceAndBob()
	alice.Dial(x.bobURI())
	bob.WaitIncoming()
	ringingSince := time.Now()
	alice.WaitRinging()

	bobClosed := bob.WaitClosed()
	bobRang := time.Since(ringingSince)
	aliceClosed := alice.WaitClosed()
	t.Logf("bob rang for %v", bobRang)

	ring := ringSeconds * time.Second
	if bobRang < ring-500*time.Millisecond || bobRang > ring+2*time.Second {
		t.Errorf("bob's phone rang for %v, want about %v (--ring-seconds %d)", bobRang, ring, ringSeconds)
	}
	if !strings.HasPrefix(aliceClosed.Param, "480") {
		t.Errorf("alice: call closed with %q, want 480 (no answer)", aliceClosed.Param)
	}
	if got := traced(func() []sipTraceMessage { return distinct(requests(received(bob, x.srv), "CANCEL")) }); len(got) != 1 {
		t.Errorf("bob: got %d CANCELs, want 1 (closed with %q); trace:%s", len(got), bobClosed.Param, startLines(bob.SIPTrace()))
	}
	if got := traced(func() []sipTraceMessage { return responses(received(alice, x.srv), 480, "INVITE") }); len(got) == 0 {
		t.Errorf("alice: got no 480 to the INVITE; trace:%s", startLines(alice.SIPTrace()))
	}
	checkUnansweredLog(t, x.finishedCall(), "no-answer", "")
}

// TestCallFlowCallerCancels: the caller hangs up while 102 is ringing: the
// PBX answers the CANCEL, ends the INVITE with 487, cancels 102's ringing
// and logs the call as canceled by the caller.
func TestCallFlowCallerCancels(t *testing.T) {
	x := newCallFlowPBX(t, 0)
	alice, bob := x.aliceAndBob()
	alice.Dial(x.bobURI())
	bob.WaitIncoming()
	alice.WaitRinging()
	time.Sleep(500 * time.Millisecond)
	alice.Hangup()
	bobClosed := bob.WaitClosed()
	alice.WaitClosed()

	if got := traced(func() []sipTraceMessage { return distinct(requests(sent(alice, x.srv), "CANCEL")) }); len(got) != 1 {
		t.Errorf("alice: sent %d CANCELs, want 1; trace:%s", len(got), startLines(alice.SIPTrace()))
	}
	if got := traced(func() []sipTraceMessage { return responses(received(alice, x.srv), 200, "CANCEL") }); len(got) == 0 {
		t.Errorf("alice: got no 200 response to her CANCEL; trace:%s", startLines(alice.SIPTrace()))
	}
	if got := traced(func() []sipTraceMessage { return responses(received(alice, x.srv), 487, "INVITE") }); len(got) == 0 {
		t.Errorf("alice: got no 487 to the cancelled INVITE; trace:%s", startLines(alice.SIPTrace()))
	}
	if got := traced(func() []sipTraceMessage { return distinct(requests(received(bob, x.srv), "CANCEL")) }); len(got) != 1 {
		t.Errorf("bob: got %d CANCELs, want 1 (closed with %q); trace:%s", len(got), bobClosed.Param, startLines(bob.SIPTrace()))
	}
	checkUnansweredLog(t, x.finishedCall(), "canceled", "caller")
}

// TestCallFlowHoldResume: in an established call one side puts the call on
// hold (re-INVITE a=sendonly, answered 200 a=recvonly) and resumes it
// (re-INVITE a=sendrecv, answered 200 a=sendrecv); during the hold the PBX
// sends the holder no RTP, and after the resume audio flows both ways
// again.
//
// The audio checks work around baresip 1.0.0: once a phone has processed a
// re-INVITE its receive pipeline no longer contains the sndfile filter, so
// the holder records nothing after the hold. What the holder receives is
// therefore measured with its audio statistics (RTP packets and decoded
// audio), while the other phone, which never sees a re-INVITE (the PBX
// does not pass the hold on), still records, so the tone it hears after
// the resume is checked as usual. baresip also stops sending while a call
// is on hold (it only sends on sendrecv streams), so the other phone hears
// silence during the hold.
func TestCallFlowHoldResume(t *testing.T) {
	const (
		talkBefore = time.Second
		holdFor    = 1500 * time.Millisecond
		talkAfter  = 2500 * time.Millisecond
		packetTime = 20 * time.Millisecond // ptime of the phones' streams
	)
	for _, holderName := range []string{"caller", "callee"} {
		t.Run(holderName+"-holds", func(t *testing.T) {
			x := newCallFlowPBX(t, 0)
			alice, bob := x.aliceAndBob()
			alice.Dial(x.bobURI())
			bob.WaitIncoming()
			bob.Accept()
			alice.WaitEstablished()
			bob.WaitEstablished()
			holder, peer := alice, bob
			if holderName == "callee" {
				holder, peer = bob, alice
			}

			time.Sleep(talkBefore)
			if st := holder.AudioStats(); st.RxPackets == 0 || !strings.Contains(st.RxPipeline, "sndfile") {
				t.Fatalf("holder %s before the hold: %+v; want RTP received and sndfile recording", holder.cfg.Name, st)
			}

			// reInvite waits for the holder's next INVITE on this call to
			// be answered 200 OK, and checks both SDP directions.
			next := len(distinct(requests(sent(holder, x.srv), "INVITE")))
			reInvite := func(what, offer, answer string) {
				t.Helper()
				var inv, ok sipTraceMessage
				waitTrace(holder, "200 OK to the "+what+" re-INVITE", func([]sipTraceMessage) bool {
					invs := distinct(requests(sent(holder, x.srv), "INVITE"))
					oks := responses(received(holder, x.srv), 200, "INVITE")
					for i := next; i < len(invs); i++ {
						for _, r := range oks {
							if r.Header("CSeq") == invs[i].Header("CSeq") && r.Header("Call-ID") == invs[i].Header("Call-ID") {
								inv, ok, next = invs[i], r, i+1
								return true
							}
						}
					}
					return false
				})
				t.Logf("holder %s: %v [%s] answered %v [%s]", holder.cfg.Name,
					inv, sdpDirection(inv.Body), ok, sdpDirection(ok.Body))
				if !strings.Contains(inv.Header("To"), "tag=") {
					t.Errorf("%s re-INVITE is not in the dialog (To %q)", what, inv.Header("To"))
				}
				if d := sdpDirection(inv.Body); d != offer {
					t.Errorf("%s re-INVITE offers %s, want %s:\n%s", what, d, offer, inv.Body)
				}
				if d := sdpDirection(ok.Body); d != answer {
					t.Errorf("200 OK to the %s re-INVITE answers %s, want %s:\n%s", what, d, answer, ok.Body)
				}
			}

			holder.Hold()
			reInvite("hold", "sendonly", "recvonly")
			time.Sleep(300 * time.Millisecond) // packets in flight
			heldFrom := holder.AudioStats()
			time.Sleep(holdFor)
			heldTo := holder.AudioStats()
			t.Logf("holder %s on hold: %d RTP packets received in %v", holder.cfg.Name, heldTo.RxPackets-heldFrom.RxPackets, holdFor)
			// The PBX answered recvonly: it must not send (RFC 3264 6.1).
			if n := heldTo.RxPackets - heldFrom.RxPackets; n > 5 {
				t.Errorf("holder %s received %d RTP packets during %v on hold, want none (PBX answered recvonly)",
					holder.cfg.Name, n, holdFor)
			}

			holder.Resume()
			reInvite("resume", "sendrecv", "sendrecv")
			time.Sleep(300 * time.Millisecond) // the first packets
			resumedFrom := holder.AudioStats()
			peerFrom := recordedSamples(peer)
			time.Sleep(talkAfter)
			resumedTo := holder.AudioStats()
			t.Logf("holder %s after the resume: %d RTP packets, %v of audio received; pipeline %q",
				holder.cfg.Name, resumedTo.RxPackets-resumedFrom.RxPackets, resumedTo.RxTime-resumedFrom.RxTime, resumedTo.RxPipeline)
			alice.Hangup()
			bob.WaitClosed()
			alice.WaitClosed()

			// peer -> holder after the resume: at least half of the RTP
			// and audio that the talk time carries.
			if n, want := resumedTo.RxPackets-resumedFrom.RxPackets, int(talkAfter/packetTime/2); n < want {
				t.Errorf("holder %s received %d RTP packets in %v after the resume, want >= %d",
					holder.cfg.Name, n, talkAfter, want)
			}
			if d := resumedTo.RxTime - resumedFrom.RxTime; d < talkAfter/2 {
				t.Errorf("holder %s decoded %v of audio in %v after the resume, want >= %v",
					holder.cfg.Name, d, talkAfter, talkAfter/2)
			}
			// holder -> peer after the resume: the holder's tone.
			assertHeardTone(t, "peer "+peer.cfg.Name+" after the resume", recordingFrom(t, peer.RecordedWAV(), peerFrom),
				holder.cfg.ToneHz, []float64{peer.cfg.ToneHz}, talkAfter/2)
			// The holder's recording (before the hold) has the peer's tone.
			assertHeardTone(t, "holder "+holder.cfg.Name+" before the hold", holder.RecordedWAV(),
				peer.cfg.ToneHz, []float64{holder.cfg.ToneHz}, talkBefore/2)

			c := x.finishedCall()
			if c.Status != "answered" || c.HangupBy != "caller" {
				t.Errorf("call log: %v; want answered, hung up by the caller", c)
			}
		})
	}
}

// TestCallFlowAnsweredCallLog: an answered call leaves one log row with
// who called whom, when it was answered and ended, and who hung up; the
// times match what the phones did.
func TestCallFlowAnsweredCallLog(t *testing.T) {
	const ringFor, talkFor = time.Second, 2 * time.Second
	for _, hanger := range []string{"caller", "callee"} {
		t.Run(hanger+"-hangs-up", func(t *testing.T) {
			x := newCallFlowPBX(t, 0)
			alice, bob := x.aliceAndBob()
			before := time.Now()
			alice.Dial(x.bobURI())
			bob.WaitIncoming()
			time.Sleep(ringFor)
			bob.Accept()
			alice.WaitEstablished()
			bob.WaitEstablished()
			time.Sleep(talkFor)
			if hanger == "caller" {
				alice.Hangup()
				bob.WaitClosed()
				alice.WaitClosed()
			} else {
				bob.Hangup()
				alice.WaitClosed()
				bob.WaitClosed()
			}
			after := time.Now()

			c := x.finishedCall()
			if c.Status != "answered" || c.FromNumber != "101" || c.FromName != aliceName || c.ToNumber != "102" || c.HangupBy != hanger {
				t.Errorf("call log: %v; want status answered, from 101 (%s) to 102, hangup_by %s", c, aliceName, hanger)
			}
			if c.AnsweredAt == nil || c.EndedAt == nil {
				t.Fatalf("call log: answered_at and ended_at must be set: %v", c)
			}
			const slack = 50 * time.Millisecond // the log keeps milliseconds
			if c.StartedAt.Before(before.Add(-slack)) || c.EndedAt.After(after.Add(slack)) {
				t.Errorf("call log: call from %v to %v is not within the test's %v to %v", c.StartedAt, *c.EndedAt, before, after)
			}
			if ring := c.AnsweredAt.Sub(c.StartedAt); ring < ringFor-100*time.Millisecond || ring > ringFor+2*time.Second {
				t.Errorf("call log: answered %v after it started, want about %v", ring, ringFor)
			}
			if talk := c.EndedAt.Sub(*c.AnsweredAt); talk < talkFor-100*time.Millisecond || talk > talkFor+2*time.Second {
				t.Errorf("call log: ended %v after it was answered, want about %v", talk, talkFor)
			}
			// The row belongs to the caller's leg: its SIP Call-ID.
			invites := requests(sent(alice, x.srv), "INVITE")
			if len(invites) == 0 || c.SIPCallID != invites[0].Header("Call-ID") {
				t.Errorf("call log: sip_call_id %q, want the Call-ID of alice's INVITE; trace:%s", c.SIPCallID, startLines(invites))
			}
		})
	}
}

// TestCallFlowSIPTraceParsing checks the trace parser and the From and SDP
// helpers on a trace excerpt captured from baresip 1.0.0 (-s), so that the
// SIP checks above cannot pass because nothing was parsed.
func TestCallFlowSIPTraceParsing(t *testing.T) {
	const esc = "\x1b"
	log := strings.Join([]string{
		"ua: using AF from sdp offer: af=AF_INET",
		esc + "[36;1m#",
		"UDP 127.0.0.1:43204 -> 127.0.0.1:55816",
		"INVITE sip:102-0x555849f12db0@127.0.0.1:55816 SIP/2.0\r",
		"Via: SIP/2.0/UDP 127.0.0.1:43204;branch=z9hG4bK.MbjhBEVpsHiGvGTV;rport\r",
		"To: <sip:102-0x555849f12db0@127.0.0.1>\r",
		"Call-ID: fd6e7854-a096-4a4d-bd4c-d588677f5bf2\r",
		"CSeq: 6573 INVITE\r",
		`From: "Alice Front" <sip:101@127.0.0.1>;tag=me83Rnq8FvCnGWSB` + "\r",
		"Content-Type: application/sdp\r",
		"Content-Length: 62\r",
		"\r",
		"v=0\r",
		"c=IN IP4 127.0.0.1\r",
		"m=audio 25600 RTP/AVP 0\r",
		"a=recvonly\r",
		esc + "[;m",
		"call: something else",
		esc + "[36;1m#",
		"UDP 127.0.0.1:55816 -> 127.0.0.1:43204",
		"SIP/2.0 486 Rejected\r",
		"Via: SIP/2.0/UDP 127.0.0.1:43204;branch=z9hG4bK.MbjhBEVpsHiGvGTV;rport=43204;received=127.0.0.1\r",
		"i: fd6e7854-a096-4a4d-bd4c-d588677f5bf2\r",
		"CSeq: 6573 INVITE\r",
		"Content-Length: 0\r",
		"\r",
		esc + "[;m",
		"",
	}, "\n")
	p := &baresipPhone{t: t, LogPath: filepath.Join(t.TempDir(), "baresip.log")}
	if err := os.WriteFile(p.LogPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	msgs := p.SIPTrace()
	if len(msgs) != 2 {
		t.Fatalf("parsed %d messages, want 2:%s", len(msgs), startLines(msgs))
	}
	inv, res := msgs[0], msgs[1]
	if !inv.IsRequest("INVITE") || inv.Src != "127.0.0.1:43204" || inv.Dst != "127.0.0.1:55816" || inv.Transport != "udp" {
		t.Errorf("first message: %v", inv)
	}
	if got := inv.Header("from"); got != `"Alice Front" <sip:101@127.0.0.1>;tag=me83Rnq8FvCnGWSB` {
		t.Errorf("From = %q", got)
	}
	if d := sdpDirection(inv.Body); d != "recvonly" {
		t.Errorf("SDP direction %q, want recvonly; body %q", d, inv.Body)
	}
	if res.StatusCode() != 486 || res.CSeqMethod() != "INVITE" || res.Header("Call-ID") != inv.Header("Call-ID") || res.Body != "" {
		t.Errorf("second message: %v, code %d, CSeq method %q, Call-ID (compact) %q, body %q",
			res, res.StatusCode(), res.CSeqMethod(), res.Header("Call-ID"), res.Body)
	}
	if d := sdpDirection("v=0\nm=audio 1 RTP/AVP 0\n"); d != "sendrecv" {
		t.Errorf("SDP without direction: %q, want sendrecv", d)
	}

	for _, tc := range []struct{ from, name, user string }{
		{`"Alice Front" <sip:101@127.0.0.1>;tag=x`, "Alice Front", "101"},
		{`Alice Front <sip:101@127.0.0.1:5060>`, "Alice Front", "101"},
		{`"A \"B\"" <sip:7@h>`, `A \"B\"`, "7"},
		{`<sip:101@127.0.0.1>;tag=x`, "", "101"},
	} {
		m := fromDisplay.FindStringSubmatch(tc.from)
		if m == nil || m[1]+strings.TrimSpace(m[2]) != tc.name || m[3] != tc.user {
			t.Errorf("fromDisplay on %q: %q, want name %q user %q", tc.from, m, tc.name, tc.user)
		}
	}
}

// RFC 4733 telephone-events a caller sends during a call reach the callee
// through the PBX (an IVR or bank line at the far end relies on it).
func TestCallFlowDTMFPassesThrough(t *testing.T) {
	srv := startServer(t, "")
	for _, ext := range []string{"101", "102"} {
		runCLI(t, srv.DataDir, "ext", "add", ext, "--name", "Phone "+ext, "--secret", "dtmf-secret-"+ext, "--no-voicemail")
	}
	callee := newGoPhone(t, "102", "dtmf-secret-102", srv.SIPAddr)
	callee.AnswerCalls()
	caller := newGoPhone(t, "101", "dtmf-secret-101", srv.SIPAddr)
	call := caller.Dial("102")
	time.Sleep(300 * time.Millisecond)
	call.Press("1590#")
	if got := callee.WaitDigits(5, 10*time.Second); got != "1590#" {
		t.Fatalf("callee heard %q, want 1590#", got)
	}
	call.Hangup()
}
