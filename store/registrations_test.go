package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestExtensionCredentialsAndExists(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.AddExtension(ctx, Extension{Number: "101", Name: "Alice", Realm: "r", HA1MD5: "m", HA1SHA256: "s"}, ""); err != nil {
		t.Fatal(err)
	}
	if c, err := s.ExtensionCredentials(ctx, "101"); err != nil || c != (Credentials{Realm: "r", HA1MD5: "m", HA1SHA256: "s"}) {
		t.Fatalf("ExtensionCredentials = %+v, %v", c, err)
	}
	if _, err := s.ExtensionCredentials(ctx, "999"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown extension: %v, want ErrNotFound", err)
	}
	if ok, err := s.ExtensionExists(ctx, "101"); !ok || err != nil {
		t.Fatalf("ExtensionExists(101) = %v, %v", ok, err)
	}
	if ok, err := s.ExtensionExists(ctx, "999"); ok || err != nil {
		t.Fatalf("ExtensionExists(999) = %v, %v", ok, err)
	}
	// Nothing is cached: a new secret counts from the next lookup.
	if err := s.UpdateExtension(ctx, "101", ExtensionUpdate{Credentials: &Credentials{Realm: "r", HA1MD5: "m2", HA1SHA256: "s2"}}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ExtensionCredentials(ctx, "101"); c.HA1MD5 != "m2" || c.HA1SHA256 != "s2" {
		t.Fatalf("after a new secret: %+v", c)
	}
	if err := s.RemoveExtension(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.ExtensionExists(ctx, "101"); ok {
		t.Fatal("removed extension still exists")
	}
}

func TestBindingContactsMatchesBindings(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.AddExtension(ctx, Extension{Number: "101", Name: "Alice"}, ""); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, exp := range []time.Duration{time.Hour, -time.Second, 10 * time.Minute, 30 * time.Minute} {
		b := Binding{Extension: "101", Contact: "sip:101@10.0.0." + strconv.Itoa(i), Transport: "udp", Source: "10.0.0.1:5060", ExpiresAt: now.Add(exp)}
		if err := s.SaveBinding(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Bindings(ctx, "101", now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.BindingContacts(ctx, "101", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d live bindings, want 3", len(all))
	}
	pick := func(bs []Binding) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.Contact+" "+b.ExpiresAt.String())
		}
		return out
	}
	if !slices.Equal(pick(got), pick(all)) {
		t.Fatalf("BindingContacts = %v, Bindings = %v", pick(got), pick(all))
	}
}

// Readers stay open between queries: reopening one costs opening the file,
// the pragmas and parsing the schema, more than most queries.
func TestReadConnectionsStayOpen(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	var rows []interface{ Close() error }
	for range 8 {
		r, err := s.read.QueryContext(ctx, `SELECT 1`)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	for _, r := range rows {
		r.Close()
	}
	if st := s.read.Stats(); st.Idle != 8 || st.MaxIdleClosed != 0 {
		t.Fatalf("after 8 readers at once: %d idle, %d closed for want of idle room; want 8 and 0", st.Idle, st.MaxIdleClosed)
	}
}
