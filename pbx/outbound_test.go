package pbx

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/frontdesk-pbx/frontdesk/store"
)

func TestOutboundPermission(t *testing.T) {
	tests := []struct {
		permission, class string
		want              bool
	}{
		{"internal", "local", false},
		{"internal", "emergency", true},
		{"local", "local", true},
		{"local", "national", false},
		{"national", "local", true},
		{"national", "international", false},
		{"international", "international", true},
		{"bogus", "local", false},
	}
	for _, tc := range tests {
		if got := allowed(tc.permission, tc.class); got != tc.want {
			t.Errorf("allowed(%s, %s) = %v, want %v", tc.permission, tc.class, got, tc.want)
		}
	}
}

func TestPickRuleLongestPrefix(t *testing.T) {
	rules := []store.DialRule{ // as the store returns them: longest prefix first
		{Prefix: "9011", Class: "international"},
		{Prefix: "91", Class: "national"},
		{Prefix: "9", Class: "local"},
		{Prefix: "", Class: "national"},
	}
	tests := map[string]string{"9011441234": "9011", "915551234": "91", "95551234": "9", "5551234": ""}
	for number, want := range tests {
		r, ok := pickRule(rules, number)
		if !ok || r.Prefix != want {
			t.Errorf("pickRule(%s) = %q, %v; want %q", number, r.Prefix, ok, want)
		}
	}
	if _, ok := pickRule(rules[:3], "5551234"); ok {
		t.Error("a number no rule covers matched")
	}
}

func TestMatchSource(t *testing.T) {
	src := netip.MustParseAddrPort("203.0.113.9:5060")
	tests := map[string]bool{
		"203.0.113.9":      true,
		"203.0.113.9:5060": true,
		"203.0.113.9:5070": false,
		"203.0.113.0/24":   true,
		"198.51.100.0/24":  false,
		"":                 false,
		"not-an-address":   false,
	}
	for allow, want := range tests {
		if got := matchSource(allow, src); got != want {
			t.Errorf("matchSource(%q) = %v, want %v", allow, got, want)
		}
	}
}

func TestValidDialString(t *testing.T) {
	for s, want := range map[string]bool{"+15551234": true, "0044": true, "": false, "+": false, "12a": false, "*56": false} {
		if validDialString(s) != want {
			t.Errorf("validDialString(%q) = %v", s, !want)
		}
	}
}

func TestTrunkCodecs(t *testing.T) {
	names := func(allowed string) string {
		var out []string
		for _, c := range trunkCodecs(allowed) {
			out = append(out, c.Name)
		}
		return strings.Join(out, ",")
	}
	tests := map[string]string{
		"PCMA":       "PCMA,telephone-event",
		"pcmu, pcma": "PCMU,PCMA,telephone-event",
		"":           "PCMU,PCMA,telephone-event",
		"G729":       "PCMU,PCMA,telephone-event",
	}
	for allowed, want := range tests {
		if got := names(allowed); got != want {
			t.Errorf("trunkCodecs(%q) = %s, want %s", allowed, got, want)
		}
	}
}

// fakeHealth reports the trunks it lists as unreachable.
type fakeHealth map[string]string

func (f fakeHealth) Unreachable(name string) (string, bool) {
	why, down := f[name]
	return why, down
}

func TestTrunkUnreachable(t *testing.T) {
	health := fakeHealth{"dead": "no answer from 192.0.2.1 over udp"}
	tests := []struct {
		name   string
		health trunkHealth
		trunk  string
		class  string
		want   bool
	}{
		{"reachable trunk", health, "itsp", "national", false},
		{"unreachable trunk", health, "dead", "national", true},
		{"unreachable trunk, international", health, "dead", "international", true},
		{"unreachable trunk, emergency call still tried", health, "dead", "emergency", false},
		{"no keeper", nil, "dead", "national", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := outboundPlan{trunk: store.Trunk{Name: tc.trunk}, dialled: "0201234567", class: tc.class}
			why, down := trunkUnreachable(tc.health, plan)
			if down != tc.want {
				t.Fatalf("trunkUnreachable = %v, want %v", down, tc.want)
			}
			if down && why != health[tc.trunk] {
				t.Errorf("why %q, want %q", why, health[tc.trunk])
			}
		})
	}
}
