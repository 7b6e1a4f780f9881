package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/pbx/trunk"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// The routing admin: ring groups, queues, auto attendants, schedules, trunks,
// inbound numbers and dial rules. Every section validates through the same
// pbx.Check* functions the CLI uses, saves through the same store functions,
// and audits as "user:NAME" what the CLI audits as "cli".

// routingSections are the admin pages of this file: path and heading.
var routingSections = []struct{ path, title string }{
	{"groups", "Ring groups"},
	{"queues", "Queues"},
	{"attendants", "Auto attendants"},
	{"schedules", "Schedules"},
	{"trunks", "Trunks"},
	{"numbers", "Inbound numbers"},
	{"dialrules", "Dial rules"},
}

// routingRoutes registers the routing API under /api/v1/admin and its pages
// under /admin.
func (s *Server) routingRoutes() {
	a := s.admin
	a.GET("/routing/options", s.routingOptions)

	a.GET("/groups", s.listGroups)
	a.GET("/groups/:number", s.getGroup)
	a.POST("/groups", s.saveGroup(false))
	a.PUT("/groups/:number", s.saveGroup(true))
	a.DELETE("/groups/:number", s.removeGroup)

	a.GET("/queues", s.listQueues)
	a.GET("/queues/:number", s.getQueue)
	a.POST("/queues", s.saveQueue(false))
	a.PUT("/queues/:number", s.saveQueue(true))
	a.DELETE("/queues/:number", s.removeQueue)
	a.GET("/music", s.listMusic)
	a.POST("/music", s.uploadMusic)

	a.GET("/attendants", s.listAttendants)
	a.GET("/attendants/:number", s.getAttendant)
	a.POST("/attendants", s.saveAttendant(false))
	a.PUT("/attendants/:number", s.saveAttendant(true))
	a.DELETE("/attendants/:number", s.removeAttendant)
	a.GET("/attendants/:number/greeting", s.attendantGreeting)
	a.POST("/attendants/:number/greeting", s.uploadAttendantGreeting)

	a.GET("/schedules", s.listSchedules)
	a.GET("/schedules/:name", s.getSchedule)
	a.POST("/schedules", s.saveSchedule(false))
	a.PUT("/schedules/:name", s.saveSchedule(true))
	a.DELETE("/schedules/:name", s.removeSchedule)

	a.GET("/trunks", s.listTrunks)
	a.GET("/trunks/:name", s.getTrunk)
	a.POST("/trunks", s.saveTrunk(false))
	a.PUT("/trunks/:name", s.saveTrunk(true))
	a.DELETE("/trunks/:name", s.removeTrunk)

	a.GET("/numbers", s.listNumbers)
	a.GET("/numbers/:number", s.getNumber)
	a.POST("/numbers", s.saveNumber(false))
	a.PUT("/numbers/:number", s.saveNumber(true))
	a.DELETE("/numbers/:number", s.removeNumber)

	// A dial rule is named by its prefix; the empty prefix (any number) is
	// "any" in paths.
	a.GET("/dialrules", s.listDialRules)
	a.GET("/dialrules/:prefix", s.getDialRule)
	a.POST("/dialrules", s.saveDialRule(false))
	a.PUT("/dialrules/:prefix", s.saveDialRule(true))
	a.DELETE("/dialrules/:prefix", s.removeDialRule)

	for _, sec := range routingSections {
		s.web.GET("/admin/"+sec.path, s.routingPage(sec.path, sec.title), s.requireAdmin)
	}
}

// routingPageData is what templates/admin_routing.html gets.
type routingPageData struct {
	Section, Title string
}

func (s *Server) routingPage(section, title string) echo.HandlerFunc {
	return func(c echo.Context) error {
		return s.render(c, http.StatusOK, "admin_routing", routingPageData{Section: section, Title: title})
	}
}

// routingFail answers a failed save or lookup: validation problems as 400
// with their fields, a taken name or number as 409 naming keyField, a missing
// one as 404.
func (s *Server) routingFail(c echo.Context, err error, keyField string) error {
	return s.fail(c, "routing admin", keyField, err)
}

// decodeInto reads the JSON body onto v, which holds the defaults (a new
// item) or the current settings (an update), so fields left out keep them.
func decodeInto(c echo.Context, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		return c.JSON(http.StatusBadRequest, apiError{Error: "the body must be a JSON object of the settings: " + err.Error()})
	}
	return nil
}

// routingAudit writes the audit row the CLI writes, with the user as actor.
func (s *Server) routingAudit(c echo.Context, action, detail string) {
	if err := s.store.Audit(c.Request().Context(), "user:"+currentUser(c).Name, action, "", 0, detail); err != nil {
		s.log.Warn("audit", "action", action, "error", err)
	}
}

// keyMismatch refuses an update whose body renames the item: names and
// numbers are keys, changed by removing and adding (as in the CLI).
func keyMismatch(c echo.Context, field, path, body string) error {
	if body == "" || body == path {
		return nil
	}
	msg := fmt.Sprintf("%s can't be changed (%q to %q): add a new one and remove this one", field, path, body)
	return c.JSON(http.StatusBadRequest, apiError{Error: msg, Fields: map[string]string{field: msg}})
}

// routeParam is a path parameter unescaped ("%2B1555" is "+1555": numbers
// and prefixes may start with +).
func routeParam(c echo.Context, name string) string {
	v := c.Param(name)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// ---- ring groups

func (s *Server) listGroups(c echo.Context) error {
	gs, err := s.store.RingGroups(c.Request().Context())
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	return c.JSON(http.StatusOK, nonNil(gs))
}

func (s *Server) getGroup(c echo.Context) error {
	g, err := s.store.RingGroup(c.Request().Context(), routeParam(c, "number"))
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	return c.JSON(http.StatusOK, g)
}

func (s *Server) saveGroup(update bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		g := store.RingGroup{Strategy: "all", RingSeconds: 20, Timeout: 60} // the CLI's defaults
		if update {
			old, err := s.store.RingGroup(ctx, routeParam(c, "number"))
			if err != nil {
				return s.routingFail(c, err, "number")
			}
			g = old
		}
		if err := decodeInto(c, &g); err != nil || c.Response().Committed {
			return err
		}
		if update {
			if err := keyMismatch(c, "number", routeParam(c, "number"), g.Number); err != nil || c.Response().Committed {
				return err
			}
			g.Number = routeParam(c, "number")
		}
		if err := pbx.CheckRingGroup(ctx, s.store, &g); err != nil {
			return s.routingFail(c, err, "number")
		}
		var err error
		verb := "added"
		if update {
			verb = "updated"
			err = s.store.UpdateRingGroup(ctx, g)
		} else {
			err = s.store.AddRingGroup(ctx, g)
		}
		if err != nil {
			return s.routingFail(c, err, "number")
		}
		s.routingAudit(c, "group."+verb, g.Number)
		return s.getGroupAfter(c, g.Number, update)
	}
}

func (s *Server) getGroupAfter(c echo.Context, number string, update bool) error {
	g, err := s.store.RingGroup(c.Request().Context(), number)
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	return c.JSON(createdOrOK(update), g)
}

func (s *Server) removeGroup(c echo.Context) error {
	if err := s.store.RemoveRingGroup(c.Request().Context(), routeParam(c, "number")); err != nil {
		return s.routingFail(c, err, "number")
	}
	s.routingAudit(c, "group.removed", routeParam(c, "number"))
	return c.NoContent(http.StatusNoContent)
}

// createdOrOK is the status of a successful save.
func createdOrOK(update bool) int {
	if update {
		return http.StatusOK
	}
	return http.StatusCreated
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// ---- queues

// queueInput is a queue as the API takes it: members as extension numbers.
type queueInput struct {
	store.Queue
	Members []string `json:"members"`
}

func (s *Server) listQueues(c echo.Context) error {
	qs, err := s.store.Queues(c.Request().Context())
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	for i := range qs {
		qs[i].Members = nonNil(qs[i].Members)
	}
	return c.JSON(http.StatusOK, nonNil(qs))
}

func (s *Server) getQueue(c echo.Context) error {
	q, err := s.store.Queue(c.Request().Context(), routeParam(c, "number"))
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	q.Members = nonNil(q.Members)
	return c.JSON(http.StatusOK, q)
}

func (s *Server) saveQueue(update bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		in := queueInput{Queue: store.Queue{Strategy: "roundrobin", RingSeconds: 15, MaxWait: 300, LeaveDigit: "1", AnnounceSeconds: 30}}
		if update {
			old, err := s.store.Queue(ctx, routeParam(c, "number"))
			if err != nil {
				return s.routingFail(c, err, "number")
			}
			in.Queue = old
			in.Members = []string{}
			for _, m := range old.Members {
				in.Members = append(in.Members, m.Extension)
			}
		}
		if err := decodeInto(c, &in); err != nil || c.Response().Committed {
			return err
		}
		q := in.Queue
		if update {
			if err := keyMismatch(c, "number", routeParam(c, "number"), q.Number); err != nil || c.Response().Committed {
				return err
			}
			q.Number = routeParam(c, "number")
		}
		q.Members = []store.QueueMember{}
		for _, m := range in.Members {
			q.Members = append(q.Members, store.QueueMember{Extension: m})
		}
		bad := &pbx.Invalid{}
		bad.Merge(pbx.CheckQueue(ctx, s.store, &q))
		s.checkMusic(q.Music, bad)
		if err := bad.Err(); err != nil {
			return s.routingFail(c, err, "number")
		}
		if err := s.store.SaveQueue(ctx, q, update); err != nil {
			return s.routingFail(c, err, "number")
		}
		s.routingAudit(c, "queue.saved", q.Number)
		saved, err := s.store.Queue(ctx, q.Number)
		if err != nil {
			return s.routingFail(c, err, "number")
		}
		saved.Members = nonNil(saved.Members)
		return c.JSON(createdOrOK(update), saved)
	}
}

func (s *Server) removeQueue(c echo.Context) error {
	if err := s.store.RemoveQueue(c.Request().Context(), routeParam(c, "number")); err != nil {
		return s.routingFail(c, err, "number")
	}
	s.routingAudit(c, "queue.removed", routeParam(c, "number"))
	return c.NoContent(http.StatusNoContent)
}

// ---- auto attendants

// attendantInput is an attendant as the API takes it. The greeting files are
// not set by name (they are paths under the data directory): a greeting is
// spoken from text here or uploaded to /attendants/NUMBER/greeting.
type attendantInput struct {
	store.Attendant
	GreetingText            string `json:"greeting_text"`
	ClearGreeting           bool   `json:"clear_greeting"`
	ClearAfterHoursGreeting bool   `json:"clear_after_hours_greeting"`
}

func (s *Server) listAttendants(c echo.Context) error {
	as, err := s.store.Attendants(c.Request().Context())
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	return c.JSON(http.StatusOK, nonNil(as))
}

func (s *Server) getAttendant(c echo.Context) error {
	a, err := s.store.Attendant(c.Request().Context(), routeParam(c, "number"))
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	return c.JSON(http.StatusOK, a)
}

func (s *Server) saveAttendant(update bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		var old store.Attendant
		if update {
			var err error
			if old, err = s.store.Attendant(ctx, routeParam(c, "number")); err != nil {
				return s.routingFail(c, err, "number")
			}
		}
		in := attendantInput{Attendant: old}
		in.Options = nil // given options replace them all, as --option does
		if err := decodeInto(c, &in); err != nil || c.Response().Committed {
			return err
		}
		a := in.Attendant
		if a.Options == nil {
			a.Options = old.Options
		}
		if a.Options == nil {
			a.Options = map[string]string{}
		}
		a.Greeting, a.AfterHoursGreeting = old.Greeting, old.AfterHoursGreeting
		if update {
			if err := keyMismatch(c, "number", routeParam(c, "number"), a.Number); err != nil || c.Response().Committed {
				return err
			}
			a.Number = routeParam(c, "number")
		}
		if err := pbx.CheckAttendant(ctx, s.store, &a); err != nil {
			return s.routingFail(c, err, "number")
		}
		if in.ClearGreeting {
			a.Greeting = ""
		}
		if in.ClearAfterHoursGreeting {
			a.AfterHoursGreeting = ""
		}
		if text := strings.TrimSpace(in.GreetingText); text != "" {
			audio, err := pbx.Speak(ctx, text)
			if err != nil {
				msg := "the greeting can't be spoken here (" + err.Error() + "): upload a WAV recording instead"
				return s.routingFail(c, pbx.InvalidField("greeting_text", "%s", msg), "number")
			}
			if a.Greeting, err = pbx.StoreGreetingFile(s.opts.DataDir, "attendant-"+a.Number, audio); err != nil {
				return s.routingFail(c, err, "number")
			}
		}
		if err := s.store.SaveAttendant(ctx, a, update); err != nil {
			return s.routingFail(c, err, "number")
		}
		s.routingAudit(c, "attendant.saved", a.Number)
		saved, err := s.store.Attendant(ctx, a.Number)
		if err != nil {
			return s.routingFail(c, err, "number")
		}
		return c.JSON(createdOrOK(update), saved)
	}
}

func (s *Server) removeAttendant(c echo.Context) error {
	if err := s.store.RemoveAttendant(c.Request().Context(), routeParam(c, "number")); err != nil {
		return s.routingFail(c, err, "number")
	}
	s.routingAudit(c, "attendant.removed", routeParam(c, "number"))
	return c.NoContent(http.StatusNoContent)
}

// ---- schedules

// scheduleView is a schedule with its hours also written the way the CLI's
// --hours takes them.
type scheduleView struct {
	store.Schedule
	HoursSpec []string `json:"hours_spec"`
}

func viewSchedule(sc store.Schedule) scheduleView {
	sc.Hours, sc.Holidays = nonNil(sc.Hours), nonNil(sc.Holidays)
	return scheduleView{Schedule: sc, HoursSpec: nonNil(pbx.FormatHours(sc.Hours))}
}

func (s *Server) listSchedules(c echo.Context) error {
	ctx := c.Request().Context()
	names, err := s.store.Schedules(ctx)
	if err != nil {
		return s.routingFail(c, err, "name")
	}
	out := make([]scheduleView, 0, len(names))
	for _, n := range names {
		sc, err := s.store.Schedule(ctx, n)
		if err != nil {
			return s.routingFail(c, err, "name")
		}
		out = append(out, viewSchedule(sc))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getSchedule(c echo.Context) error {
	sc, err := s.store.Schedule(c.Request().Context(), routeParam(c, "name"))
	if err != nil {
		return s.routingFail(c, err, "name")
	}
	return c.JSON(http.StatusOK, viewSchedule(sc))
}

// saveSchedule takes hours as [{weekday, opens, closes}] or, when given,
// hours_spec: ["mon-fri 09:00-17:00", ...] as the CLI's --hours.
func (s *Server) saveSchedule(update bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		in := scheduleView{Schedule: store.Schedule{Timezone: "UTC"}}
		if update {
			old, err := s.store.Schedule(ctx, routeParam(c, "name"))
			if err != nil {
				return s.routingFail(c, err, "name")
			}
			in.Schedule = old
		}
		if err := decodeInto(c, &in); err != nil || c.Response().Committed {
			return err
		}
		sc := in.Schedule
		if update {
			if err := keyMismatch(c, "name", routeParam(c, "name"), sc.Name); err != nil || c.Response().Committed {
				return err
			}
			sc.Name = routeParam(c, "name")
		}
		bad := &pbx.Invalid{}
		if in.HoursSpec != nil {
			sc.Hours = nil
			for _, spec := range in.HoursSpec {
				if strings.TrimSpace(spec) == "" {
					continue
				}
				spans, err := pbx.ParseHours(spec)
				if err != nil {
					bad.Add("hours_spec", "%s", err.Error())
					continue
				}
				sc.Hours = append(sc.Hours, spans...)
			}
		}
		bad.Merge(pbx.CheckSchedule(&sc))
		if err := bad.Err(); err != nil {
			return s.routingFail(c, err, "name")
		}
		if !update {
			if _, err := s.store.Schedule(ctx, sc.Name); err == nil {
				return s.routingFail(c, fmt.Errorf("schedule %s: %w", sc.Name, store.ErrExists), "name")
			}
		}
		if err := s.store.SaveSchedule(ctx, sc); err != nil {
			return s.routingFail(c, err, "name")
		}
		s.routingAudit(c, "schedule.saved", sc.Name)
		saved, err := s.store.Schedule(ctx, sc.Name)
		if err != nil {
			return s.routingFail(c, err, "name")
		}
		return c.JSON(createdOrOK(update), viewSchedule(saved))
	}
}

func (s *Server) removeSchedule(c echo.Context) error {
	if err := s.store.RemoveSchedule(c.Request().Context(), routeParam(c, "name")); err != nil {
		return s.routingFail(c, err, "name")
	}
	s.routingAudit(c, "schedule.removed", routeParam(c, "name"))
	return c.NoContent(http.StatusNoContent)
}

// ---- trunks

// trunkView is a trunk as the API shows it: never the password, and the
// registration state when the PBX runs here.
type trunkView struct {
	store.Trunk
	PasswordSet bool          `json:"password_set"`
	Status      *trunk.Status `json:"status,omitempty"`
}

// trunkInput is a trunk as the API takes it; an empty or missing password
// keeps the current one (the password is write-only).
type trunkInput struct {
	store.Trunk
	Password string `json:"password"`
}

// trunkStatuses reports registration states when the dialer (the PBX) can.
func (s *Server) trunkStatuses() map[string]trunk.Status {
	out := map[string]trunk.Status{}
	if p, ok := s.dialer.(interface{ TrunkStatus() []trunk.Status }); ok {
		for _, st := range p.TrunkStatus() {
			out[st.Name] = st
		}
	}
	return out
}

func viewTrunk(t store.Trunk, states map[string]trunk.Status) trunkView {
	v := trunkView{Trunk: t, PasswordSet: t.Password != ""}
	if st, ok := states[t.Name]; ok {
		v.Status = &st
	}
	return v
}

func (s *Server) listTrunks(c echo.Context) error {
	ts, err := s.store.Trunks(c.Request().Context())
	if err != nil {
		return s.routingFail(c, err, "name")
	}
	states := s.trunkStatuses()
	out := make([]trunkView, 0, len(ts))
	for _, t := range ts {
		out = append(out, viewTrunk(t, states))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getTrunk(c echo.Context) error {
	t, err := s.store.Trunk(c.Request().Context(), routeParam(c, "name"))
	if err != nil {
		return s.routingFail(c, err, "name")
	}
	return c.JSON(http.StatusOK, viewTrunk(t, s.trunkStatuses()))
}

func (s *Server) saveTrunk(update bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		in := trunkInput{Trunk: store.Trunk{Transport: "udp", Codecs: "PCMU,PCMA", Expires: 300}}
		if update {
			old, err := s.store.Trunk(ctx, routeParam(c, "name"))
			if err != nil {
				return s.routingFail(c, err, "name")
			}
			in.Trunk = old
		}
		keep := in.Trunk.Password
		if err := decodeInto(c, &in); err != nil || c.Response().Committed {
			return err
		}
		t := in.Trunk
		t.Password = keep
		if in.Password != "" {
			t.Password = in.Password
		}
		if update {
			if err := keyMismatch(c, "name", routeParam(c, "name"), t.Name); err != nil || c.Response().Committed {
				return err
			}
			t.Name = routeParam(c, "name")
		}
		t, err := pbx.CheckTrunk(t)
		if err != nil {
			return s.routingFail(c, err, "name")
		}
		if err := s.store.SaveTrunk(ctx, t, update); err != nil {
			return s.routingFail(c, err, "name")
		}
		verb := "added"
		if update {
			verb = "updated"
		}
		s.routingAudit(c, "trunk."+verb, t.Name+": "+trunkSummary(t))
		return c.JSON(createdOrOK(update), viewTrunk(t, s.trunkStatuses()))
	}
}

// trunkSummary says in a few words what a trunk does (as the CLI does).
func trunkSummary(t store.Trunk) string {
	if t.Mode == trunk.ModeRegister {
		return fmt.Sprintf("registers to %s over %s as %s", t.Host, t.Transport, t.Username)
	}
	return fmt.Sprintf("peer %s over %s, calls accepted from %s", t.Host, t.Transport, t.AllowFrom)
}

func (s *Server) removeTrunk(c echo.Context) error {
	if err := s.store.RemoveTrunk(c.Request().Context(), routeParam(c, "name")); err != nil {
		return s.routingFail(c, err, "name")
	}
	s.routingAudit(c, "trunk.removed", routeParam(c, "name"))
	return c.NoContent(http.StatusNoContent)
}

// ---- inbound numbers

func (s *Server) listNumbers(c echo.Context) error {
	ns, err := s.store.InboundNumbers(c.Request().Context())
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	return c.JSON(http.StatusOK, nonNil(ns))
}

func (s *Server) getNumber(c echo.Context) error {
	n, err := s.store.InboundNumber(c.Request().Context(), routeParam(c, "number"))
	if err != nil {
		return s.routingFail(c, err, "number")
	}
	return c.JSON(http.StatusOK, n)
}

func (s *Server) saveNumber(update bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		var n store.InboundNumber
		if update {
			old, err := s.store.InboundNumber(ctx, routeParam(c, "number"))
			if err != nil {
				return s.routingFail(c, err, "number")
			}
			n = old
		}
		if err := decodeInto(c, &n); err != nil || c.Response().Committed {
			return err
		}
		if update {
			if err := keyMismatch(c, "number", routeParam(c, "number"), n.Number); err != nil || c.Response().Committed {
				return err
			}
			n.Number = routeParam(c, "number")
		}
		if err := pbx.CheckInboundNumber(ctx, s.store, &n); err != nil {
			return s.routingFail(c, err, "number")
		}
		// The CLI's number add replaces; the portal's add must not
		// overwrite a number by accident.
		if !update {
			if _, err := s.store.InboundNumber(ctx, n.Number); err == nil {
				return s.routingFail(c, fmt.Errorf("inbound number %s: %w", n.Number, store.ErrExists), "number")
			}
		}
		if err := s.store.SaveInboundNumber(ctx, n); err != nil {
			return s.routingFail(c, err, "number")
		}
		s.routingAudit(c, "number.saved", n.Number+" -> "+n.Dest)
		return c.JSON(createdOrOK(update), n)
	}
}

func (s *Server) removeNumber(c echo.Context) error {
	if err := s.store.RemoveInboundNumber(c.Request().Context(), routeParam(c, "number")); err != nil {
		return s.routingFail(c, err, "number")
	}
	s.routingAudit(c, "number.removed", routeParam(c, "number"))
	return c.NoContent(http.StatusNoContent)
}

// ---- dial rules

// anyPrefix names the empty prefix (any number) in paths.
const anyPrefix = "any"

func prefixParam(c echo.Context) string {
	if p := routeParam(c, "prefix"); p != anyPrefix {
		return p
	}
	return ""
}

func (s *Server) dialRule(c echo.Context, prefix string) (store.DialRule, error) {
	rules, err := s.store.DialRules(c.Request().Context())
	if err != nil {
		return store.DialRule{}, err
	}
	for _, r := range rules {
		if r.Prefix == prefix {
			return r, nil
		}
	}
	return store.DialRule{}, fmt.Errorf("dial rule %q: %w", prefix, store.ErrNotFound)
}

func (s *Server) listDialRules(c echo.Context) error {
	rules, err := s.store.DialRules(c.Request().Context())
	if err != nil {
		return s.routingFail(c, err, "prefix")
	}
	return c.JSON(http.StatusOK, nonNil(rules))
}

func (s *Server) getDialRule(c echo.Context) error {
	r, err := s.dialRule(c, prefixParam(c))
	if err != nil {
		return s.routingFail(c, err, "prefix")
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) saveDialRule(update bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		r := store.DialRule{Class: "national"}
		if update {
			old, err := s.dialRule(c, prefixParam(c))
			if err != nil {
				return s.routingFail(c, err, "prefix")
			}
			r = old
		}
		if err := decodeInto(c, &r); err != nil || c.Response().Committed {
			return err
		}
		if update {
			if r.Prefix != prefixParam(c) {
				if err := keyMismatch(c, "prefix", routeParam(c, "prefix"), r.Prefix); err != nil || c.Response().Committed {
					return err
				}
			}
			r.Prefix = prefixParam(c)
		}
		if err := pbx.CheckDialRule(ctx, s.store, &r); err != nil {
			return s.routingFail(c, err, "prefix")
		}
		if !update {
			if _, err := s.dialRule(c, r.Prefix); err == nil {
				return s.routingFail(c, fmt.Errorf("dial rule %q: %w", r.Prefix, store.ErrExists), "prefix")
			}
		}
		if err := s.store.SaveDialRule(ctx, r); err != nil {
			return s.routingFail(c, err, "prefix")
		}
		s.routingAudit(c, "dialrule.saved", fmt.Sprintf("%q -> %s (%s)", r.Prefix, r.Trunk, r.Class))
		return c.JSON(createdOrOK(update), r)
	}
}

func (s *Server) removeDialRule(c echo.Context) error {
	prefix := prefixParam(c)
	if err := s.store.RemoveDialRule(c.Request().Context(), prefix); err != nil {
		return s.routingFail(c, err, "prefix")
	}
	s.routingAudit(c, "dialrule.removed", fmt.Sprintf("%q", prefix))
	return c.NoContent(http.StatusNoContent)
}
