package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// routingFixture is a server over a real store with an admin, a member, two
// extensions, a shared box and a trunk to route to.
type routingFixture struct {
	t   *testing.T
	st  *store.Store
	srv *httptest.Server
}

const routingTestPassword = "routing-test-password"

func newRoutingFixture(t *testing.T) *routingFixture {
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
	for _, n := range []string{"101", "102"} {
		if err := st.AddExtension(ctx, store.Extension{Number: n, Name: "Desk " + n}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddBox(ctx, store.Box{Number: "600", Name: "Support", Kind: store.BoxShared}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveTrunk(ctx, store.Trunk{Name: "itsp", Mode: "peer", Host: "192.0.2.1", Transport: "udp", Codecs: "PCMU", AllowFrom: "192.0.2.1", Expires: 300}, false); err != nil {
		t.Fatal(err)
	}
	s := New(st, slog.New(slog.DiscardHandler), "test", Options{DataDir: t.TempDir()})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &routingFixture{t: t, st: st, srv: srv}
}

// do sends a JSON request as user and returns the status and decoded body.
func (f *routingFixture) do(user, method, path string, body any) (int, map[string]any) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.srv.URL+"/api/v1/admin"+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	req.SetBasicAuth(user, routingTestPassword)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			f.t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	return res.StatusCode, out
}

func TestRoutingAdminOnly(t *testing.T) {
	f := newRoutingFixture(t)
	s := New(f.st, slog.New(slog.DiscardHandler), "test", Options{})
	var routes []string
	for _, r := range s.echo.Routes() {
		for _, p := range []string{"groups", "queues", "music", "attendants", "schedules", "trunks", "numbers", "dialrules", "routing/"} {
			if strings.HasPrefix(r.Path, "/api/v1/admin/"+p) {
				routes = append(routes, r.Method+" "+r.Path)
				break
			}
		}
	}
	if len(routes) < 30 {
		t.Fatalf("only %d routing routes registered: %v", len(routes), routes)
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		path = strings.TrimPrefix(path, "/api/v1/admin")
		for _, p := range []string{":number", ":name", ":prefix"} {
			path = strings.ReplaceAll(path, p, "700")
		}
		if code, _ := f.do("mia", method, path, map[string]any{}); code != http.StatusForbidden {
			t.Errorf("member: %s %s = %d, want 403", method, path, code)
		}
	}
	// The pages, with browser sessions: the member is refused, the admin
	// gets the section's page.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, who := range []struct {
		name string
		code int
	}{{"mia", http.StatusForbidden}, {"boss", http.StatusOK}} {
		u, err := f.st.UserByName(context.Background(), who.name)
		if err != nil {
			t.Fatal(err)
		}
		token, _, err := f.st.CreateSession(context.Background(), u.ID, "127.0.0.1", "test", time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, page := range routingSections {
			req, _ := http.NewRequest("GET", f.srv.URL+"/admin/"+page.path, nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
			res, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != who.code {
				t.Errorf("%s: GET /admin/%s = %d, want %d", who.name, page.path, res.StatusCode, who.code)
			}
			if who.code == http.StatusOK && !strings.Contains(string(body), `data-section="`+page.path+`"`) {
				t.Errorf("/admin/%s has no data-section:\n%s", page.path, body)
			}
		}
	}
}

// TestRoutingRoundTrip creates, reads back through the store (as the CLI
// does), updates and removes an item of every section.
func TestRoutingRoundTrip(t *testing.T) {
	f := newRoutingFixture(t)
	ctx := context.Background()
	tests := []struct {
		name           string
		path, item     string // collection and the item's path
		create, update map[string]any
		check          func(t *testing.T, updated bool)
	}{
		{
			name: "schedule", path: "/schedules", item: "/schedules/office",
			create: map[string]any{"name": "office", "timezone": "Europe/Berlin", "hours_spec": []string{"mon-fri 09:00-17:00"}, "holidays": []string{"2026-12-25"}},
			update: map[string]any{"hours_spec": []string{"mon-thu 08:00-16:00", "fri 08:00-12:00"}},
			check: func(t *testing.T, updated bool) {
				sc, err := f.st.Schedule(ctx, "office")
				if err != nil {
					t.Fatal(err)
				}
				want := 5
				if updated && (sc.Hours[4].Closes != "12:00" || sc.Hours[0].Opens != "08:00") {
					t.Errorf("updated hours %+v", sc.Hours)
				}
				if len(sc.Hours) != want || sc.Timezone != "Europe/Berlin" || !slices.Equal(sc.Holidays, []string{"2026-12-25"}) {
					t.Errorf("schedule %+v", sc)
				}
			},
		},
		{
			name: "group", path: "/groups", item: "/groups/700",
			create: map[string]any{"number": "700", "name": "Sales", "members": []string{"101", "102"}, "no_answer": "vm:600"},
			update: map[string]any{"strategy": "order", "members": []string{"102"}},
			check: func(t *testing.T, updated bool) {
				g, err := f.st.RingGroup(ctx, "700")
				if err != nil {
					t.Fatal(err)
				}
				if g.Name != "Sales" || g.NoAnswer != "vm:600" || g.RingSeconds != 20 || g.Timeout != 60 {
					t.Errorf("group %+v", g)
				}
				if updated != (g.Strategy == "order" && slices.Equal(g.Members, []string{"102"})) {
					t.Errorf("updated=%v: group %+v", updated, g)
				}
			},
		},
		{
			name: "queue", path: "/queues", item: "/queues/710",
			create: map[string]any{"number": "710", "name": "Help", "members": []string{"101"}, "fallback": "group:700"},
			update: map[string]any{"max_wait": 600, "leave_digit": "", "members": []string{"101", "102"}},
			check: func(t *testing.T, updated bool) {
				q, err := f.st.Queue(ctx, "710")
				if err != nil {
					t.Fatal(err)
				}
				if q.Name != "Help" || q.Fallback != "group:700" || q.Strategy != "roundrobin" {
					t.Errorf("queue %+v", q)
				}
				if updated != (q.MaxWait == 600 && q.LeaveDigit == "" && len(q.Members) == 2) {
					t.Errorf("updated=%v: queue %+v", updated, q)
				}
			},
		},
		{
			name: "attendant", path: "/attendants", item: "/attendants/800",
			create: map[string]any{"number": "800", "name": "Main", "options": map[string]string{"1": "group:700", "9": "dial-by-extension"},
				"timeout_dest": "vm:600", "schedule": "office", "after_hours_dest": "vm:600"},
			update: map[string]any{"options": map[string]string{"2": "queue:710"}},
			check: func(t *testing.T, updated bool) {
				a, err := f.st.Attendant(ctx, "800")
				if err != nil {
					t.Fatal(err)
				}
				if a.Name != "Main" || a.Schedule != "office" || a.AfterHoursDest != "vm:600" || a.TimeoutDest != "vm:600" {
					t.Errorf("attendant %+v", a)
				}
				want := map[string]string{"1": "group:700", "9": "dial-by-extension"}
				if updated {
					want = map[string]string{"2": "queue:710"}
				}
				if len(a.Options) != len(want) || a.Options["1"] != want["1"] || a.Options["2"] != want["2"] {
					t.Errorf("options %v, want %v", a.Options, want)
				}
			},
		},
		{
			name: "trunk", path: "/trunks", item: "/trunks/carrier",
			create: map[string]any{"name": "carrier", "mode": "register", "host": "sip.example.net:5080", "username": "acct", "password": "s3cret", "caller_id": "+15551230000"},
			update: map[string]any{"codecs": "pcma", "password": ""},
			check: func(t *testing.T, updated bool) {
				tr, err := f.st.Trunk(ctx, "carrier")
				if err != nil {
					t.Fatal(err)
				}
				if tr.Password != "s3cret" || tr.Username != "acct" || tr.Host != "sip.example.net:5080" || tr.Expires != 300 {
					t.Errorf("trunk %+v", tr)
				}
				if updated != (tr.Codecs == "PCMA") {
					t.Errorf("updated=%v: codecs %q", updated, tr.Codecs)
				}
			},
		},
		{
			name: "number", path: "/numbers", item: "/numbers/%2B15551230000",
			create: map[string]any{"number": "+15551230000", "dest": "attendant:800"},
			update: map[string]any{"schedule": "office", "after_hours_dest": "vm:600"},
			check: func(t *testing.T, updated bool) {
				n, err := f.st.InboundNumber(ctx, "+15551230000")
				if err != nil {
					t.Fatal(err)
				}
				if n.Dest != "attendant:800" || updated != (n.AfterHoursDest == "vm:600" && n.Schedule == "office") {
					t.Errorf("updated=%v: number %+v", updated, n)
				}
			},
		},
		{
			name: "dial rule", path: "/dialrules", item: "/dialrules/any",
			create: map[string]any{"prefix": "", "trunk": "carrier"},
			update: map[string]any{"class": "international", "strip": 1},
			check: func(t *testing.T, updated bool) {
				rules, err := f.st.DialRules(ctx)
				if err != nil || len(rules) != 1 {
					t.Fatalf("rules %+v, %v", rules, err)
				}
				r := rules[0]
				if r.Trunk != "carrier" || r.Prefix != "" || updated != (r.Class == "international" && r.Strip == 1) {
					t.Errorf("updated=%v: rule %+v", updated, r)
				}
			},
		},
	}
	for _, tt := range tests {
		if code, body := f.do("boss", "POST", tt.path, tt.create); code != http.StatusCreated {
			t.Fatalf("%s: create = %d %v", tt.name, code, body)
		}
		tt.check(t, false)
		if code, body := f.do("boss", "GET", tt.item, nil); code != http.StatusOK {
			t.Errorf("%s: get = %d %v", tt.name, code, body)
		}
		if code, body := f.do("boss", "PUT", tt.item, tt.update); code != http.StatusOK {
			t.Fatalf("%s: update = %d %v", tt.name, code, body)
		}
		tt.check(t, true)
	}
	// The trunk never shows its password.
	if _, body := f.do("boss", "GET", "/trunks/carrier", nil); body["password"] != nil || body["password_set"] != true {
		t.Errorf("trunk view %v", body)
	}
	// Removed in reverse order (what uses a thing goes first).
	for i := len(tests) - 1; i >= 0; i-- {
		tt := tests[i]
		if code, body := f.do("boss", "DELETE", tt.item, nil); code != http.StatusNoContent {
			t.Errorf("%s: delete = %d %v", tt.name, code, body)
		}
		if code, _ := f.do("boss", "GET", tt.item, nil); code != http.StatusNotFound {
			t.Errorf("%s: get after delete = %d", tt.name, code)
		}
	}
	log, err := f.st.AuditLog(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, e := range log {
		if e.Actor == "user:boss" {
			actions[e.Action] = true
		}
	}
	for _, a := range []string{"group.added", "group.updated", "group.removed", "queue.saved", "attendant.saved", "schedule.saved",
		"trunk.added", "trunk.updated", "number.saved", "dialrule.saved", "dialrule.removed", "trunk.removed"} {
		if !actions[a] {
			t.Errorf("no audit row %s by user:boss (have %v)", a, actions)
		}
	}
}

// TestRoutingValidation: every refusal names the field at fault.
func TestRoutingValidation(t *testing.T) {
	f := newRoutingFixture(t)
	ctx := context.Background()
	if err := f.st.SaveInboundNumber(ctx, store.InboundNumber{Number: "+15550001111", Dest: "vm:600"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.AddRingGroup(ctx, store.RingGroup{Number: "700", Name: "Sales", Strategy: "all", RingSeconds: 20, Timeout: 60, Members: []string{"101"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path string
		body               map[string]any
		code               int
		field, says        string
	}{
		{"bad destination", "POST", "/groups", map[string]any{"number": "701", "name": "X", "members": []string{"101"}, "no_answer": "voicemail600"}, 400, "no_answer", "kind:number"},
		{"missing destination", "POST", "/groups", map[string]any{"number": "701", "name": "X", "members": []string{"101"}, "no_answer": "vm:999"}, 400, "no_answer", "no voicemail box 999"},
		{"unknown member", "POST", "/groups", map[string]any{"number": "701", "name": "X", "members": []string{"109"}}, 400, "members", "no extension 109"},
		{"bad strategy", "POST", "/groups", map[string]any{"number": "701", "name": "X", "members": []string{"101"}, "strategy": "random"}, 400, "strategy", "want all"},
		{"number taken", "POST", "/queues", map[string]any{"number": "101", "name": "X", "members": []string{"101"}}, 409, "number", "extension has it"},
		{"bad ring time", "PUT", "/groups/700", map[string]any{"ring_seconds": 0}, 400, "ring_seconds", "1 to 600"},
		{"bad leave digit", "POST", "/queues", map[string]any{"number": "710", "name": "Q", "members": []string{"101"}, "leave_digit": "12"}, 400, "leave_digit", "one key"},
		{"unknown music", "POST", "/queues", map[string]any{"number": "710", "name": "Q", "members": []string{"101"}, "music": []string{"nope.wav"}}, 400, "music", "upload it first"},
		{"bad key", "POST", "/attendants", map[string]any{"number": "800", "name": "A", "options": map[string]string{"1": "ext:555"}}, 400, "options.1", "no extension 555"},
		{"unknown schedule", "POST", "/attendants", map[string]any{"number": "800", "name": "A", "schedule": "nope"}, 400, "schedule", "no such schedule"},
		{"bad clock", "POST", "/schedules", map[string]any{"name": "s", "hours_spec": []string{"mon-fri 9-25:00"}}, 400, "hours_spec", "want e.g."},
		{"bad clock structured", "POST", "/schedules", map[string]any{"name": "s", "hours": []map[string]any{{"weekday": 1, "opens": "09:00", "closes": "25:00"}}}, 400, "hours", "HH:MM"},
		{"bad time zone", "POST", "/schedules", map[string]any{"name": "s", "timezone": "Mars/Olympus"}, 400, "timezone", "time zone"},
		{"bad holiday", "POST", "/schedules", map[string]any{"name": "s", "holidays": []string{"25.12.2026"}}, 400, "holidays", "YYYY-MM-DD"},
		{"unknown trunk", "POST", "/dialrules", map[string]any{"prefix": "0", "trunk": "nope"}, 400, "trunk", "no such trunk"},
		{"bad class", "POST", "/dialrules", map[string]any{"prefix": "0", "trunk": "itsp", "class": "galactic"}, 400, "class", "want local"},
		{"duplicate number", "POST", "/numbers", map[string]any{"number": "+15550001111", "dest": "vm:600"}, 409, "number", "already exists"},
		{"after hours without schedule", "POST", "/numbers", map[string]any{"number": "+15550002222", "dest": "vm:600", "after_hours_dest": "vm:600"}, 400, "schedule", "needs a schedule"},
		{"register trunk without password", "POST", "/trunks", map[string]any{"name": "t2", "mode": "register", "host": "192.0.2.9", "username": "u"}, 400, "password", "needs a password"},
		{"bad trunk host", "POST", "/trunks", map[string]any{"name": "t2", "mode": "peer", "host": "sip:192.0.2.9"}, 400, "host", "without a scheme"},
		{"duplicate trunk", "POST", "/trunks", map[string]any{"name": "itsp", "mode": "peer", "host": "192.0.2.9"}, 409, "name", "already exists"},
		{"rename", "PUT", "/groups/700", map[string]any{"number": "701"}, 400, "number", "can't be changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.do("boss", tt.method, tt.path, tt.body)
			fields, _ := body["fields"].(map[string]any)
			msg, _ := fields[tt.field].(string)
			if code != tt.code || !strings.Contains(msg, tt.says) {
				t.Errorf("%s %s = %d %v; want %d with fields.%s saying %q", tt.method, tt.path, code, body, tt.code, tt.field, tt.says)
			}
			if e, _ := body["error"].(string); e == "" {
				t.Errorf("no error sentence in %v", body)
			}
		})
	}
}
