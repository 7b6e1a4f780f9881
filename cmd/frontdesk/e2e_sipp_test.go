package main

// End-to-end SIP tests driven by SIPp (Debian package sip-tester, 3.6.1).
//
// SIPp plays the phones: its XML scenarios (testdata/sipp) send exact SIP
// messages and fail the run on any unexpected answer, so these tests pin
// down the PBX's behaviour at the message level (challenge codes, CANCEL
// and 487, hold answers), which a softphone would paper over.
//
// A "device" is one SIPp port: an extension registers from port P with one
// SIPp run (register.xml, client mode), then a second SIPp run in server
// mode on the same port P receives the calls the PBX forwards to that
// registration. SIPp cannot do both in one run, because in client mode it
// drops requests whose Call-ID it did not create.
//
// Everything binds to 127.0.0.1 (-i, -mi), except SIPp's own remote-control
// socket, which SIPp always opens on 0.0.0.0:8888 (or the next free port).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sippScenarioDir holds the SIPp scenarios, relative to the package
// directory (the working directory of `go test`).
const sippScenarioDir = "testdata/sipp"

// sippTestSecret returns the digest secret the tests give extension ext.
// Each extension gets its own, so a mix-up between accounts cannot pass.
func sippTestSecret(ext string) string { return "Sipp-" + ext + "-k9Qv2x" }

// sippRequire fails the test if SIPp is not installed: a missing tool must
// not turn the SIP tests into silent passes.
func sippRequire(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not found in PATH (%v); `make test` installs it (Debian package sip-tester)", err)
	}
	return bin
}

// sippStartServerWith creates a data directory holding the given
// extensions (number -> name), each with sippTestSecret, and starts the
// server on it.
// sippStartServerWith starts a server with the given extensions. They have
// no voicemail box, so unanswered calls end with the plain SIP status these
// tests check (voicemail forwarding has its own tests).
func sippStartServerWith(t testing.TB, exts map[string]string, extraArgs ...string) *frontdeskServer {
	t.Helper()
	dataDir := t.TempDir()
	for ext, name := range exts {
		runCLI(t, dataDir, "ext", "add", ext, "--name", name, "--secret", sippTestSecret(ext), "--no-voicemail")
	}
	return startServer(t, dataDir, extraArgs...)
}

// sippRun describes one SIPp invocation.
type sippRun struct {
	Name      string // label for logs and trace file names
	Scenario  string // file name in testdata/sipp
	Remote    string // "host:port" of the PBX; empty for server mode
	Port      int    // local SIP port (-p)
	Transport string // "u1" (UDP, default) or "t1" (TCP)
	Service   string // -s: the user part of requests ([service])
	AuthUser  string // -au
	AuthPass  string // -ap
	Keys      map[string]string
	Calls     int           // -m; 1 if zero
	Timeout   time.Duration // whole run (-timeout, fatal); 20 s if zero
	Args      []string      // anything else
	Dir       string        // working directory and trace files; t.TempDir() if empty
	// NoMessageTrace leaves out -trace_msg, whose disk writes would skew
	// a benchmark.
	NoMessageTrace bool
}

// sippProc is a SIPp process started by sippStart.
type sippProc struct {
	run    sippRun
	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{}
	res    *sippResult
}

// sippResult is the outcome of a SIPp run with its traces.
type sippResult struct {
	Name     string
	Command  string
	ExitCode int    // SIPp: 0 all calls succeeded, 1 some failed, 255 fatal/timeout
	RunErr   error  // set if SIPp could not be run or was killed
	Messages string // -trace_msg: every message sent and received
	Errors   string // -trace_err: unexpected messages and failures
	Output   string // tail of stdout/stderr (the final statistics screen)
	Elapsed  time.Duration
}

// sippStart launches SIPp in the background. The process is killed by
// t.Cleanup if the test ends before it does.
func sippStart(t testing.TB, r sippRun) *sippProc {
	t.Helper()
	bin := sippRequire(t)
	if r.Transport == "" {
		r.Transport = "u1"
	}
	if r.Calls == 0 {
		r.Calls = 1
	}
	if r.Timeout == 0 {
		r.Timeout = 20 * time.Second
	}
	if r.Dir == "" {
		r.Dir = t.TempDir()
	}
	scenario, err := filepath.Abs(filepath.Join(sippScenarioDir, r.Scenario))
	if err != nil {
		t.Fatalf("sipp %s: locating scenario: %v", r.Name, err)
	}
	mediaPort := sippMediaPort(t)
	args := []string{"-sf", scenario}
	if r.Remote != "" {
		args = append(args, r.Remote)
	}
	args = append(args,
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(r.Port),
		"-t", r.Transport,
		"-mi", "127.0.0.1",
		// SIPp binds this media port and the one 2 above at startup, even
		// when the scenario sends no RTP; each run needs its own.
		"-mp", strconv.Itoa(mediaPort),
		"-m", strconv.Itoa(r.Calls),
		"-nostdin",
		// Without -timeout_error the global timeout is a soft quit that
		// waits for calls stuck in retransmissions; with it SIPp exits 255.
		"-timeout", fmt.Sprintf("%dms", r.Timeout.Milliseconds()),
		"-timeout_error",
		"-trace_err", "-error_file", filepath.Join(r.Dir, r.Name+"_errors.log"),
	)
	if !r.NoMessageTrace {
		args = append(args, "-trace_msg", "-message_file", filepath.Join(r.Dir, r.Name+"_messages.log"))
	}
	if r.Service != "" {
		args = append(args, "-s", r.Service)
	}
	if r.AuthUser != "" {
		args = append(args, "-au", r.AuthUser, "-ap", r.AuthPass)
	}
	for k, v := range r.Keys {
		args = append(args, "-key", k, v)
	}
	args = append(args, r.Args...)

	// The hard deadline only matters if SIPp ignores its own -timeout.
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout+15*time.Second)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = r.Dir
	cmd.WaitDelay = 2 * time.Second
	out := &sippTailBuffer{max: 8 << 10}
	cmd.Stdout = out
	cmd.Stderr = out
	p := &sippProc{run: r, cmd: cmd, cancel: cancel, done: make(chan struct{})}
	p.res = &sippResult{Name: r.Name, Command: "sipp " + strings.Join(args, " ")}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("sipp %s: starting %s: %v", r.Name, p.res.Command, err)
	}
	go func() {
		defer close(p.done)
		defer cancel()
		err := cmd.Wait()
		p.res.Elapsed = time.Since(start)
		var exitErr *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exitErr) && exitErr.Exited():
			p.res.ExitCode = exitErr.ExitCode()
		default:
			p.res.ExitCode = -1
			p.res.RunErr = fmt.Errorf("sipp did not exit by itself: %w (ctx: %v)", err, ctx.Err())
		}
		p.res.Output = out.String()
		p.res.Messages = sippReadTrace(filepath.Join(r.Dir, r.Name+"_messages.log"))
		p.res.Errors = sippReadTrace(filepath.Join(r.Dir, r.Name+"_errors.log"))
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// Wait waits for SIPp to exit and returns its result.
func (p *sippProc) Wait() *sippResult {
	<-p.done
	return p.res
}

// sippExec runs SIPp to completion.
func sippExec(t testing.TB, r sippRun) *sippResult {
	t.Helper()
	return sippStart(t, r).Wait()
}

// sippMustPass fails the test, with every trace, unless SIPp reported all
// its calls successful.
func sippMustPass(t testing.TB, res *sippResult) {
	t.Helper()
	if res.ExitCode != 0 || res.RunErr != nil {
		t.Fatalf("sipp %s failed (exit %d, want 0: all calls successful)\n%s", res.Name, res.ExitCode, res.Report())
	}
}

// Report renders the result with its traces for a failure message.
func (r *sippResult) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "=== sipp %s: exit %d after %v", r.Name, r.ExitCode, r.Elapsed.Round(time.Millisecond))
	if r.RunErr != nil {
		fmt.Fprintf(&b, " (%v)", r.RunErr)
	}
	fmt.Fprintf(&b, "\ncommand: %s\n", r.Command)
	fmt.Fprintf(&b, "--- errors trace ---\n%s\n", sippClip(r.Errors, 16<<10))
	fmt.Fprintf(&b, "--- message trace ---\n%s\n", sippClip(r.Messages, 48<<10))
	fmt.Fprintf(&b, "--- output (tail) ---\n%s\n=== end of sipp %s\n", r.Output, r.Name)
	return b.String()
}

// sippTraceEntry is one message in a SIPp -trace_msg log.
type sippTraceEntry struct {
	Received bool
	Message  string // the SIP message, CRLFs kept
}

// FirstLine is the request or status line.
func (e sippTraceEntry) FirstLine() string {
	line, _, _ := strings.Cut(e.Message, "\n")
	return strings.TrimRight(line, "\r")
}

// Header returns every value of the named header (case-insensitive, no
// compact forms).
func (e sippTraceEntry) Header(name string) []string {
	var vals []string
	head, _, _ := strings.Cut(e.Message, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			vals = append(vals, strings.TrimSpace(v))
		}
	}
	return vals
}

// Status returns the status code of a response, 0 for a request.
func (e sippTraceEntry) Status() int {
	f := strings.Fields(e.FirstLine())
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0
	}
	code, _ := strconv.Atoi(f[1])
	return code
}

// sippTraceSeparator starts every entry of a SIPp message trace.
var sippTraceSeparator = regexp.MustCompile(`(?m)^-{47} .*\n`)

// Entries parses the message trace. Each entry is a separator line, a
// "UDP message sent (N bytes):" or "TCP message received [N] bytes :"
// line, an empty line, and the message.
func (r *sippResult) Entries() []sippTraceEntry {
	var out []sippTraceEntry
	for _, chunk := range sippTraceSeparator.Split(r.Messages, -1) {
		kind, msg, ok := strings.Cut(chunk, "\n")
		if !ok || !strings.Contains(kind, " message ") {
			continue
		}
		msg = strings.TrimLeft(msg, "\r\n")
		msg = strings.TrimRight(msg, "\n")
		out = append(out, sippTraceEntry{Received: strings.Contains(kind, "received"), Message: msg})
	}
	return out
}

// ReceivedStatusLines lists the status lines of the responses SIPp
// received, in order.
func (r *sippResult) ReceivedStatusLines() []string {
	var lines []string
	for _, e := range r.Entries() {
		if e.Received && e.Status() != 0 {
			lines = append(lines, e.FirstLine())
		}
	}
	return lines
}

// Received returns the received messages whose first line starts with
// prefix ("SIP/2.0 401", "CANCEL ").
func (r *sippResult) Received(prefix string) []sippTraceEntry {
	var out []sippTraceEntry
	for _, e := range r.Entries() {
		if e.Received && strings.HasPrefix(e.FirstLine(), prefix) {
			out = append(out, e)
		}
	}
	return out
}

// sippReadTrace reads a SIPp trace file; a missing file is an empty trace
// (SIPp only creates the error file when there is something to say).
func sippReadTrace(path string) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	return string(b)
}

// sippClip keeps the head and tail of a long trace.
func sippClip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max/4] + fmt.Sprintf("\n[... %d bytes elided ...]\n", len(s)-max) + s[len(s)-3*max/4:]
}

// sippTailBuffer keeps the last max bytes written to it.
type sippTailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *sippTailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *sippTailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	// The live statistics screen is drawn with ANSI escapes.
	return string(bytes.ReplaceAll(b.buf, []byte("\x1b"), []byte("^[")))
}

// SIPp media ports come from a range of their own: above the server's
// (20000-29999) and the phones' (10000-19999) RTP ranges, below the Linux
// ephemeral range that freePort draws from.
const (
	sippMediaLow  = 30000
	sippMediaHigh = 32700
)

var sippMediaPorts struct {
	mu   sync.Mutex
	used map[int]bool
}

// sippMediaPort returns an even port p such that p..p+3 are free UDP ports
// (SIPp binds p and p+2, RTP and its RTCP neighbours) and not handed out
// before in this test process.
func sippMediaPort(t testing.TB) int {
	t.Helper()
	sippMediaPorts.mu.Lock()
	defer sippMediaPorts.mu.Unlock()
	if sippMediaPorts.used == nil {
		sippMediaPorts.used = make(map[int]bool)
	}
	for range 200 {
		p := sippMediaLow + 4*rand.IntN((sippMediaHigh-sippMediaLow)/4)
		if sippMediaPorts.used[p] {
			continue
		}
		free := true
		for i := range 4 {
			c, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+i)))
			if err != nil {
				free = false
				break
			}
			c.Close()
		}
		if free {
			sippMediaPorts.used[p] = true
			return p
		}
	}
	t.Fatal("sippMediaPort: no free media ports in range")
	return 0
}

// sippWaitBound waits until something listens on 127.0.0.1:port (UDP, or
// TCP if tcp), by reading /proc/net: probing with a bind of our own could
// steal the port from the SIPp process that is starting.
func sippWaitBound(t testing.TB, port int, tcp bool, timeout time.Duration) {
	t.Helper()
	file, state := "/proc/net/udp", "07" // UDP sockets sit in TCP_CLOSE
	if tcp {
		file, state = "/proc/net/tcp", "0A" // TCP_LISTEN
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("reading %s: %v", file, err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 3 && f[1] == want && f[3] == state {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing bound 127.0.0.1:%d (tcp=%v) within %v", port, tcp, timeout)
}

// sippRegister registers extension ext from 127.0.0.1:port through the
// digest challenge and fails the test unless it gets 200.
func sippRegister(t testing.TB, srv *frontdeskServer, ext string, port int, transport string) *sippResult {
	t.Helper()
	res := sippExec(t, sippRun{
		Name:      "register-" + ext,
		Scenario:  "register.xml",
		Remote:    srv.SIPAddr,
		Port:      port,
		Transport: transport,
		Service:   ext,
		AuthUser:  ext,
		AuthPass:  sippTestSecret(ext),
	})
	sippMustPass(t, res)
	return res
}

// TestSippRegister registers through the 401 digest challenge over UDP and
// TCP and checks the challenge itself: realm "frontdesk" and the digest
// algorithms offered, in order. By default that is MD5 alone (phones built on
// libre give up when any challenge names SHA-256); --sip-digest adds SHA-256
// (RFC 8760). SIPp 3.6.1 answers only the first challenge and knows only MD5,
// so the SHA-256 case lists MD5 first.
func TestSippRegister(t *testing.T) {
	sippRequire(t)
	tests := []struct {
		name     string
		args     []string // extra serve flags
		wantAlgs []string // algorithms offered, in order
	}{
		{"default", nil, []string{"MD5"}},
		{"MD5 and SHA-256", []string{"--sip-digest", "MD5,SHA-256"}, []string{"MD5", "SHA-256"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := sippStartServerWith(t, map[string]string{"101": "Alice"}, tc.args...)
			for _, transport := range []string{"u1", "t1"} {
				t.Run(map[string]string{"u1": "UDP", "t1": "TCP"}[transport], func(t *testing.T) {
					res := sippRegister(t, srv, "101", freePort(t), transport)
					challenges := res.Received("SIP/2.0 401")
					if len(challenges) == 0 {
						t.Fatalf("no 401 challenge in the trace\n%s", res.Report())
					}
					if algs := sippDigestAlgorithms(t, challenges[0]); !slices.Equal(algs, tc.wantAlgs) {
						t.Errorf("401 challenge offers %q, want %q\n%s", algs, tc.wantAlgs, challenges[0].Message)
					}
					if ok := res.Received("SIP/2.0 200"); len(ok) == 0 || len(ok[0].Header("Contact")) == 0 {
						t.Errorf("200 to REGISTER without the binding in Contact (RFC 3261 10.3 step 8)\n%s", res.Report())
					}
				})
			}

			// Each run registered its own contact (another port, another
			// transport): the CLI, reading the same database, must see both.
			var exts []struct {
				Number            string `json:"number"`
				RegisteredDevices int    `json:"registered_devices"`
			}
			out := runCLI(t, srv.DataDir, "ext", "list", "--json")
			if err := json.Unmarshal([]byte(out), &exts); err != nil {
				t.Fatalf("ext list --json: %v\n%s", err, out)
			}
			if len(exts) != 1 || exts[0].Number != "101" || exts[0].RegisteredDevices != 2 {
				t.Errorf("ext list --json: want only 101, with 2 registered devices (one over UDP, one over TCP)\n%s", out)
			}
		})
	}
}

// sippDigestAlgorithms lists the algorithms of the Digest challenges in a
// 401 or 407, in order (an absent algorithm means MD5, RFC 2617), checking
// that each names realm "frontdesk".
func sippDigestAlgorithms(t *testing.T, challenge sippTraceEntry) []string {
	t.Helper()
	header := "WWW-Authenticate"
	if challenge.Status() == 407 {
		header = "Proxy-Authenticate"
	}
	realm := regexp.MustCompile(`(?i)(^|[\s,])realm\s*=\s*"frontdesk"`)
	algorithm := regexp.MustCompile(`(?i)(?:^|[\s,])algorithm\s*=\s*"?([A-Za-z0-9-]+)`)
	var algs []string
	for _, h := range challenge.Header(header) {
		if !regexp.MustCompile(`(?i)^Digest\s`).MatchString(h) {
			continue
		}
		if !realm.MatchString(h) {
			t.Errorf("challenge %q: want realm=\"frontdesk\"", h)
		}
		if m := algorithm.FindStringSubmatch(h); m != nil {
			algs = append(algs, strings.ToUpper(m[1]))
		} else {
			algs = append(algs, "MD5")
		}
	}
	return algs
}

// TestSippRegisterRefused checks that a wrong password is refused, and that
// an unknown user is refused with exactly the same status codes and reason
// phrases: any difference tells an attacker which extensions exist.
func TestSippRegisterRefused(t *testing.T) {
	sippRequire(t)
	srv := sippStartServerWith(t, map[string]string{"101": "Alice"})

	refused := func(name, ext, password string) []string {
		t.Helper()
		res := sippExec(t, sippRun{
			Name:     name,
			Scenario: "register_refused.xml",
			Remote:   srv.SIPAddr,
			Port:     freePort(t),
			Service:  ext,
			AuthUser: ext,
			AuthPass: password,
		})
		// The scenario treats a 200 as unexpected: a pass means refused.
		sippMustPass(t, res)
		lines := res.ReceivedStatusLines()
		if len(lines) == 0 {
			t.Fatalf("%s: no responses in the trace\n%s", name, res.Report())
		}
		final := lines[len(lines)-1]
		if !strings.HasPrefix(final, "SIP/2.0 401 ") && !strings.HasPrefix(final, "SIP/2.0 403 ") {
			t.Fatalf("%s: final answer %q, want 401 or 403\n%s", name, final, res.Report())
		}
		t.Logf("%s: %q", name, lines)
		return lines
	}

	wrongPassword := refused("wrong-password", "101", "not-the-secret")
	unknownUser := refused("unknown-user", "199", "not-the-secret")
	if strings.Join(wrongPassword, "\n") != strings.Join(unknownUser, "\n") {
		t.Errorf("wrong password and unknown user get different answers, which reveals which extensions exist:\n"+
			"  wrong password (101): %q\n  unknown user (199):   %q", wrongPassword, unknownUser)
	}
}

// TestSippCallFailures calls numbers that cannot be connected, from a
// registered, authenticated extension: an extension without a registered
// device (480 Temporarily Unavailable) and a number that does not exist
// (404 Not Found).
func TestSippCallFailures(t *testing.T) {
	sippRequire(t)
	srv := sippStartServerWith(t, map[string]string{"101": "Alice", "102": "Bob"})
	callerPort := freePort(t)
	sippRegister(t, srv, "101", callerPort, "u1")

	tests := []struct {
		name   string
		callee string
		want   int
	}{
		{"extension without device", "102", 480},
		{"number that does not exist", "555", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := sippExec(t, sippRun{
				Name:     "call-" + tc.callee,
				Scenario: "uac_call_fail.xml",
				Remote:   srv.SIPAddr,
				Port:     callerPort,
				Service:  tc.callee,
				AuthUser: "101",
				AuthPass: sippTestSecret("101"),
				Keys:     map[string]string{"caller": "101"},
			})
			sippMustPass(t, res)
			challenges := res.Received("SIP/2.0 407")
			if len(challenges) == 0 {
				t.Fatalf("no 407 challenge to the first INVITE\n%s", res.Report())
			}
			if algs := sippDigestAlgorithms(t, challenges[0]); !slices.Equal(algs, []string{"MD5"}) {
				t.Errorf("407 challenge offers %q, want [MD5]\n%s", algs, challenges[0].Message)
			}
			var final int
			for _, e := range res.Entries() {
				if code := e.Status(); e.Received && code >= 300 && code != 407 {
					final = code
				}
			}
			if final != tc.want {
				t.Fatalf("call to %s ended with %d, want %d\n%s", tc.callee, final, tc.want, res.Report())
			}
		})
	}
}

// sippDevices registers caller 101 and callee 102, each from its own port,
// on a fresh server: the setup of the two-party call tests.
func sippDevices(t *testing.T) (srv *frontdeskServer, callerPort, calleePort int) {
	t.Helper()
	srv = sippStartServerWith(t, map[string]string{"101": "Alice", "102": "Bob"})
	callerPort, calleePort = freePort(t), freePort(t)
	sippRegister(t, srv, "102", calleePort, "u1")
	sippRegister(t, srv, "101", callerPort, "u1")
	return srv, callerPort, calleePort
}

// TestSippCancelWhileRinging: 101 calls 102, 102 rings, 101 hangs up. The
// caller must get 200 for its CANCEL and 487 for its INVITE, and the PBX
// must pass the CANCEL on so that the callee stops ringing (the callee's
// scenario fails if no CANCEL arrives).
func TestSippCancelWhileRinging(t *testing.T) {
	sippRequire(t)
	srv, callerPort, calleePort := sippDevices(t)

	caller, calleeRes := sippCall(t, srv, callerPort, calleePort, "uas_ring_cancel.xml", "uac_cancel.xml", nil)
	if len(calleeRes.Received("CANCEL ")) == 0 {
		t.Errorf("the callee never received the CANCEL\n%s", calleeRes.Report())
	}
	if len(caller.Received("SIP/2.0 487")) == 0 {
		t.Errorf("the caller never received 487 for its INVITE\n%s", caller.Report())
	}
}

// TestSippHoldByReinvite: 101 calls 102, which answers; 101 puts the call on
// hold with a re-INVITE offering a=sendonly and must get a 200 whose SDP
// says a=recvonly or a=inactive; then 101 hangs up with BYE, answered 200,
// and the BYE must reach 102.
func TestSippHoldByReinvite(t *testing.T) {
	sippRequire(t)
	srv, callerPort, calleePort := sippDevices(t)

	_, calleeRes := sippCall(t, srv, callerPort, calleePort, "uas_answer.xml", "uac_hold.xml",
		map[string]string{"answer_port": strconv.Itoa(sippMediaPort(t))})
	if len(calleeRes.Received("BYE ")) == 0 {
		t.Errorf("the callee never received the BYE\n%s", calleeRes.Report())
	}
	// Either design is valid for a B2BUA; say which one this is.
	if n := len(calleeRes.Received("INVITE ")); n > 1 {
		t.Logf("the PBX passed the hold re-INVITE on to the callee")
	} else {
		t.Logf("the PBX answered the hold re-INVITE itself")
	}
}

// A phone behind NAT registers with a private Via and Contact; the PBX must
// reach it at the address its REGISTER came from (rport/received), so the
// call for it arrives at sipp's real port and the CANCEL follows it there.
func TestSippNATContactReachedAtSource(t *testing.T) {
	sippRequire(t)
	srv := sippStartServerWith(t, map[string]string{"101": "Alice", "102": "Bob"})
	callerPort, calleePort := freePort(t), freePort(t)
	reg := sippExec(t, sippRun{
		Name: "register-nat-102", Scenario: "register_nat.xml", Remote: srv.SIPAddr, Port: calleePort,
		Transport: "u1", Service: "102", AuthUser: "102", AuthPass: sippTestSecret("102"),
	})
	sippMustPass(t, reg)
	sippRegister(t, srv, "101", callerPort, "u1")

	_, calleeRes := sippCall(t, srv, callerPort, calleePort, "uas_ring_cancel.xml", "uac_cancel.xml", nil)
	invites := calleeRes.Received("INVITE ")
	if len(invites) == 0 {
		t.Fatalf("the NATed phone never received the INVITE\n%s", calleeRes.Report())
	}
	if !strings.Contains(invites[0].FirstLine(), fmt.Sprintf("127.0.0.1:%d", calleePort)) {
		t.Errorf("INVITE Request-URI %q: want the source address 127.0.0.1:%d, not the private Contact", invites[0].FirstLine(), calleePort)
	}
}

// sippCall runs one call between sipp devices through the PBX: 102 runs
// uas (with calleeKeys) on calleePort, then 101 runs uac from callerPort.
// Both must succeed; it returns their results for the story's checks.
func sippCall(t *testing.T, srv *frontdeskServer, callerPort, calleePort int, uas, uac string, calleeKeys map[string]string) (caller, callee *sippResult) {
	t.Helper()
	proc := sippStart(t, sippRun{Name: "callee-102", Scenario: uas, Port: calleePort, Service: "102", Keys: calleeKeys})
	sippWaitBound(t, calleePort, false, 5*time.Second)
	caller = sippExec(t, sippRun{
		Name: "caller-101", Scenario: uac, Remote: srv.SIPAddr, Port: callerPort, Service: "102",
		AuthUser: "101", AuthPass: sippTestSecret("101"), Keys: map[string]string{"caller": "101"},
	})
	callee = proc.Wait()
	if caller.ExitCode != 0 || callee.ExitCode != 0 {
		t.Fatalf("%s/%s call failed: caller exit %d, callee exit %d (want 0, 0)\n%s\n%s",
			uac, uas, caller.ExitCode, callee.ExitCode, caller.Report(), callee.Report())
	}
	return caller, callee
}
