package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// basicGet does GET path with HTTP Basic and returns the status and body.
func basicGet(t *testing.T, srv *frontdeskServer, path, name, password string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.HTTPURL+path, nil)
	req.SetBasicAuth(name, password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	return res.StatusCode, buf.String()
}

// changePassword replaces a user's one-time password over the API (HTTP
// Basic), as the first login must before anything else is allowed, and
// returns the new password.
func changePassword(t testing.TB, srv *frontdeskServer, name, old string) string {
	t.Helper()
	newPassword := "changed-" + old
	body, _ := json.Marshal(map[string]string{"current": old, "new": newPassword})
	req, _ := http.NewRequest(http.MethodPost, srv.HTTPURL+"/api/v1/me/password", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(name, old)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var buf bytes.Buffer
		buf.ReadFrom(res.Body)
		t.Fatalf("change the password of %s: %s %s", name, res.Status, buf.String())
	}
	return newPassword
}

var oneTimePassword = regexp.MustCompile(`One-time password: (\S+)`)

// TestUserCLI: user add, list, set and rm on the real binary, and the web
// API agreeing with what the CLI set.
func TestUserCLI(t *testing.T) {
	dir := t.TempDir()
	runCLI(t, dir, "ext", "add", "101", "--name", "Front desk", "--secret", "secret-101")

	out := runCLI(t, dir, "user", "add", "alice", "--admin", "--email", "alice@example.com", "--extension", "101")
	m := oneTimePassword.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "user alice (admin) added") {
		t.Fatalf("user add printed:\n%s", out)
	}
	alicePassword := m[1]
	out = runCLIInput(t, dir, "carol-password-1\n", "user", "add", "carol", "--password-stdin")
	if strings.Contains(out, "One-time password") {
		t.Errorf("a password from stdin was printed as generated:\n%s", out)
	}

	failures := []struct {
		name string
		args []string
		want string
	}{
		{"duplicate name", []string{"user", "add", "ALICE"}, "already"},
		{"duplicate email", []string{"user", "add", "al", "--email", "alice@example.com"}, "already"},
		{"bad name", []string{"user", "add", "no spaces"}, "user name"},
		{"bad email", []string{"user", "add", "dave", "--email", "not-an-email"}, "email"},
		{"unknown extension", []string{"user", "add", "dave", "--extension", "999"}, "extension 999"},
		{"set unknown user", []string{"user", "set", "nobody", "--admin"}, "nobody"},
		{"set nothing", []string{"user", "set", "carol"}, "nothing to change"},
		{"last admin keeps admin", []string{"user", "set", "alice", "--no-admin"}, "last admin"},
		{"bad box access", []string{"user", "set", "carol", "--box", "600=everything"}, "access"},
		{"remove the last admin", []string{"user", "rm", "alice"}, "last admin"},
		{"remove unknown", []string{"user", "rm", "nobody"}, "nobody"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := tryCLI(t, dir, tc.args...)
			if err == nil {
				t.Fatalf("frontdesk %s succeeded", strings.Join(tc.args, " "))
			}
			if !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("stderr %q: want one line mentioning %q", stderr, tc.want)
			}
		})
	}
	// A password from stdin is checked like one set in the browser.
	if _, stderr, err := tryCLIStdin(t, dir, "short\n", "user", "add", "erin", "--password-stdin"); err == nil || !strings.Contains(stderr, "too short") {
		t.Errorf("short password: %v %q", err, stderr)
	}

	runCLI(t, dir, "vm", "add", "600", "--name", "Sales", "--pin", "4321")
	runCLI(t, dir, "user", "set", "carol", "--box", "600=download")
	runCLI(t, dir, "user", "set", "carol", "--box", "600=none")
	if _, stderr, err := tryCLI(t, dir, "user", "set", "carol", "--box", "777=listen"); err == nil || !strings.Contains(stderr, "777") {
		t.Errorf("--box for a box that doesn't exist: %v %q", err, stderr)
	}
	runCLI(t, dir, "user", "set", "carol", "--email", "carol@example.com", "--admin", "--extension", "101")
	var users []struct {
		Name               string `json:"name"`
		Email              string `json:"email"`
		IsAdmin            bool   `json:"is_admin"`
		Extension          string `json:"extension"`
		MustChangePassword bool   `json:"must_change_password"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, dir, "user", "list", "--json")), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "alice" || !users[0].MustChangePassword ||
		users[1].Name != "carol" || !users[1].IsAdmin || users[1].Email != "carol@example.com" || users[1].Extension != "101" || users[1].MustChangePassword {
		t.Fatalf("user list --json: %+v", users)
	}
	table := runCLI(t, dir, "user", "list")
	if !strings.Contains(table, "NAME") || !strings.Contains(table, "must change password") {
		t.Errorf("user list:\n%s", table)
	}

	// The server sees what the CLI set, at once.
	srv := startServer(t, dir)
	if code, body := basicGet(t, srv, "/api/v1/me", "carol@example.com", "carol-password-1"); code != http.StatusOK || !strings.Contains(body, `"is_admin":true`) {
		t.Errorf("carol by email: %d %s", code, body)
	}
	if code, _ := basicGet(t, srv, "/api/v1/me", "alice", alicePassword); code != http.StatusOK {
		t.Errorf("alice with the one-time password: %d", code)
	}
	if code, body := basicGet(t, srv, "/api/v1/me/sessions", "alice", "wrong-password-x"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d %s", code, body)
	}

	out = runCLI(t, dir, "user", "set", "carol", "--reset-password", "--unlock", "--logout-everywhere")
	m = oneTimePassword.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "user carol updated") {
		t.Fatalf("user set --reset-password printed:\n%s", out)
	}
	if code, _ := basicGet(t, srv, "/api/v1/me", "carol", "carol-password-1"); code != http.StatusUnauthorized {
		t.Errorf("the old password after a reset: %d", code)
	}
	if code, body := basicGet(t, srv, "/api/v1/me", "carol", m[1]); code != http.StatusOK || !strings.Contains(body, `"must_change_password":true`) {
		t.Errorf("the reset password: %d %s", code, body)
	}
	// Until the one-time password is changed, only /api/v1/me* answers.
	if code, _ := basicGet(t, srv, "/api/v1/inboxes", "carol", m[1]); code != http.StatusForbidden {
		t.Errorf("before changing the one-time password: %d, want 403", code)
	}
	carolPassword := changePassword(t, srv, "carol", m[1])
	if code, body := basicGet(t, srv, "/api/v1/inboxes", "carol", carolPassword); code != http.StatusOK {
		t.Errorf("after changing the password: %d %s", code, body)
	}

	runCLI(t, dir, "user", "set", "alice", "--no-admin") // carol is an admin now
	if out := runCLI(t, dir, "user", "rm", "alice"); !strings.Contains(out, "user alice removed") {
		t.Errorf("user rm printed %q", out)
	}
	if code, _ := basicGet(t, srv, "/api/v1/me", "alice", alicePassword); code != http.StatusUnauthorized {
		t.Errorf("a removed user: %d", code)
	}
	audit := runCLI(t, dir, "audit", "--json")
	for _, action := range []string{"user.add", "user.set", "user.rm"} {
		if !strings.Contains(audit, `"`+action+`"`) {
			t.Errorf("no %s in the audit log", action)
		}
	}
}

// tryCLIStdin is tryCLI with stdin.
func tryCLIStdin(t *testing.T, dataDir, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(frontdeskBinary(t), append([]string{"--data", dataDir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}
