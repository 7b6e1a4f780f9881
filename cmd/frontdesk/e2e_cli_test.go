package main

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// sipRegister sends one REGISTER for ext from a real SIP stack (sipgo) over
// UDP on loopback, answers the challenge of the given algorithm with secret,
// and returns the final status code.
func sipRegister(t *testing.T, server, ext, secret, alg string) int {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("frontdesk-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	host, portStr, _ := net.SplitHostPort(server)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("server address %q: %v", server, err)
	}
	recipient := sip.Uri{Scheme: "sip", Host: host, Port: port}
	newReq := func() *sip.Request {
		req := sip.NewRequest(sip.REGISTER, recipient)
		aor := sip.Uri{Scheme: "sip", User: ext, Host: host}
		req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
		req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.NewParams()})
		req.AppendHeader(sip.NewHeader("Contact", "<sip:"+ext+"@127.0.0.1:5999>"))
		req.AppendHeader(sip.NewHeader("Expires", "120"))
		return req
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := newReq()
	res, err := client.Do(ctx, req)
	if err != nil {
		t.Fatalf("REGISTER %s: %v", ext, err)
	}
	if res.StatusCode != 401 {
		return res.StatusCode
	}
	var chal *digest.Challenge
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err == nil && c.Algorithm == alg {
			chal = c
		}
	}
	if chal == nil {
		t.Fatalf("no %s challenge in %s", alg, res.String())
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: recipient.String(), Username: ext, Password: secret, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	req2 := newReq()
	req2.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	req2.AppendHeader(sip.NewHeader("Call-ID", req.CallID().Value()))
	req2.RemoveHeader("Via")
	res, err = client.Do(ctx, req2)
	if err != nil {
		t.Fatalf("REGISTER %s with credentials: %v", ext, err)
	}
	return res.StatusCode
}

// listedExtensions runs `ext list --json` and returns number -> registered devices.
func listedExtensions(t *testing.T, dataDir string) map[string]int {
	t.Helper()
	var views []struct {
		Number  string `json:"number"`
		Name    string `json:"name"`
		Devices int    `json:"registered_devices"`
	}
	out := runCLI(t, dataDir, "ext", "list", "--json")
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("ext list --json printed invalid JSON: %v\n%s", err, out)
	}
	got := map[string]int{}
	for _, v := range views {
		got[v.Number] = v.Devices
	}
	return got
}

func TestCLIExtensionRoundTrip(t *testing.T) {
	data := t.TempDir()
	out := runCLI(t, data, "ext", "add", "101", "--name", "Front desk")
	if !strings.Contains(out, "SIP password: ") {
		t.Fatalf("ext add without --secret must print a generated secret, got:\n%s", out)
	}
	runCLI(t, data, "ext", "add", "102", "--name", "Sales", "--secret", "sales-secret-1")
	if got := listedExtensions(t, data); len(got) != 2 {
		t.Fatalf("ext list = %v, want 101 and 102", got)
	}
	runCLI(t, data, "ext", "set", "102", "--name", "Sales team", "--ring-seconds", "30")
	if out := runCLI(t, data, "ext", "list"); !strings.Contains(out, "Sales team") || !strings.Contains(out, "30s") {
		t.Fatalf("ext set not shown by ext list:\n%s", out)
	}
	runCLI(t, data, "ext", "rm", "101")
	if got := listedExtensions(t, data); len(got) != 1 {
		t.Fatalf("after rm: %v, want only 102", got)
	}

	failures := []struct {
		name string
		args []string
		want string
	}{
		{"duplicate", []string{"ext", "add", "102", "--name", "X"}, "already exists"},
		{"remove missing", []string{"ext", "rm", "555"}, "not found"},
		{"bad number", []string{"ext", "add", "12a", "--name", "X"}, "extension number"},
		{"short secret", []string{"ext", "add", "103", "--name", "X", "--secret", "short"}, "too short"},
		{"missing name", []string{"ext", "add", "104"}, "--name"},
		{"set nothing", []string{"ext", "set", "102"}, "nothing to change"},
		{"unknown command", []string{"nope"}, "unknown command"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := tryCLI(t, data, tc.args...)
			if err == nil {
				t.Fatalf("%v succeeded, want failure", tc.args)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("stderr = %q, want one line containing %q", stderr, tc.want)
			}
		})
	}
}

func TestCLIHelpAndVersion(t *testing.T) {
	data := t.TempDir()
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"ext", "add", "--help"}, {"ext", "list", "--help"}} {
		if out := runCLI(t, data, args...); !strings.Contains(out, "Usage:") {
			t.Errorf("%v printed no usage:\n%s", args, out)
		}
	}
	if out := runCLI(t, data, "version"); !strings.HasPrefix(out, "frontdesk ") {
		t.Errorf("version printed %q", out)
	}
}

// An extension added while the server runs registers at once, with either
// digest algorithm, and one removed can no longer register.
func TestCLIChangesApplyToRunningServer(t *testing.T) {
	srv := startServer(t, "", "--sip-digest", "SHA-256,MD5")
	runCLI(t, srv.DataDir, "ext", "add", "201", "--name", "New hire", "--secret", "new-hire-secret")

	for _, alg := range []string{"MD5", "SHA-256"} {
		if code := sipRegister(t, srv.SIPAddr, "201", "new-hire-secret", alg); code != 200 {
			t.Fatalf("REGISTER (%s) of an extension added while the server runs: %d, want 200", alg, code)
		}
	}
	if got := listedExtensions(t, srv.DataDir); got["201"] != 1 {
		t.Fatalf("ext list shows %d devices for 201, want 1", got["201"])
	}
	wrong := sipRegister(t, srv.SIPAddr, "201", "wrong-secret", "MD5")
	unknown := sipRegister(t, srv.SIPAddr, "299", "new-hire-secret", "MD5")
	if wrong == 200 || wrong != unknown {
		t.Fatalf("wrong secret got %d and unknown user got %d: want the same refusal", wrong, unknown)
	}
	runCLI(t, srv.DataDir, "ext", "set", "201", "--secret", "rotated-secret-1")
	if code := sipRegister(t, srv.SIPAddr, "201", "new-hire-secret", "MD5"); code == 200 {
		t.Fatal("old secret still accepted after ext set --secret")
	}
	if code := sipRegister(t, srv.SIPAddr, "201", "rotated-secret-1", "MD5"); code != 200 {
		t.Fatalf("new secret refused: %d", code)
	}
	runCLI(t, srv.DataDir, "ext", "rm", "201")
	if code := sipRegister(t, srv.SIPAddr, "201", "rotated-secret-1", "MD5"); code == 200 {
		t.Fatal("removed extension can still register")
	}
}

func TestFirstStartPrintsAdminPasswordOnce(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data)
	first := srv.Log()
	if !strings.Contains(first, "one-time password") || !strings.Contains(first, "ext add") {
		t.Fatalf("first start did not print the admin password and the ext add hint:\n%s", first)
	}
	srv.Stop()
	runCLI(t, data, "ext", "add", "101", "--name", "A")
	again := startServer(t, data)
	if strings.Contains(again.Log(), "one-time password") {
		t.Fatal("second start printed an admin password again")
	}
}

// OPTIONS (phones' and trunks' keep-alive) is answered 200 with what we allow,
// over UDP and TCP.
func TestOptionsAnswered(t *testing.T) {
	srv := startServer(t, "")
	for _, transport := range []string{"UDP", "TCP"} {
		ua, err := sipgo.NewUA()
		if err != nil {
			t.Fatal(err)
		}
		client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: srv.SIPPort})
		req.SetTransport(transport)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := client.Do(ctx, req)
		cancel()
		ua.Close()
		if err != nil {
			t.Fatalf("OPTIONS over %s: %v", transport, err)
		}
		allow := ""
		if h := res.GetHeader("Allow"); h != nil {
			allow = h.Value()
		}
		if res.StatusCode != 200 || !strings.Contains(allow, "INVITE") || !strings.Contains(allow, "SUBSCRIBE") {
			t.Fatalf("OPTIONS over %s: %d, Allow %q; want 200 listing INVITE and SUBSCRIBE", transport, res.StatusCode, allow)
		}
	}
}
