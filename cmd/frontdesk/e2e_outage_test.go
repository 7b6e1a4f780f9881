package main

// End-to-end outages of what the PBX depends on, through the real binary:
//
//   - the SIP provider of a registering trunk vanishes (its socket closes)
//     and comes back: once the trunk is seen unreachable calls out are
//     refused at once (503 Trunk Unreachable), everything else keeps
//     working, and the trunk registers again by itself;
//   - the mail server refuses connections, then answers 451, then takes
//     mail: the voicemail email goes out once, with its recording;
//   - a webhook receiver answers 500, then drops connections, then 200:
//     the signed notification arrives once after recovery.
//
// The provider is the tollProvider of e2e_tollfraud_test.go. Retry timing
// is the server's own (trunk backoff 5 s, 10 s, ...; email and webhook
// backoff 10 s, 20 s, ...), which keeps each test well under a minute and
// a half; every wait polls with a generous deadline.

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/pbx/notify"
)

// trunkStatus is a trunk's registration as the admin API shows it.
type trunkStatus struct {
	State       string `json:"state"`
	LastError   string `json:"last_error"`
	Unreachable bool   `json:"unreachable"`
}

// trunkStatusOf reads a trunk's registration from the admin API.
func trunkStatusOf(t *testing.T, srv *frontdeskServer, admin, name string) trunkStatus {
	t.Helper()
	var v struct {
		Status *trunkStatus `json:"status"`
	}
	if code := adminJSON(t, srv, admin, http.MethodGet, "/trunks/"+name, &v); code != http.StatusOK {
		t.Fatalf("GET /admin/trunks/%s: %d", name, code)
	}
	if v.Status == nil {
		return trunkStatus{}
	}
	return *v.Status
}

// trunkState reads a trunk's registration state from the admin API.
func trunkState(t *testing.T, srv *frontdeskServer, admin, name string) (state, lastError string) {
	t.Helper()
	s := trunkStatusOf(t, srv, admin, name)
	return s.State, s.LastError
}

// waitTrunkState polls the admin API until the trunk is in state and
// returns how long that took.
func waitTrunkState(t *testing.T, srv *frontdeskServer, admin, name, state string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var got, lastErr string
	if !waitFor(timeout, func() bool {
		got, lastErr = trunkState(t, srv, admin, name)
		return got == state
	}) {
		t.Fatalf("trunk %s: state %q (last error %q) after %v, want %q", name, got, lastErr, timeout, state)
	}
	d := time.Since(start)
	t.Logf("trunk %s %s after %v (last error %q)", name, state, d.Round(100*time.Millisecond), lastErr)
	return d
}

// healthy says whether GET /healthz answers 200.
func healthy(srv *frontdeskServer) bool {
	res, err := (&http.Client{Timeout: 2 * time.Second}).Get(srv.HTTPURL + "/healthz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// leaveMessage has a Go phone for ext leave a message (3 s of a tone) in
// box and waits for it to be stored; the message's id is returned.
func leaveMessage(t *testing.T, srv *frontdeskServer, ext, box string) int64 {
	t.Helper()
	call := newCaller(t, ext, srv).dialTalking(box, 440)
	time.Sleep(vmRecording + 3*time.Second)
	call.Hangup()
	var msgs []boxMessage
	if !waitFor(15*time.Second, func() bool { msgs = boxMessages(t, srv.DataDir, box); return len(msgs) > 0 }) {
		var lines []string
		for _, l := range strings.Split(srv.Log(), "\n") {
			if strings.Contains(l, "voicemail") {
				lines = append(lines, l)
			}
		}
		t.Fatalf("no message in box %s 15 s after the call; voicemail log lines:\n%s", box, strings.Join(lines, "\n"))
	}
	return msgs[len(msgs)-1].ID
}

// TestOutageTrunkProviderGoneAndBack: trunk "itsp" registers (UDP) to the
// provider, which grants 4 s, so the server refreshes every 2 s. A call out
// goes through. The provider vanishes: the admin API shows the trunk
// failed and unreachable (its REGISTER got no answer); a call out meanwhile
// is refused by the PBX itself with 503 Trunk Unreachable, without an
// INVITE into the void, while /healthz and voicemail keep working; the
// provider comes back on the same address: the trunk registers again
// within its backoff and a call out is answered by the provider.
func TestOutageTrunkProviderGoneAndBack(t *testing.T) {
	const number = "0201234567"
	srv := startServer(t, "")
	admin := changePassword(t, srv, "admin", adminPassword(t, srv))
	port := freePort(t)
	provider := startTollProvider(t, port, srv.SIPAddr, true)
	provider.grant = 4
	runCLIs(t, srv.DataDir,
		extAdd("101", "Ian", "--outbound", "international"),
		[]string{"vm", "add", "600", "--name", "Sales", "--pin", vmPIN},
		[]string{"trunk", "add", "itsp", "--mode", "register", "--host", provider.Addr,
			"--username", trunkTestUser, "--password", trunkTestPass, "--expires", "60"},
	)
	runCLIs(t, srv.DataDir,
		[]string{"dialrule", "add", "", "--trunk", "itsp", "--class", "national"},
		[]string{"vm", "greeting", "set", "600", greetingWAV(t, 500, vmGreeting)},
	)
	waitTrunkState(t, srv, admin, "itsp", "registered", 20*time.Second)
	ian := newCaller(t, "101", srv)

	// Before: a call out is answered by the provider.
	call := ian.Dial(number)
	call.Hangup()
	if n := provider.invitesFor(number); n != 1 {
		t.Fatalf("the provider got %d INVITEs for %s, want 1", n, number)
	}

	// The provider vanishes.
	provider.Stop()
	gone := time.Now()
	down := waitTrunkState(t, srv, admin, "itsp", "failed", 40*time.Second)
	if st := trunkStatusOf(t, srv, admin, "itsp"); !strings.Contains(st.LastError, "no answer") || !st.Unreachable {
		t.Errorf("trunk status %+v, want it unreachable, its last error saying there was no answer", st)
	}
	t.Logf("trunk seen failed %v after the provider vanished", down.Round(100*time.Millisecond))

	// A call out during the outage is refused by the PBX itself (the trunk
	// is unreachable), and the rest of the PBX serves meanwhile.
	type result struct {
		err  error
		took time.Duration
	}
	outcome := make(chan result, 1)
	go func() {
		start := time.Now()
		c, err := ian.invite(number, 60*time.Second, func(c *goCall) { c.send() })
		if err == nil {
			c.Hangup()
		}
		outcome <- result{err, time.Since(start)}
	}()
	if !healthy(srv) {
		t.Errorf("/healthz failed during the outage")
	}
	leaveMessage(t, srv, "101", "600")
	var r result
	select {
	case r = <-outcome:
	case <-time.After(60 * time.Second):
		t.Fatalf("a call out during the outage got no final answer within 60 s")
	}
	t.Logf("call out during the outage: %v after %v", r.err, r.took.Round(100*time.Millisecond))
	// Not the INVITE-into-the-void path (SIP timer B, 32 s of silence, then
	// "503 Service Unavailable"): the PBX refuses before sending anything.
	if res, ok := dialRefusal(r.err); !ok || res.StatusCode != 503 || res.Reason != "Trunk Unreachable" {
		t.Errorf("call out during the outage: %v, want 503 Trunk Unreachable", r.err)
	}
	log := srv.Log()
	if !regexp.MustCompile(`msg="outbound call refused: trunk unreachable" .*trunk=itsp .*reason="no answer from `).MatchString(log) {
		t.Errorf("server log has no \"outbound call refused: trunk unreachable\" line for itsp with the reason")
	}
	if strings.Contains(log, `msg="outbound call not answered"`) {
		t.Errorf("the PBX sent the call to the unreachable trunk (\"outbound call not answered\" in the log)")
	}
	waitCallRow(t, srv.DataDir, "to "+number+" refused as unavailable", func(c callLogRow) bool {
		return c.ToNumber == number && c.Status == "unavailable"
	})
	if !healthy(srv) {
		t.Errorf("/healthz failed after the failed call")
	}

	// The provider comes back on the same address.
	provider = startTollProvider(t, port, srv.SIPAddr, true)
	provider.grant = 4
	back := time.Now()
	up := waitTrunkState(t, srv, admin, "itsp", "registered", 60*time.Second)
	t.Logf("trunk registered again %v after the provider came back (outage lasted %v)", up.Round(100*time.Millisecond), back.Sub(gone).Round(time.Second))
	if regs := provider.Registers(); len(regs) == 0 {
		t.Errorf("the new provider saw no REGISTER")
	}
	call = ian.Dial(number)
	call.Hangup()
	if n := provider.invitesFor(number); n != 1 {
		t.Errorf("after the outage the provider got %d INVITEs for %s, want 1", n, number)
	}
	log = srv.Log()
	for _, re := range []string{`msg="trunk registration failed" trunk=itsp`, `msg="trunk registered" trunk=itsp`} {
		if n := len(regexp.MustCompile(re).FindAllString(log, -1)); n == 0 {
			t.Errorf("server log has no %s", re)
		}
	}
	if n := strings.Count(log, `msg="trunk registered" trunk=itsp`); n != 2 {
		t.Errorf("%d \"trunk registered\" lines, want 2 (before and after the outage)", n)
	}
}

// TestOutageSMTPRefusedThen451: a message arrives in box 600 (email to
// x@example.test) while nothing listens at the mail server's port: the
// message is kept, the email waits. The mail server then comes up but
// answers 451 to the first session; the retry after that delivers the
// email once, with the recording attached byte for byte, and nothing is
// left waiting.
func TestOutageSMTPRefusedThen451(t *testing.T) {
	srv := startServer(t, "")
	smtpPort := freePort(t) // nobody listens there yet
	runCLIs(t, srv.DataDir,
		extAdd("101", "Alice"),
		[]string{"vm", "add", "600", "--name", "Sales", "--pin", vmPIN, "--email", "x@example.test"},
		[]string{"smtp", "set", "--host", "127.0.0.1", "--port", strconv.Itoa(smtpPort),
			"--security", "none", "--from", "Frontdesk <pbx@example.test>"},
	)
	vmSetShortGreeting(t, srv.DataDir, "600")
	leaveMessage(t, srv, "101", "600")

	var v smtpView
	if !waitFor(15*time.Second, func() bool {
		v = smtpShow(t, srv.DataDir)
		return v.Pending == 1 && strings.Contains(v.LastError, "connection refused")
	}) {
		t.Fatalf("smtp show %+v, want 1 waiting email failed with connection refused", v)
	}
	refusedAt := time.Now()
	mail := startFlakySMTP(t, smtpPort, 1)

	// The 451 is recorded as the email's last error.
	if !waitFor(30*time.Second, func() bool {
		v = smtpShow(t, srv.DataDir)
		return strings.Contains(v.LastError, "451")
	}) {
		t.Fatalf("smtp show %+v, want the 451 as the last error", v)
	}
	if v.Pending != 1 {
		t.Errorf("after the 451: %d emails waiting, want 1", v.Pending)
	}
	subject, at := receiveVoicemailMail(t, srv, mail.got, 60*time.Second)
	t.Logf("mail delivered %v after the first failure", at.Sub(refusedAt).Round(time.Second))
	if !strings.HasPrefix(subject, "Voicemail from 101 Alice") {
		t.Errorf("subject %q", subject)
	}
	// Two more poll rounds (5 s each): no second copy.
	time.Sleep(11 * time.Second)
	sessions, refused, mails := mail.counts()
	t.Logf("SMTP sessions %d, refused with 451 %d, mails %d", sessions, refused, mails)
	if mails != 1 || refused != 1 {
		t.Errorf("the mail server got %d mails and refused %d sessions, want 1 and 1", mails, refused)
	}
	log := srv.Log()
	if n := strings.Count(log, `msg="voicemail email not sent, will retry"`); n != 2 {
		t.Errorf("%d \"not sent, will retry\" lines, want 2 (refused, then 451)", n)
	}
	if !regexp.MustCompile(`msg="voicemail email sent" .*attempt=3 `).MatchString(log) {
		t.Errorf("no \"voicemail email sent\" line with attempt=3 in the log")
	}
	if msgs := boxMessages(t, srv.DataDir, "600"); len(msgs) != 1 {
		t.Errorf("box 600 holds %d messages, want 1", len(msgs))
	}
}

// hookAttempt is one request the webhook receiver got, and what it did.
type hookAttempt struct {
	Header http.Header
	Body   []byte
	Answer string // "500", "closed" or "200"
}

// TestOutageWebhookFailsThenRecovers: box 600 has a webhook rule (its
// inbox's own, set by the admin) to a loopback receiver. A message arrives;
// the receiver answers 500, then drops the connection without answering,
// then answers 200. The notification is retried with the same delivery id
// and a valid signature each time, and delivered exactly once.
func TestOutageWebhookFailsThenRecovers(t *testing.T) {
	srv := startServer(t, "", "--notify-allow-private")
	admin := changePassword(t, srv, "admin", adminPassword(t, srv))
	runCLIs(t, srv.DataDir,
		extAdd("101", "Alice"),
		[]string{"vm", "add", "600", "--name", "Sales", "--pin", vmPIN},
	)
	vmSetShortGreeting(t, srv.DataDir, "600")

	var mu sync.Mutex
	var attempts []hookAttempt
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hook := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n := len(attempts)
		a := hookAttempt{Header: r.Header.Clone(), Body: body, Answer: []string{"500", "closed"}[min(n, 1)]}
		if n >= 2 {
			a.Answer = "200"
		}
		attempts = append(attempts, a)
		mu.Unlock()
		switch a.Answer {
		case "500":
			http.Error(w, "receiver broken", http.StatusInternalServerError)
		case "closed":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			w.WriteHeader(http.StatusOK)
		}
	})}
	go hook.Serve(ln)
	t.Cleanup(func() { hook.Close() })
	target := "http://" + ln.Addr().String() + "/hook"

	var rule struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	if code := apiCall(t, srv, "admin", admin, http.MethodPost, "/notify-rules",
		map[string]any{"box": "600", "inbox": true, "channel": "webhook", "target": target,
			"on_new": true, "on_assign": false, "on_overdue": false}, &rule); code != http.StatusCreated {
		t.Fatalf("add the webhook rule: %d", code)
	}
	if rule.Secret == "" {
		t.Fatalf("the new webhook rule's secret was not shown: %+v", rule)
	}

	msgID := leaveMessage(t, srv, "101", "600")
	stored := time.Now()

	got := func() []hookAttempt {
		mu.Lock()
		defer mu.Unlock()
		return append([]hookAttempt(nil), attempts...)
	}
	if !waitFor(90*time.Second, func() bool { return len(got()) >= 3 }) {
		t.Fatalf("the receiver got %d attempts within 90 s, want 3 (500, dropped, 200)", len(got()))
	}
	t.Logf("delivered %v after the message was stored", time.Since(stored).Round(time.Second))
	time.Sleep(11 * time.Second) // two more poll rounds: nothing more may come
	all := got()
	if len(all) != 3 {
		t.Errorf("the receiver got %d attempts, want exactly 3 (500, dropped, 200)", len(all))
	}
	delivery := all[0].Header.Get("X-Frontdesk-Delivery")
	for i, a := range all {
		ts, sig := a.Header.Get("X-Frontdesk-Timestamp"), a.Header.Get("X-Frontdesk-Signature")
		if !notify.Verify(rule.Secret, ts, sig, a.Body) {
			t.Errorf("attempt %d (%s): signature %q does not verify over timestamp %s and the body", i+1, a.Answer, sig, ts)
		}
		if a.Header.Get("X-Frontdesk-Delivery") != delivery || delivery == "" {
			t.Errorf("attempt %d: delivery id %q, want the same %q on every retry", i+1, a.Header.Get("X-Frontdesk-Delivery"), delivery)
		}
		if a.Header.Get("X-Frontdesk-Event") != "message.new" {
			t.Errorf("attempt %d: event %q, want message.new", i+1, a.Header.Get("X-Frontdesk-Event"))
		}
		var p struct {
			Event   string `json:"event"`
			Message struct {
				ID           int64  `json:"id"`
				Box          string `json:"box"`
				CallerNumber string `json:"caller_number"`
			} `json:"message"`
		}
		if err := json.Unmarshal(a.Body, &p); err != nil {
			t.Errorf("attempt %d: body is not JSON: %v\n%s", i+1, err, a.Body)
			continue
		}
		if p.Event != "message.new" || p.Message.ID != msgID || p.Message.Box != "600" || p.Message.CallerNumber != "101" {
			t.Errorf("attempt %d: body %s, want message.new for message %d in 600 from 101", i+1, a.Body, msgID)
		}
	}
	if n := strings.Count(srv.Log(), `msg="notification not sent, will retry"`); n != 2 {
		t.Errorf("%d \"notification not sent, will retry\" lines, want 2", n)
	}
}
