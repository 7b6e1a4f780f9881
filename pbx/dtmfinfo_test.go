package pbx

import "testing"

func TestParseInfoDigit(t *testing.T) {
	tests := []struct {
		ct, body string
		want     rune
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true},
		{"application/dtmf-relay; charset=x", "signal= #\r\n", '#', true},
		{"application/dtmf", "*", '*', true},
		{"application/dtmf", "12", 0, false},
		{"application/dtmf-relay", "Signal=x", 0, false},
		{"text/plain", "5", 0, false},
		{"application/dtmf-relay", "", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseInfoDigit(tc.ct, tc.body)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseInfoDigit(%q, %q) = %q, %v; want %q, %v", tc.ct, tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseInfoDigit(f *testing.F) {
	f.Add("application/dtmf-relay", "Signal=5\r\nDuration=160")
	f.Add("application/dtmf", "#")
	f.Fuzz(func(t *testing.T, ct, body string) {
		if d, ok := parseInfoDigit(ct, body); ok && !containsRune("0123456789*#ABCD", d) {
			t.Fatalf("accepted %q", d)
		}
	})
}

func containsRune(s string, r rune) bool {
	for _, c := range s {
		if c == r {
			return true
		}
	}
	return false
}
