package pbx

import (
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
