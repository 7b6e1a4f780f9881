package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUserCRUD(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.AddExtension(ctx, Extension{Number: "101", Name: "A", Realm: "r", HA1MD5: "x", HA1SHA256: "y"}, ""); err != nil {
		t.Fatal(err)
	}
	alice, err := s.AddUser(ctx, User{Name: "alice", Email: "alice@example.com", PasswordHash: "h", IsAdmin: true, Extension: "101"})
	if err != nil || alice.ID == 0 {
		t.Fatalf("add alice: %+v, %v", alice, err)
	}
	adds := []struct {
		name string
		u    User
		want error
	}{
		{"same name", User{Name: "alice", PasswordHash: "h"}, ErrExists},
		{"name in other case", User{Name: "ALICE", PasswordHash: "h"}, ErrExists},
		{"email taken", User{Name: "bob", Email: "Alice@example.com", PasswordHash: "h"}, ErrExists},
		{"name is someone's email", User{Name: "alice@example.com", PasswordHash: "h"}, ErrExists},
		{"no such extension", User{Name: "bob", PasswordHash: "h", Extension: "999"}, ErrNotFound},
		{"ok", User{Name: "bob", Email: "bob@example.com", PasswordHash: "h"}, nil},
	}
	for _, tc := range adds {
		_, err := s.AddUser(ctx, tc.u)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: AddUser = %v, want %v", tc.name, err, tc.want)
		}
	}
	bob, err := s.UserByName(ctx, "BOB@example.com")
	if err != nil || bob.Name != "bob" {
		t.Fatalf("UserByName by email: %+v, %v", bob, err)
	}
	if got, err := s.UserByID(ctx, alice.ID); err != nil || got.Extension != "101" || !got.IsAdmin {
		t.Fatalf("UserByID: %+v, %v", got, err)
	}
	no, yes, empty, ext, hash := false, true, "", "101", "h2"
	updates := []struct {
		name string
		id   int64
		up   UserUpdate
		want error
	}{
		{"last admin can't lose admin", alice.ID, UserUpdate{IsAdmin: &no}, ErrLastAdmin},
		{"email taken", bob.ID, UserUpdate{Email: &alice.Email}, ErrExists},
		{"no such extension", bob.ID, UserUpdate{Extension: new("555")}, ErrNotFound},
		{"no such user", 999, UserUpdate{IsAdmin: &yes}, ErrNotFound},
		{"link and make admin", bob.ID, UserUpdate{Extension: &ext, IsAdmin: &yes, PasswordHash: &hash, MustChangePassword: &yes}, nil},
		{"unlink", alice.ID, UserUpdate{Extension: &empty}, nil},
		{"now alice may lose admin", alice.ID, UserUpdate{IsAdmin: &no}, nil},
	}
	for _, tc := range updates {
		err := s.UpdateUser(ctx, tc.id, tc.up)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: UpdateUser = %v, want %v", tc.name, err, tc.want)
		}
	}
	bob, _ = s.UserByID(ctx, bob.ID)
	if !bob.IsAdmin || bob.Extension != "101" || bob.PasswordHash != "h2" || !bob.MustChangePassword {
		t.Errorf("bob after update: %+v", bob)
	}
	if err := s.RemoveUser(ctx, bob.ID); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("removing the last admin: %v, want ErrLastAdmin", err)
	}
	if err := s.RemoveUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveUser(ctx, alice.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 1 || users[0].Name != "bob" {
		t.Errorf("Users = %+v, %v", users, err)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	u, err := s.AddUser(ctx, User{Name: "alice", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	idle := 12 * time.Hour
	tok, csrf, err := s.CreateSession(ctx, u.ID, "127.0.0.1", "test", t0, idle)
	if err != nil || tok == "" || csrf == "" {
		t.Fatalf("CreateSession: %q %q %v", tok, csrf, err)
	}
	var stored string
	s.read.QueryRow(`SELECT token_hash FROM sessions`).Scan(&stored)
	if stored == tok {
		t.Fatal("the raw token is stored")
	}
	tests := []struct {
		name  string
		token string
		at    time.Time
		ok    bool
	}{
		{"fresh", tok, t0.Add(time.Second), true},
		{"wrong token", tok + "x", t0.Add(time.Second), false},
		{"used after 11 h slides the expiry", tok, t0.Add(11 * time.Hour), true},
		{"20 h after creation is within 12 h of last use", tok, t0.Add(20 * time.Hour), true},
		{"idle for 13 h", tok, t0.Add(33 * time.Hour), false},
	}
	for _, tc := range tests {
		got, ss, err := s.SessionUser(ctx, tc.token, tc.at)
		if tc.ok != (err == nil) {
			t.Fatalf("%s: SessionUser err = %v, want ok %v", tc.name, err, tc.ok)
		}
		if tc.ok && (got.ID != u.ID || ss.CSRF != csrf) {
			t.Errorf("%s: got user %d csrf %q", tc.name, got.ID, ss.CSRF)
		}
	}
	// The absolute limit holds however busy the session is.
	tok2, _, _ := s.CreateSession(ctx, u.ID, "", "", t0, idle)
	for at := t0; at.Before(t0.Add(SessionMaxAge)); at = at.Add(6 * time.Hour) {
		if _, _, err := s.SessionUser(ctx, tok2, at); err != nil {
			t.Fatalf("busy session ended at %v: %v", at.Sub(t0), err)
		}
	}
	if _, _, err := s.SessionUser(ctx, tok2, t0.Add(SessionMaxAge)); !errors.Is(err, ErrNotFound) {
		t.Errorf("session older than SessionMaxAge: %v", err)
	}
	now := t0.Add(SessionMaxAge - time.Hour)
	a, _, _ := s.CreateSession(ctx, u.ID, "", "", now, idle)
	b, _, _ := s.CreateSession(ctx, u.ID, "", "", now, idle)
	c, _, _ := s.CreateSession(ctx, u.ID, "", "", now, idle)
	if list, err := s.ListSessions(ctx, u.ID, now); err != nil || len(list) != 4 {
		t.Fatalf("ListSessions = %d, %v; want 4 (tok2 and three new)", len(list), err)
	}
	if err := s.DeleteSessionByID(ctx, u.ID, SessionID(c)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteUserSessions(ctx, u.ID, a); err != nil || n != 3 {
		t.Fatalf("DeleteUserSessions = %d, %v; want 3 (the idle one, tok2 and b)", n, err)
	}
	if _, _, err := s.SessionUser(ctx, b, now); err == nil {
		t.Error("b survived log out everywhere")
	}
	if _, _, err := s.SessionUser(ctx, a, now); err != nil {
		t.Errorf("the kept session ended: %v", err)
	}
	if err := s.DeleteSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, a, now); err == nil {
		t.Error("deleted session still works")
	}
	s.CreateSession(ctx, u.ID, "", "", t0, idle)
	if n, err := s.DeleteExpiredSessions(ctx, now); err != nil || n < 1 {
		t.Errorf("DeleteExpiredSessions = %d, %v", n, err)
	}
}

func TestLoginLockout(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if _, err := s.AddUser(ctx, User{Name: "alice", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	lim := DefaultLoginLimits
	t0 := time.Unix(1_700_000_000, 0)
	for _, name := range []string{"alice", "nobody"} {
		for i := range lim.MaxPerName {
			l, err := s.RecordLoginFailure(ctx, name, "10.0.0."+name, t0.Add(time.Duration(i)*time.Minute), lim)
			if err != nil {
				t.Fatal(err)
			}
			if locked := !l.NameUntil.IsZero(); locked != (i == lim.MaxPerName-1) {
				t.Fatalf("%s failure %d: name lock %v", name, i+1, l.NameUntil)
			}
		}
		last := t0.Add(time.Duration(lim.MaxPerName-1) * time.Minute)
		checks := []struct {
			at     time.Time
			locked bool
		}{
			{last.Add(time.Minute), true},
			{last.Add(lim.LockFor - time.Second), true},
			{last.Add(lim.LockFor), false},
		}
		for _, c := range checks {
			l, err := s.LoginLocked(ctx, name, "elsewhere", c.at, lim)
			if err != nil || l.Locked() != c.locked {
				t.Errorf("%s at +%v: locked %v (%+v), want %v", name, c.at.Sub(last), l.Locked(), l, c.locked)
			}
		}
	}
	if u, _ := s.UserByName(ctx, "alice"); u.LockedUntil.IsZero() {
		t.Error("users.locked_until not set")
	}
	if err := s.ClearLoginFailures(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.LoginLocked(ctx, "alice", "x", t0.Add(5*time.Minute), lim); l.Locked() {
		t.Errorf("still locked after ClearLoginFailures: %+v", l)
	}
	// Failures spread wider than the window don't lock.
	for i := range lim.MaxPerName {
		l, _ := s.RecordLoginFailure(ctx, "slow", "", t0.Add(time.Duration(i)*5*time.Minute), lim)
		if l.Locked() {
			t.Fatalf("slow failures locked at %d", i+1)
		}
	}
	// One source trying many names is blocked.
	var l LoginLock
	for i := range lim.MaxPerSource {
		l, _ = s.RecordLoginFailure(ctx, "n"+string(rune('a'+i)), "192.0.2.9", t0, lim)
	}
	if l.SourceUntil.IsZero() || !l.NameUntil.IsZero() {
		t.Errorf("after %d failures from one source: %+v", lim.MaxPerSource, l)
	}
}
