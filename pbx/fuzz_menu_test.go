package pbx

import (
	"context"
	"strings"
	"testing"
	"time"
)

// dtmfKeys are the keys a phone can send, by index.
const dtmfKeys = "0123456789*#ABCD"

// FuzzMenuDigits presses arbitrary key sequences into a call's digit queue
// and reads them the way the *56 menu and dial-by-extension do (readDigits
// up to a maximum, '#' ends, '*' alone is a command), optionally putting the
// first key of each entry back (type-ahead after a prompt). Entries never
// hold '#', never exceed the maximum, '*' only stands alone at the start,
// no key is lost or reordered, and an entry is a usable PIN exactly when it
// is 4 to 10 digits.
func FuzzMenuDigits(f *testing.F) {
	f.Add([]byte("600#1234#1"), uint8(10))
	f.Add([]byte("1234"), uint8(4))
	f.Add([]byte("*56600#"), uint8(0x80|10))
	f.Add([]byte("*#*#**##"), uint8(8))
	f.Add([]byte("12345678901234567890123456789"), uint8(0x80|3))
	f.Add([]byte("AB#CD#"), uint8(1))
	f.Fuzz(func(t *testing.T, keys []byte, ops uint8) {
		if len(keys) > 31 { // the queue holds 32 keys; '#' closes the last entry
			keys = keys[:31]
		}
		var in strings.Builder
		for _, k := range keys {
			in.WriteByte(dtmfKeys[k%16])
		}
		in.WriteByte('#')
		max := 1 + int(ops&0x7f)%12
		unread := ops&0x80 != 0
		cm := &callMedia{digits: make(chan rune, 32), done: make(chan struct{})}
		for _, r := range in.String() {
			cm.pushDigit(r)
		}
		ctx := context.Background()
		var got strings.Builder
		for n := 0; len(cm.digits) > 0; n++ {
			if n > 64 {
				t.Fatalf("keys %q: reading never ends", in.String())
			}
			s, err := cm.readDigits(ctx, max, time.Minute)
			if err != nil {
				t.Fatalf("readDigits: %v", err)
			}
			switch {
			case strings.Contains(s, "#"):
				t.Fatalf("keys %q: entry %q holds '#'", in.String(), s)
			case len(s) > max:
				t.Fatalf("keys %q: entry %q longer than %d", in.String(), s, max)
			case strings.HasPrefix(s, "*") && s != "*":
				t.Fatalf("keys %q: entry %q: '*' first must stand alone", in.String(), s)
			}
			isPIN := len(s) >= 4 && len(s) <= 10 && strings.Trim(s, "0123456789") == ""
			if ValidPIN(s) != isPIN {
				t.Fatalf("ValidPIN(%q) = %v", s, !isPIN)
			}
			if unread && s != "" && len(cm.digits) > 0 { // the final '#' is still queued
				cm.unreadDigit(rune(s[0]))
				again, err := cm.readDigits(ctx, max, time.Minute)
				if err != nil || !strings.HasPrefix(again, s[:1]) {
					t.Fatalf("keys %q: after putting back %q the next entry is %q, %v", in.String(), s[:1], again, err)
				}
				continue
			}
			got.WriteString(s)
		}
		if want := strings.ReplaceAll(in.String(), "#", ""); !unread && got.String() != want {
			t.Fatalf("keys %q read as %q", want, got.String())
		}
	})
}
