package main

// End-to-end tests of call routing: a call from a provider's trunk for an
// inbound number ringing a group and falling through to a shared box, a
// group that rings its members one after another, the auto attendant (keys,
// no key, business hours) and outbound calls through a trunk, allowed or
// refused by each extension's permission.
//
// SIPp plays the provider (testdata/sipp/provider_inbound_call.xml sends a
// call in, uas_answer.xml answers the calls the PBX sends out), baresip
// plays the phones that ring, and the Go phone of e2e_sipclient_test.go
// places the calls that press keys. What happened is read from the phones'
// events (stamped with the time they arrived) and SIP traces, SIPp's
// message trace, `vm messages --json` and `calls --json`.
//
// Everything runs on 127.0.0.1.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago/audio"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// routingSecret is the SIP secret the routing tests give extension ext.
func routingSecret(ext string) string { return "Route-" + ext + "-p4ss" }

// extAdd is the CLI command that adds an extension without a voicemail box
// (so an unanswered call to it ends instead of being forwarded), with extra
// ext add flags.
func extAdd(ext, name string, extra ...string) []string {
	return append([]string{"ext", "add", ext, "--name", name, "--secret", routingSecret(ext), "--no-voicemail"}, extra...)
}

// runCLIs runs CLI commands on dataDir all at once, to save the time of
// running them one after another (each takes a few hundred milliseconds):
// SQLite's busy timeout queues their writes. The database must exist
// already (a running server made it), or they would all race to create it.
// Commands that depend on each other go in separate calls.
func runCLIs(t *testing.T, dataDir string, cmds ...[]string) {
	t.Helper()
	frontdeskBinary(t) // built here, not in the goroutines
	failures := make([]string, len(cmds))
	var wg sync.WaitGroup
	for i, args := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stdout, stderr, err := tryCLI(t, dataDir, args...)
			if err != nil {
				failures[i] = fmt.Sprintf("frontdesk --data %s %s: %v\nstderr:\n%s\nstdout:\n%s",
					dataDir, strings.Join(args, " "), err, stderr, stdout)
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		if f != "" {
			t.Error(f)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// greetingWAV writes dur of a tone of hz as a greeting file and returns its path.
func greetingWAV(t *testing.T, hz float64, dur time.Duration) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("greeting-%.0f.wav", hz))
	if err := writeToneWAV(path, hz, 8000, dur); err != nil {
		t.Fatal(err)
	}
	return path
}

// routingPhone starts a baresip for ext; the caller waits for its
// registration (phones started together register in parallel).
func routingPhone(t *testing.T, srv *frontdeskServer, name, ext string) *baresipPhone {
	t.Helper()
	return startBaresip(t, phoneConfig{Name: name, User: ext, Password: routingSecret(ext), Registrar: srv.SIPAddr, ToneHz: bobToneHz})
}

// ---------------------------------------------------------------------------
// Phone event timelines

// stampedEvent is a phone's event with the time it reached the test.
type stampedEvent struct {
	Phone string
	At    time.Time
	ctrlMessage
}

// watchEvents reads the events of all phones at once, stamping each with
// the time it arrived, until done says the timeline is complete; it fails
// the test after timeout. The phones must have no command under way.
// Events read earlier while waiting for a command's answer are stamped now.
func watchEvents(t *testing.T, phones []*baresipPhone, timeout time.Duration, done func([]stampedEvent) bool) []stampedEvent {
	t.Helper()
	var out []stampedEvent
	for _, p := range phones {
		for _, m := range p.pending {
			if m.Event {
				p.history = append(p.history, m)
				out = append(out, stampedEvent{p.cfg.Name, time.Now(), m})
			}
		}
		p.pending = nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	cases := make([]reflect.SelectCase, len(phones)+1)
	for i, p := range phones {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(p.msgs)}
	}
	cases[len(phones)] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)}
	start := time.Now()
	for !done(out) {
		i, v, ok := reflect.Select(cases)
		now := time.Now()
		if i == len(phones) {
			t.Fatalf("phone events incomplete after %v:%s", timeout, timeline(out, start))
		}
		p := phones[i]
		if !ok {
			p.connErr = fmt.Errorf("ctrl_tcp connection lost (baresip exited?): %w", <-p.readErr)
			t.Fatalf("phone %s: %v; events so far:%s", p.cfg.Name, p.connErr, timeline(out, start))
		}
		m := v.Interface().(ctrlMessage)
		if !m.Event {
			continue
		}
		p.history = append(p.history, m)
		out = append(out, stampedEvent{p.cfg.Name, now, m})
	}
	return out
}

// eventsOf keeps one phone's events of one type.
func eventsOf(events []stampedEvent, phone, typ string) []stampedEvent {
	var out []stampedEvent
	for _, e := range events {
		if e.Phone == phone && e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// allHave reports whether every phone has an event of type typ.
func allHave(events []stampedEvent, typ string, phones ...*baresipPhone) bool {
	for _, p := range phones {
		if len(eventsOf(events, p.cfg.Name, typ)) == 0 {
			return false
		}
	}
	return true
}

// timeline renders events with their times since start, for messages.
func timeline(events []stampedEvent, start time.Time) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "\n  %+7.3fs %-6s %s %q", e.At.Sub(start).Seconds(), e.Phone, e.Type, e.Param)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// What the phones were shown, and what the PBX logged

// checkShownAs checks that every INVITE the phone received from the PBX
// shows the caller as display <sip:user@...>.
func checkShownAs(t *testing.T, p *baresipPhone, srv *frontdeskServer, display, user string) {
	t.Helper()
	invites := traced(func() []sipTraceMessage { return distinct(requests(received(p, srv), "INVITE")) })
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
		t.Logf("phone %s: INVITE From: %s", p.cfg.Name, from)
		if got := m[1] + strings.TrimSpace(m[2]); got != display || m[3] != user {
			t.Errorf("phone %s: INVITE From %q shows %q <%s>, want %q <%s>", p.cfg.Name, from, got, m[3], display, user)
		}
	}
}

// checkCanceled checks that the PBX sent the phone one CANCEL.
func checkCanceled(t *testing.T, p *baresipPhone, srv *frontdeskServer) {
	t.Helper()
	if got := traced(func() []sipTraceMessage { return distinct(requests(received(p, srv), "CANCEL")) }); len(got) != 1 {
		t.Errorf("phone %s: got %d CANCELs from the PBX, want 1; trace:%s", p.cfg.Name, len(got), startLines(p.SIPTrace()))
	}
}

// callRows reads `calls --json`.
func callRows(t *testing.T, dataDir string) []callLogRow {
	t.Helper()
	var rows []callLogRow
	out := runCLI(t, dataDir, "calls", "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("calls --json: %v\n%s", err, out)
	}
	return rows
}

// waitCallRow polls the call log until an ended call matches and returns
// it; the PBX writes a call's end after its last SIP exchange.
func waitCallRow(t *testing.T, dataDir, what string, match func(callLogRow) bool) callLogRow {
	t.Helper()
	var rows []callLogRow
	if waitFor(5*time.Second, func() bool {
		rows = callRows(t, dataDir)
		for _, r := range rows {
			if r.EndedAt != nil && match(r) {
				return true
			}
		}
		return false
	}) {
		for _, r := range rows {
			if r.EndedAt != nil && match(r) {
				t.Logf("call log: %v", r)
				return r
			}
		}
	}
	t.Errorf("call log has no ended call %s; it holds:%s", what, rowsString(rows))
	return callLogRow{}
}

func rowsString(rows []callLogRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "\n  %v", r)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Callers

// newCaller is newGoPhone, returning only once the phone can place calls.
// diago's ServeBackground reports the UDP listener ready before sipgo has
// put it in its connection pool; a call placed in between makes sipgo bind
// the same address again for the INVITE, which fails with "address already
// in use". Under load (parallel subtests) that window is wide enough to hit.
func newCaller(t *testing.T, user string, srv *frontdeskServer) *goPhone {
	t.Helper()
	return newGoPhone(t, user, routingSecret(user), srv.SIPAddr)
}

// ulawTone is dur of a sine tone of hz as raw G.711 mu-law at 8 kHz.
func ulawTone(t testing.TB, hz float64, dur time.Duration) []byte {
	t.Helper()
	samples := sineSamples(hz, 8000, dur, 0.3)
	pcm := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(s))
	}
	ulaw := make([]byte, len(samples))
	if _, err := audio.EncodeUlawTo(ulaw, pcm); err != nil {
		t.Fatalf("encoding mu-law: %v", err)
	}
	return ulaw
}

// dialTalking is goPhone.Dial for a caller who speaks: once answered it
// sends a steady tone of hz (an integer number of cycles per second, so it
// loops seamlessly) instead of silence.
func (p *goPhone) dialTalking(number string, hz float64) *goCall {
	p.t.Helper()
	tone := ulawTone(p.t, hz, time.Second)
	c, err := p.invite(number, 10*time.Second, func(c *goCall) { c.talk(tone) })
	if err != nil {
		p.t.Fatalf("go phone %s: calling %s: %v", p.user, number, err)
	}
	p.t.Logf("go phone %s: call to %s answered", p.user, number)
	return c
}

// talk sends the looped tone, 20 ms per packet, until the call ends; key
// presses are interleaved by the DTMF writer.
func (c *goCall) talk(tone []byte) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i = (i + 160) % len(tone) {
		select {
		case <-c.stop:
			return
		case <-c.d.Context().Done():
			return
		case <-tick.C:
			if _, err := c.dtmf.Write(tone[i : i+160]); err != nil {
				return
			}
		}
	}
}

// dialRefusal returns the final response of a call that was not answered.
func dialRefusal(err error) (*sip.Response, bool) {
	var pe *sipgo.ErrDialogResponse
	if errors.As(err, &pe) && pe.Res != nil {
		return pe.Res, true
	}
	var ve sipgo.ErrDialogResponse
	if errors.As(err, &ve) && ve.Res != nil {
		return ve.Res, true
	}
	return nil, false
}

// sippStamped matches the start of each SIPp -trace_msg entry: the time
// (local, microseconds), the direction and the message's first line.
var sippStamped = regexp.MustCompile(`(?m)^-{47} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n\S+ message (sent|received)[^\n]*\n\n([^\r\n]*)`)

// sippReceivedAt returns when SIPp received the messages whose first line
// starts with prefix, in order.
func sippReceivedAt(t *testing.T, res *sippResult, prefix string) []time.Time {
	t.Helper()
	var out []time.Time
	for _, m := range sippStamped.FindAllStringSubmatch(res.Messages, -1) {
		if m[2] != "received" || !strings.HasPrefix(m[3], prefix) {
			continue
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05.999999", m[1], time.Local)
		if err != nil {
			t.Fatalf("SIPp trace time %q: %v", m[1], err)
		}
		out = append(out, at)
	}
	return out
}

// requestUser is the user part of a request line "INVITE sip:USER@host SIP/2.0".
var requestUser = regexp.MustCompile(`^[A-Z]+ sips?:([^@;> ]+)@`)

// ---------------------------------------------------------------------------
// Tests

// TestRoutingInboundGroupToSharedBox: a provider (SIPp, on an IP-allowed
// peer trunk) sends a call for +15550100, which goes to ring group 700
// ("Sales": 101 and 102, all at once, 3 s). Both phones ring and show the
// caller as "Sales: Pat Caller"; nobody answers, so after the ring time
// both are cancelled and the call goes to shared box 600, which answers
// (1 s greeting) and stores the provider's 2 s of RTP as a message from
// the provider's caller.
func TestRoutingInboundGroupToSharedBox(t *testing.T) {
	sippRequire(t)
	const (
		did          = "+15550100"
		callerNumber = "+15557654321"
		callerName   = "Pat Caller"
		ring         = 3 * time.Second
		message      = 2 * time.Second
		messageHz    = 700.0
	)
	srv := startServer(t, "")
	dataDir := srv.DataDir
	providerPort := freePort(t)
	provider := "127.0.0.1:" + strconv.Itoa(providerPort)
	runCLIs(t, dataDir,
		extAdd("101", "Ann"),
		extAdd("102", "Ben"),
		[]string{"vm", "add", "600", "--name", "Sales Box", "--pin", vmPIN},
		[]string{"trunk", "add", "provider", "--mode", "peer", "--host", provider, "--allow-from", provider},
	)
	runCLIs(t, dataDir,
		[]string{"vm", "greeting", "set", "600", greetingWAV(t, 500, vmGreeting)},
		[]string{"group", "add", "700", "--name", "Sales", "--members", "101,102",
			"--strategy", "all", "--ring", "3", "--timeout", "4", "--no-answer", "vm:600"},
	)
	runCLI(t, dataDir, "number", "add", did, "--to", "group:700")
	ann, ben := routingPhone(t, srv, "ann", "101"), routingPhone(t, srv, "ben", "102")
	ann.WaitRegistered()
	ben.WaitRegistered()

	sippDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(sippDir, "tone.pcmu"), ulawTone(t, messageHz, time.Second), 0o644); err != nil {
		t.Fatal(err)
	}
	call := sippStart(t, sippRun{
		Name:     "provider",
		Scenario: "provider_inbound_call.xml",
		Remote:   srv.SIPAddr,
		Port:     providerPort,
		Service:  did,
		Keys:     map[string]string{"caller": callerNumber, "caller_name": callerName},
		Dir:      sippDir,
		Args:     []string{"-d", strconv.FormatInt(message.Milliseconds(), 10)},
	})
	started := time.Now()
	events := watchEvents(t, []*baresipPhone{ann, ben}, 10*time.Second, func(evs []stampedEvent) bool {
		return allHave(evs, "CALL_CLOSED", ann, ben)
	})
	res := call.Wait()
	sippMustPass(t, res)
	t.Logf("phones:%s", timeline(events, started))

	for _, p := range []*baresipPhone{ann, ben} {
		in, closed := eventsOf(events, p.cfg.Name, "CALL_INCOMING"), eventsOf(events, p.cfg.Name, "CALL_CLOSED")
		if len(in) != 1 {
			t.Errorf("phone %s rang %d times, want once:%s", p.cfg.Name, len(in), timeline(events, started))
			continue
		}
		if rang := closed[0].At.Sub(in[0].At); (rang - ring).Abs() > 700*time.Millisecond {
			t.Errorf("phone %s rang for %v, want about %v (--ring 3, --timeout 4)", p.cfg.Name, rang, ring)
		}
		checkShownAs(t, p, srv, "Sales: "+callerName, callerNumber)
		checkCanceled(t, p, srv)
	}
	if invites := res.Received("SIP/2.0 407"); len(invites) > 0 {
		t.Errorf("the PBX challenged the provider's INVITE from an allowed address\n%s", res.Report())
	}
	// The box answers once the group has given up: 3 s after the phones
	// started ringing, and not before both stopped.
	ringing, answered := sippReceivedAt(t, res, "SIP/2.0 180"), sippReceivedAt(t, res, "SIP/2.0 200")
	if len(ringing) == 0 || len(answered) == 0 {
		t.Fatalf("the provider's trace has no 180 or no 200\n%s", res.Report())
	}
	t.Logf("provider: 180 Ringing, then 200 OK %v later", answered[0].Sub(ringing[0]))
	if d := answered[0].Sub(ringing[0]); (d - ring).Abs() > 700*time.Millisecond {
		t.Errorf("the call was answered %v after it started ringing, want the group's %v", d, ring)
	}
	for _, p := range []*baresipPhone{ann, ben} {
		for _, e := range eventsOf(events, p.cfg.Name, "CALL_CLOSED") {
			if answered[0].Before(e.At.Add(-100 * time.Millisecond)) {
				t.Errorf("the call was answered %v before %s stopped ringing", e.At.Sub(answered[0]), p.cfg.User)
			}
		}
	}

	msgs := vmWaitMessages(t, dataDir, "600", 1)
	m := msgs[0]
	t.Logf("message in 600: %+v", m)
	if m.CallerNumber != callerNumber || m.CallerName != callerName {
		t.Errorf("message in 600 is from %q (%q), want %q (%q) as the provider's From said", m.CallerNumber, m.CallerName, callerNumber, callerName)
	}
	if d := seconds(m.Duration); d < message-700*time.Millisecond || d > message+time.Second {
		t.Errorf("message in 600 lasts %v, want about the %v the provider streamed", d, message)
	}
	if stored := assertStoredMessages(t, dataDir, msgs); len(stored) == 1 {
		assertToneIn(t, "the message in 600", stored[0], messageHz)
	}
	row := waitCallRow(t, dataDir, "from the provider's caller to "+did, func(r callLogRow) bool {
		return r.FromNumber == callerNumber && r.ToNumber == did
	})
	if row.Status != "voicemail" {
		t.Errorf("call log: status %q, want \"voicemail\" (%v)", row.Status, row)
	}
}

// TestRoutingCascadeOrder: ring group 700 with --strategy order --ring 2
// rings 101, then 102, then 103, each for 2 s, and cancels each before the
// next one rings; nobody answers and there is no no-answer destination, so
// the caller gets 480 once the last member has rung.
func TestRoutingCascadeOrder(t *testing.T) {
	const (
		ring      = 2 * time.Second
		tolerance = 700 * time.Millisecond
		// overlap is how much later than the next member's INVITE a
		// CANCEL may be seen: the two go out together, to different
		// phones, and the test stamps the events they cause.
		overlap = 150 * time.Millisecond
	)
	srv := startServer(t, "")
	runCLIs(t, srv.DataDir, extAdd("101", "Ann"), extAdd("102", "Ben"), extAdd("103", "Cid"), extAdd("104", "Carol Caller"))
	runCLI(t, srv.DataDir, "group", "add", "700", "--name", "Support", "--members", "101,102,103",
		"--strategy", "order", "--ring", "2", "--timeout", "30")
	members := []*baresipPhone{
		routingPhone(t, srv, "ann", "101"),
		routingPhone(t, srv, "ben", "102"),
		routingPhone(t, srv, "cid", "103"),
	}
	carol := routingPhone(t, srv, "carol", "104")
	for _, p := range append(members, carol) {
		p.WaitRegistered()
	}

	carol.Dial("sip:700@" + srv.SIPAddr)
	dialled := time.Now()
	events := watchEvents(t, append(members, carol), 15*time.Second, func(evs []stampedEvent) bool {
		return allHave(evs, "CALL_CLOSED", carol)
	})
	t.Logf("events:%s", timeline(events, dialled))

	var incoming, closed []time.Time
	for _, p := range members {
		in, cl := eventsOf(events, p.cfg.Name, "CALL_INCOMING"), eventsOf(events, p.cfg.Name, "CALL_CLOSED")
		if len(in) != 1 || len(cl) != 1 {
			t.Fatalf("phone %s: %d incoming calls and %d closed, want 1 and 1:%s", p.cfg.Name, len(in), len(cl), timeline(events, dialled))
		}
		incoming, closed = append(incoming, in[0].At), append(closed, cl[0].At)
	}
	first := incoming[0]
	if d := first.Sub(dialled); d > time.Second {
		t.Errorf("the first member rang %v after the call was dialled, want at once", d)
	}
	for i, p := range members {
		want := time.Duration(i) * ring
		if got := incoming[i].Sub(first); (got - want).Abs() > tolerance {
			t.Errorf("member %d (%s) rang %v after the first, want %v ± %v", i+1, p.cfg.User, got, want, tolerance)
		}
		if rang := closed[i].Sub(incoming[i]); (rang - ring).Abs() > tolerance {
			t.Errorf("member %d (%s) rang for %v, want %v ± %v", i+1, p.cfg.User, rang, ring, tolerance)
		}
		if i+1 < len(members) && closed[i].After(incoming[i+1].Add(overlap)) {
			t.Errorf("member %d (%s) was still ringing %v after member %d (%s) started", i+1, p.cfg.User,
				closed[i].Sub(incoming[i+1]), i+2, members[i+1].cfg.User)
		}
		checkCanceled(t, p, srv)
		checkShownAs(t, p, srv, "Support: Carol Caller", "104")
	}
	end := eventsOf(events, "carol", "CALL_CLOSED")[0]
	if !strings.HasPrefix(end.Param, "480") {
		t.Errorf("caller: call closed with %q, want 480 (nobody answered)", end.Param)
	}
	if d := end.At.Sub(closed[len(closed)-1]); d < -overlap || d > tolerance {
		t.Errorf("caller's call ended %v after the last member stopped ringing, want at once", d)
	}
	row := waitCallRow(t, srv.DataDir, "from 104 to 700", func(r callLogRow) bool { return r.FromNumber == "104" && r.ToNumber == "700" })
	if row.Status != "no-answer" || row.AnsweredAt != nil {
		t.Errorf("call log: status %q (answered_at %v), want \"no-answer\", never answered", row.Status, row.AnsweredAt)
	}
}

// TestRoutingAttendant: auto attendant 800 (a 1 s greeting; 5 = shared box
// 600, 1 = ring group 700 of 102, no key = ext 101; business hours Monday
// to Friday 09:00-17:00 in Tokyo, after hours box 601). On a Monday at
// 10:00 Tokyo time (01:00 UTC, outside the hours if the zone were ignored)
// the menu answers: 5 leaves a message in 600, 1 rings 102 showing
// "Sales: <caller>", and a caller who presses nothing reaches 101 after
// the greeting and the 5 s wait. On a Sunday at 03:00 the call goes
// straight to 601, without the menu.
func TestRoutingAttendant(t *testing.T) {
	const (
		attendantHz = 900.0  // the attendant's greeting
		box600Hz    = 500.0  // box 600's greeting
		box601Hz    = 1300.0 // box 601's greeting
		callerHz    = 440.0  // what callers who leave a message say
		talk        = 2 * time.Second

		// 2026-11-23 is a Monday; Tokyo is UTC+9 all year.
		mondayMorning = "2026-11-23T01:00:00Z" // Monday 10:00 in Tokyo
		sundayNight   = "2026-11-21T18:00:00Z" // Sunday 03:00 in Tokyo (Saturday in UTC)
	)
	setup := func(t *testing.T, clock string) *frontdeskServer {
		t.Helper()
		srv := startServer(t, "", "--schedule-clock", clock)
		runCLIs(t, srv.DataDir,
			extAdd("101", "Ann"), extAdd("102", "Ben"), extAdd("105", "Carol"), extAdd("106", "Dave"), extAdd("107", "Erin"),
			[]string{"vm", "add", "600", "--name", "Sales Box", "--pin", vmPIN},
			[]string{"vm", "add", "601", "--name", "Night Box", "--pin", vmPIN},
			[]string{"schedule", "set", "office", "--tz", "Asia/Tokyo", "--hours", "mon-fri 09:00-17:00"},
		)
		runCLIs(t, srv.DataDir,
			[]string{"vm", "greeting", "set", "600", greetingWAV(t, box600Hz, vmGreeting)},
			[]string{"vm", "greeting", "set", "601", greetingWAV(t, box601Hz, vmGreeting)},
			[]string{"group", "add", "700", "--name", "Sales", "--members", "102", "--ring", "10", "--timeout", "10"},
		)
		runCLI(t, srv.DataDir, "attendant", "add", "800", "--name", "Main", "--greeting", greetingWAV(t, attendantHz, time.Second),
			"--option", "5=vm:600", "--option", "1=group:700", "--timeout-dest", "ext:101",
			"--schedule", "office", "--after-hours", "vm:601")
		return srv
	}

	t.Run("business hours", func(t *testing.T) {
		t.Parallel()
		srv := setup(t, mondayMorning)
		t.Run("key 5 leaves a message in 600", func(t *testing.T) {
			t.Parallel()
			carol := newCaller(t, "105", srv)
			call := carol.dialTalking("800", callerHz)
			time.Sleep(300 * time.Millisecond) // into the greeting
			pressed := call.HeardSamples()
			call.Press("5")
			time.Sleep(vmRecording + talk)
			heard := call.Heard(0)
			call.Hangup()

			msgs := vmWaitMessages(t, srv.DataDir, "600", 1)
			if m := msgs[0]; m.CallerNumber != "105" || m.CallerName != "Carol" {
				t.Errorf("message in 600 is from %q (%q), want 105 (Carol): %+v", m.CallerNumber, m.CallerName, m)
			}
			if d := seconds(msgs[0].Duration); d < talk-700*time.Millisecond || d > talk+time.Second {
				t.Errorf("message in 600 lasts %v, want about %v", d, talk)
			}
			if stored := assertStoredMessages(t, srv.DataDir, msgs); len(stored) == 1 {
				assertToneIn(t, "the message in 600", stored[0], callerHz)
			}
			if n := len(boxMessages(t, srv.DataDir, "601")); n != 0 {
				t.Errorf("after-hours box 601 holds %d messages during business hours", n)
			}
			after := wavAudio{SampleRate: heard.SampleRate, Samples: heard.Samples[min(pressed, len(heard.Samples)):]}
			if s := toneSeconds(wavAudio{SampleRate: 8000, Samples: heard.Samples[:min(pressed, len(heard.Samples))]}, attendantHz); s == 0 {
				t.Errorf("the caller heard no attendant greeting before pressing 5 (%v)", analyzeTones(heard, []float64{attendantHz, box600Hz}))
			}
			if s := toneSeconds(after, box600Hz); s < 600*time.Millisecond {
				t.Errorf("after pressing 5 the caller heard only %v of box 600's greeting (%v)", s, analyzeTones(after, []float64{attendantHz, box600Hz}))
			}
		})
		t.Run("key 1 rings group 700", func(t *testing.T) {
			t.Parallel()
			ben := routingPhone(t, srv, "ben", "102")
			ben.WaitRegistered()
			dave := newCaller(t, "106", srv)
			call := dave.Dial("800")
			time.Sleep(300 * time.Millisecond)
			call.Press("1")
			pressed := time.Now()
			ben.WaitIncoming()
			if d := time.Since(pressed); d > 2*time.Second {
				t.Errorf("102 rang %v after 1 was pressed, want at once", d)
			}
			checkShownAs(t, ben, srv, "Sales: Dave", "106")
			call.Hangup()
			ben.WaitClosed()
		})
		t.Run("no key goes to ext 101", func(t *testing.T) {
			t.Parallel()
			ann := routingPhone(t, srv, "ann", "101")
			ann.WaitRegistered()
			erin := newCaller(t, "107", srv)
			call := erin.Dial("800")
			answered := time.Now()
			ann.WaitIncoming()
			// The greeting (1 s), then the attendant waits 5 s for a key.
			want := time.Second + 5*time.Second
			if d := time.Since(answered); d < want-500*time.Millisecond || d > want+1500*time.Millisecond {
				t.Errorf("101 rang %v after the attendant answered, want about %v (greeting and timeout)", d, want)
			}
			checkShownAs(t, ann, srv, "Erin", "107")
			call.Hangup()
			ann.WaitClosed()
		})
	})

	t.Run("after hours", func(t *testing.T) {
		t.Parallel()
		srv := setup(t, sundayNight)
		carol := newCaller(t, "105", srv)
		call := carol.dialTalking("800", callerHz)
		time.Sleep(vmRecording + talk)
		heard := call.Heard(0)
		call.Hangup()

		msgs := vmWaitMessages(t, srv.DataDir, "601", 1)
		if m := msgs[0]; m.CallerNumber != "105" {
			t.Errorf("message in 601 is from %q, want 105: %+v", m.CallerNumber, m)
		}
		if n := len(boxMessages(t, srv.DataDir, "600")); n != 0 {
			t.Errorf("box 600 holds %d messages; nobody pressed 5", n)
		}
		tones := analyzeTones(heard, []float64{attendantHz, box601Hz})
		if s := toneSeconds(heard, attendantHz); s > 0 {
			t.Errorf("the caller heard %v of the attendant's greeting after hours (%v)", s, tones)
		}
		if s := toneSeconds(heard, box601Hz); s < 600*time.Millisecond {
			t.Errorf("the caller heard only %v of box 601's greeting (%v)", s, tones)
		}
	})
}

// TestRoutingOutboundPermission: dial rules send 011... (international)
// and everything else (national) out through trunk "carrier" (SIPp,
// answering). 101 may only make internal calls: dialling 01144123456 is
// refused with 403 and logged "refused", and never reaches the provider,
// but 911 (emergency) goes out. 102 may call abroad: the same number
// reaches the provider, with the dialled number as the Request-URI user.
func TestRoutingOutboundPermission(t *testing.T) {
	sippRequire(t)
	const abroad = "01144123456"
	srv := startServer(t, "")
	dataDir := srv.DataDir
	providerPort := freePort(t)
	provider := "127.0.0.1:" + strconv.Itoa(providerPort)
	runCLIs(t, dataDir,
		extAdd("101", "Ivy", "--outbound", "internal"),
		extAdd("102", "Ian", "--outbound", "international"),
		[]string{"trunk", "add", "carrier", "--mode", "peer", "--host", provider, "--allow-from", provider},
	)
	runCLIs(t, dataDir,
		[]string{"dialrule", "add", "011", "--trunk", "carrier", "--class", "international"},
		[]string{"dialrule", "add", "", "--trunk", "carrier", "--class", "national"},
	)

	uas := sippStart(t, sippRun{
		Name:     "provider",
		Scenario: "uas_answer.xml",
		Port:     providerPort,
		Service:  "provider",
		Calls:    2,
		Keys:     map[string]string{"answer_port": strconv.Itoa(sippMediaPort(t))},
	})
	sippWaitBound(t, providerPort, false, 5*time.Second)
	ivy := newCaller(t, "101", srv)
	ian := newCaller(t, "102", srv)

	if call, err := ivy.tryDial(abroad); err == nil {
		t.Errorf("101 (--outbound internal) called %s and was answered, want 403", abroad)
		call.Hangup()
	} else if res, ok := dialRefusal(err); !ok {
		t.Errorf("101 calling %s: %v, want a 403 response", abroad, err)
	} else {
		t.Logf("101 calling %s: SIP/2.0 %d %s", abroad, res.StatusCode, res.Reason)
		if res.StatusCode != 403 || res.Reason != "Forbidden: international calls not allowed from this extension" {
			t.Errorf("101 calling %s got \"SIP/2.0 %d %s\", want \"SIP/2.0 403 Forbidden: international calls not allowed from this extension\"",
				abroad, res.StatusCode, res.Reason)
		}
	}
	call := ian.Dial(abroad)
	time.Sleep(200 * time.Millisecond)
	call.Hangup()
	call = ivy.Dial("911")
	time.Sleep(200 * time.Millisecond)
	call.Hangup()

	res := uas.Wait()
	sippMustPass(t, res)
	var invites []sippTraceEntry
	seen := map[string]bool{}
	for _, e := range res.Received("INVITE ") {
		if id := strings.Join(e.Header("Call-ID"), ""); !seen[id] {
			seen[id] = true
			invites = append(invites, e)
		}
	}
	want := []struct{ number, from string }{{abroad, "102"}, {"911", "101"}}
	if len(invites) != len(want) {
		t.Fatalf("the provider got %d calls, want %d (102 to %s, 101 to 911)\n%s", len(invites), len(want), abroad, res.Report())
	}
	for i, w := range want {
		line := invites[i].FirstLine()
		m := requestUser.FindStringSubmatch(line)
		if m == nil || m[1] != w.number {
			t.Errorf("call %d reached the provider as %q, want the Request-URI user %s", i+1, line, w.number)
		}
		if from := strings.Join(invites[i].Header("From"), ""); !strings.Contains(from, "sip:"+w.from+"@") {
			t.Errorf("call %d to %s: From %q, want caller %s", i+1, w.number, from, w.from)
		}
	}

	for _, c := range []struct{ from, to, status string }{
		{"101", abroad, "refused"}, {"102", abroad, "answered"}, {"101", "911", "answered"},
	} {
		row := waitCallRow(t, dataDir, fmt.Sprintf("from %s to %s with status %q", c.from, c.to, c.status), func(r callLogRow) bool {
			return r.FromNumber == c.from && r.ToNumber == c.to && r.Status == c.status
		})
		if c.status == "refused" && row.AnsweredAt != nil {
			t.Errorf("refused call logged as answered: %v", row)
		}
	}
}
