package pbx

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
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
		opens, err1 := storedClockMinutes(h.Opens)
		closes, err2 := storedClockMinutes(h.Closes)
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

// clockMinutes reads a time of day as schedules are written: "HH:MM" on a
// 24-hour clock, the hour in one or two digits ("9:05" or "09:05"), the
// minutes always in two; "24:00" is the end of the day. Nothing else: no
// spaces, signs or seconds, no "9:5".
func clockMinutes(s string) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) < 1 || len(hh) > 2 || len(mm) != 2 || !allDigits(hh) || !allDigits(mm) {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	h, _ := strconv.Atoi(hh)
	m, _ := strconv.Atoi(mm)
	if h > 24 || m > 59 || h == 24 && m != 0 {
		return 0, fmt.Errorf("time %q: want HH:MM from 00:00 to 24:00", s)
	}
	return h*60 + m, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// storedClockMinutes reads a time from a stored schedule. Schedules saved
// before times were checked strictly may hold looser forms ("9:5",
// " 9:05"): they are still read the way they were then, so a schedule
// that worked keeps working (an unreadable one would count as always open).
func storedClockMinutes(s string) (int, error) {
	if m, err := clockMinutes(s); err == nil {
		return m, nil
	}
	var h, m int
	if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || h < 0 || h > 24 || m < 0 || m > 59 || h == 24 && m != 0 {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	return h*60 + m, nil
}

// ValidClock reports whether s is a usable "HH:MM" (see clockMinutes).
func ValidClock(s string) bool { _, err := clockMinutes(s); return err == nil }

// CanonicalClock writes a valid time as "HH:MM" ("9:05" becomes "09:05");
// anything else is returned as it is.
func CanonicalClock(s string) string {
	m, err := clockMinutes(s)
	if err != nil {
		return s
	}
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

// validSpan reports whether opens-closes is a usable span: both valid
// times, and the opening time not "24:00" (the end of the day only closes).
func validSpan(opens, closes string) bool {
	o, err := clockMinutes(opens)
	return err == nil && o < 24*60 && ValidClock(closes)
}
