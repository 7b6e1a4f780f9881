package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

// notifyFixture: shared box 600 (member extension 102 = bob, direct user
// carol), personal box 101 (alice's), an admin and dave with no access.
type notifyFixture struct {
	s                              *Store
	ctx                            context.Context
	admin, alice, bob, carol, dave int64
	msg600, msg101                 int64
	// Rule ids.
	inboxRule, aliceRule, bobRule, carolRule, daveRule, adminRule, alicePersonal, bobAssignOnly int64
}

func addNotifyMessage(t *testing.T, s *Store, box, caller, name string) int64 {
	t.Helper()
	id, err := s.AddMessage(context.Background(), Message{Box: box, CallerNumber: caller, CallerName: name, CalledNumber: box,
		StartedAt: time.Now(), Duration: 12.5, Audio: "x.wav"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func notifyTestUser(t *testing.T, s *Store, name, ext string, admin bool) int64 {
	t.Helper()
	var e any
	if ext != "" {
		e = ext
	}
	res, err := s.db.Exec(`INSERT INTO users(name, email, password_hash, is_admin, extension, created_at) VALUES (?, ?, 'x', ?, ?, 0)`,
		name, name+"@example.com", admin, e)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return id
}

func notifyTestRule(t *testing.T, s *Store, r NotifyRule) int64 {
	t.Helper()
	r, err := s.AddNotifyRule(context.Background(), r)
	if err != nil {
		t.Fatalf("add rule %+v: %v", r, err)
	}
	return r.ID
}

func newNotifyFixture(t *testing.T) *notifyFixture {
	t.Helper()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	for _, e := range []Extension{{Number: "101", Name: "Alice", Voicemail: true}, {Number: "102", Name: "Bob"}} {
		e.Realm, e.HA1MD5, e.HA1SHA256 = "r", "x", "y"
		if err := s.AddExtension(ctx, e, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddBox(ctx, Box{Number: "600", Name: "Sales", Kind: BoxShared, Members: []Member{{Extension: "102"}}}); err != nil {
		t.Fatal(err)
	}
	f := &notifyFixture{s: s, ctx: ctx}
	f.admin = notifyTestUser(t, s, "admin", "", true)
	f.alice = notifyTestUser(t, s, "alice", "101", false)
	f.bob = notifyTestUser(t, s, "bob", "102", false)
	f.carol = notifyTestUser(t, s, "carol", "", false)
	f.dave = notifyTestUser(t, s, "dave", "", false)
	if _, err := s.db.Exec(`INSERT INTO box_users(box, user_id, access) VALUES ('600', ?, 'manage')`, f.carol); err != nil {
		t.Fatal(err)
	}
	// Messages first: whatever AddMessage queues, there are no rules yet.
	f.msg600 = addNotifyMessage(t, s, "600", "+3120555", "Jan")
	f.msg101 = addNotifyMessage(t, s, "101", "+3120666", "")
	all := NotifyRule{OnNew: true, OnAssign: true, OnOverdue: true}
	rule := func(box string, user int64, ch, target string, r NotifyRule) int64 {
		r.Box, r.UserID, r.Channel, r.Target = box, user, ch, target
		return notifyTestRule(t, s, r)
	}
	f.inboxRule = rule("600", 0, NotifyChannelWebhook, "https://hooks.example.com/in", all)
	f.aliceRule = rule("600", f.alice, NotifyChannelEmail, "alice@example.com", all) // no access to 600
	f.bobRule = rule("600", f.bob, NotifyChannelEmail, "bob@example.com", all)       // member via extension
	f.carolRule = rule("600", f.carol, NotifyChannelSlack, "https://hooks.slack.com/x", NotifyRule{OnNew: true, OnAssign: true})
	f.daveRule = rule("600", f.dave, NotifyChannelEmail, "dave@example.com", all)    // no access
	f.adminRule = rule("600", f.admin, NotifyChannelEmail, "admin@example.com", all) // admin sees all
	f.alicePersonal = rule("101", f.alice, NotifyChannelEmail, "alice@example.com", all)
	f.bobAssignOnly = rule("600", f.bob, NotifyChannelWebhook, "http://127.0.0.1:9/bob", NotifyRule{OnAssign: true})
	return f
}

// queued returns the rule ids with outbox rows for (event, message), and
// clears the outbox.
func (f *notifyFixture) queued(t *testing.T, event string, msg int64) []int64 {
	t.Helper()
	rows, err := f.s.db.Query(`SELECT rule_id FROM notify_outbox WHERE event = ? AND message_id = ? ORDER BY rule_id`, event, msg)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		out = append(out, id)
	}
	if _, err := f.s.db.Exec(`DELETE FROM notify_outbox`); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *notifyFixture) enqueue(t *testing.T, ev NotifyEvent) {
	t.Helper()
	err := f.s.inTx(f.ctx, "test", func(tx *sql.Tx) error { return f.s.enqueueNotifications(f.ctx, tx, ev) })
	if err != nil {
		t.Fatal(err)
	}
}

func TestEnqueueNotificationsMatchesRules(t *testing.T) {
	f := newNotifyFixture(t)
	sorted := func(ids ...int64) []int64 { slices.Sort(ids); return ids }
	tests := []struct {
		name string
		ev   NotifyEvent
		want []int64
	}{
		{"new in shared box: inbox rule and users who can reach it", NotifyEvent{Event: NotifyNew, MessageID: f.msg600, Box: "600"},
			sorted(f.inboxRule, f.bobRule, f.carolRule, f.adminRule)},
		{"new in personal box: its owner", NotifyEvent{Event: NotifyNew, MessageID: f.msg101, Box: "101"}, []int64{f.alicePersonal}},
		{"assigned to bob: only bob's assign rules", NotifyEvent{Event: NotifyAssigned, MessageID: f.msg600, Box: "600", Assignee: f.bob},
			sorted(f.bobRule, f.bobAssignOnly)},
		{"assigned to carol", NotifyEvent{Event: NotifyAssigned, MessageID: f.msg600, Box: "600", Assignee: f.carol}, []int64{f.carolRule}},
		{"assigned to nobody", NotifyEvent{Event: NotifyAssigned, MessageID: f.msg600, Box: "600"}, nil},
		{"overdue: on_overdue rules of users with access", NotifyEvent{Event: NotifyOverdue, MessageID: f.msg600, Box: "600"},
			sorted(f.inboxRule, f.bobRule, f.adminRule)},
		{"gone message: nothing", NotifyEvent{Event: NotifyNew, MessageID: 9999, Box: "600"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.enqueue(t, tc.ev)
			if got := f.queued(t, tc.ev.Event, tc.ev.MessageID); !slices.Equal(got, tc.want) {
				t.Errorf("rules fired = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEnqueueNotificationsPayload(t *testing.T) {
	f := newNotifyFixture(t)
	s, ctx := f.s, f.ctx
	if err := s.SaveTranscript(ctx, Transcript{MessageID: f.msg600, Language: "en", Model: "m", Text: "Please call me back."}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(ctx, SettingWebBaseURL, "https://pbx.example.com/"); err != nil {
		t.Fatal(err)
	}
	f.enqueue(t, NotifyEvent{Event: NotifyAssigned, MessageID: f.msg600, Box: "600", Assignee: f.carol})
	due, err := s.DueNotifications(ctx, time.Now().Add(time.Second), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due = %+v, %v; want 1", due, err)
	}
	n := due[0]
	if n.Channel != NotifyChannelSlack || n.Target != "https://hooks.slack.com/x" || n.RuleID != f.carolRule || n.Event != NotifyAssigned {
		t.Errorf("notification = %+v", n)
	}
	var p NotifyPayload
	if err := json.Unmarshal(n.Payload, &p); err != nil {
		t.Fatal(err)
	}
	want := NotifyMessageInfo{ID: f.msg600, Box: "600", BoxName: "Sales", CallerNumber: "+3120555", CallerName: "Jan",
		Time: p.Message.Time, Duration: 12.5, Transcript: "Please call me back.", URL: "https://pbx.example.com/messages/" + itoa(f.msg600)}
	if p.Event != NotifyAssigned || p.Assignee != "carol" || p.Message != want {
		t.Errorf("payload = %+v\nwant message %+v", p, want)
	}
	// The raw JSON uses the documented names.
	var raw map[string]map[string]any
	json.Unmarshal(n.Payload, &raw)
	for _, k := range []string{"id", "box", "box_name", "caller_number", "caller_name", "time", "duration_seconds", "transcript", "url"} {
		if _, ok := raw["message"][k]; !ok {
			t.Errorf("payload message lacks %q: %s", k, n.Payload)
		}
	}

	// Without a base URL the link is left out.
	s.SetSetting(ctx, SettingWebBaseURL, "")
	f.queued(t, NotifyAssigned, f.msg600)
	f.enqueue(t, NotifyEvent{Event: NotifyAssigned, MessageID: f.msg600, Box: "600", Assignee: f.carol})
	due, _ = s.DueNotifications(ctx, time.Now().Add(time.Second), 10)
	if len(due) != 1 {
		t.Fatalf("due = %d", len(due))
	}
	json.Unmarshal(due[0].Payload, &raw)
	if _, ok := raw["message"]["url"]; ok {
		t.Errorf("url without a base: %s", due[0].Payload)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestNotifyRuleValidationAndCRUD(t *testing.T) {
	f := newNotifyFixture(t)
	s, ctx := f.s, f.ctx
	bad := []struct {
		name  string
		r     NotifyRule
		field string
	}{
		{"no box", NotifyRule{Channel: "email", Target: "a@b.c", OnNew: true}, "box"},
		{"bad channel", NotifyRule{Box: "600", Channel: "sms", Target: "123", OnNew: true}, "channel"},
		{"bad email", NotifyRule{Box: "600", Channel: "email", Target: "not an address", OnNew: true}, "target"},
		{"ftp url", NotifyRule{Box: "600", Channel: "webhook", Target: "ftp://x.example.com/", OnNew: true}, "target"},
		{"javascript url", NotifyRule{Box: "600", Channel: "slack", Target: "javascript:alert(1)", OnNew: true}, "target"},
		{"no host", NotifyRule{Box: "600", Channel: "webhook", Target: "https:///path", OnNew: true}, "target"},
		{"no events", NotifyRule{Box: "600", Channel: "email", Target: "a@b.c"}, "events"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.AddNotifyRule(ctx, tc.r)
			var re *FieldError
			if !errors.As(err, &re) || re.Field != tc.field {
				t.Errorf("err = %v; want a FieldError on %s", err, tc.field)
			}
		})
	}
	if _, err := s.AddNotifyRule(ctx, NotifyRule{Box: "999", Channel: "email", Target: "a@b.c", OnNew: true}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown box: err = %v, want ErrNotFound", err)
	}

	r, err := s.AddNotifyRule(ctx, NotifyRule{Box: "600", UserID: f.bob, Channel: "email", Target: " Bob <bob@example.com> ", OnNew: true})
	if err != nil || r.Target != "bob@example.com" || r.Secret != "" {
		t.Fatalf("add = %+v, %v", r, err)
	}
	got, err := s.NotifyRuleByID(ctx, r.ID)
	if err != nil || got != r {
		t.Fatalf("by id = %+v, %v; want %+v", got, err, r)
	}
	// Becoming a webhook makes a secret; a later update without one keeps it.
	r.Channel, r.Target = NotifyChannelWebhook, "https://example.com/hook"
	u, err := s.UpdateNotifyRule(ctx, r)
	if err != nil || len(u.Secret) < 32 || u.UserID != f.bob {
		t.Fatalf("update = %+v, %v", u, err)
	}
	u2, err := s.UpdateNotifyRule(ctx, NotifyRule{ID: r.ID, Box: "600", Channel: "webhook", Target: "https://example.com/h2", OnAssign: true, UserID: f.dave})
	if err != nil || u2.Secret != u.Secret || u2.UserID != f.bob || u2.OnNew || !u2.OnAssign {
		t.Fatalf("update 2 = %+v, %v", u2, err)
	}
	mine, err := s.NotifyRules(ctx, f.bob)
	if err != nil || !slices.ContainsFunc(mine, func(x NotifyRule) bool { return x.ID == r.ID && x.Target == "https://example.com/h2" }) {
		t.Fatalf("bob's rules = %+v, %v", mine, err)
	}
	ofBox, err := s.NotifyRulesOfBox(ctx, "600")
	if err != nil || len(ofBox) != 8 {
		t.Fatalf("rules of 600 = %d, %v; want 8", len(ofBox), err)
	}
	if err := s.RemoveNotifyRule(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveNotifyRule(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove twice: %v", err)
	}
	if _, err := s.UpdateNotifyRule(ctx, r); !errors.Is(err, ErrNotFound) {
		t.Errorf("update removed: %v", err)
	}
}

func TestNotificationOutboxStates(t *testing.T) {
	f := newNotifyFixture(t)
	s, ctx := f.s, f.ctx
	f.enqueue(t, NotifyEvent{Event: NotifyAssigned, MessageID: f.msg600, Box: "600", Assignee: f.bob})
	now := time.Now()
	due, err := s.DueNotifications(ctx, now.Add(time.Second), 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due = %d, %v", len(due), err)
	}
	var hook Notification
	for _, n := range due {
		if n.Channel == NotifyChannelWebhook {
			hook = n
		}
	}
	if len(hook.Secret) < 32 {
		t.Errorf("webhook secret not joined: %+v", hook)
	}
	if err := s.NotificationSent(ctx, due[0].ID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.NotificationFailed(ctx, due[1].ID, now.Add(time.Minute), "500 Internal Server Error"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.DueNotifications(ctx, now.Add(time.Second), 10); len(d) != 0 {
		t.Errorf("due right after = %+v", d)
	}
	d, _ := s.DueNotifications(ctx, now.Add(2*time.Minute), 10)
	if len(d) != 1 || d[0].ID != due[1].ID || d[0].Attempts != 1 {
		t.Fatalf("due later = %+v", d)
	}
	if err := s.NotificationFailed(ctx, d[0].ID, time.Time{}, "still failing"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.DueNotifications(ctx, now.Add(1000*time.Hour), 10); len(d) != 0 {
		t.Errorf("given up but due: %+v", d)
	}
	states, err := s.NotificationsOf(ctx, f.msg600)
	if err != nil || len(states) != 2 {
		t.Fatalf("states = %+v, %v", states, err)
	}
	if states[0].SentAt == nil || states[1].SentAt != nil || states[1].NextAttempt != nil || states[1].LastError != "gave up: still failing" || states[1].Attempts != 2 {
		t.Errorf("states = %+v %+v", states[0], states[1])
	}
}

func TestNotifyOverdueOnce(t *testing.T) {
	f := newNotifyFixture(t)
	s, ctx := f.s, f.ctx
	if _, err := s.db.Exec(`UPDATE voicemail_boxes SET open_limit_minutes = 30 WHERE number = '600'`); err != nil {
		t.Fatal(err)
	}
	done := addNotifyMessage(t, s, "600", "+3199", "")
	trashed := addNotifyMessage(t, s, "600", "+3198", "")
	s.SetStatus(ctx, done, MessageDone)
	s.TrashMessage(ctx, trashed, time.Now())
	s.db.Exec(`DELETE FROM notify_outbox`)
	now := time.Now()
	tests := []struct {
		name string
		at   time.Time
		want int
	}{
		{"before the limit", now.Add(29 * time.Minute), 0},
		{"after the limit: the open message (not the done, trashed, or limitless ones)", now.Add(31 * time.Minute), 1},
		{"only once", now.Add(60 * time.Minute), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.OverdueMessages(ctx, tc.at)
			if err != nil || len(list) != tc.want {
				t.Fatalf("overdue = %+v, %v; want %d", list, err, tc.want)
			}
			n, err := s.NotifyOverdue(ctx, tc.at)
			if err != nil || n != tc.want {
				t.Fatalf("NotifyOverdue = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
	got := f.queued(t, NotifyOverdue, f.msg600)
	if want := []int64{f.inboxRule, f.bobRule, f.adminRule}; !slices.Equal(got, want) {
		t.Errorf("overdue rules = %v, want %v", got, want)
	}
}

// A message stored through AddMessage gets its notifications in the same
// transaction.
func TestAddMessageQueuesNotifications(t *testing.T) {
	f := newNotifyFixture(t)
	id := addNotifyMessage(t, f.s, "600", "+3177", "")
	if got, want := f.queued(t, NotifyNew, id), []int64{f.inboxRule, f.bobRule, f.carolRule, f.adminRule}; !slices.Equal(got, want) {
		t.Errorf("queued for rules %v, want %v", got, want)
	}
}
