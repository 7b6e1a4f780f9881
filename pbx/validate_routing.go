package pbx

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/frontdesk-pbx/frontdesk/pbx/trunk"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Routing settings are validated here, once, so that the CLI and the admin
// portal accept and refuse exactly the same things. Each Check function
// tidies its value in place (spaces trimmed) and returns an *Invalid naming
// every field at fault by its JSON name.

// Invalid lists what is wrong with some settings, by field. Each message is a
// sentence that stands on its own (it names the setting), so the CLI prints
// them as they are and the portal shows them beside their fields.
type Invalid struct {
	Fields map[string]string
	order  []string
}

// Add records what is wrong with field (the first problem per field wins).
func (e *Invalid) Add(field, format string, args ...any) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[field]; ok {
		return
	}
	e.Fields[field] = fmt.Sprintf(format, args...)
	e.order = append(e.order, field)
}

// Merge adds the problems of err, an *Invalid (any other error goes under
// the field "").
func (e *Invalid) Merge(err error) {
	var other *Invalid
	switch {
	case err == nil:
	case errors.As(err, &other):
		for _, f := range other.order {
			e.Add(f, "%s", other.Fields[f])
		}
	default:
		e.Add("", "%s", err.Error())
	}
}

// Error joins the messages in the order they were found.
func (e *Invalid) Error() string {
	msgs := make([]string, 0, len(e.order))
	for _, f := range e.order {
		msgs = append(msgs, e.Fields[f])
	}
	return strings.Join(msgs, "; ")
}

// Err is e as an error, nil when nothing is wrong.
func (e *Invalid) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// InvalidField makes an *Invalid with one problem.
func InvalidField(field, format string, args ...any) *Invalid {
	e := &Invalid{}
	e.Add(field, format, args...)
	return e
}

// dialableNumber: 2 to 8 digits, not starting with 0 (the operator) or *
// (feature codes); the same rule as extensions, whose numbers they share.
var dialableNumber = regexp.MustCompile(`^[1-9][0-9]{1,7}$`)

// CheckNumber checks the number of an extension, ring group, queue or
// attendant.
func CheckNumber(n string) error {
	if !dialableNumber.MatchString(n) {
		return fmt.Errorf("number %q: want 2 to 8 digits, not starting with 0", n)
	}
	return nil
}

// CheckDest validates a destination ("vm:600") and that what it names exists.
// what names the setting in the message ("no-answer destination").
func CheckDest(ctx context.Context, st *store.Store, what, value string) error {
	d, err := ParseDestination(value)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var lookErr error
	var kind string
	switch d.Kind {
	case DestExtension:
		kind = "extension"
		_, lookErr = st.Extension(ctx, d.Number)
	case DestVoicemail:
		kind = "voicemail box"
		_, lookErr = st.Box(ctx, d.Number)
	case DestGroup:
		kind = "ring group"
		_, lookErr = st.RingGroup(ctx, d.Number)
	case DestAttendant:
		kind = "auto attendant"
		_, lookErr = st.Attendant(ctx, d.Number)
	case DestQueue:
		kind = "queue"
		_, lookErr = st.Queue(ctx, d.Number)
	}
	if errors.Is(lookErr, store.ErrNotFound) {
		return fmt.Errorf("%s %s: there is no %s %s", what, value, kind, d.Number)
	}
	if lookErr != nil {
		return fmt.Errorf("%s %s: %w", what, value, lookErr)
	}
	return nil
}

// checkDestField adds a problem for field when value is set and bad.
func checkDestField(ctx context.Context, st *store.Store, bad *Invalid, field, what, value string) {
	if value == "" {
		return
	}
	if err := CheckDest(ctx, st, what, value); err != nil {
		bad.Add(field, "%s", err.Error())
	}
}

// checkMembers trims a member list and checks each is an extension.
func checkMembers(ctx context.Context, st *store.Store, bad *Invalid, members []string) []string {
	var out []string
	for _, m := range members {
		m = strings.TrimSpace(m)
		if m == "" || slices.Contains(out, m) {
			continue
		}
		if _, err := st.Extension(ctx, m); errors.Is(err, store.ErrNotFound) {
			bad.Add("members", "member %s: there is no extension %s", m, m)
		} else if err != nil {
			bad.Add("members", "member %s: %v", m, err)
		}
		out = append(out, m)
	}
	return out
}

// CheckRingGroup validates a ring group.
func CheckRingGroup(ctx context.Context, st *store.Store, g *store.RingGroup) error {
	bad := &Invalid{}
	if err := CheckNumber(g.Number); err != nil {
		bad.Add("number", "%s", err.Error())
	}
	if g.Name = strings.TrimSpace(g.Name); g.Name == "" {
		bad.Add("name", "name is required")
	}
	if g.Members = checkMembers(ctx, st, bad, g.Members); len(g.Members) == 0 {
		bad.Add("members", "members are required: the extensions to ring, e.g. 101,102")
	}
	if !slices.Contains([]string{"all", "order"}, g.Strategy) {
		bad.Add("strategy", "strategy %q: want all (ring everyone at once) or order (one after another)", g.Strategy)
	}
	if g.RingSeconds < 1 || g.RingSeconds > 600 {
		bad.Add("ring_seconds", "ring time %d: want 1 to 600 seconds", g.RingSeconds)
	}
	if g.Timeout < 1 || g.Timeout > 3600 {
		bad.Add("timeout", "timeout %d: want 1 to 3600 seconds", g.Timeout)
	}
	g.NoAnswer = strings.TrimSpace(g.NoAnswer)
	checkDestField(ctx, st, bad, "no_answer", "no-answer destination", g.NoAnswer)
	return bad.Err()
}

// CheckQueue validates a queue. Nil Members means "keep the members" (an
// update that does not change them); an empty list is refused.
func CheckQueue(ctx context.Context, st *store.Store, q *store.Queue) error {
	bad := &Invalid{}
	if err := CheckNumber(q.Number); err != nil {
		bad.Add("number", "%s", err.Error())
	}
	if q.Name = strings.TrimSpace(q.Name); q.Name == "" {
		bad.Add("name", "name is required")
	}
	if q.Members != nil {
		names := make([]string, 0, len(q.Members))
		for _, m := range q.Members {
			names = append(names, m.Extension)
		}
		names = checkMembers(ctx, st, bad, names)
		if len(names) == 0 {
			bad.Add("members", "members are required: the extensions answering the queue")
		}
		q.Members = q.Members[:0]
		for _, n := range names {
			q.Members = append(q.Members, store.QueueMember{Extension: n})
		}
	}
	if !slices.Contains([]string{"roundrobin", "longest-idle"}, q.Strategy) {
		bad.Add("strategy", "strategy %q: want roundrobin or longest-idle", q.Strategy)
	}
	if q.RingSeconds < 1 || q.RingSeconds > 300 {
		bad.Add("ring_seconds", "ring time %d: want 1 to 300 seconds", q.RingSeconds)
	}
	if q.MaxWait < 5 || q.MaxWait > 7200 {
		bad.Add("max_wait", "max wait %d: want 5 to 7200 seconds", q.MaxWait)
	}
	if q.AnnounceSeconds < 0 || q.AnnounceSeconds > 3600 {
		bad.Add("announce_seconds", "announcement interval %d: want 0 (none) to 3600 seconds", q.AnnounceSeconds)
	}
	q.LeaveDigit = strings.TrimSpace(q.LeaveDigit)
	if len(q.LeaveDigit) > 1 || q.LeaveDigit != "" && !strings.Contains("0123456789*#", q.LeaveDigit) {
		bad.Add("leave_digit", "leave digit %q: want one key (0-9, * or #), or empty for none", q.LeaveDigit)
	}
	q.Fallback = strings.TrimSpace(q.Fallback)
	checkDestField(ctx, st, bad, "fallback", "fallback destination", q.Fallback)
	for _, m := range q.Music {
		if m == "" || strings.ContainsAny(m, `/\`) || strings.HasPrefix(m, ".") {
			bad.Add("music", "music %q: want the name of a file under music/", m)
		}
	}
	return bad.Err()
}

// AttendantKeys are the keys an attendant's options may use.
const AttendantKeys = "0123456789*#"

// CheckAttendant validates an auto attendant; a key's problem is reported
// under the field "options.KEY".
func CheckAttendant(ctx context.Context, st *store.Store, a *store.Attendant) error {
	bad := &Invalid{}
	if err := CheckNumber(a.Number); err != nil {
		bad.Add("number", "%s", err.Error())
	}
	if a.Name = strings.TrimSpace(a.Name); a.Name == "" {
		bad.Add("name", "name is required")
	}
	for key, dest := range a.Options {
		dest = strings.TrimSpace(dest)
		a.Options[key] = dest
		field := "options." + key
		switch {
		case len(key) != 1 || !strings.Contains(AttendantKeys, key):
			bad.Add("options", "key %q: want one of 0-9, * or #", key)
		case dest == "":
			bad.Add(field, "key %s: give a destination, dial-by-extension or repeat", key)
		case dest == OptionDialByExtension || dest == OptionRepeat:
		default:
			checkDestField(ctx, st, bad, field, "key "+key, dest)
		}
	}
	for _, f := range []struct {
		field, what string
		value       *string
	}{
		{"timeout_dest", "timeout destination", &a.TimeoutDest},
		{"invalid_dest", "wrong-key destination", &a.InvalidDest},
		{"after_hours_dest", "after-hours destination", &a.AfterHoursDest},
	} {
		*f.value = strings.TrimSpace(*f.value)
		checkDestField(ctx, st, bad, f.field, f.what, *f.value)
	}
	checkScheduleRef(ctx, st, bad, &a.Schedule)
	return bad.Err()
}

// checkScheduleRef checks that a schedule named by a setting exists.
func checkScheduleRef(ctx context.Context, st *store.Store, bad *Invalid, name *string) {
	if *name = strings.TrimSpace(*name); *name == "" {
		return
	}
	if _, err := st.Schedule(ctx, *name); errors.Is(err, store.ErrNotFound) {
		bad.Add("schedule", "schedule %q: there is no such schedule (see frontdesk schedule set)", *name)
	} else if err != nil {
		bad.Add("schedule", "schedule %q: %v", *name, err)
	}
}

// Weekdays are the day names schedules use, Sunday first (time.Weekday).
var Weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseHours reads "mon-fri 09:00-17:00" or "sat 10:00-14:00" into spans;
// a day range may wrap ("fri-mon").
func ParseHours(spec string) ([]store.OpenHours, error) {
	days, span, ok := strings.Cut(strings.TrimSpace(strings.ToLower(spec)), " ")
	opens, closes, ok2 := strings.Cut(strings.TrimSpace(span), "-")
	if !ok || !ok2 || !validSpan(opens, closes) {
		return nil, fmt.Errorf("hours %q: want e.g. \"mon-fri 09:00-17:00\" (HH:MM, 24 h; 24:00 only as a closing time)", spec)
	}
	opens, closes = CanonicalClock(opens), CanonicalClock(closes)
	first, last, isRange := strings.Cut(days, "-")
	if !isRange {
		last = first
	}
	a, b := slices.Index(Weekdays, first), slices.Index(Weekdays, last)
	if a < 0 || b < 0 {
		return nil, fmt.Errorf("hours %q: days are %s", spec, strings.Join(Weekdays, ", "))
	}
	var out []store.OpenHours
	for d := a; ; d = (d + 1) % 7 {
		out = append(out, store.OpenHours{Weekday: d, Opens: opens, Closes: closes})
		if d == b {
			break
		}
	}
	return out, nil
}

// FormatHours writes spans back as ParseHours reads them, joining days in a
// row with the same hours ("mon-fri 09:00-17:00").
func FormatHours(hours []store.OpenHours) []string {
	sorted := slices.Clone(hours)
	slices.SortStableFunc(sorted, func(a, b store.OpenHours) int {
		if a.Opens+a.Closes != b.Opens+b.Closes {
			return strings.Compare(a.Opens+a.Closes, b.Opens+b.Closes)
		}
		return a.Weekday - b.Weekday
	})
	var out []string
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1].Opens == sorted[i].Opens && sorted[j+1].Closes == sorted[i].Closes &&
			sorted[j+1].Weekday == sorted[j].Weekday+1 {
			j++
		}
		days := Weekdays[sorted[i].Weekday%7]
		if j > i {
			days += "-" + Weekdays[sorted[j].Weekday%7]
		}
		out = append(out, days+" "+sorted[i].Opens+"-"+sorted[i].Closes)
		i = j + 1
	}
	return out
}

// CheckSchedule validates a schedule.
func CheckSchedule(sc *store.Schedule) error {
	bad := &Invalid{}
	if sc.Name = strings.TrimSpace(sc.Name); sc.Name == "" || len(sc.Name) > 64 {
		bad.Add("name", "schedule name: want 1 to 64 characters")
	}
	if sc.Timezone = strings.TrimSpace(sc.Timezone); sc.Timezone == "" {
		sc.Timezone = "UTC"
	}
	if _, err := time.LoadLocation(sc.Timezone); err != nil {
		bad.Add("timezone", "time zone %q: want a zone such as Europe/Berlin or UTC", sc.Timezone)
	}
	for i, h := range sc.Hours {
		if h.Weekday < 0 || h.Weekday > 6 || !validSpan(h.Opens, h.Closes) {
			bad.Add("hours", "hours %d %q-%q: want a weekday 0 (Sunday) to 6 and times as HH:MM (24 h; 24:00 only as a closing time)", h.Weekday, h.Opens, h.Closes)
			continue
		}
		sc.Hours[i].Opens, sc.Hours[i].Closes = CanonicalClock(h.Opens), CanonicalClock(h.Closes)
	}
	var days []string
	for _, d := range sc.Holidays {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			bad.Add("holidays", "holiday %q: want YYYY-MM-DD", d)
		}
		days = append(days, d)
	}
	sc.Holidays = days
	return bad.Err()
}

// CheckInboundNumber validates an inbound number (a DID from a trunk).
func CheckInboundNumber(ctx context.Context, st *store.Store, n *store.InboundNumber) error {
	bad := &Invalid{}
	if n.Number = strings.TrimSpace(n.Number); n.Number == "" || strings.ContainsAny(n.Number, " @:;/") {
		bad.Add("number", "number %q: want the number as the provider sends it, e.g. +15551234567", n.Number)
	}
	if n.Dest = strings.TrimSpace(n.Dest); n.Dest == "" {
		bad.Add("dest", "destination is required, e.g. attendant:800 or group:700")
	}
	checkDestField(ctx, st, bad, "dest", "destination", n.Dest)
	checkScheduleRef(ctx, st, bad, &n.Schedule)
	if n.AfterHoursDest = strings.TrimSpace(n.AfterHoursDest); n.AfterHoursDest != "" && n.Schedule == "" {
		bad.Add("schedule", "an after-hours destination needs a schedule (see frontdesk schedule set)")
	}
	checkDestField(ctx, st, bad, "after_hours_dest", "after-hours destination", n.AfterHoursDest)
	return bad.Err()
}

// DialClasses are the call classes of dial rules, checked against each
// extension's outbound permission.
var DialClasses = []string{"local", "national", "international", "emergency"}

// CheckDialRule validates an outbound dial rule and that its trunk exists.
func CheckDialRule(ctx context.Context, st *store.Store, r *store.DialRule) error {
	bad := &Invalid{}
	if r.Prefix = strings.TrimSpace(r.Prefix); strings.Trim(r.Prefix, "+0123456789") != "" {
		bad.Add("prefix", "prefix %q: want digits (or empty for any number)", r.Prefix)
	}
	if r.Trunk = strings.TrimSpace(r.Trunk); r.Trunk == "" {
		bad.Add("trunk", "trunk is required")
	} else if _, err := st.Trunk(ctx, r.Trunk); errors.Is(err, store.ErrNotFound) {
		bad.Add("trunk", "trunk %q: there is no such trunk (see frontdesk trunk list)", r.Trunk)
	} else if err != nil {
		bad.Add("trunk", "trunk %q: %v", r.Trunk, err)
	}
	if !slices.Contains(DialClasses, r.Class) {
		bad.Add("class", "class %q: want %s", r.Class, strings.Join(DialClasses, ", "))
	}
	if r.Strip < 0 || r.Strip > 16 {
		bad.Add("strip", "strip %d: want 0 to 16 digits", r.Strip)
	}
	if r.Prepend = strings.TrimSpace(r.Prepend); strings.Trim(r.Prepend, "+0123456789") != "" {
		bad.Add("prepend", "prepend %q: want digits", r.Prepend)
	}
	return bad.Err()
}

// trunkFields maps the start of trunk.Check's messages to the field at fault.
var trunkFields = []struct{ prefix, field string }{
	{"trunk name", "name"},
	{"mode", "mode"},
	{"host", "host"},
	{"transport", "transport"},
	{"username", "username"},
	{"auth username", "auth_username"},
	{"password", "password"},
	{"a register trunk needs a username", "username"},
	{"a register trunk needs a password", "password"},
	{"caller ID", "caller_id"},
	{"codec", "codecs"},
	{"expires", "expires"},
	{"allow-from", "allow_from"},
	{"a peer trunk", "allow_from"},
}

// CheckTrunk validates and tidies a trunk (trunk.Check), naming the field.
func CheckTrunk(t store.Trunk) (store.Trunk, error) {
	t, err := trunk.Check(t)
	if err == nil {
		return t, nil
	}
	msg := err.Error()
	field := "name"
	for _, f := range trunkFields {
		if strings.HasPrefix(msg, f.prefix) {
			field = f.field
		}
	}
	return t, InvalidField(field, "%s", msg)
}
