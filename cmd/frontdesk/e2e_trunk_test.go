package main

// End-to-end tests of trunks: the CLI that manages them, and the running
// server registering to a provider played by SIPp (provider_registrar.xml:
// a registrar that challenges, checks the digest with verifyauth, grants
// 10 s and expects the refresh). The server's registration state is only in
// memory, so the tests read it from the server log, which has one line per
// state change ("trunk registered", "trunk registration failed").

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	trunkTestUser = "4420000001"
	trunkTestPass = "Pr0vider-s3cret"
)

// trunkCLIStdin runs the CLI with stdin, for --password-stdin.
func trunkCLIStdin(t *testing.T, dataDir, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, frontdeskBinary(t), append([]string{"--data", dataDir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// trunkListed is one trunk of `trunk list --json`.
type trunkListed struct {
	Name         string `json:"name"`
	Mode         string `json:"mode"`
	Host         string `json:"host"`
	Transport    string `json:"transport"`
	Username     string `json:"username"`
	AuthUsername string `json:"auth_username"`
	CallerID     string `json:"caller_id"`
	Codecs       string `json:"codecs"`
	AllowFrom    string `json:"allow_from"`
	Expires      int    `json:"expires"`
	PasswordSet  bool   `json:"password_set"`
}

func trunkList(t *testing.T, dataDir string) (map[string]trunkListed, string) {
	t.Helper()
	out := runCLI(t, dataDir, "trunk", "list", "--json")
	var list []trunkListed
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("trunk list --json: %v\n%s", err, out)
	}
	m := map[string]trunkListed{}
	for _, tr := range list {
		m[tr.Name] = tr
	}
	return m, out
}

// TestTrunkCLI adds, lists, changes and removes trunks, and checks that bad
// settings are refused with one clear line and the password never shows.
func TestTrunkCLI(t *testing.T) {
	dir := t.TempDir()
	out := runCLI(t, dir, "trunk", "add", "itsp", "--mode", "register", "--host", "sip.provider.example:5080",
		"--username", trunkTestUser, "--password", trunkTestPass, "--caller-id", "+4420000001", "--codecs", "pcma", "--expires", "600")
	if !strings.Contains(out, "trunk itsp added: registers to sip.provider.example:5080 over udp as "+trunkTestUser) {
		t.Errorf("trunk add said %q", out)
	}
	out, stderr, err := trunkCLIStdin(t, dir, "stdin-secret\n", "trunk", "add", "backup", "--mode", "register", "--host", "192.0.2.10",
		"--transport", "TCP", "--username", "u2", "--auth-username", "auth-u2", "--password-stdin")
	if err != nil {
		t.Fatalf("trunk add --password-stdin: %v\n%s", err, stderr)
	}
	runCLI(t, dir, "trunk", "add", "carrier", "--mode", "peer", "--host", "198.51.100.20")
	runCLI(t, dir, "trunk", "add", "carrier2", "--mode", "peer", "--host", "sbc.carrier.example", "--allow-from", "198.51.100.0/24, 203.0.113.9:5060")

	trunks, raw := trunkList(t, dir)
	if strings.Contains(raw, trunkTestPass) || strings.Contains(raw, "stdin-secret") {
		t.Fatalf("trunk list --json shows a password:\n%s", raw)
	}
	want := map[string]trunkListed{
		"itsp": {Name: "itsp", Mode: "register", Host: "sip.provider.example:5080", Transport: "udp", Username: trunkTestUser,
			CallerID: "+4420000001", Codecs: "PCMA", Expires: 600, PasswordSet: true},
		"backup": {Name: "backup", Mode: "register", Host: "192.0.2.10", Transport: "tcp", Username: "u2", AuthUsername: "auth-u2",
			Codecs: "PCMU,PCMA", Expires: 300, PasswordSet: true},
		"carrier":  {Name: "carrier", Mode: "peer", Host: "198.51.100.20", Transport: "udp", Codecs: "PCMU,PCMA", AllowFrom: "198.51.100.20", Expires: 300},
		"carrier2": {Name: "carrier2", Mode: "peer", Host: "sbc.carrier.example", Transport: "udp", Codecs: "PCMU,PCMA", AllowFrom: "198.51.100.0/24,203.0.113.9:5060", Expires: 300},
	}
	for name, w := range want {
		if trunks[name] != w {
			t.Errorf("trunk %s listed as %+v, want %+v", name, trunks[name], w)
		}
	}
	table := runCLI(t, dir, "trunk", "list")
	if strings.Contains(table, trunkTestPass) || !strings.Contains(table, "carrier2") || !strings.Contains(table, "u2 (auth auth-u2)") {
		t.Errorf("trunk list table:\n%s", table)
	}

	// set changes only what is given, and keeps the trunk's dial rules.
	runCLI(t, dir, "dialrule", "add", "0", "--trunk", "itsp", "--class", "national")
	runCLI(t, dir, "trunk", "set", "itsp", "--caller-id", "+4420000099", "--transport", "tcp")
	trunks, _ = trunkList(t, dir)
	w := want["itsp"]
	w.CallerID, w.Transport = "+4420000099", "tcp"
	if trunks["itsp"] != w {
		t.Errorf("after trunk set: %+v, want %+v", trunks["itsp"], w)
	}
	if rules := runCLI(t, dir, "dialrule", "list", "--json"); !strings.Contains(rules, `"trunk": "itsp"`) {
		t.Errorf("trunk set lost the trunk's dial rule:\n%s", rules)
	}
	if _, stderr, err := trunkCLIStdin(t, dir, "new-secret\n", "trunk", "set", "itsp", "--password-stdin"); err != nil {
		t.Errorf("trunk set --password-stdin: %v\n%s", err, stderr)
	}

	// Refusals: one line on stderr naming what is wrong.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trunk", "add", "x", "--host", "192.0.2.1"}, "--mode is required"},
		{[]string{"trunk", "add", "x", "--mode", "register"}, "--host is required"},
		{[]string{"trunk", "add", "x", "--mode", "register", "--host", "192.0.2.1", "--username", "u"}, "--password"},
		{[]string{"trunk", "add", "x", "--mode", "bogus", "--host", "192.0.2.1"}, `mode "bogus"`},
		{[]string{"trunk", "add", "x", "--mode", "peer", "--host", "sip:192.0.2.1"}, "without a scheme"},
		{[]string{"trunk", "add", "x", "--mode", "peer", "--host", "192.0.2.1", "--transport", "tls"}, `transport "tls"`},
		{[]string{"trunk", "add", "x", "--mode", "peer", "--host", "192.0.2.1", "--codecs", "PCMU,G729"}, `codec "G729"`},
		{[]string{"trunk", "add", "x", "--mode", "peer", "--host", "192.0.2.1", "--expires", "30"}, "expires 30: want 60 to 3600"},
		{[]string{"trunk", "add", "x", "--mode", "peer", "--host", "192.0.2.1", "--allow-from", "10.0.0.0/33"}, `allow-from "10.0.0.0/33"`},
		{[]string{"trunk", "add", "x", "--mode", "peer", "--host", "sbc.example"}, "needs allow-from"},
		{[]string{"trunk", "add", "x", "--mode", "peer", "--host", "192.0.2.1", "--caller-id", "Reception"}, `caller ID "Reception"`},
		{[]string{"trunk", "add", "bad name", "--mode", "peer", "--host", "192.0.2.1"}, `trunk name "bad name"`},
		{[]string{"trunk", "add", "itsp", "--mode", "peer", "--host", "192.0.2.1"}, "trunk itsp: already exists"},
		{[]string{"trunk", "add", "x", "--mode", "register", "--host", "192.0.2.1", "--username", "u", "--password", "p", "--password-stdin"}, "not both"},
		{[]string{"trunk", "set", "itsp"}, "nothing to change"},
		{[]string{"trunk", "set", "carrier", "--mode", "register"}, "--username and --password"},
		{[]string{"trunk", "set", "nope", "--caller-id", "1"}, "trunk nope: not found"},
		{[]string{"trunk", "rm", "nope"}, "trunk nope: not found"},
	} {
		_, stderr, err := tryCLI(t, dir, tc.args...)
		line := strings.TrimSpace(stderr)
		if err == nil || !strings.Contains(line, tc.want) || strings.Count(line, "\n") != 0 {
			t.Errorf("frontdesk %s: err %v, stderr %q; want one line containing %q", strings.Join(tc.args, " "), err, stderr, tc.want)
		}
	}

	if out := runCLI(t, dir, "trunk", "rm", "itsp"); !strings.Contains(out, `trunk itsp removed with its dial rules "0"`) {
		t.Errorf("trunk rm said %q", out)
	}
	trunks, _ = trunkList(t, dir)
	if _, ok := trunks["itsp"]; ok || len(trunks) != 3 {
		t.Errorf("after trunk rm: %+v", trunks)
	}
}

// trunkWaitLog waits until the server log matches re, and returns the log.
func trunkWaitLog(t *testing.T, srv *frontdeskServer, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		log := srv.Log()
		if re.MatchString(log) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server log did not show %s within %v", re, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sippTraceTime is the timestamp SIPp writes on each trace separator line.
var sippTraceTime = regexp.MustCompile(`(?m)^-{47} (\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)`)

// sippSentTimes returns when SIPp sent each message starting with prefix.
func sippSentTimes(t *testing.T, res *sippResult, prefix string) []time.Time {
	t.Helper()
	var times []time.Time
	chunks := sippTraceTime.FindAllStringSubmatchIndex(res.Messages, -1)
	for i, m := range chunks {
		end := len(res.Messages)
		if i+1 < len(chunks) {
			end = chunks[i+1][0]
		}
		body := res.Messages[m[1]:end]
		kind, msg, _ := strings.Cut(strings.TrimLeft(body, "\r\n\t "), "\n")
		if !strings.Contains(kind, "sent") || !strings.HasPrefix(strings.TrimLeft(msg, "\r\n"), prefix) {
			continue
		}
		stamp := strings.Join(strings.Fields(res.Messages[m[2]:m[3]]), " ")
		at, err := time.Parse("2006-01-02 15:04:05.999999", stamp)
		if err != nil {
			t.Fatalf("sipp trace time %q: %v", stamp, err)
		}
		times = append(times, at)
	}
	return times
}

// TestTrunkRegistersToSippProvider adds a trunk with the CLI while the
// server runs; the server registers to SIPp through its digest challenge,
// registers again before the 10 s the provider granted run out, and
// unregisters when the trunk is removed with the CLI.
func TestTrunkRegistersToSippProvider(t *testing.T) {
	sippRequire(t)
	providerPort := freePort(t)
	provider := sippStart(t, sippRun{
		Name:     "provider",
		Scenario: "provider_registrar.xml",
		Port:     providerPort,
		Keys:     map[string]string{"trunk_user": trunkTestUser, "trunk_pass": trunkTestPass},
		Timeout:  40 * time.Second,
	})
	sippWaitBound(t, providerPort, false, 5*time.Second)
	srv := startServer(t, "")
	host := "127.0.0.1:" + strconv.Itoa(providerPort)
	runCLI(t, srv.DataDir, "trunk", "add", "itsp", "--mode", "register", "--host", host,
		"--username", trunkTestUser, "--password", trunkTestPass, "--expires", "120")

	trunkWaitLog(t, srv, regexp.MustCompile(`msg="trunk registration refreshed" trunk=itsp`), 15*time.Second)
	runCLI(t, srv.DataDir, "trunk", "rm", "itsp")
	res := provider.Wait()
	sippMustPass(t, res)

	// The REGISTERs with credentials came from the server's SIP port.
	var authorized []sippTraceEntry
	for _, e := range res.Entries() {
		if e.Received && strings.HasPrefix(e.FirstLine(), "REGISTER ") && len(e.Header("Authorization")) > 0 {
			authorized = append(authorized, e)
		}
	}
	if len(authorized) != 3 {
		t.Fatalf("sipp saw %d REGISTERs with credentials, want 3 (register, refresh, unregister)\n%s", len(authorized), res.Report())
	}
	for i, e := range authorized {
		via := strings.Join(e.Header("Via"), ",")
		contact := strings.Join(e.Header("Contact"), ",")
		expires := []string{"120", "120", "0"}[i]
		if !strings.Contains(via, srv.SIPAddr) || !strings.Contains(contact, "sip:"+trunkTestUser+"@"+srv.SIPAddr) ||
			strings.Join(e.Header("Expires"), "") != expires || !strings.Contains(strings.Join(e.Header("To"), ""), "sip:"+trunkTestUser+"@127.0.0.1") {
			t.Errorf("REGISTER %d: want Via and Contact at the SIP address %s, Expires %s, To the trunk's user\n%s", i+1, srv.SIPAddr, expires, e.Message)
		}
	}
	// The refresh comes at half the 10 s granted (80 % or 30 s early, but
	// not before half): about 5 s after the first 200.
	oks := sippSentTimes(t, res, "SIP/2.0 200")
	if len(oks) != 3 {
		t.Fatalf("sipp sent %d 200s, want 3\n%s", len(oks), res.Report())
	}
	if gap := oks[1].Sub(oks[0]); gap < 4*time.Second || gap > 8*time.Second {
		t.Errorf("re-registration %v after the registration, want about 5 s (half the 10 s granted)", gap)
	}

	log := trunkWaitLog(t, srv, regexp.MustCompile(`msg="trunk unregistered" trunk=itsp`), 5*time.Second)
	if n := strings.Count(log, `msg="trunk registered" trunk=itsp`); n != 1 {
		t.Errorf("%d \"trunk registered\" lines, want 1 (one per state change, a refresh is not one)", n)
	}
	if strings.Contains(log, trunkTestPass) {
		t.Errorf("the server log shows the trunk's password")
	}
}

// TestTrunkProviderDownThenUp adds a trunk (over TCP) while nothing listens
// at the provider's address: the server logs the failure once, retries with
// a growing backoff (5 s, then 10 s), and registers once the provider is up;
// when the server stops it unregisters.
func TestTrunkProviderDownThenUp(t *testing.T) {
	sippRequire(t)
	providerPort := freePort(t)
	srv := startServer(t, "")
	host := "127.0.0.1:" + strconv.Itoa(providerPort)
	runCLI(t, srv.DataDir, "trunk", "add", "itsp", "--mode", "register", "--host", host, "--transport", "tcp",
		"--username", trunkTestUser, "--password", trunkTestPass)

	failedAgain := regexp.MustCompile(`msg="trunk registration failed again" trunk=itsp .*attempts=2 retry_in=(\S+)`)
	log := trunkWaitLog(t, srv, failedAgain, 20*time.Second)
	first := regexp.MustCompile(`level=WARN msg="trunk registration failed" trunk=itsp .*error="([^"]*)" attempts=1 retry_in=(\S+)`).FindStringSubmatch(log)
	if first == nil {
		t.Fatalf("no warning for the first failure in the log")
	}
	if !strings.Contains(first[1], "connection refused") {
		t.Errorf("first failure %q, want connection refused", first[1])
	}
	if n := strings.Count(log, `msg="trunk registration failed" trunk=itsp`); n != 1 {
		t.Errorf("%d warnings for the same failure, want 1 (then debug lines)", n)
	}
	retry1, err1 := time.ParseDuration(first[2])
	retry2, err2 := time.ParseDuration(failedAgain.FindStringSubmatch(log)[1])
	if err1 != nil || err2 != nil || retry1 < 4*time.Second || retry1 > 6*time.Second || retry2 < 8*time.Second || retry2 > 12*time.Second {
		t.Errorf("retries after %s then %s, want about 5 s then 10 s", first[2], failedAgain.FindStringSubmatch(log)[1])
	}

	provider := sippStart(t, sippRun{
		Name:      "provider",
		Scenario:  "provider_registrar.xml",
		Port:      providerPort,
		Transport: "t1",
		Keys:      map[string]string{"trunk_user": trunkTestUser, "trunk_pass": trunkTestPass},
		Timeout:   40 * time.Second,
		// The server closes the TCP connection as it exits, right after the
		// un-REGISTER: SIPp must not fail the finished call for that.
		Args: []string{"-reconnect_close", "false"},
	})
	sippWaitBound(t, providerPort, true, 5*time.Second)
	trunkWaitLog(t, srv, regexp.MustCompile(`msg="trunk registered" trunk=itsp`), 15*time.Second)
	trunkWaitLog(t, srv, regexp.MustCompile(`msg="trunk registration refreshed" trunk=itsp`), 10*time.Second)
	srv.Stop()
	// The provider saw the registration, the refresh and the un-REGISTER.
	sippMustPass(t, provider.Wait())
	if !strings.Contains(srv.Log(), `msg="trunk unregistered" trunk=itsp`) {
		t.Errorf("no \"trunk unregistered\" line when the server stopped")
	}
}
