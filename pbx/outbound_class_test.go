package pbx

import (
	"testing"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// TestRuleClassPlusNumbers: a "+" number that only the catch-all rule
// covers is international (it can reach any country), so an extension
// limited to local or national calls can't reach abroad by dialling
// "+44..." instead of "0044..."; a rule with a "+" prefix classes its
// numbers itself, and emergency numbers stay emergency.
func TestRuleClassPlusNumbers(t *testing.T) {
	tests := []struct {
		rule   store.DialRule
		number string
		want   string
	}{
		{store.DialRule{Prefix: "", Class: "local"}, "+44201234567", "international"},
		{store.DialRule{Prefix: "", Class: "national"}, "+15551234", "international"},
		{store.DialRule{Prefix: "", Class: "local"}, "5551234", "local"},
		{store.DialRule{Prefix: "+1", Class: "national"}, "+15551234", "national"},
		{store.DialRule{Prefix: "+", Class: "local"}, "+15551234", "local"},
		{store.DialRule{Prefix: "00", Class: "international"}, "0044201234567", "international"},
		{store.DialRule{Prefix: "", Class: "local"}, "911", "emergency"},
	}
	for _, tc := range tests {
		if got := ruleClass(tc.rule, tc.number); got != tc.want {
			t.Errorf("ruleClass(prefix %q class %s, %s) = %s, want %s", tc.rule.Prefix, tc.rule.Class, tc.number, got, tc.want)
		}
	}
}
