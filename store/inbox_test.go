package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// inboxFixture is a store with extensions 101 (alice, listen member of 600),
// 102 (bob, manage member of 600), 103 (nobody's), shared boxes 600 and 700,
// and users alice, bob, carol (no extension) and root (admin).
type inboxFixture struct {
	s                        *Store
	alice, bob, carol, admin User
	base                     time.Time
}

func newInboxFixture(t *testing.T) *inboxFixture {
	t.Helper()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	for _, n := range []string{"101", "102", "103"} {
		if err := s.AddExtension(ctx, Extension{Number: n, Name: "E" + n, Realm: "r", HA1MD5: "m", HA1SHA256: "s", Voicemail: true}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddBox(ctx, Box{Number: "600", Name: "Sales", Kind: BoxShared,
		Members: []Member{{Extension: "101", Access: "listen"}, {Extension: "102", Access: "manage"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBox(ctx, Box{Number: "700", Name: "Support", Kind: BoxShared}); err != nil {
		t.Fatal(err)
	}
	f := &inboxFixture{s: s, base: time.Date(2025, 3, 3, 9, 0, 0, 0, time.Local)} // a Monday
	add := func(name, ext string, admin bool) User {
		var e any
		if ext != "" {
			e = ext
		}
		res, err := s.db.ExecContext(ctx, `INSERT INTO users(name, password_hash, is_admin, extension, created_at) VALUES (?, 'x', ?, ?, 0)`, name, admin, e)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		return User{ID: id, Name: name, IsAdmin: admin, Extension: ext}
	}
	f.alice = add("alice", "101", false)
	f.bob = add("bob", "102", false)
	f.carol = add("carol", "", false)
	f.admin = add("root", "", true)
	return f
}

// msg stores a message from caller to box, minutes after the fixture's base time.
func (f *inboxFixture) msg(t *testing.T, box, caller string, minutes int) int64 {
	t.Helper()
	id, err := f.s.AddMessage(context.Background(), Message{Box: box, CallerNumber: caller, CalledNumber: box,
		StartedAt: f.base.Add(time.Duration(minutes) * time.Minute), Duration: 2, Audio: fmt.Sprintf("m%d.wav", minutes)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *inboxFixture) get(t *testing.T, id int64) Message {
	t.Helper()
	m, err := f.s.Message(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *inboxFixture) auditCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.s.db.QueryRow(`SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func actor(u User, manager bool) Actor { return Actor{UserID: u.ID, Name: u.Name, Manager: manager} }

func TestInboxAccess(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.s.SetBoxUser(ctx, "600", f.alice.ID, AccessDelete); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetBoxUser(ctx, "700", f.carol.ID, AccessDownload); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetBoxUser(ctx, "600", f.bob.ID, AccessListen); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		u    User
		want map[string]Access
	}{
		{"direct beats lower membership", f.alice, map[string]Access{"600": AccessDelete, "101": AccessManage}},
		{"membership beats lower direct", f.bob, map[string]Access{"600": AccessManage, "102": AccessManage}},
		{"direct only, no extension", f.carol, map[string]Access{"700": AccessDownload}},
		{"admin manages every box", f.admin, map[string]Access{"101": AccessManage, "102": AccessManage, "103": AccessManage, "600": AccessManage, "700": AccessManage}},
		{"nobody", User{ID: 999, Name: "x"}, map[string]Access{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.s.InboxAccess(ctx, tc.u)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("InboxAccess = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if err := f.s.SetBoxUser(ctx, "600", f.alice.ID, AccessNone); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.s.InboxAccess(ctx, f.alice); got["600"] != AccessListen {
		t.Fatalf("after removing direct access: %v, want listen through membership", got)
	}
	if err := f.s.SetBoxUser(ctx, "999", f.alice.ID, AccessListen); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetBoxUser on a missing box = %v, want ErrNotFound", err)
	}
}

func TestBoxUsersAndSettings(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.s.SetBoxUser(ctx, "600", f.carol.ID, AccessDownload); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetBoxUser(ctx, "600", f.alice.ID, AccessDelete); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.BoxUsers(ctx, "600")
	want := []BoxUser{{f.alice.ID, "alice", "delete"}, {f.bob.ID, "bob", "manage"}, {f.carol.ID, "carol", "download"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("BoxUsers(600) = %v, %v; want %v", got, err, want)
	}
	if got, _ := f.s.BoxUsers(ctx, "101"); len(got) != 1 || got[0].Name != "alice" || got[0].Access != "manage" {
		t.Fatalf("BoxUsers(101) = %v, want alice as manager of her own box", got)
	}

	bad := []struct {
		name  string
		st    InboxSettings
		field string
	}{
		{"mode", InboxSettings{AssignMode: "random", TrashDays: 30}, "assign_mode"},
		{"minutes", InboxSettings{ConversationMinutes: -1, TrashDays: 30}, "conversation_minutes"},
		{"open limit", InboxSettings{OpenLimitMinutes: -5, TrashDays: 30}, "open_limit_minutes"},
		{"trash 0", InboxSettings{TrashDays: 0}, "trash_days"},
		{"trash too long", InboxSettings{TrashDays: 3651}, "trash_days"},
		{"weekday", InboxSettings{TrashDays: 30, AssignMode: "rota", Rota: map[int]int64{7: f.alice.ID}}, "rota"},
		{"rota user", InboxSettings{TrashDays: 30, AssignMode: "rota", Rota: map[int]int64{1: 9999}}, "rota"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := f.s.SetInboxSettings(ctx, "600", tc.st)
			var fe *FieldError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("SetInboxSettings = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
	st := InboxSettings{ConversationMinutes: 60, AssignMode: "rota", OpenLimitMinutes: 30, DoneOnCallback: true, TrashDays: 7,
		Rota: map[int]int64{1: f.alice.ID, 2: f.bob.ID}}
	if err := f.s.SetInboxSettings(ctx, "600", st); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.InboxSettingsOf(ctx, "600"); err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("InboxSettingsOf = %+v, %v; want %+v", got, err, st)
	}
	if err := f.s.SetInboxSettings(ctx, "999", InboxSettings{TrashDays: 1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("settings of a missing box: %v", err)
	}
	if got, _ := f.s.InboxSettingsOf(ctx, "700"); got.ConversationMinutes != 1440 || got.AssignMode != "none" || got.TrashDays != 30 {
		t.Fatalf("defaults = %+v", got)
	}
}

func TestConversations(t *testing.T) {
	tests := []struct {
		name       string
		window     int // conversation_minutes of 600
		first      string
		second     string
		secondBox  string
		gap        int // minutes between the two
		trashFirst bool
		same       bool
	}{
		{"same caller within the window", 60, "5551", "5551", "600", 30, false, true},
		{"outside the window", 60, "5551", "5551", "600", 61, false, false},
		{"another caller", 60, "5551", "5552", "600", 1, false, false},
		{"another box", 60, "5551", "5551", "700", 1, false, false},
		{"anonymous never groups", 60, "anonymous", "anonymous", "600", 1, false, false},
		{"empty number never groups", 60, "", "", "600", 1, false, false},
		{"grouping off", 0, "5551", "5551", "600", 1, false, false},
		{"trashed message is not joined", 60, "5551", "5551", "600", 1, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newInboxFixture(t)
			ctx := context.Background()
			if err := f.s.SetInboxSettings(ctx, "600", InboxSettings{ConversationMinutes: tc.window, TrashDays: 30}); err != nil {
				t.Fatal(err)
			}
			a := f.msg(t, "600", tc.first, 0)
			if tc.trashFirst {
				if _, err := f.s.Trash(ctx, actor(f.bob, true), a); err != nil {
					t.Fatal(err)
				}
			}
			b := f.msg(t, tc.secondBox, tc.second, tc.gap)
			ma, mb := f.get(t, a), f.get(t, b)
			if ma.Conversation != a {
				t.Fatalf("first message's conversation = %d, want its own id %d", ma.Conversation, a)
			}
			if got := mb.Conversation == a; got != tc.same {
				t.Fatalf("second message's conversation = %d (first %d); same = %v, want %v", mb.Conversation, a, got, tc.same)
			}
			if !tc.same && mb.Conversation != b {
				t.Fatalf("a new conversation's id = %d, want the message's %d", mb.Conversation, b)
			}
		})
	}
}

func TestNewMessageReopensAndInherits(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	a := f.msg(t, "600", "5551", 0)
	if _, err := f.s.Assign(ctx, actor(f.alice, false), a, f.bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.MarkDone(ctx, actor(f.bob, false), a, "called back"); err != nil {
		t.Fatal(err)
	}
	b := f.msg(t, "600", "5551", 10)
	for _, id := range []int64{a, b} {
		m := f.get(t, id)
		if m.Status != MessageOpen || m.InProgress || m.Assignee != f.bob.ID || m.Conversation != a || m.DoneNote != "" {
			t.Fatalf("message %d after a new one = %+v; want open, bob's, in conversation %d", id, m, a)
		}
	}
	tl, err := f.s.Timeline(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	last := tl[len(tl)-1]
	if last.Actor != "system" || last.Action != "message.reopened" || last.MessageID != b || last.Detail != "new message from the caller" {
		t.Fatalf("last timeline row = %+v", last)
	}
	if got := []string{tl[0].Action, tl[1].Action}; !slices.Equal(got, []string{"message.assigned", "message.done"}) {
		t.Fatalf("timeline = %+v", tl)
	}

	// An in-progress conversation stays in progress for the newcomer.
	if _, err := f.s.MarkInProgress(ctx, actor(f.bob, false), a); err != nil {
		t.Fatal(err)
	}
	c := f.msg(t, "600", "5551", 20)
	if m := f.get(t, c); !m.InProgress || m.Assignee != f.bob.ID || m.Conversation != a {
		t.Fatalf("third message = %+v, want in progress with bob", m)
	}
	conv, err := f.s.Conversation(ctx, a)
	if err != nil || len(conv) != 3 || conv[0].ID != a || conv[2].ID != c {
		t.Fatalf("Conversation = %v, %v", conv, err)
	}
}

func TestAutoAssign(t *testing.T) {
	t.Run("rota", func(t *testing.T) {
		f := newInboxFixture(t)
		ctx := context.Background()
		// base is a Monday (1).
		if err := f.s.SetInboxSettings(ctx, "600", InboxSettings{AssignMode: "rota", TrashDays: 30,
			Rota: map[int]int64{1: f.alice.ID, 2: f.bob.ID}}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			minutes int
			want    int64
		}{
			{0, f.alice.ID},     // Monday
			{24 * 60, f.bob.ID}, // Tuesday
			{2 * 24 * 60, 0},    // Wednesday: nobody
			{7 * 24 * 60, f.alice.ID},
		}
		for i, tc := range tests {
			before := f.auditCount(t)
			id := f.msg(t, "600", fmt.Sprintf("555%d", i), tc.minutes)
			if m := f.get(t, id); m.Assignee != tc.want {
				t.Errorf("message at +%dm assigned to %d, want %d", tc.minutes, m.Assignee, tc.want)
			}
			rows, _ := f.s.AuditQuery(ctx, AuditFilter{MessageID: id})
			if tc.want == 0 && len(rows) != 0 || tc.want != 0 && (f.auditCount(t) != before+1 || len(rows) != 1 ||
				rows[0].Action != "message.assigned" || rows[0].Actor != "system" || rows[0].Detail != "auto: rota") {
				t.Errorf("audit of message at +%dm = %+v", tc.minutes, rows)
			}
		}
	})
	t.Run("round robin", func(t *testing.T) {
		f := newInboxFixture(t)
		ctx := context.Background()
		if err := f.s.SetInboxSettings(ctx, "600", InboxSettings{AssignMode: "round-robin", ConversationMinutes: 60, TrashDays: 30}); err != nil {
			t.Fatal(err)
		}
		if err := f.s.SetBoxUser(ctx, "600", f.carol.ID, AccessListen); err != nil {
			t.Fatal(err)
		}
		var got []int64
		for i := range 4 {
			id := f.msg(t, "600", fmt.Sprintf("555%d", i), i)
			got = append(got, f.get(t, id).Assignee)
			rows, _ := f.s.AuditQuery(ctx, AuditFilter{MessageID: id})
			if len(rows) != 1 || rows[0].Detail != "auto: round robin" {
				t.Fatalf("audit = %+v", rows)
			}
		}
		want := []int64{f.alice.ID, f.bob.ID, f.carol.ID, f.alice.ID}
		if !slices.Equal(got, want) {
			t.Fatalf("round robin assigned %v, want %v (admin excluded)", got, want)
		}
		// A follow-up from the same caller stays with the conversation's assignee.
		id := f.msg(t, "600", "5553", 10)
		if m := f.get(t, id); m.Assignee != f.alice.ID {
			t.Fatalf("follow-up assigned to %d, want alice (inherited)", m.Assignee)
		}
	})
}

func TestWorkflowActions(t *testing.T) {
	ctx := context.Background()
	type check func(t *testing.T, f *inboxFixture, a, b int64)
	state := func(status string, inProgress bool, assignee func(f *inboxFixture) int64) check {
		return func(t *testing.T, f *inboxFixture, a, b int64) {
			for _, id := range []int64{a, b} {
				m := f.get(t, id)
				if m.Status != status || m.InProgress != inProgress || m.Assignee != assignee(f) {
					t.Errorf("message %d = status %s, in progress %v, assignee %d; want %s, %v, %d", id, m.Status, m.InProgress, m.Assignee, status, inProgress, assignee(f))
				}
			}
		}
	}
	nobody := func(*inboxFixture) int64 { return 0 }
	alice := func(f *inboxFixture) int64 { return f.alice.ID }
	bob := func(f *inboxFixture) int64 { return f.bob.ID }
	tests := []struct {
		name   string
		prep   func(f *inboxFixture, a int64) // before the action, not counted
		do     func(f *inboxFixture, a int64) error
		action string
		detail string
		check  check
	}{
		{"claim", nil, func(f *inboxFixture, a int64) error { _, err := f.s.Claim(ctx, actor(f.alice, false), a); return err },
			"message.claimed", "", state("open", false, alice)},
		{"assign", nil, func(f *inboxFixture, a int64) error {
			_, err := f.s.Assign(ctx, actor(f.alice, false), a, f.bob.ID)
			return err
		},
			"message.assigned", "to bob", state("open", false, bob)},
		{"return", func(f *inboxFixture, a int64) { f.s.Claim(ctx, actor(f.alice, false), a) },
			func(f *inboxFixture, a int64) error {
				_, err := f.s.Assign(ctx, actor(f.alice, false), a, 0)
				return err
			},
			"message.returned", "", state("open", false, nobody)},
		{"progress", func(f *inboxFixture, a int64) { f.s.Claim(ctx, actor(f.alice, false), a) },
			func(f *inboxFixture, a int64) error {
				_, err := f.s.MarkInProgress(ctx, actor(f.alice, false), a)
				return err
			},
			"message.in_progress", "", state("open", true, alice)},
		{"done", func(f *inboxFixture, a int64) { f.s.MarkInProgress(ctx, actor(f.alice, false), a) },
			func(f *inboxFixture, a int64) error {
				_, err := f.s.MarkDone(ctx, actor(f.alice, false), a, "sent a quote")
				return err
			},
			"message.done", "sent a quote", func(t *testing.T, f *inboxFixture, a, b int64) {
				state("done", false, nobody)(t, f, a, b)
				if m := f.get(t, b); m.DoneNote != "sent a quote" {
					t.Errorf("done note = %q", m.DoneNote)
				}
			}},
		{"reopen", func(f *inboxFixture, a int64) { f.s.MarkDone(ctx, actor(f.alice, false), a, "x") },
			func(f *inboxFixture, a int64) error { _, err := f.s.Reopen(ctx, actor(f.alice, false), a); return err },
			"message.reopened", "", state("open", false, nobody)},
		{"transfer", func(f *inboxFixture, a int64) {
			f.s.Claim(ctx, actor(f.alice, false), a)
			f.s.MarkInProgress(ctx, actor(f.alice, false), a)
		},
			func(f *inboxFixture, a int64) error {
				_, err := f.s.Transfer(ctx, actor(f.alice, false), a, "700")
				return err
			},
			"message.transferred", "from 600 to 700", func(t *testing.T, f *inboxFixture, a, b int64) {
				state("open", false, nobody)(t, f, a, b)
				if f.get(t, a).Box != "700" || f.get(t, b).Box != "700" {
					t.Error("conversation not moved to 700")
				}
			}},
		{"note", nil, func(f *inboxFixture, a int64) error {
			return f.s.AddNote(ctx, actor(f.alice, false), a, "left a voicemail")
		},
			"message.note", "left a voicemail", state("open", false, nobody)},
		{"played", nil, func(f *inboxFixture, a int64) error {
			_, err := f.s.MarkPlayed(ctx, actor(f.alice, false), a, true)
			return err
		},
			"message.played", "", func(t *testing.T, f *inboxFixture, a, b int64) {
				if !f.get(t, a).Played || f.get(t, b).Played {
					t.Error("played must change the one message only")
				}
			}},
		{"unplayed", func(f *inboxFixture, a int64) { f.s.SetPlayed(ctx, a, true) },
			func(f *inboxFixture, a int64) error {
				_, err := f.s.MarkPlayed(ctx, actor(f.alice, false), a, false)
				return err
			},
			"message.unplayed", "", func(t *testing.T, f *inboxFixture, a, b int64) {
				if f.get(t, a).Played {
					t.Error("still played")
				}
			}},
		{"trash", nil, func(f *inboxFixture, a int64) error { _, err := f.s.Trash(ctx, actor(f.alice, false), a); return err },
			"message.trashed", "", func(t *testing.T, f *inboxFixture, a, b int64) {
				if f.get(t, a).DeletedAt == nil || f.get(t, b).DeletedAt != nil {
					t.Error("trash must move the one message only")
				}
			}},
		{"restore", func(f *inboxFixture, a int64) {
			f.s.Trash(ctx, actor(f.alice, false), a)
			f.s.MarkDone(ctx, actor(f.alice, false), a+1, "")
		},
			func(f *inboxFixture, a int64) error { _, err := f.s.Untrash(ctx, actor(f.alice, false), a); return err },
			"message.restored", "", state("done", false, nobody)},
		{"log action", nil, func(f *inboxFixture, a int64) error {
			return f.s.LogAction(ctx, actor(f.alice, false), "message.downloaded", a, "")
		}, "message.downloaded", "", state("open", false, nobody)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newInboxFixture(t)
			a := f.msg(t, "600", "5551", 0)
			b := f.msg(t, "600", "5551", 5) // same conversation
			if tc.prep != nil {
				tc.prep(f, a)
			}
			before := f.auditCount(t)
			updatedBefore := f.get(t, a).UpdatedAt
			time.Sleep(2 * time.Millisecond)
			if err := tc.do(f, a); err != nil {
				t.Fatal(err)
			}
			if n := f.auditCount(t); n != before+1 {
				t.Fatalf("audit rows: %d new, want exactly 1", n-before)
			}
			rows, err := f.s.AuditLog(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			r := rows[0]
			if r.Actor != "user:alice" || r.Action != tc.action || r.MessageID != a || r.Box != "600" || r.Detail != tc.detail || r.ID == 0 || r.At.IsZero() {
				t.Fatalf("audit row = %+v; want user:alice %s on %d in 600 (%q)", r, tc.action, a, tc.detail)
			}
			if tc.name != "log action" && !f.get(t, a).UpdatedAt.After(updatedBefore) {
				t.Error("updated_at not moved")
			}
			tc.check(t, f, a, b)
		})
	}
}

func TestWorkflowRefusals(t *testing.T) {
	ctx := context.Background()
	f := newInboxFixture(t)
	a := f.msg(t, "600", "5551", 0)
	if _, err := f.s.Claim(ctx, actor(f.alice, false), a); err != nil {
		t.Fatal(err)
	}
	member, manager := actor(f.carol, false), actor(f.bob, true)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"claim someone else's", func() error { _, err := f.s.Claim(ctx, member, a); return err }, ErrAssignedElsewhere},
		{"assign someone else's", func() error { _, err := f.s.Assign(ctx, member, a, f.carol.ID); return err }, ErrAssignedElsewhere},
		{"return someone else's", func() error { _, err := f.s.Assign(ctx, member, a, 0); return err }, ErrAssignedElsewhere},
		{"transfer someone else's", func() error { _, err := f.s.Transfer(ctx, member, a, "700"); return err }, ErrAssignedElsewhere},
		{"assign to a missing user", func() error { _, err := f.s.Assign(ctx, manager, a, 9999); return err }, ErrNotFound},
		{"transfer to a missing box", func() error { _, err := f.s.Transfer(ctx, manager, a, "999"); return err }, ErrNotFound},
		{"transfer to the same box", func() error { _, err := f.s.Transfer(ctx, manager, a, "600"); return err }, ErrInvalid},
		{"restore a message not in the trash", func() error { _, err := f.s.Untrash(ctx, manager, a); return err }, ErrNotInTrash},
		{"purge a message not in the trash", func() error { _, err := f.s.Purge(ctx, manager, a); return err }, ErrNotInTrash},
		{"empty note", func() error { return f.s.AddNote(ctx, member, a, "") }, ErrInvalid},
		{"missing message", func() error { _, err := f.s.Claim(ctx, member, 9999); return err }, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.auditCount(t)
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if f.auditCount(t) != before {
				t.Fatal("a refused action wrote an audit row")
			}
			if m := f.get(t, a); m.Assignee != f.alice.ID || m.Box != "600" {
				t.Fatalf("a refused action changed the message: %+v", m)
			}
		})
	}
	// The owner and a manager may; then the trash blocks the workflow.
	if _, err := f.s.Claim(ctx, actor(f.alice, false), a); err != nil {
		t.Fatalf("re-claim own message: %v", err)
	}
	if m, err := f.s.Claim(ctx, manager, a); err != nil || m.Assignee != f.bob.ID {
		t.Fatalf("manager take-over = %+v, %v", m, err)
	}
	if _, err := f.s.Trash(ctx, manager, a); err != nil {
		t.Fatal(err)
	}
	for name, do := range map[string]func() error{
		"claim":    func() error { _, err := f.s.Claim(ctx, manager, a); return err },
		"done":     func() error { _, err := f.s.MarkDone(ctx, manager, a, ""); return err },
		"transfer": func() error { _, err := f.s.Transfer(ctx, manager, a, "700"); return err },
		"trash":    func() error { _, err := f.s.Trash(ctx, manager, a); return err },
	} {
		if err := do(); !errors.Is(err, ErrInTrash) {
			t.Errorf("%s in the trash = %v, want ErrInTrash", name, err)
		}
	}
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	f := newInboxFixture(t)
	if err := f.s.SetInboxSettings(ctx, "700", InboxSettings{TrashDays: 1}); err != nil {
		t.Fatal(err)
	}
	a := f.msg(t, "600", "5551", 0)
	b := f.msg(t, "600", "5552", 1)
	c := f.msg(t, "700", "5553", 2)
	d := f.msg(t, "600", "5554", 3) // not trashed
	for _, id := range []int64{a, b, c} {
		if _, err := f.s.Trash(ctx, actor(f.bob, true), id); err != nil {
			t.Fatal(err)
		}
	}
	audio, err := f.s.Purge(ctx, actor(f.bob, true), a)
	if err != nil || audio != "m0.wav" {
		t.Fatalf("Purge = %q, %v", audio, err)
	}
	if _, err := f.s.Message(ctx, a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purged message still there: %v", err)
	}
	rows, _ := f.s.AuditQuery(ctx, AuditFilter{MessageID: a, Action: "message.purged"})
	if len(rows) != 1 || rows[0].Box != "600" || rows[0].Actor != "user:bob" || !strings.Contains(rows[0].Detail, "5551") {
		t.Fatalf("purge audit = %+v", rows)
	}
	// 700 keeps its trash one day, 600 thirty.
	now := time.Now()
	files, err := f.s.PurgeExpired(ctx, now.Add(2*24*time.Hour))
	if err != nil || !slices.Equal(files, []string{"m2.wav"}) {
		t.Fatalf("PurgeExpired after 2 days = %v, %v; want 700's message only", files, err)
	}
	files, err = f.s.PurgeExpired(ctx, now.Add(31*24*time.Hour))
	if err != nil || !slices.Equal(files, []string{"m1.wav"}) {
		t.Fatalf("PurgeExpired after 31 days = %v, %v", files, err)
	}
	rows, _ = f.s.AuditQuery(ctx, AuditFilter{Actor: "system", Action: "message.purged"})
	if len(rows) != 2 || rows[0].MessageID != b || !strings.HasPrefix(rows[0].Detail, "trash retention 30 days") ||
		rows[1].MessageID != c || !strings.HasPrefix(rows[1].Detail, "trash retention 1 days") {
		t.Fatalf("expiry audit = %+v", rows)
	}
	if _, err := f.s.Message(ctx, d); err != nil {
		t.Fatalf("message outside the trash purged: %v", err)
	}
}

func TestInboxViewsAndFilters(t *testing.T) {
	ctx := context.Background()
	f := newInboxFixture(t)
	if err := f.s.SetInboxSettings(ctx, "600", InboxSettings{TrashDays: 30}); err != nil { // no conversations
		t.Fatal(err)
	}
	al, bo := actor(f.alice, false), actor(f.bob, false)
	ids := make([]int64, 8)
	for i := range ids {
		ids[i] = f.msg(t, "600", fmt.Sprintf("+49301234%d", i), i*10)
	}
	o := f.msg(t, "700", "+4930999", 5)
	// 0: open unassigned; 1: alice's; 2: alice's in progress; 3: bob's; 4: done; 5: done, alice's; 6: trash; 7: open unassigned, played.
	f.s.Claim(ctx, al, ids[1])
	f.s.Claim(ctx, al, ids[2])
	f.s.MarkInProgress(ctx, al, ids[2])
	f.s.Claim(ctx, bo, ids[3])
	f.s.MarkDone(ctx, bo, ids[4], "")
	f.s.Claim(ctx, al, ids[5])
	f.s.MarkDone(ctx, al, ids[5], "")
	f.s.Trash(ctx, al, ids[6])
	f.s.SetPlayed(ctx, ids[7], true)
	rev := func(is ...int) []int64 { // newest first
		var out []int64
		for i := len(is) - 1; i >= 0; i-- {
			out = append(out, ids[is[i]])
		}
		return out
	}
	box := []string{"600"}
	tests := []struct {
		name string
		f    InboxFilter
		want []int64
	}{
		{"all", InboxFilter{Boxes: box}, rev(0, 1, 2, 3, 4, 5, 7)},
		{"unassigned", InboxFilter{Boxes: box, View: ViewUnassigned}, rev(0, 7)},
		{"mine", InboxFilter{Boxes: box, View: ViewMine, UserID: f.alice.ID}, rev(1, 2)},
		{"open", InboxFilter{Boxes: box, View: ViewOpen}, rev(0, 1, 2, 3, 7)},
		{"done", InboxFilter{Boxes: box, View: ViewDone}, rev(4, 5)},
		{"trash", InboxFilter{Boxes: box, View: ViewTrash}, rev(6)},
		{"status open", InboxFilter{Boxes: box, Status: "open"}, rev(0, 1, 3, 7)},
		{"status in progress", InboxFilter{Boxes: box, Status: "in_progress"}, rev(2)},
		{"status done", InboxFilter{Boxes: box, Status: "done"}, rev(4, 5)},
		{"assignee alice", InboxFilter{Boxes: box, Assignee: f.alice.ID}, rev(1, 2, 5)},
		{"unassigned by filter", InboxFilter{Boxes: box, Assignee: -1}, rev(0, 4, 7)},
		{"caller substring", InboxFilter{Boxes: box, Caller: "12343"}, rev(3)},
		{"caller wildcard is literal", InboxFilter{Boxes: box, Caller: "%"}, nil},
		{"from/to", InboxFilter{Boxes: box, From: f.base.Add(20 * time.Minute), To: f.base.Add(50 * time.Minute)}, rev(2, 3, 4)},
		{"two boxes", InboxFilter{Boxes: []string{"600", "700"}, View: ViewUnassigned}, []int64{ids[7], o, ids[0]}},
		{"no boxes", InboxFilter{}, nil},
		{"limit", InboxFilter{Boxes: box, Limit: 2}, rev(5, 7)},
		{"page after", InboxFilter{Boxes: box, BeforeTime: f.base.Add(40 * time.Minute), BeforeID: ids[4]}, rev(0, 1, 2, 3)},
		{"page two boxes", InboxFilter{Boxes: []string{"600", "700"}, BeforeTime: f.base.Add(10 * time.Minute), BeforeID: ids[1]}, []int64{o, ids[0]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, err := f.s.Inbox(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, it := range items {
				got = append(got, it.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ids = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := f.s.Inbox(ctx, InboxFilter{Boxes: box, View: "bogus"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad view: %v", err)
	}
	// Paging walks everything exactly once.
	var walked []int64
	page := InboxFilter{Boxes: []string{"600", "700"}, Limit: 3}
	for {
		items, err := f.s.Inbox(ctx, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			walked = append(walked, it.ID)
		}
		if len(items) < page.Limit {
			break
		}
		last := items[len(items)-1]
		page.BeforeTime, page.BeforeID = last.StartedAt, last.ID
	}
	if len(walked) != 8 || walked[len(walked)-1] != ids[0] {
		t.Fatalf("paging walked %v", walked)
	}
	// Row details.
	items, _ := f.s.Inbox(ctx, InboxFilter{Boxes: box, View: ViewMine, UserID: f.alice.ID})
	if it := items[0]; it.AssigneeName != "alice" || it.ConversationSize != 1 || it.TranscriptState != JobQueued || it.FirstLine != "transcribing…" {
		t.Fatalf("row = %+v", it)
	}
}

func TestInboxSearchAndFirstLine(t *testing.T) {
	ctx := context.Background()
	f := newInboxFixture(t)
	a := f.msg(t, "600", "5551", 0)
	b := f.msg(t, "600", "5552", 1)
	c := f.msg(t, "700", "5553", 2)
	long := strings.Repeat("word ", 40)
	for id, text := range map[int64]string{a: "Hello, please call me about the invoice.\nThanks.", b: "The invoicing " + long, c: "invoice for support"} {
		if err := f.s.SaveTranscript(ctx, Transcript{MessageID: id, Language: "en", Model: "m", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := f.s.Inbox(ctx, InboxFilter{Boxes: []string{"600"}, Query: "invoice"})
	if err != nil || len(items) != 1 || items[0].ID != a {
		t.Fatalf("search invoice = %+v, %v; want message %d only (whole word first)", items, err, a)
	}
	if it := items[0]; !strings.Contains(it.Snippet, "[invoice]") || it.FirstLine != "Hello, please call me about the invoice." || it.TranscriptState != JobDone {
		t.Fatalf("hit = %+v", it)
	}
	items, _ = f.s.Inbox(ctx, InboxFilter{Boxes: []string{"600"}, Query: "invoic"})
	if len(items) != 2 || items[0].ID != b || !strings.Contains(items[0].Snippet, "[invoicing]") {
		t.Fatalf("prefix fallback = %+v", items)
	}
	if fl := items[0].FirstLine; !strings.HasSuffix(fl, "…") || len([]rune(fl)) != 121 {
		t.Fatalf("long first line = %q", fl)
	}
	items, _ = f.s.Inbox(ctx, InboxFilter{Boxes: []string{"600", "700"}, Query: "invoice", View: ViewOpen})
	if len(items) != 2 || items[0].ID != c || items[1].ID != a {
		t.Fatalf("search across boxes = %+v", items)
	}
	items, _ = f.s.Inbox(ctx, InboxFilter{Boxes: []string{"600", "700"}, Query: "invoice", BeforeID: c})
	if len(items) != 1 || items[0].ID != a {
		t.Fatalf("search page two = %+v", items)
	}
	items, _ = f.s.Inbox(ctx, InboxFilter{Boxes: []string{"600"}, Query: "5552"})
	if len(items) != 1 || items[0].ID != b || !strings.Contains(items[0].Snippet, "[5552]") {
		t.Fatalf("search by caller number = %+v", items)
	}

	states := []struct {
		state, want string
	}{
		{JobNoModel, "not transcribed: no model"},
		{JobOff, "transcription off"},
		{JobFailed, "transcription failed"},
		{JobRunning, "transcribing…"},
	}
	for _, tc := range states {
		id := f.msg(t, "700", "5559", 100)
		f.s.db.Exec(`UPDATE transcription_jobs SET state = ? WHERE message_id = ?`, tc.state, id)
		items, _ := f.s.Inbox(ctx, InboxFilter{Boxes: []string{"700"}, Limit: 1})
		if items[0].ID != id || items[0].FirstLine != tc.want || items[0].TranscriptState != tc.state {
			t.Errorf("job %s: first line %q, want %q", tc.state, items[0].FirstLine, tc.want)
		}
		f.s.db.Exec(`DELETE FROM messages WHERE id = ?`, id)
	}
}

func TestInboxCounts(t *testing.T) {
	ctx := context.Background()
	f := newInboxFixture(t)
	if err := f.s.SetInboxSettings(ctx, "600", InboxSettings{TrashDays: 30}); err != nil {
		t.Fatal(err)
	}
	al := actor(f.alice, false)
	ids := make([]int64, 6)
	for i := range ids {
		ids[i] = f.msg(t, "600", fmt.Sprint(i), i)
	}
	f.s.Claim(ctx, al, ids[1])
	f.s.MarkDone(ctx, al, ids[2], "")
	f.s.Trash(ctx, al, ids[3])
	f.s.MarkPlayed(ctx, al, ids[4], true)
	f.s.Transfer(ctx, al, ids[5], "700")
	got, err := f.s.InboxCounts(ctx, []string{"600", "700", "101"}, f.alice.ID)
	want := map[string]InboxCounts{
		"600": {Box: "600", Unassigned: 2, Mine: 1, Open: 3, Done: 1, Trash: 1, Unplayed: 3},
		"700": {Box: "700", Unassigned: 1, Open: 1, Unplayed: 1},
		"101": {Box: "101"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("InboxCounts = %+v, %v\nwant %+v", got, err, want)
	}
	// The kept counts follow purges and restores.
	f.s.Untrash(ctx, al, ids[3])
	f.s.Trash(ctx, al, ids[2])
	f.s.Purge(ctx, al, ids[2])
	got, _ = f.s.InboxCounts(ctx, []string{"600"}, f.alice.ID)
	if c := got["600"]; c.Done != 0 || c.Trash != 0 || c.Unplayed != 3 || c.Open != 4 {
		t.Fatalf("after restore and purge: %+v", c)
	}
}

func TestCallerHistoryAndTimeline(t *testing.T) {
	ctx := context.Background()
	f := newInboxFixture(t)
	a := f.msg(t, "600", "5551", 0)
	f.msg(t, "700", "5551", 1)
	c := f.msg(t, "600", "5551", 2000) // a later conversation
	f.msg(t, "600", "5552", 3)
	if _, err := f.s.StartCall(ctx, Call{SIPCallID: "x", FromNumber: "5551", ToNumber: "600", StartedAt: f.base, Status: "answered"}); err != nil {
		t.Fatal(err)
	}
	msgs, calls, err := f.s.CallerHistory(ctx, "5551", []string{"600"}, 10)
	if err != nil || len(msgs) != 2 || msgs[0].ID != c || msgs[1].ID != a || len(calls) != 1 {
		t.Fatalf("CallerHistory = %v, %v, %v", msgs, calls, err)
	}
	if msgs, calls, _ := f.s.CallerHistory(ctx, "anonymous", []string{"600"}, 10); msgs != nil || calls != nil {
		t.Fatal("withheld numbers have no history")
	}
	b := f.msg(t, "600", "5551", 10) // joins a's conversation
	al := actor(f.alice, false)
	f.s.Claim(ctx, al, a)
	f.s.AddNote(ctx, al, b, "second")
	f.s.AddNote(ctx, al, c, "other conversation")
	tl, err := f.s.Timeline(ctx, b)
	if err != nil || len(tl) != 2 || tl[0].Action != "message.claimed" || tl[1].Detail != "second" {
		t.Fatalf("Timeline = %+v, %v", tl, err)
	}
}

func TestAuditQuery(t *testing.T) {
	ctx := context.Background()
	f := newInboxFixture(t)
	a := f.msg(t, "600", "5551", 0)
	b := f.msg(t, "700", "5552", 0)
	f.s.Claim(ctx, actor(f.alice, false), a)
	f.s.Claim(ctx, actor(f.bob, false), b)
	f.s.AddNote(ctx, actor(f.alice, false), b, "n")
	if err := f.s.Audit(ctx, "cli", "box.updated", "", 0, ""); err != nil {
		t.Fatal(err)
	}
	all, _ := f.s.AuditQuery(ctx, AuditFilter{})
	tests := []struct {
		name string
		f    AuditFilter
		want int
	}{
		{"all", AuditFilter{}, 4},
		{"actor by user name", AuditFilter{Actor: "alice"}, 2},
		{"actor spelled out", AuditFilter{Actor: "user:bob"}, 1},
		{"action", AuditFilter{Action: "message.claimed"}, 2},
		{"box", AuditFilter{Box: "700"}, 2},
		{"message", AuditFilter{MessageID: a}, 1},
		{"member's boxes", AuditFilter{Boxes: []string{"600"}}, 1},
		{"no boxes", AuditFilter{Boxes: []string{}}, 0},
		{"before", AuditFilter{BeforeID: all[1].ID}, 2},
		{"limit", AuditFilter{Limit: 1}, 1},
		{"from future", AuditFilter{From: time.Now().Add(time.Hour)}, 0},
		{"to past", AuditFilter{To: time.Now().Add(-time.Hour)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.s.AuditQuery(ctx, tc.f)
			if err != nil || len(got) != tc.want {
				t.Fatalf("AuditQuery = %d rows (%v), want %d", len(got), err, tc.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].ID >= got[i-1].ID {
					t.Fatal("not newest first")
				}
			}
		})
	}
	if err := f.s.QueueEmail(ctx, a, "x@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.QueueEmail(ctx, 9999, "x@example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("QueueEmail for a missing message = %v", err)
	}
}

func TestSubscribeReceivesChanges(t *testing.T) {
	ctx := context.Background()
	f := newInboxFixture(t)
	ch, cancel := f.s.Subscribe()
	defer cancel()
	next := func() Change {
		t.Helper()
		select {
		case c := <-ch:
			return c
		case <-time.After(time.Second):
			t.Fatal("no change published")
		}
		return Change{}
	}
	a := f.msg(t, "600", "5551", 0)
	if c := next(); c != (Change{Kind: ChangeNew, Box: "600", MessageID: a}) {
		t.Fatalf("new: %+v", c)
	}
	f.s.Claim(ctx, actor(f.alice, false), a)
	if c := next(); c != (Change{Kind: ChangeUpdated, Box: "600", MessageID: a, Actor: "user:alice"}) {
		t.Fatalf("claim: %+v", c)
	}
	f.s.SetPlayed(ctx, a, true)
	if c := next(); c.Kind != ChangeUpdated || c.MessageID != a {
		t.Fatalf("phone played: %+v", c)
	}
	f.s.SaveTranscript(ctx, Transcript{MessageID: a, Text: "hi"})
	if c := next(); c != (Change{Kind: ChangeTranscript, Box: "600", MessageID: a}) {
		t.Fatalf("transcript: %+v", c)
	}
	f.s.Transfer(ctx, actor(f.alice, false), a, "700")
	got := []Change{next(), next()}
	if got[0].Box != "700" || got[1].Box != "600" {
		t.Fatalf("transfer must reach both boxes: %+v", got)
	}
	f.s.TrashMessage(ctx, a, time.Now())
	if c := next(); c.Kind != ChangeDeleted || c.Box != "700" {
		t.Fatalf("phone delete: %+v", c)
	}
	if _, err := f.s.Claim(ctx, actor(f.alice, false), a); err == nil {
		t.Fatal("claim in the trash succeeded")
	}
	select {
	case c := <-ch:
		t.Fatalf("a failed action published %+v", c)
	default:
	}
}

// TestInboxQueryPlans keeps the list views on their indexes: each walks one
// index newest first and stops after a page (no sort of the whole box).
func TestInboxQueryPlans(t *testing.T) {
	f := newInboxFixture(t)
	for _, view := range []string{ViewUnassigned, ViewMine, ViewOpen, ViewDone, ViewAll} {
		for _, filter := range []InboxFilter{{View: view, UserID: 1}, {View: view, UserID: 1, BeforeTime: time.Now(), BeforeID: 9}} {
			conds, args, err := inboxConds(filter)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := f.s.read.Query(`EXPLAIN QUERY PLAN SELECT m.id FROM messages m WHERE m.box = ? AND `+conds+
				` ORDER BY m.started_at DESC, m.id DESC LIMIT 50`, append([]any{"600"}, args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				rows.Scan(&id, &parent, &unused, &detail)
				plan = append(plan, detail)
			}
			rows.Close()
			p := strings.Join(plan, "; ")
			if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "USING INDEX messages_") {
				t.Errorf("view %s: plan %q sorts or scans", view, p)
			}
		}
	}
}
