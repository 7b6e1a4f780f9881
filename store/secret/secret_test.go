package secret

import (
	"strings"
	"testing"
)

func TestHash(t *testing.T) {
	h, err := Hash("correct horse")
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
		if got := Check(h, tc.password); got != tc.want {
			t.Errorf("Check(%q) = %v, want %v", tc.password, got, tc.want)
		}
	}
	if Check("$argon2id$garbage", "x") {
		t.Error("malformed hash accepted")
	}
}

func TestRandom(t *testing.T) {
	a, _ := Random(16)
	b, _ := Random(16)
	if len(a) != 16 || a == b {
		t.Fatalf("secrets %q %q: want 16 chars, different", a, b)
	}
}
