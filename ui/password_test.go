package ui

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash %q is not argon2id PHC", h)
	}
	tests := []struct {
		password string
		want     bool
	}{
		{"correct horse", true},
		{"correct horse ", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := CheckPassword(h, tc.password); got != tc.want {
			t.Errorf("CheckPassword(%q) = %v, want %v", tc.password, got, tc.want)
		}
	}
	if CheckPassword("$argon2id$garbage", "x") {
		t.Error("malformed hash accepted")
	}
}

func TestRandomSecret(t *testing.T) {
	a, _ := RandomSecret(16)
	b, _ := RandomSecret(16)
	if len(a) != 16 || a == b {
		t.Fatalf("secrets %q %q: want 16 chars, different", a, b)
	}
}
