package pbx

import (
	"errors"
	"slices"
	"testing"

	"github.com/frontdesk-pbx/frontdesk/store"
)

func TestHoursRoundTrip(t *testing.T) {
	tests := []struct {
		specs []string
		want  []string // FormatHours of what ParseHours read
	}{
		{[]string{"mon-fri 09:00-17:00"}, []string{"mon-fri 09:00-17:00"}},
		{[]string{"mon-thu 08:00-16:00", "fri 08:00-12:00"}, []string{"fri 08:00-12:00", "mon-thu 08:00-16:00"}},
		{[]string{"sat 22:00-02:00", "sun 10:00-14:00"}, []string{"sun 10:00-14:00", "sat 22:00-02:00"}},
		{[]string{"fri-mon 10:00-11:00"}, []string{"sun-mon 10:00-11:00", "fri-sat 10:00-11:00"}},
	}
	for _, tt := range tests {
		var hours []store.OpenHours
		for _, s := range tt.specs {
			h, err := ParseHours(s)
			if err != nil {
				t.Fatalf("ParseHours(%q): %v", s, err)
			}
			hours = append(hours, h...)
		}
		if got := FormatHours(hours); !slices.Equal(got, tt.want) {
			t.Errorf("FormatHours(ParseHours(%q)) = %q, want %q", tt.specs, got, tt.want)
		}
	}
	for _, bad := range []string{"mon-fri", "mon-fri 9-17", "xyz 09:00-17:00", "mon 09:00-25:00", "mon 09:60-10:00"} {
		if _, err := ParseHours(bad); err == nil {
			t.Errorf("ParseHours(%q) accepted", bad)
		}
	}
}

func TestCheckScheduleFields(t *testing.T) {
	tests := []struct {
		sc    store.Schedule
		field string
	}{
		{store.Schedule{Name: "", Timezone: "UTC"}, "name"},
		{store.Schedule{Name: "x", Timezone: "Nowhere/Special"}, "timezone"},
		{store.Schedule{Name: "x", Hours: []store.OpenHours{{Weekday: 7, Opens: "09:00", Closes: "10:00"}}}, "hours"},
		{store.Schedule{Name: "x", Hours: []store.OpenHours{{Weekday: 1, Opens: "9", Closes: "10:00"}}}, "hours"},
		{store.Schedule{Name: "x", Holidays: []string{"2026-02-30"}}, "holidays"},
		{store.Schedule{Name: "x", Hours: []store.OpenHours{{Weekday: 1, Opens: "09:00", Closes: "24:00"}}, Holidays: []string{"2026-12-25"}}, ""},
	}
	for _, tt := range tests {
		err := CheckSchedule(&tt.sc)
		var bad *Invalid
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("CheckSchedule(%+v) = %v, want ok", tt.sc, err)
		case tt.field != "" && (!errors.As(err, &bad) || bad.Fields[tt.field] == ""):
			t.Errorf("CheckSchedule(%+v) = %v, want a problem with %s", tt.sc, err, tt.field)
		}
	}
}

func TestCheckTrunkNamesTheField(t *testing.T) {
	ok := store.Trunk{Name: "itsp", Mode: "peer", Host: "192.0.2.1"}
	tests := []struct {
		change func(*store.Trunk)
		field  string
	}{
		{func(t *store.Trunk) { t.Name = "bad name" }, "name"},
		{func(t *store.Trunk) { t.Mode = "bogus" }, "mode"},
		{func(t *store.Trunk) { t.Host = "sip:192.0.2.1" }, "host"},
		{func(t *store.Trunk) { t.Transport = "tls" }, "transport"},
		{func(t *store.Trunk) { t.Mode, t.Password = "register", "p" }, "username"},
		{func(t *store.Trunk) { t.Mode, t.Username = "register", "u" }, "password"},
		{func(t *store.Trunk) { t.Username = "a b" }, "username"},
		{func(t *store.Trunk) { t.AuthUsername = "a b" }, "auth_username"},
		{func(t *store.Trunk) { t.CallerID = "Reception" }, "caller_id"},
		{func(t *store.Trunk) { t.Codecs = "G729" }, "codecs"},
		{func(t *store.Trunk) { t.Expires = 30 }, "expires"},
		{func(t *store.Trunk) { t.AllowFrom = "10.0.0.0/33" }, "allow_from"},
		{func(t *store.Trunk) { t.Host = "sbc.example" }, "allow_from"},
	}
	for _, tt := range tests {
		tr := ok
		tt.change(&tr)
		_, err := CheckTrunk(tr)
		var bad *Invalid
		if !errors.As(err, &bad) || bad.Fields[tt.field] == "" {
			t.Errorf("CheckTrunk(%+v) = %v, want a problem with %s", tr, err, tt.field)
		}
	}
	if _, err := CheckTrunk(ok); err != nil {
		t.Errorf("CheckTrunk(%+v) = %v", ok, err)
	}
}
