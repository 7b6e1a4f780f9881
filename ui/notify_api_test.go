package ui_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// notifyRule is a rule as the API answers it.
type notifyRule struct {
	ID        int64  `json:"id"`
	Box       string `json:"box"`
	Inbox     bool   `json:"inbox"`
	UserID    int64  `json:"user_id"`
	Channel   string `json:"channel"`
	Target    string `json:"target"`
	Secret    string `json:"secret"`
	HasSecret bool   `json:"has_secret"`
	OnNew     bool   `json:"on_new"`
	OnAssign  bool   `json:"on_assign"`
	OnOverdue bool   `json:"on_overdue"`
}

// addNotifyRule creates a rule through the API as user and wants 201.
func (e *inboxEnv) addNotifyRule(user string, body map[string]any) notifyRule {
	e.t.Helper()
	r := e.do(user, "POST", "/api/v1/notify-rules", body)
	if r.code != http.StatusCreated {
		e.t.Fatalf("POST notify rule as %s = %d %s", user, r.code, r.body)
	}
	var out notifyRule
	r.json(e.t, &out)
	return out
}

func TestNotifyRuleCreatePermissions(t *testing.T) {
	e := newInboxEnv(t)
	email := func(box string, inbox bool) map[string]any {
		return map[string]any{"box": box, "inbox": inbox, "channel": "email", "target": "team@example.com"}
	}
	tests := []struct {
		name  string
		user  string
		body  map[string]any
		want  int
		field string // for 400s
	}{
		{"member: own rule on a box they reach", "listen", email("600", false), 201, ""},
		{"member: own rule on a box they can't reach", "listen", email("601", false), 403, ""},
		{"no access at all", "nobody", email("600", false), 403, ""},
		{"listen may not add the inbox's rule", "listen", email("600", true), 403, ""},
		{"delete may not add the inbox's rule", "delete", email("600", true), 403, ""},
		{"manager adds the inbox's rule", "manage", email("600", true), 201, ""},
		{"manager of another box only", "other", email("600", true), 403, ""},
		{"other manages 601", "other", email("601", true), 201, ""},
		{"admin: inbox rule anywhere", "admin", email("601", true), 201, ""},
		{"admin: own rule anywhere", "admin", email("602", false), 201, ""},
		{"admin: unknown box", "admin", email("999", true), 400, "box"},
		{"no box", "listen", map[string]any{"channel": "email", "target": "a@example.com"}, 400, "box"},
		{"bad address", "listen", map[string]any{"box": "600", "channel": "email", "target": "nope"}, 400, "target"},
		{"bad channel", "listen", map[string]any{"box": "600", "channel": "sms", "target": "123"}, 400, "channel"},
		{"not http", "listen", map[string]any{"box": "600", "channel": "webhook", "target": "file:///etc/passwd"}, 400, "target"},
		{"no events", "listen", map[string]any{"box": "600", "channel": "email", "target": "a@example.com",
			"on_new": false, "on_assign": false, "on_overdue": false}, 400, "events"},
		{"not logged in", "", email("600", false), 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.user, "POST", "/api/v1/notify-rules", tc.body)
			if r.code != tc.want {
				t.Fatalf("code = %d %s; want %d", r.code, r.body, tc.want)
			}
			if tc.field != "" {
				var body struct {
					Error  string            `json:"error"`
					Fields map[string]string `json:"fields"`
				}
				r.json(t, &body)
				if body.Error == "" || body.Fields[tc.field] == "" {
					t.Errorf("400 without field %s: %s", tc.field, r.body)
				}
			}
		})
	}
}

func TestNotifyRuleChangePermissions(t *testing.T) {
	e := newInboxEnv(t)
	own := e.addNotifyRule("listen", map[string]any{"box": "600", "channel": "email", "target": "listen@example.com"})
	inbox := e.addNotifyRule("manage", map[string]any{"box": "600", "inbox": true, "channel": "slack", "target": "https://hooks.slack.com/services/x"})
	if !inbox.Inbox || inbox.UserID != 0 || own.Inbox || own.UserID != e.users["listen"].ID || !own.OnNew || !own.OnAssign || !own.OnOverdue {
		t.Fatalf("created %+v and %+v", own, inbox)
	}
	path := func(r notifyRule) string { return fmt.Sprint("/api/v1/notify-rules/", r.ID) }
	change := map[string]any{"target": "changed@example.com"}
	tests := []struct {
		name         string
		user, method string
		rule         notifyRule
		body         map[string]any
		want         int
	}{
		{"another member may not change my rule", "listen2", "PUT", own, change, 403},
		{"an admin may not change my rule either", "admin", "PUT", own, change, 403},
		{"a manager may not delete my rule", "manage", "DELETE", own, nil, 403},
		{"I can't move my rule to a box I can't reach", "listen", "PUT", own, map[string]any{"box": "601"}, 403},
		{"bad input in a change", "listen", "PUT", own, map[string]any{"target": "not an address"}, 400},
		{"I change my rule", "listen", "PUT", own, change, 200},
		{"listen may not change the inbox rule", "listen", "PUT", inbox, map[string]any{"on_new": false}, 403},
		{"a manager of another box may not", "other", "PUT", inbox, map[string]any{"on_new": false}, 403},
		{"admin changes the inbox rule", "admin", "PUT", inbox, map[string]any{"on_new": false}, 200},
		{"delete-level member may not delete it", "delete", "DELETE", inbox, nil, 403},
		{"unknown rule", "listen", "PUT", notifyRule{ID: 99999}, change, 404},
		{"bad id", "listen", "DELETE", notifyRule{ID: -1}, nil, 404},
		{"I delete my rule", "listen", "DELETE", own, nil, 204},
		{"gone", "listen", "DELETE", own, nil, 404},
		{"the manager deletes the inbox rule", "manage", "DELETE", inbox, nil, 204},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != nil {
				body = tc.body
			}
			r := e.do(tc.user, tc.method, path(tc.rule), body)
			if r.code != tc.want {
				t.Fatalf("code = %d %s; want %d", r.code, r.body, tc.want)
			}
			if tc.method == "PUT" && r.code == 200 {
				var got notifyRule
				r.json(t, &got)
				if got.ID != tc.rule.ID || got.UserID != tc.rule.UserID || got.Box != tc.rule.Box {
					t.Errorf("changed rule = %+v", got)
				}
				if tc.body["target"] != nil && got.Target != tc.body["target"] || tc.body["on_new"] == false && got.OnNew {
					t.Errorf("change not applied: %+v", got)
				}
			}
		})
	}
}

func TestNotifyRuleListAndSecrets(t *testing.T) {
	e := newInboxEnv(t)
	mine := e.addNotifyRule("manage", map[string]any{"box": "600", "channel": "webhook", "target": "https://example.com/hook", "on_assign": true})
	if len(mine.Secret) < 32 || !mine.HasSecret || mine.OnNew || !mine.OnAssign || mine.OnOverdue {
		t.Fatalf("webhook rule = %+v (want a generated secret and only on_assign)", mine)
	}
	inbox600 := e.addNotifyRule("manage", map[string]any{"box": "600", "inbox": true, "channel": "email", "target": "sales@example.com"})
	inbox601 := e.addNotifyRule("other", map[string]any{"box": "601", "inbox": true, "channel": "email", "target": "support@example.com"})
	listen := e.addNotifyRule("listen", map[string]any{"box": "602", "channel": "email", "target": "l@example.com"})
	ids := func(user string) []int64 {
		t.Helper()
		r := e.do(user, "GET", "/api/v1/notify-rules", nil)
		if r.code != 200 {
			t.Fatalf("GET as %s = %d %s", user, r.code, r.body)
		}
		var list []notifyRule
		r.json(t, &list)
		var out []int64
		for _, x := range list {
			if x.Secret != "" {
				t.Errorf("list shows a secret: %+v", x)
			}
			out = append(out, x.ID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		user string
		want []int64
	}{
		{"manage", []int64{mine.ID, inbox600.ID}},
		{"listen", []int64{listen.ID}},
		{"other", []int64{inbox601.ID}},
		{"admin", []int64{inbox600.ID, inbox601.ID}},
		{"nobody", nil},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			if got := ids(tc.user); !slices.Equal(got, tc.want) {
				t.Errorf("rules = %v, want %v", got, tc.want)
			}
		})
	}

	// A change without a secret keeps it (and does not show it); a new one is shown.
	r := e.do("manage", "PUT", fmt.Sprint("/api/v1/notify-rules/", mine.ID), map[string]any{"target": "https://example.com/h2", "secret": ""})
	var got notifyRule
	r.json(t, &got)
	if r.code != 200 || got.Secret != "" || !got.HasSecret {
		t.Errorf("PUT without secret = %d %s", r.code, r.body)
	}
	r = e.do("manage", "PUT", fmt.Sprint("/api/v1/notify-rules/", mine.ID), map[string]any{"secret": "my-own-secret"})
	r.json(t, &got)
	if r.code != 200 || got.Secret != "my-own-secret" {
		t.Errorf("PUT with secret = %d %s", r.code, r.body)
	}
}

func TestWebSettings(t *testing.T) {
	e := newInboxEnv(t)
	tests := []struct {
		name, user, method string
		body               map[string]any
		want               int
		wantBase           string
	}{
		{"member may not read", "manage", "GET", nil, 403, ""},
		{"member may not set", "manage", "PUT", map[string]any{"base_url": "https://x.example.com"}, 403, ""},
		{"admin reads the default", "admin", "GET", nil, 200, ""},
		{"admin sets it (trailing slash dropped)", "admin", "PUT", map[string]any{"base_url": "https://pbx.example.com/"}, 200, "https://pbx.example.com"},
		{"and reads it back", "admin", "GET", nil, 200, "https://pbx.example.com"},
		{"not a URL", "admin", "PUT", map[string]any{"base_url": "pbx.example.com"}, 400, ""},
		{"not http", "admin", "PUT", map[string]any{"base_url": "ftp://pbx.example.com"}, 400, ""},
		{"cleared", "admin", "PUT", map[string]any{"base_url": ""}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != nil {
				body = tc.body
			}
			r := e.do(tc.user, tc.method, "/api/v1/admin/settings/web", body)
			if r.code != tc.want {
				t.Fatalf("code = %d %s; want %d", r.code, r.body, tc.want)
			}
			if r.code == 200 {
				var v struct {
					BaseURL string `json:"base_url"`
				}
				r.json(t, &v)
				if v.BaseURL != tc.wantBase {
					t.Errorf("base_url = %q, want %q", v.BaseURL, tc.wantBase)
				}
			}
			if r.code == 400 && !strings.Contains(string(r.body), `"base_url"`) {
				t.Errorf("400 without the field: %s", r.body)
			}
		})
	}
}
