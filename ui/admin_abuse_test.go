package ui

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// fakeGuard is a dialer that also knows blocked sources, like the PBX.
type fakeGuard struct {
	blocked []pbx.BlockedSource
}

func (g *fakeGuard) ClickToCall(context.Context, string, string, string) (int64, error) {
	return 0, nil
}

func (g *fakeGuard) Blocked() []pbx.BlockedSource { return g.blocked }

func (g *fakeGuard) Unblock(ip string) error {
	if ip == "bad" {
		return pbx.InvalidField("ip", "not an IP address")
	}
	for i, b := range g.blocked {
		if b.Source == ip {
			g.blocked = append(g.blocked[:i], g.blocked[i+1:]...)
			return nil
		}
	}
	return pbx.ErrNotBlocked
}

type plainDialer struct{}

func (plainDialer) ClickToCall(context.Context, string, string, string) (int64, error) { return 0, nil }

func newAbuseFixture(t *testing.T, d Dialer) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, err := secret.Hash(routingTestPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{{Name: "boss", IsAdmin: true}, {Name: "mia"}} {
		u.PasswordHash = hash
		if _, err := st.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	s := New(st, slog.New(slog.DiscardHandler), "test", Options{DataDir: t.TempDir()})
	if d != nil {
		s.SetDialer(d)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return st, srv.URL
}

func abuseRequest(t *testing.T, base, user, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, routingTestPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestAdminBlockedSources(t *testing.T) {
	until := time.Date(2026, 3, 1, 9, 15, 0, 0, time.UTC)
	guard := &fakeGuard{blocked: []pbx.BlockedSource{
		{Source: "203.0.113.9", Reason: "wrong credentials", Failures: 10, BlockedUntil: until, Dropped: 42},
	}}
	st, base := newAbuseFixture(t, guard)

	code, body := abuseRequest(t, base, "boss", http.MethodGet, "/api/v1/admin/blocked")
	var list []map[string]any
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list) != 1 {
		t.Fatalf("GET blocked = %d %s", code, body)
	}
	for k, want := range map[string]any{"source": "203.0.113.9", "reason": "wrong credentials", "failures": 10.0,
		"blocked_until": until.Format(time.RFC3339), "dropped": 42.0} {
		if list[0][k] != want {
			t.Errorf("blocked[0].%s = %v, want %v", k, list[0][k], want)
		}
	}

	tests := []struct {
		name, user, method, path string
		want                     int
	}{
		{"member may not list", "mia", http.MethodGet, "/api/v1/admin/blocked", http.StatusForbidden},
		{"member may not unblock", "mia", http.MethodDelete, "/api/v1/admin/blocked/203.0.113.9", http.StatusForbidden},
		{"not an address", "boss", http.MethodDelete, "/api/v1/admin/blocked/bad", http.StatusBadRequest},
		{"not blocked", "boss", http.MethodDelete, "/api/v1/admin/blocked/203.0.113.10", http.StatusNotFound},
		{"unblock", "boss", http.MethodDelete, "/api/v1/admin/blocked/203.0.113.9", http.StatusNoContent},
		{"unblocked already", "boss", http.MethodDelete, "/api/v1/admin/blocked/203.0.113.9", http.StatusNotFound},
	}
	for _, tt := range tests {
		if code, body := abuseRequest(t, base, tt.user, tt.method, tt.path); code != tt.want {
			t.Errorf("%s: %s %s = %d %s, want %d", tt.name, tt.method, tt.path, code, body, tt.want)
		}
	}
	if code, body := abuseRequest(t, base, "boss", http.MethodGet, "/api/v1/admin/blocked"); code != http.StatusOK || body != "[]\n" {
		t.Errorf("after unblock: GET blocked = %d %q, want []", code, body)
	}
	// The page, with browser sessions.
	for _, who := range []struct {
		name string
		code int
	}{{"mia", http.StatusForbidden}, {"boss", http.StatusOK}} {
		u, err := st.UserByName(context.Background(), who.name)
		if err != nil {
			t.Fatal(err)
		}
		token, _, err := st.CreateSession(context.Background(), u.ID, "127.0.0.1", "test", time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/admin/blocked", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != who.code {
			t.Errorf("%s: GET /admin/blocked = %d, want %d", who.name, res.StatusCode, who.code)
		}
		if who.code == http.StatusOK && !strings.Contains(string(page), "/static/admin_abuse.js") {
			t.Errorf("/admin/blocked doesn't load its script:\n%s", page)
		}
	}
	rows, err := st.AuditQuery(context.Background(), store.AuditFilter{Action: "sip.unblocked"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Actor != "user:boss" || rows[0].Detail != "203.0.113.9" {
		t.Errorf("audit rows %+v, want one sip.unblocked by user:boss for 203.0.113.9", rows)
	}
}

// Without the PBX in the process (or a dialer that isn't it) nothing is
// blocked and nothing can be unblocked.
func TestAdminBlockedWithoutPBX(t *testing.T) {
	for _, d := range []Dialer{nil, plainDialer{}} {
		_, base := newAbuseFixture(t, d)
		if code, body := abuseRequest(t, base, "boss", http.MethodGet, "/api/v1/admin/blocked"); code != http.StatusOK || body != "[]\n" {
			t.Errorf("dialer %T: GET blocked = %d %q, want []", d, code, body)
		}
		if code, _ := abuseRequest(t, base, "boss", http.MethodDelete, "/api/v1/admin/blocked/192.0.2.1"); code != http.StatusNotFound {
			t.Errorf("dialer %T: DELETE = %d, want 404", d, code)
		}
	}
}
