package ui

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// authEnv is a server over a real store with a settable clock and a short
// failure delay.
type authEnv struct {
	t   *testing.T
	st  *store.Store
	s   *Server
	url string

	mu  sync.Mutex
	now time.Time
}

const (
	alicePassword = "alice-password-1"
	bobPassword   = "bob-password-12"
	testFailDelay = 40 * time.Millisecond
)

func newAuthEnv(t *testing.T) *authEnv {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &authEnv{t: t, st: st, now: time.Now()}
	e.s = New(st, slog.New(slog.DiscardHandler), "test", Options{DataDir: t.TempDir()})
	e.s.auth.now = e.clock
	e.s.auth.failDelay = testFailDelay
	for _, u := range []struct {
		name, password string
		admin, change  bool
	}{
		{"alice", alicePassword, true, false},
		{"bob", bobPassword, false, true},
	} {
		h, err := secret.Hash(u.password)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddUser(context.Background(), store.User{Name: u.name, Email: u.name + "@example.com",
			PasswordHash: h, IsAdmin: u.admin, MustChangePassword: u.change}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(e.s.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *authEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *authEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// browser keeps cookies by hand: net/http/cookiejar won't send Secure
// cookies over http://127.0.0.1, which browsers do.
type browser struct {
	e       *authEnv
	cookies map[string]string
	csrf    string
}

func (e *authEnv) browser() *browser { return &browser{e: e, cookies: map[string]string{}} }

type response struct {
	*http.Response
	body string
}

// do sends a request without following redirects and keeps its cookies.
func (b *browser) do(method, path string, body io.Reader, header map[string]string) response {
	b.e.t.Helper()
	req, err := http.NewRequest(method, b.e.url+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	for n, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: n, Value: v})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return response{res, string(data)}
}

var formToken = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// login fetches the form and posts it.
func (b *browser) login(name, password string) response {
	b.e.t.Helper()
	page := b.do("GET", "/login", nil, nil)
	m := formToken.FindStringSubmatch(page.body)
	if m == nil {
		b.e.t.Fatalf("login page has no csrf_token field: %s", page.body)
	}
	form := url.Values{"name": {name}, "password": {password}, "csrf_token": {m[1]}, "next": {"/audit"}}
	res := b.do("POST", "/login", strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.StatusCode == http.StatusSeeOther {
		me := b.do("GET", "/api/v1/me", nil, nil)
		var m meResponse
		json.Unmarshal([]byte(me.body), &m)
		b.csrf = m.CSRFToken
	}
	return res
}

func (b *browser) api(method, path, body string, csrf bool) response {
	b.e.t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if csrf {
		h["X-CSRF-Token"] = b.csrf
	}
	return b.do(method, path, strings.NewReader(body), h)
}

func (e *authEnv) auditActions(t *testing.T) []string {
	t.Helper()
	rows, err := e.st.AuditLog(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Actor+" "+r.Action)
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	tests := []struct {
		name, user, password string
		wantCode             int
		wantLocation         string
	}{
		{"by name", "alice", alicePassword, http.StatusSeeOther, "/audit"},
		{"by email, any case", "Alice@Example.com", alicePassword, http.StatusSeeOther, "/audit"},
		{"wrong password", "alice", "nope-nope-nope", http.StatusUnauthorized, ""},
		{"unknown user", "mallory", alicePassword, http.StatusUnauthorized, ""},
		{"empty password", "alice", "", http.StatusBadRequest, ""},
		{"must change password goes to settings", "bob", bobPassword, http.StatusSeeOther, "/settings#password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			res := b.login(tc.user, tc.password)
			if res.StatusCode != tc.wantCode {
				t.Fatalf("POST /login: %d, want %d: %s", res.StatusCode, tc.wantCode, res.body)
			}
			if loc := res.Header.Get("Location"); loc != tc.wantLocation {
				t.Errorf("Location %q, want %q", loc, tc.wantLocation)
			}
			_, hasSession := b.cookies[sessionCookie]
			if hasSession != (tc.wantCode == http.StatusSeeOther) {
				t.Errorf("session cookie set: %v", hasSession)
			}
			if tc.wantCode != http.StatusSeeOther && !strings.Contains(res.body, `class="form-error"`) {
				t.Errorf("no p.form-error on the page: %s", res.body)
			}
		})
	}
	actions := e.auditActions(t)
	if countOf(actions, "user:alice auth.login") != 2 || countOf(actions, "user:alice auth.login_failed") != 1 ||
		countOf(actions, "web auth.login_failed") != 1 {
		t.Errorf("audit log: %q", actions)
	}
}

func TestLoginCSRFAndCookie(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	form := url.Values{"name": {"alice"}, "password": {alicePassword}}
	post := func(b *browser, token string, header map[string]string) response {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if token != "" {
			f.Set("csrf_token", token)
		}
		h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		for k, v := range header {
			h[k] = v
		}
		return b.do("POST", "/login", strings.NewReader(f.Encode()), h)
	}
	// No form cookie, or a token that doesn't match it: refused.
	if res := post(e.browser(), "made-up-token-made-up-token-made-up", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("login without the form cookie: %d", res.StatusCode)
	}
	b := e.browser()
	b.do("GET", "/login", nil, nil)
	if res := post(b, "made-up-token-made-up-token-made-up", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("login with a wrong form token: %d", res.StatusCode)
	}
	cookieTests := []struct {
		name, host string
		secure     bool
	}{
		{"loopback", "", true},
		{"localhost", "localhost:8080", true},
		{"LAN over plain HTTP", "pbx.example.com:8080", false},
	}
	for _, tc := range cookieTests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			h := map[string]string{}
			if tc.host != "" {
				h["Host"] = tc.host
			}
			page := b.do("GET", "/login", nil, h)
			token := formToken.FindStringSubmatch(page.body)[1]
			res := post(b, token, h)
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: %d %s", res.StatusCode, res.body)
			}
			var c *http.Cookie
			for _, ck := range res.Cookies() {
				if ck.Name == sessionCookie {
					c = ck
				}
			}
			if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tc.secure {
				t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Secure=%v", c, tc.secure)
			}
		})
	}
	// A new login replaces the session the browser had.
	// (The form comes from a tab opened before: GET /login now goes on.)
	b = e.browser()
	b.login("alice", alicePassword)
	first := b.cookies[sessionCookie]
	if res := b.do("GET", "/login?next=/audit", nil, nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/audit" {
		t.Errorf("GET /login when logged in: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	b.cookies[loginFormCookie] = "an-older-tab-an-older-tab-an-older-tab"
	post(b, b.cookies[loginFormCookie], nil)
	if b.cookies[sessionCookie] == first {
		t.Error("the session token was not regenerated")
	}
	if _, _, err := e.st.SessionUser(context.Background(), first, e.clock()); err == nil {
		t.Error("the old session still works after a new login")
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	b := e.browser()
	if res := b.login("alice", alicePassword); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	tests := []struct {
		name   string
		header map[string]string
		body   string
		want   int
	}{
		{"no token", map[string]string{}, "", http.StatusForbidden},
		{"wrong token", map[string]string{"X-CSRF-Token": "wrong"}, "", http.StatusForbidden},
		{"token in the header", map[string]string{"X-CSRF-Token": b.csrf}, "", http.StatusOK},
		{"token as a form field", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "csrf_token=" + url.QueryEscape(b.csrf), http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := b.do("POST", "/api/v1/me/logout-all", strings.NewReader(tc.body), tc.header)
			if res.StatusCode != tc.want {
				t.Fatalf("POST logout-all: %d %s, want %d", res.StatusCode, res.body, tc.want)
			}
			if tc.want == http.StatusForbidden && !strings.Contains(res.body, "CSRF") {
				t.Errorf("body %s doesn't mention CSRF", res.body)
			}
		})
	}
	// Logout is a form post with the token too.
	if res := b.do("POST", "/logout", nil, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout without a token: %d", res.StatusCode)
	}
	res := b.do("POST", "/logout", strings.NewReader("csrf_token="+url.QueryEscape(b.csrf)),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Errorf("logout: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if res := b.do("GET", "/api/v1/me", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout /api/v1/me: %d", res.StatusCode)
	}
}

func TestBruteForceIsSlowedAndLockedOut(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	lim := store.DefaultLoginLimits
	b := e.browser()
	for i := range lim.MaxPerName {
		start := time.Now()
		res := b.login("alice", "guess-guess-"+string(rune('a'+i)))
		if took := time.Since(start); took < testFailDelay {
			t.Errorf("failure %d answered in %v, want >= %v", i+1, took, testFailDelay)
		}
		want := http.StatusUnauthorized
		if i == lim.MaxPerName-1 {
			want = http.StatusTooManyRequests
		}
		if res.StatusCode != want {
			t.Fatalf("failure %d: %d, want %d", i+1, res.StatusCode, want)
		}
	}
	// Locked: even the right password (by name or email) is refused, with when to retry.
	for _, name := range []string{"alice", "alice@example.com"} {
		res := b.login(name, alicePassword)
		if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(res.body, "try again after") || res.Header.Get("Retry-After") == "" {
			t.Fatalf("locked login as %s: %d %s", name, res.StatusCode, res.body)
		}
	}
	// HTTP Basic is locked too.
	req := b.do("GET", "/api/v1/me", nil, map[string]string{"Authorization": basic("alice", alicePassword)})
	if req.StatusCode != http.StatusTooManyRequests {
		t.Errorf("Basic while locked: %d", req.StatusCode)
	}
	// Another user from the same address is not locked.
	if res := e.browser().login("bob", bobPassword); res.StatusCode != http.StatusSeeOther {
		t.Errorf("bob while alice is locked: %d", res.StatusCode)
	}
	if u, _ := e.st.UserByName(context.Background(), "alice"); u.LockedUntil.IsZero() {
		t.Error("users.locked_until not set")
	}
	e.advance(lim.LockFor + time.Second)
	if res := b.login("alice", alicePassword); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after the lock: %d %s", res.StatusCode, res.body)
	}
	if n := countOf(e.auditActions(t), "user:alice auth.locked"); n != 1 {
		t.Errorf("auth.locked audited %d times, want 1: %q", n, e.auditActions(t))
	}
}

func TestSourceBlock(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.s.auth.limits = store.LoginLimits{Window: 15 * time.Minute, MaxPerName: 100, MaxPerSource: 4, LockFor: 15 * time.Minute}
	b := e.browser()
	for i := range 4 {
		b.login("user"+string(rune('a'+i)), "whatever-whatever")
	}
	res := b.login("alice", alicePassword)
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(res.body, "from your address") {
		t.Fatalf("login from a blocked source: %d %s", res.StatusCode, res.body)
	}
	if n := countOf(e.auditActions(t), "web auth.locked"); n != 1 {
		t.Errorf("source block audited %d times: %q", n, e.auditActions(t))
	}
	e.advance(16 * time.Minute)
	if res := b.login("alice", alicePassword); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after the block: %d %s", res.StatusCode, res.body)
	}
}

func TestLogoutEverywhere(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	a, other := e.browser(), e.browser()
	a.login("alice", alicePassword)
	other.login("alice", alicePassword)
	var sessions []sessionView
	json.Unmarshal([]byte(a.do("GET", "/api/v1/me/sessions", nil, nil).body), &sessions)
	if len(sessions) != 2 || sessions[0].Current == sessions[1].Current {
		t.Fatalf("sessions: %+v", sessions)
	}
	res := a.api("POST", "/api/v1/me/logout-all", "", true)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.body, `"logged_out_sessions":1`) {
		t.Fatalf("logout-all: %d %s", res.StatusCode, res.body)
	}
	if res := other.do("GET", "/api/v1/me", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the other session after logout-all: %d", res.StatusCode)
	}
	if res := a.do("GET", "/api/v1/me", nil, nil); res.StatusCode != http.StatusOK {
		t.Errorf("the session that asked: %d", res.StatusCode)
	}
	if countOf(e.auditActions(t), "user:alice auth.logout_all") != 1 {
		t.Errorf("logout-all not audited: %q", e.auditActions(t))
	}
}

func basic(name, password string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(name, password)
	return r.Header.Get("Authorization")
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"API with Basic", "/api/v1/me", basic("alice", alicePassword), http.StatusOK},
		{"API with Basic by email", "/api/v1/me", basic("alice@example.com", alicePassword), http.StatusOK},
		{"API with a wrong password", "/api/v1/me", basic("alice", "wrong-wrong-wrong"), http.StatusUnauthorized},
		{"API without credentials", "/api/v1/me", "", http.StatusUnauthorized},
		{"page with Basic goes to login", "/audit", basic("alice", alicePassword), http.StatusSeeOther},
		{"must change password: API refused", "/api/v1/inboxes", basic("bob", bobPassword), http.StatusForbidden},
		{"must change password: /me allowed", "/api/v1/me", basic("bob", bobPassword), http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			res := e.browser().do("GET", tc.path, nil, h)
			if res.StatusCode != tc.want {
				t.Fatalf("GET %s: %d %s, want %d", tc.path, res.StatusCode, res.body, tc.want)
			}
			if res.Header.Get("WWW-Authenticate") != "" {
				t.Error("WWW-Authenticate sent: browsers would cache Basic credentials")
			}
			if tc.want == http.StatusSeeOther && !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
				t.Errorf("redirect to %q", res.Header.Get("Location"))
			}
		})
	}
	// No CSRF token is needed with Basic: there is no cookie to ride.
	res := e.browser().do("POST", "/api/v1/me/logout-all", nil, map[string]string{"Authorization": basic("alice", alicePassword)})
	if res.StatusCode != http.StatusOK {
		t.Errorf("POST with Basic: %d %s", res.StatusCode, res.body)
	}
}

func TestMustChangePassword(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	b, other := e.browser(), e.browser()
	b.login("bob", bobPassword)
	other.login("bob", bobPassword)
	gated := []struct {
		path     string
		code     int
		location string
	}{
		{"/", http.StatusSeeOther, "/settings#password"},
		{"/audit", http.StatusSeeOther, "/settings#password"},
		{"/api/v1/messages", http.StatusForbidden, ""},
		{"/api/v1/me", http.StatusOK, ""},
		{"/api/v1/me/sessions", http.StatusOK, ""},
	}
	for _, g := range gated {
		res := b.do("GET", g.path, nil, nil)
		if res.StatusCode != g.code || res.Header.Get("Location") != g.location {
			t.Errorf("GET %s before the change: %d %q, want %d %q", g.path, res.StatusCode, res.Header.Get("Location"), g.code, g.location)
		}
	}
	if res := b.do("GET", "/settings", nil, nil); res.StatusCode == http.StatusSeeOther {
		t.Errorf("/settings redirects to %q", res.Header.Get("Location"))
	}
	changes := []struct {
		name, body string
		want       int
		field      string
	}{
		{"too short", `{"current":"` + bobPassword + `","new":"short"}`, http.StatusBadRequest, "new"},
		{"the user name", `{"current":"` + bobPassword + `","new":"BOB"}`, http.StatusBadRequest, "new"},
		{"the same", `{"current":"` + bobPassword + `","new":"` + bobPassword + `"}`, http.StatusBadRequest, "new"},
		{"wrong current", `{"current":"not-bobs-password","new":"a-much-better-one"}`, http.StatusBadRequest, "current"},
		{"ok", `{"current":"` + bobPassword + `","new":"a-much-better-one"}`, http.StatusOK, ""},
	}
	for _, c := range changes {
		res := b.api("POST", "/api/v1/me/password", c.body, true)
		if res.StatusCode != c.want {
			t.Fatalf("%s: %d %s, want %d", c.name, res.StatusCode, res.body, c.want)
		}
		var body struct {
			Fields map[string]string `json:"fields"`
		}
		json.Unmarshal([]byte(res.body), &body)
		if c.field != "" && body.Fields[c.field] == "" {
			t.Errorf("%s: no error for field %s in %s", c.name, c.field, res.body)
		}
	}
	if res := b.do("GET", "/audit", nil, nil); res.Header.Get("Location") == "/settings#password" {
		t.Error("still sent to settings after the change")
	}
	if res := other.do("GET", "/api/v1/me", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("other session after a password change: %d", res.StatusCode)
	}
	if res := e.browser().login("bob", "a-much-better-one"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/audit" {
		t.Errorf("login with the new password: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	b := e.browser()
	b.login("alice", alicePassword)
	for _, path := range []string{"/login", "/api/v1/me", "/api/v1/nothing", "/static/app.css"} {
		res := b.do("GET", path, nil, nil)
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
			"X-Frame-Options":         "DENY",
			"Cache-Control":           "no-store",
		}
		if strings.HasPrefix(path, "/static/") {
			delete(want, "Cache-Control")
			if res.Header.Get("Cache-Control") == "no-store" {
				t.Errorf("%s: static assets should be cacheable", path)
			}
		}
		for k, v := range want {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"/messages/5?x=1":  "/messages/5?x=1",
		"":                 "/",
		"//evil.example":   "/",
		"/\\evil.example":  "/",
		"https://evil.com": "/",
		"/login?next=/":    "/",
	}
	for in, want := range tests {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunServesTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)

	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bad := New(st, slog.New(slog.DiscardHandler), "test", Options{TLSCert: keyFile, TLSKey: certFile})
	if err := bad.Run(ctx, "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Errorf("Run with swapped files: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := New(st, slog.New(slog.DiscardHandler), "test", Options{TLSCert: certFile, TLSKey: keyFile})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, addr) }()
	pool := x509.NewCertPool()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Second}
	var res *http.Response
	for range 100 {
		if res, err = client.Get("https://" + addr + "/login"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET https://%s/login: %v", addr, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.TLS == nil {
		t.Errorf("GET /login over TLS: %s", res.Status)
	}
	for _, c := range res.Cookies() {
		if !c.Secure {
			t.Errorf("cookie %s not Secure over HTTPS", c.Name)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
