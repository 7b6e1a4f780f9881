package store

import (
	"context"
	"errors"
	"testing"
)

// TestSaveTrunkReplaceKeepsDialRules checks that changing a trunk's settings
// keeps the dial rules that use it (a delete-and-insert would cascade).
func TestSaveTrunkReplaceKeepsDialRules(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tr := Trunk{Name: "itsp", Mode: "register", Host: "203.0.113.5", Transport: "udp", Username: "u", Password: "p", Codecs: "PCMU,PCMA", Expires: 300}
	if err := st.SaveTrunk(ctx, tr, false); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveTrunk(ctx, tr, false); !errors.Is(err, ErrExists) {
		t.Fatalf("adding the same trunk twice: %v, want ErrExists", err)
	}
	if err := st.SaveDialRule(ctx, DialRule{Prefix: "0", Trunk: "itsp", Class: "national"}); err != nil {
		t.Fatal(err)
	}
	tr.Host, tr.Password, tr.CallerID = "203.0.113.6:5080", "new", "+15550100"
	if err := st.SaveTrunk(ctx, tr, true); err != nil {
		t.Fatal(err)
	}
	got, err := st.Trunk(ctx, "itsp")
	if err != nil {
		t.Fatal(err)
	}
	if got != tr {
		t.Errorf("after replace: %+v, want %+v", got, tr)
	}
	rules, err := st.DialRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || rules[0].Trunk != "itsp" {
		t.Errorf("dial rules after replacing the trunk: %+v, want the one rule kept", rules)
	}
}
