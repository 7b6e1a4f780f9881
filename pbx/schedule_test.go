package pbx

import (
	"slices"
	"testing"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

func TestIsOpen(t *testing.T) {
	office := store.Schedule{Name: "office", Timezone: "America/New_York",
		Hours: []store.OpenHours{
			{Weekday: 1, Opens: "09:00", Closes: "17:00"},
			{Weekday: 5, Opens: "22:00", Closes: "02:00"}, // Friday night shift into Saturday
		},
		Holidays: []string{"2026-12-28"},
	}
	ny, _ := time.LoadLocation("America/New_York")
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"monday morning", time.Date(2026, 11, 23, 9, 0, 0, 0, ny), true},
		{"monday before opening", time.Date(2026, 11, 23, 8, 59, 0, 0, ny), false},
		{"monday at closing", time.Date(2026, 11, 23, 17, 0, 0, 0, ny), false},
		{"same instant in UTC", time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC), true},
		{"tuesday", time.Date(2026, 11, 24, 10, 0, 0, 0, ny), false},
		{"holiday monday", time.Date(2026, 12, 28, 10, 0, 0, 0, ny), false},
		{"friday night", time.Date(2026, 11, 27, 23, 0, 0, 0, ny), true},
		{"saturday after midnight", time.Date(2026, 11, 28, 1, 30, 0, 0, ny), true},
		{"saturday morning", time.Date(2026, 11, 28, 2, 0, 0, 0, ny), false},
	}
	for _, tc := range tests {
		got, err := isOpen(office, tc.at)
		if err != nil || got != tc.want {
			t.Errorf("%s: isOpen = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := isOpen(store.Schedule{Timezone: "Mars/Olympus"}, time.Now()); err == nil {
		t.Error("unknown time zone accepted")
	}
	for s, want := range map[string]bool{"09:00": true, "24:00": true, "24:01": false, "9": false, "ab:cd": false} {
		if ValidClock(s) != want {
			t.Errorf("ValidClock(%q) = %v", s, !want)
		}
	}
}

func TestValidClock(t *testing.T) {
	tests := []struct {
		in    string
		valid bool
		canon string // CanonicalClock, when valid
	}{
		{"09:05", true, "09:05"},
		{"9:05", true, "09:05"},
		{"00:00", true, "00:00"},
		{"0:00", true, "00:00"},
		{"23:59", true, "23:59"},
		{"24:00", true, "24:00"}, // the end of the day
		{"12:00", true, "12:00"},
		{"9:5", false, ""},
		{"09:5", false, ""},
		{"24:01", false, ""},
		{"25:00", false, ""},
		{"12:60", false, ""},
		{" 9:05", false, ""},
		{"9:05 ", false, ""},
		{"009:05", false, ""},
		{"+9:05", false, ""},
		{"-1:00", false, ""},
		{"9:05:00", false, ""},
		{"09:00x", false, ""},
		{"0900", false, ""},
		{"９:05", false, ""}, // fullwidth digit
		{":05", false, ""},
		{"9:", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		if got := ValidClock(tt.in); got != tt.valid {
			t.Errorf("ValidClock(%q) = %v, want %v", tt.in, got, tt.valid)
		}
		if tt.valid {
			if got := CanonicalClock(tt.in); got != tt.canon {
				t.Errorf("CanonicalClock(%q) = %q, want %q", tt.in, got, tt.canon)
			}
		} else if got := CanonicalClock(tt.in); got != tt.in {
			t.Errorf("CanonicalClock(%q) = %q, want it unchanged", tt.in, got)
		}
	}
}

func TestParseHoursTimes(t *testing.T) {
	tests := []struct {
		spec          string
		opens, closes string // of the first span; "" when refused
	}{
		{"mon-fri 09:00-17:00", "09:00", "17:00"},
		{"mon 9:05-17:30", "09:05", "17:30"},
		{"sun 00:00-24:00", "00:00", "24:00"},
		{"fri 22:00-6:00", "22:00", "06:00"},
		{"mon 24:00-06:00", "", ""}, // 24:00 only closes
		{"mon 9:5-17:00", "", ""},
		{"mon 12:60-13:00", "", ""},
		{"mon 09:00-17:00x", "", ""},
		{"mon 09:00 -17:00", "", ""},
	}
	for _, tt := range tests {
		h, err := ParseHours(tt.spec)
		if tt.opens == "" {
			if err == nil {
				t.Errorf("ParseHours(%q) = %v, want an error", tt.spec, h)
			}
			continue
		}
		if err != nil || len(h) == 0 || h[0].Opens != tt.opens || h[0].Closes != tt.closes {
			t.Errorf("ParseHours(%q) = %v, %v; want %s-%s", tt.spec, h, err, tt.opens, tt.closes)
		}
	}
}

func TestCheckScheduleTimes(t *testing.T) {
	tests := []struct {
		name    string
		hours   []store.OpenHours
		wantErr bool
		want    []store.OpenHours // after CheckSchedule
	}{
		{"canonical", []store.OpenHours{{Weekday: 1, Opens: "09:00", Closes: "17:00"}}, false,
			[]store.OpenHours{{Weekday: 1, Opens: "09:00", Closes: "17:00"}}},
		{"one-digit hours are written with two", []store.OpenHours{{Weekday: 2, Opens: "9:05", Closes: "24:00"}}, false,
			[]store.OpenHours{{Weekday: 2, Opens: "09:05", Closes: "24:00"}}},
		{"one-digit minutes", []store.OpenHours{{Weekday: 1, Opens: "9:5", Closes: "17:00"}}, true, nil},
		{"leading space", []store.OpenHours{{Weekday: 1, Opens: " 9:05", Closes: "17:00"}}, true, nil},
		{"opening at 24:00", []store.OpenHours{{Weekday: 1, Opens: "24:00", Closes: "06:00"}}, true, nil},
		{"minute 60", []store.OpenHours{{Weekday: 1, Opens: "12:60", Closes: "13:00"}}, true, nil},
	}
	for _, tt := range tests {
		sc := store.Schedule{Name: "office", Timezone: "UTC", Hours: tt.hours}
		err := CheckSchedule(&sc)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: CheckSchedule = %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !slices.Equal(sc.Hours, tt.want) {
			t.Errorf("%s: hours %v, want %v", tt.name, sc.Hours, tt.want)
		}
	}
}

// Schedules stored before times were checked strictly keep working.
func TestIsOpenReadsLegacyTimes(t *testing.T) {
	sc := store.Schedule{Name: "old", Timezone: "UTC", Hours: []store.OpenHours{{Weekday: 1, Opens: " 9:5", Closes: "17:00"}}}
	tests := []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 11, 23, 9, 4, 0, 0, time.UTC), false},
		{time.Date(2026, 11, 23, 9, 5, 0, 0, time.UTC), true},
		{time.Date(2026, 11, 23, 17, 0, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		if got, err := isOpen(sc, tt.at); err != nil || got != tt.want {
			t.Errorf("isOpen at %s = %v, %v; want %v", tt.at.Format(time.Kitchen), got, err, tt.want)
		}
	}
}
