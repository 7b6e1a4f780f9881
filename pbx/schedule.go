package pbx

import (
	"fmt"
	"slices"
	"time"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// isOpen reports whether a schedule is open at t: t falls, in the
// schedule's time zone, inside one of its weekday spans and not on a holiday.
// A span whose closing time is before its opening time runs past midnight.
func isOpen(sc store.Schedule, t time.Time) (bool, error) {
	loc, err := time.LoadLocation(sc.Timezone)
	if err != nil {
		return false, fmt.Errorf("schedule %s: time zone %q: %w", sc.Name, sc.Timezone, err)
	}
	local := t.In(loc)
	if slices.Contains(sc.Holidays, local.Format(time.DateOnly)) {
		return false, nil
	}
	minute := local.Hour()*60 + local.Minute()
	yesterday := (int(local.Weekday()) + 6) % 7
	for _, h := range sc.Hours {
		opens, err1 := clockMinutes(h.Opens)
		closes, err2 := clockMinutes(h.Closes)
		if err1 != nil || err2 != nil {
			return false, fmt.Errorf("schedule %s: bad hours %s-%s", sc.Name, h.Opens, h.Closes)
		}
		switch {
		case opens < closes && h.Weekday == int(local.Weekday()) && minute >= opens && minute < closes:
			return true, nil
		case opens >= closes && h.Weekday == int(local.Weekday()) && minute >= opens:
			return true, nil // overnight span, evening part
		case opens >= closes && h.Weekday == yesterday && minute < closes:
			return true, nil // overnight span, after midnight
		}
	}
	return false, nil
}

// clockMinutes reads "HH:MM" (24 h; "24:00" is the end of the day).
func clockMinutes(s string) (int, error) {
	var h, m int
	if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || h < 0 || h > 24 || m < 0 || m > 59 || h == 24 && m != 0 {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	return h*60 + m, nil
}

// ValidClock reports whether s is a usable "HH:MM".
func ValidClock(s string) bool { _, err := clockMinutes(s); return err == nil }
