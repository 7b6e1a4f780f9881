package main

// The SIP abuse guard end to end: a source flooding the PBX is rate limited
// and, once its failed logins pass the threshold, blocked (its requests go
// unanswered), while a registered phone at another address calls as usual;
// an allow-listed source is never blocked; an admin lifts a block.
//
// Sources are loopback addresses: the attackers send from 127.0.0.2 and
// 127.0.0.4, the allow-listed source from 127.0.0.3, the phones from
// 127.0.0.1 (which --allow leaves off the allow-list, so they face the same
// limits as everyone).

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// rawSource sends hand-written SIP requests over UDP from one loopback
// address and counts the answers by status.
type rawSource struct {
	t      *testing.T
	conn   *net.UDPConn
	server *net.UDPAddr
	seq    atomic.Int64

	mu      sync.Mutex
	answers map[int]int
	last    chan string // every answer's status line, for request/answer exchanges
}

func newRawSource(t *testing.T, ip, serverAddr string) *rawSource {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("bind %s: %v", ip, err)
	}
	server, err := net.ResolveUDPAddr("udp", serverAddr)
	if err != nil {
		t.Fatal(err)
	}
	s := &rawSource{t: t, conn: conn, server: server, answers: map[int]int{}, last: make(chan string, 4096)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			line, _, _ := strings.Cut(msg, "\r\n")
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "SIP/2.0" {
				continue
			}
			code, _ := strconv.Atoi(f[1])
			s.mu.Lock()
			s.answers[code]++
			s.mu.Unlock()
			select {
			case s.last <- msg:
			default:
			}
		}
	}()
	return s
}

func (s *rawSource) addr() string { return s.conn.LocalAddr().String() }

// count is how many answers with status code arrived (0: all of them).
func (s *rawSource) count(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code != 0 {
		return s.answers[code]
	}
	n := 0
	for _, v := range s.answers {
		n += v
	}
	return n
}

// send writes one request: method to user at the PBX, with extra headers.
func (s *rawSource) send(method, user string, headers ...string) {
	n := s.seq.Add(1)
	uri := fmt.Sprintf("sip:%s", s.server.String())
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-abuse-%d;rport\r\n", s.addr(), n)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=abuse%d\r\n", user, s.server.IP, n)
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", user, s.server.IP)
	fmt.Fprintf(&b, "Call-ID: abuse-%d@%s\r\n", n, s.conn.LocalAddr().(*net.UDPAddr).IP)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", n, method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", user, s.addr())
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := s.conn.WriteToUDP([]byte(b.String()), s.server); err != nil {
		s.t.Logf("send from %s: %v", s.addr(), err)
	}
}

// drain forgets answers waiting in last.
func (s *rawSource) drain() {
	for {
		select {
		case <-s.last:
		default:
			return
		}
	}
}

// exchange sends one request and returns the answer's text, or "" when
// none comes within wait.
func (s *rawSource) exchange(wait time.Duration, method, user string, headers ...string) string {
	s.drain()
	s.send(method, user, headers...)
	select {
	case msg := <-s.last:
		return msg
	case <-time.After(wait):
		return ""
	}
}

// wrongAuthorization gets a challenge for user and answers it with a
// wrong password: an Authorization header the PBX checks and refuses.
func (s *rawSource) wrongAuthorization(user string) string {
	s.t.Helper()
	res := s.exchange(2*time.Second, "REGISTER", user, "Expires: 300")
	var chal string
	for _, line := range strings.Split(res, "\r\n") {
		if v, ok := strings.CutPrefix(line, "WWW-Authenticate: "); ok {
			chal = v
		}
	}
	if !strings.HasPrefix(res, "SIP/2.0 401") || chal == "" {
		s.t.Fatalf("REGISTER from %s: want a 401 challenge, got %q", s.addr(), res)
	}
	c, err := digest.ParseChallenge(chal)
	if err != nil {
		s.t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: "REGISTER", URI: "sip:" + s.server.String(),
		Username: user, Password: "not-the-password", Cnonce: "abuse", Count: 1})
	if err != nil {
		s.t.Fatal(err)
	}
	return "Authorization: " + cred.String()
}

// adminJSON sends an admin API request and decodes a JSON answer into out.
func adminJSON(t *testing.T, srv *frontdeskServer, password, method, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, srv.HTTPURL+"/api/v1/admin"+path, nil)
	req.SetBasicAuth("admin", password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.StatusCode
}

type blockedRow struct {
	Source       string    `json:"source"`
	Reason       string    `json:"reason"`
	Failures     int       `json:"failures"`
	BlockedUntil time.Time `json:"blocked_until"`
	Dropped      int       `json:"dropped"`
}

func blockedList(t *testing.T, srv *frontdeskServer, password string) map[string]blockedRow {
	t.Helper()
	var rows []blockedRow
	if code := adminJSON(t, srv, password, http.MethodGet, "/blocked", &rows); code != http.StatusOK {
		t.Fatalf("GET /admin/blocked: %d", code)
	}
	out := map[string]blockedRow{}
	for _, r := range rows {
		out[r.Source] = r
	}
	return out
}

// flood sends requests built by next from src as fast as pace allows
// until stop is closed.
func flood(src *rawSource, stop <-chan struct{}, wg *sync.WaitGroup, next func(i int)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			next(i)
			if i%20 == 19 {
				time.Sleep(5 * time.Millisecond) // ~4000 requests a second
			}
		}
	}()
}

func TestAbuseFloodBlockAndAllowList(t *testing.T) {
	dataDir := t.TempDir()
	for _, ext := range []string{"101", "102"} {
		runCLI(t, dataDir, "ext", "add", ext, "--name", "Desk "+ext, "--secret", "secret-"+ext+"-Zq8", "--no-voicemail")
	}
	srv := startServer(t, dataDir, "--allow", "127.0.0.3", "--block-after", "10", "--block-window", "1m",
		"--block-for", "10m", "--sip-rate", "20", "--sip-burst", "50")
	password := changePassword(t, srv, "admin", adminPassword(t, srv))

	bob := newGoPhone(t, "102", "secret-102-Zq8", srv.SIPAddr)
	bob.AnswerCalls()
	alice := newGoPhone(t, "101", "secret-101-Zq8", srv.SIPAddr)

	attacker := newRawSource(t, "127.0.0.2", srv.SIPAddr)
	auth := attacker.wrongAuthorization("101")

	// Phase 1: an OPTIONS flood (valid requests, nothing to block) is held
	// to the source's rate, and a call from another address connects.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	began := time.Now()
	flood(attacker, stop, &wg, func(int) { attacker.send("OPTIONS", "101") })
	time.Sleep(300 * time.Millisecond)
	call := alice.Dial("102")
	time.Sleep(time.Second)
	if call.Ended() {
		t.Fatal("the call ended during the OPTIONS flood")
	}
	call.Hangup()
	close(stop)
	wg.Wait()
	elapsed := time.Since(began)
	time.Sleep(300 * time.Millisecond) // answers in flight
	sent, answered := int(attacker.seq.Load()), attacker.count(200)
	t.Logf("OPTIONS flood: %d sent in %v, %d answered", sent, elapsed.Round(time.Millisecond), answered)
	if limit := 50 + int(20*elapsed.Seconds()) + 25; answered > limit || answered < 50 {
		t.Errorf("OPTIONS flood: %d of %d answered, want 50 to %d (burst 50, 20/s)", answered, sent, limit)
	}
	if got := blockedList(t, srv, password); len(got) != 0 {
		t.Errorf("blocked after a flood of valid requests: %+v", got)
	}

	// Phase 2: REGISTERs with a wrong password: the source is blocked after
	// ten, and a call goes through while the flood goes on.
	time.Sleep(2500 * time.Millisecond) // the bucket fills up again
	forbiddenBefore := attacker.count(403)
	stop = make(chan struct{})
	flood(attacker, stop, &wg, func(i int) {
		if i%2 == 0 {
			attacker.send("REGISTER", "101", "Expires: 300", auth)
		} else {
			attacker.send("OPTIONS", "101")
		}
	})
	if !waitFor(5*time.Second, func() bool { _, ok := blockedList(t, srv, password)["127.0.0.2"]; return ok }) {
		t.Fatalf("127.0.0.2 not blocked; %d answers, %d of them 403", attacker.count(0), attacker.count(403))
	}
	call = alice.Dial("102")
	time.Sleep(500 * time.Millisecond)
	if call.Ended() {
		t.Fatal("the call ended during the REGISTER flood")
	}
	call.Hangup()
	close(stop)
	wg.Wait()
	time.Sleep(300 * time.Millisecond)
	// Ten failures block the source. REGISTERs admitted before the block
	// (the registrar works on up to 64 at once, more under load) are still
	// answered; after them, nothing is (checked below).
	if n := attacker.count(403) - forbiddenBefore; n < 10 || n > 10+64 {
		t.Errorf("wrong-password REGISTERs refused with 403: %d, want 10 plus at most those in flight, then silence", n)
	}
	if res := attacker.exchange(time.Second, "OPTIONS", "101"); res != "" {
		t.Errorf("blocked source got an answer: %q", res)
	}
	row := blockedList(t, srv, password)["127.0.0.2"]
	if row.Reason != "wrong credentials" || row.Failures < 10 || row.Dropped == 0 ||
		row.BlockedUntil.Before(time.Now().Add(9*time.Minute)) {
		t.Errorf("blocked row %+v, want wrong credentials, 10 failures, dropped requests, ~10 minutes", row)
	}
	if !strings.Contains(srv.Log(), `msg="SIP source blocked" source=127.0.0.2`) {
		t.Errorf("no block logged for 127.0.0.2")
	}

	// The phones at 127.0.0.1 still register and call.
	bob.AnswerCalls()
	alice.Dial("102").Hangup()

	// An extension scan (REGISTERs without credentials for numbers that
	// don't exist) is blocked too, though every probe gets the same 401.
	scanner := newRawSource(t, "127.0.0.4", srv.SIPAddr)
	for i := range 15 {
		scanner.exchange(300*time.Millisecond, "REGISTER", strconv.Itoa(200+i), "Expires: 300")
	}
	if n := scanner.count(401); n != 10 {
		t.Errorf("extension scan: %d probes challenged, want 10 (then silence)", n)
	}
	if row := blockedList(t, srv, password)["127.0.0.4"]; row.Reason != "unknown user" {
		t.Errorf("scanner's row %+v, want blocked for unknown user", row)
	}

	// An allow-listed source is never blocked, nor rate limited.
	office := newRawSource(t, "127.0.0.3", srv.SIPAddr)
	officeAuth := office.wrongAuthorization("101")
	for i := range 30 {
		if res := office.exchange(2*time.Second, "REGISTER", "101", "Expires: 300", officeAuth); !strings.HasPrefix(res, "SIP/2.0 403") {
			t.Fatalf("allow-listed source, wrong password #%d: answer %q, want 403", i+1, res)
		}
	}
	// 500 a second, 25 times the per-source rate, paced so that loopback
	// socket buffers (not the limiter) can't drop any under load.
	for range 200 {
		office.send("OPTIONS", "101")
		time.Sleep(2 * time.Millisecond)
	}
	if !waitFor(3*time.Second, func() bool { return office.count(200) == 200 }) {
		t.Errorf("allow-listed source: %d of 200 OPTIONS answered", office.count(200))
	}
	if _, ok := blockedList(t, srv, password)["127.0.0.3"]; ok {
		t.Errorf("allow-listed 127.0.0.3 is blocked")
	}

	// An admin lifts the block: the source is answered again, and the
	// unblocking is audited.
	if code := adminJSON(t, srv, password, http.MethodDelete, "/blocked/127.0.0.2", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE /admin/blocked/127.0.0.2: %d", code)
	}
	if code := adminJSON(t, srv, password, http.MethodDelete, "/blocked/127.0.0.2", nil); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}
	if res := attacker.exchange(2*time.Second, "OPTIONS", "101"); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Errorf("unblocked source: answer %q, want 200", res)
	}
	if out := runCLI(t, srv.DataDir, "audit", "--json"); !strings.Contains(out, `"sip.unblocked"`) || !strings.Contains(out, `"127.0.0.2"`) {
		t.Errorf("audit log has no sip.unblocked for 127.0.0.2:\n%s", out)
	}
}
