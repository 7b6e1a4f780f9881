package pbx

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// FuzzParseDestination: a destination either parses into a known kind and a
// 2-10 digit number that prints back as the same text, or is an error with
// nothing in it.
func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{"ext:101", "vm:600", "group:700", "queue:750", "attendant:800", " vm:600 ",
		"vm:6", "vm:12345678901", "voicemail:600", "vm600", "vm:600:1", "VM:600", "ext:١٠١", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDestination(s)
		if err != nil {
			if d != (Destination{}) {
				t.Fatalf("ParseDestination(%q) = %+v with error %v", s, d, err)
			}
			return
		}
		if !slices.Contains([]string{DestExtension, DestVoicemail, DestGroup, DestQueue, DestAttendant}, d.Kind) {
			t.Fatalf("ParseDestination(%q): kind %q", s, d.Kind)
		}
		if len(d.Number) < 2 || len(d.Number) > 10 || strings.Trim(d.Number, "0123456789") != "" {
			t.Fatalf("ParseDestination(%q): number %q", s, d.Number)
		}
		if d.String() != strings.TrimSpace(s) {
			t.Fatalf("ParseDestination(%q).String() = %q", s, d.String())
		}
		if again, err := ParseDestination(d.String()); err != nil || again != d {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
	})
}

// FuzzParseHours feeds schedule hours (several specs separated by ";", as
// repeated --hours flags give them) through ParseHours, then FormatHours and
// back: the spans must survive the round trip as a set, pass CheckSchedule,
// and be usable by isOpen at any time of the week.
func FuzzParseHours(f *testing.F) {
	for _, s := range []string{"mon-fri 09:00-17:00", "sat 10:00-14:00", "fri-mon 22:00-06:00", "sun 00:00-24:00",
		"mon-fri 09:00-12:00;mon-fri 13:00-17:00", "MON-Fri 9:00-17:00", "mon 24:01-25:00", "mon  09:00-17:00",
		"tue 09:00", "mon-sun 00:00-00:00", "xyz 09:00-17:00", "mon-fri 09:00-17:00;sat 10:00-14:00;sun 10:00-12:00"} {
		f.Add(s)
	}
	week := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // a Sunday
	f.Fuzz(func(t *testing.T, specs string) {
		parts := strings.Split(specs, ";")
		if len(parts) > 8 {
			return
		}
		var hours []store.OpenHours
		for _, spec := range parts {
			h, err := ParseHours(spec)
			if err != nil {
				if h != nil {
					t.Fatalf("ParseHours(%q) = %v with error %v", spec, h, err)
				}
				return
			}
			if len(h) < 1 || len(h) > 7 {
				t.Fatalf("ParseHours(%q): %d spans", spec, len(h))
			}
			for _, s := range h {
				for _, c := range []string{s.Opens, s.Closes} {
					m, err := clockMinutes(c)
					if err != nil || m < 0 || m > 24*60 {
						t.Fatalf("ParseHours(%q): time %q = %d, %v", spec, c, m, err)
					}
				}
			}
			hours = append(hours, h...)
		}
		sc := store.Schedule{Name: "office", Timezone: "UTC", Hours: hours}
		if err := CheckSchedule(&sc); err != nil {
			t.Fatalf("CheckSchedule refuses what ParseHours gave for %q: %v", specs, err)
		}
		var back []store.OpenHours
		for _, line := range FormatHours(hours) {
			h, err := ParseHours(line)
			if err != nil {
				t.Fatalf("FormatHours(ParseHours(%q)) line %q does not parse: %v", specs, line, err)
			}
			back = append(back, h...)
		}
		if !sameSpans(hours, back) {
			t.Fatalf("round trip of %q: %v became %v (%q)", specs, hours, back, FormatHours(hours))
		}
		for m := 0; m < 7*24*60; m += 7*60 + 13 {
			if _, err := isOpen(sc, week.Add(time.Duration(m)*time.Minute)); err != nil {
				t.Fatalf("isOpen with hours %q: %v", specs, err)
			}
		}
	})
}

func sameSpans(a, b []store.OpenHours) bool {
	key := func(h []store.OpenHours) []string {
		var out []string
		for _, s := range h {
			out = append(out, fmt.Sprintf("%d %q %q", s.Weekday, s.Opens, s.Closes))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(key(a), key(b))
}

// FuzzPlanOutbound dials arbitrary strings from extensions of every
// permission against a real dial plan: only digit strings are routed, the
// longest prefix wins, emergency numbers always go out and nothing else
// beyond the extension's permission does (toll fraud).
func FuzzPlanOutbound(f *testing.F) {
	ctx := context.Background()
	st, err := store.Open(ctx, f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if err := st.SaveTrunk(ctx, store.Trunk{Name: "itsp", Mode: "register", Host: "203.0.113.5", Transport: "udp",
		Username: "u", Password: "p", Codecs: "PCMU,PCMA", Expires: 300}, false); err != nil {
		f.Fatal(err)
	}
	rules := []store.DialRule{
		{Prefix: "00", Trunk: "itsp", Strip: 2, Prepend: "+", Class: "international"},
		{Prefix: "+", Trunk: "itsp", Class: "international"},
		{Prefix: "+4930", Trunk: "itsp", Strip: 5, Prepend: "030", Class: "local"},
		{Prefix: "0", Trunk: "itsp", Strip: 1, Prepend: "+49", Class: "national"},
		{Prefix: "9", Trunk: "itsp", Strip: 16, Class: "local"},
		{Prefix: "", Trunk: "itsp", Class: "local"},
	}
	for _, r := range rules {
		if err := CheckDialRule(ctx, st, &r); err != nil {
			f.Fatal(err)
		}
		if err := st.SaveDialRule(ctx, r); err != nil {
			f.Fatal(err)
		}
	}
	b := &b2bua{store: st}
	perms := append([]string{"", "bogus", "emergency"}, outboundLevels...)
	for _, n := range []string{"112", "911", "+4930123456", "004930123", "030123", "5551234", "0", "00", "+", "",
		"1 12", "112#", "*56", "sip:112@x", "+123456789012345678901234567890123", "９１１"} {
		f.Add(uint8(3), n)
		f.Add(uint8(6), n)
	}
	f.Fuzz(func(t *testing.T, p uint8, number string) {
		perm := perms[int(p)%len(perms)]
		ext := store.Extension{Number: "101", Outbound: perm}
		plan, err := b.planOutbound(ctx, ext, number)
		if !validDialString(number) {
			if !errors.Is(err, ErrNoRoute) {
				t.Fatalf("planOutbound(%q) = %+v, %v: want ErrNoRoute for a non-number", number, plan, err)
			}
			return
		}
		digits := strings.TrimPrefix(number, "+")
		if digits == "" || strings.Trim(digits, "0123456789") != "" || strings.Contains(number, " ") {
			t.Fatalf("validDialString accepted %q", number)
		}
		var rule store.DialRule
		for _, r := range rules {
			if strings.HasPrefix(number, r.Prefix) && len(r.Prefix) >= len(rule.Prefix) {
				rule = r
			}
		}
		class := rule.Class
		if isEmergency(number) {
			class = "emergency"
		}
		switch {
		case class == "emergency" && err != nil:
			t.Fatalf("emergency number %q refused for %q: %v", number, perm, err)
		case err == nil && !allowed(perm, class):
			t.Fatalf("%q (%s) allowed for permission %q", number, class, perm)
		case err != nil && !errors.Is(err, ErrNotAllowed):
			t.Fatalf("planOutbound(%q): %v", number, err)
		case err != nil && allowed(perm, class):
			t.Fatalf("%q (%s) refused for permission %q: %v", number, class, perm, err)
		case err != nil:
			return
		}
		want := number
		if rule.Strip > 0 && rule.Strip <= len(want) {
			want = want[rule.Strip:]
		}
		want = rule.Prepend + want
		if plan.trunk.Name != "itsp" || plan.class != class || plan.dialled != want {
			t.Fatalf("planOutbound(%q) = trunk %q class %q dialled %q; want itsp, %q, %q (rule %+v)",
				number, plan.trunk.Name, plan.class, plan.dialled, class, want, rule)
		}
		if d := strings.TrimPrefix(plan.dialled, "+"); strings.Trim(d, "0123456789") != "" {
			t.Fatalf("planOutbound(%q) dials %q", number, plan.dialled)
		}
	})
}

// FuzzParsePortRange: a range that parses is 1 <= lo < hi <= 65535 and
// reads the same again when written back.
func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"10000-20000", " 10000 - 20000 ", "1-65535", "0-10", "20000-10000", "5-5", "-", "10000", "+1-+2", "1-70000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParsePortRange(s)
		if err != nil {
			if lo != 0 || hi != 0 {
				t.Fatalf("ParsePortRange(%q) = %d, %d with error", s, lo, hi)
			}
			return
		}
		if lo < 1 || hi > 65535 || lo >= hi {
			t.Fatalf("ParsePortRange(%q) = %d, %d", s, lo, hi)
		}
		if lo2, hi2, err := ParsePortRange(fmt.Sprintf("%d-%d", lo, hi)); err != nil || lo2 != lo || hi2 != hi {
			t.Fatalf("round trip of %q: %d, %d, %v", s, lo2, hi2, err)
		}
	})
}
