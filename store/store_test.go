package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenAppliesMigrationsOnceAndSetsPragmas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	v, err := s.Version(ctx)
	if err != nil || v != SchemaVersion() || v == 0 {
		t.Fatalf("version = %d, %v; want %d", v, err, SchemaVersion())
	}
	pragmas := []struct{ name, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
	}
	for _, p := range pragmas {
		var got string
		if err := s.db.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(&got); err != nil || got != p.want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", p.name, got, err, p.want)
		}
	}
	if err := s.AddExtension(ctx, Extension{Number: "101", Name: "A", Realm: "r", HA1MD5: "x", HA1SHA256: "y"}, ""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Reopening keeps data and applies nothing twice.
	s2 := openTest(t, dir)
	if _, err := s2.Extension(ctx, "101"); err != nil {
		t.Fatalf("extension lost on reopen: %v", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Open = %v, want a newer-schema error", err)
	}
}

func TestUpgradeKeepsDataAndACopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.AddExtension(ctx, Extension{Number: "101", Name: "Kept", Realm: "r", HA1MD5: "m", HA1SHA256: "s"}, ""); err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	next := migration{version: SchemaVersion() + 1, name: "next.sql", sql: `ALTER TABLE extensions ADD COLUMN note TEXT NOT NULL DEFAULT ''`}
	if err := s.migrateWith(ctx, append(ms, next)); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Version(ctx); v != next.version {
		t.Fatalf("version after upgrade = %d, want %d", v, next.version)
	}
	if e, err := s.Extension(ctx, "101"); err != nil || e.Name != "Kept" {
		t.Fatalf("data lost in upgrade: %+v, %v", e, err)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, FileName+".v*.bak"))
	if len(backups) != 1 {
		t.Fatalf("backups = %v, want one copy made before the upgrade", backups)
	}
	// A failing migration changes nothing.
	broken := migration{version: next.version + 1, name: "broken.sql", sql: `ALTER TABLE nope ADD COLUMN x`}
	if err := s.migrateWith(ctx, append(ms, next, broken)); err == nil {
		t.Fatal("broken migration reported success")
	}
	if v, _ := s.Version(ctx); v != next.version {
		t.Fatalf("version after failed upgrade = %d, want %d", v, next.version)
	}
}

func TestExtensionLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	e := Extension{Number: "101", Name: "Alice", Realm: "r", HA1MD5: "m", HA1SHA256: "s"}
	if err := s.AddExtension(ctx, e, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddExtension(ctx, e, ""); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate add: %v, want ErrExists", err)
	}
	got, err := s.Extension(ctx, "101")
	if err != nil || got.Name != "Alice" || got.RingSeconds != DefaultRingSeconds {
		t.Fatalf("Extension = %+v, %v", got, err)
	}
	now := time.Now()
	if err := s.SaveBinding(ctx, Binding{Extension: "101", Contact: "sip:101@h", Transport: "udp", Source: "1.2.3.4:5", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBinding(ctx, Binding{Extension: "101", Contact: "sip:old@h", Transport: "udp", Source: "1.2.3.4:6", ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if bs, _ := s.Bindings(ctx, "101", now); len(bs) != 1 {
		t.Fatalf("live bindings = %d, want 1 (expired one hidden)", len(bs))
	}
	name, ring := "Alice B", 40
	if err := s.UpdateExtension(ctx, "101", ExtensionUpdate{Name: &name, RingSeconds: &ring}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Extension(ctx, "101"); got.Name != name || got.RingSeconds != ring {
		t.Fatalf("after update: %+v", got)
	}
	if err := s.UpdateExtension(ctx, "101", ExtensionUpdate{Credentials: &Credentials{Realm: "r", HA1MD5: "m2", HA1SHA256: "s2"}}); err != nil {
		t.Fatal(err)
	}
	if bs, _ := s.Bindings(ctx, "101", now); len(bs) != 0 {
		t.Fatal("a new secret must drop registrations made with the old one")
	}
	if err := s.RemoveExtension(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveExtension(ctx, "101"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v, want ErrNotFound", err)
	}
	if err := s.SaveBinding(ctx, Binding{Extension: "101", Contact: "c", ExpiresAt: now}); err == nil {
		t.Fatal("foreign key not enforced: binding saved for a removed extension")
	}
}

func TestCallLog(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	start := time.Now()
	id, err := s.StartCall(ctx, Call{SIPCallID: "c1", FromNumber: "101", FromName: "A", ToNumber: "102", StartedAt: start, Status: CallRinging})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CallAnswered(ctx, id, start.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.EndCall(ctx, id, start.Add(5*time.Second), CallCanceled, "callee"); err != nil {
		t.Fatal(err)
	}
	calls, err := s.RecentCalls(ctx, 10)
	if err != nil || len(calls) != 1 {
		t.Fatalf("RecentCalls = %v, %v", calls, err)
	}
	c := calls[0]
	if c.Status != CallAnswered || c.HangupBy != "callee" || c.AnsweredAt == nil || c.EndedAt == nil {
		t.Fatalf("call row = %+v: an answered call keeps status answered", c)
	}
}
