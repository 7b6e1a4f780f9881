package ui

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// TestBasicCache: verified Basic credentials are remembered, but never past
// a password change or the cache's minute, and wrong ones never.
func TestBasicCache(t *testing.T) {
	e := newAuthEnv(t)
	get := func(password string) int {
		return e.browser().do("GET", "/api/v1/me", nil, map[string]string{"Authorization": basic("alice", password)}).StatusCode
	}
	cached := func() int {
		e.s.basic.mu.Lock()
		defer e.s.basic.mu.Unlock()
		return len(e.s.basic.m)
	}
	if code := get("wrong-wrong-wrong"); code != http.StatusUnauthorized || cached() != 0 {
		t.Fatalf("wrong password: %d, %d cached", code, cached())
	}
	if code := get(alicePassword); code != http.StatusOK || cached() != 1 {
		t.Fatalf("right password: %d, %d cached", code, cached())
	}
	if code := get(alicePassword); code != http.StatusOK {
		t.Fatalf("cached password: %d", code)
	}
	// The password changes (another session, the CLI): the old one stops working at once.
	alice, err := e.st.UserByName(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	h, err := secret.Hash("a-brand-new-password")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateUser(context.Background(), alice.ID, store.UserUpdate{PasswordHash: &h}); err != nil {
		t.Fatal(err)
	}
	if code := get(alicePassword); code != http.StatusUnauthorized {
		t.Errorf("old password after a change: %d, want 401", code)
	}
	if code := get("a-brand-new-password"); code != http.StatusOK {
		t.Errorf("new password: %d", code)
	}
	// After the minute the password is checked again (still right: still ok).
	e.advance(2 * time.Minute)
	if code := get("a-brand-new-password"); code != http.StatusOK {
		t.Errorf("after the cache expired: %d", code)
	}
}
