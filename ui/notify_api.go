package ui

// Notification rules through the API: each user's own (email, Slack or a
// webhook for the inboxes they can reach) and the inboxes' own rules, which
// managers of the inbox edit. Also the web link base that notifications use.

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// notifyRoutes registers the routes for notification rules.
func (s *Server) notifyRoutes() {
	s.api.GET("/notify-rules", s.listNotifyRules)
	s.api.POST("/notify-rules", s.addNotifyRule)
	s.api.PUT("/notify-rules/:id", s.updateNotifyRule)
	s.api.DELETE("/notify-rules/:id", s.removeNotifyRule)
	s.admin.GET("/settings/web", s.webSettings)
	s.admin.PUT("/settings/web", s.setWebSettings)
}

// notifyRuleView is a rule as the API shows it. The webhook secret is shown
// only in the answer to the POST or PUT that set it.
type notifyRuleView struct {
	ID        int64     `json:"id"`
	Box       string    `json:"box"`
	Inbox     bool      `json:"inbox"` // the inbox's own rule, not a user's
	UserID    int64     `json:"user_id,omitempty"`
	Channel   string    `json:"channel"`
	Target    string    `json:"target"`
	Secret    string    `json:"secret,omitempty"`
	HasSecret bool      `json:"has_secret"`
	OnNew     bool      `json:"on_new"`
	OnAssign  bool      `json:"on_assign"`
	OnOverdue bool      `json:"on_overdue"`
	CreatedAt time.Time `json:"created_at"`
}

func viewNotifyRule(r store.NotifyRule, withSecret bool) notifyRuleView {
	v := notifyRuleView{ID: r.ID, Box: r.Box, Inbox: r.UserID == 0, UserID: r.UserID, Channel: r.Channel, Target: r.Target,
		HasSecret: r.Secret != "", OnNew: r.OnNew, OnAssign: r.OnAssign, OnOverdue: r.OnOverdue, CreatedAt: r.CreatedAt}
	if withSecret {
		v.Secret = r.Secret
	}
	return v
}

// notifyRuleRequest creates or changes a rule. In a PUT, absent fields keep
// their value; in a POST, absent events are all on.
type notifyRuleRequest struct {
	Box       *string `json:"box"`
	Inbox     bool    `json:"inbox"` // POST: the inbox's own rule (needs manage)
	Channel   *string `json:"channel"`
	Target    *string `json:"target"`
	Secret    *string `json:"secret"`
	OnNew     *bool   `json:"on_new"`
	OnAssign  *bool   `json:"on_assign"`
	OnOverdue *bool   `json:"on_overdue"`
}

// apply copies the request's fields onto r.
func (q notifyRuleRequest) apply(r *store.NotifyRule) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&r.Box, q.Box)
	set(&r.Channel, q.Channel)
	set(&r.Target, q.Target)
	set(&r.Secret, q.Secret)
	for _, f := range []struct {
		dst *bool
		src *bool
	}{{&r.OnNew, q.OnNew}, {&r.OnAssign, q.OnAssign}, {&r.OnOverdue, q.OnOverdue}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
}

// notifyAccess is the request's user and their access to each box.
func (s *Server) notifyAccess(c echo.Context) (store.User, map[string]store.Access, error) {
	u := currentUser(c)
	access, err := s.store.InboxAccess(c.Request().Context(), u)
	return u, access, err
}

// mayUseRule says why u may not create or keep rule r ("" when allowed): a
// user's rule needs a box they can reach, an inbox's rule manage access.
func mayUseRule(u store.User, access map[string]store.Access, r store.NotifyRule) string {
	if u.IsAdmin && (r.UserID == 0 || r.UserID == u.ID) {
		return "" // every box, even one that does not exist (the store says so)
	}
	if r.UserID == 0 {
		if access[r.Box] < store.AccessManage {
			return "only a manager of inbox " + r.Box + " or an admin may change the inbox's own notifications"
		}
		return ""
	}
	if r.UserID != u.ID {
		return "this notification rule belongs to another user"
	}
	if access[r.Box] < store.AccessListen {
		return "you have no access to inbox " + r.Box + ", so you can't be notified about it"
	}
	return ""
}

// listNotifyRules answers the user's own rules and the inbox rules of the
// boxes they manage.
func (s *Server) listNotifyRules(c echo.Context) error {
	ctx := c.Request().Context()
	u, access, err := s.notifyAccess(c)
	if err != nil {
		return s.notifyFail(c, "read inbox access", err)
	}
	mine, err := s.store.NotifyRules(ctx, u.ID)
	if err != nil {
		return s.notifyFail(c, "list notification rules", err)
	}
	out := make([]notifyRuleView, 0, len(mine))
	for _, r := range mine {
		out = append(out, viewNotifyRule(r, false))
	}
	boxes := make([]string, 0, len(access))
	for box, a := range access {
		if a >= store.AccessManage {
			boxes = append(boxes, box)
		}
	}
	// Short numbers first, as the box lists order them.
	slices.SortFunc(boxes, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
	for _, box := range boxes {
		rules, err := s.store.NotifyRulesOfBox(ctx, box)
		if err != nil {
			return s.notifyFail(c, "list notification rules", err)
		}
		for _, r := range rules {
			if r.UserID == 0 {
				out = append(out, viewNotifyRule(r, false))
			}
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) addNotifyRule(c echo.Context) error {
	var q notifyRuleRequest
	if err := c.Bind(&q); err != nil {
		return jsonError(c, http.StatusBadRequest, "the request body is not valid JSON for a notification rule")
	}
	u, access, err := s.notifyAccess(c)
	if err != nil {
		return s.notifyFail(c, "read inbox access", err)
	}
	r := store.NotifyRule{OnNew: true, OnAssign: true, OnOverdue: true}
	if q.OnNew != nil || q.OnAssign != nil || q.OnOverdue != nil {
		r.OnNew, r.OnAssign, r.OnOverdue = false, false, false
	}
	q.apply(&r)
	if !q.Inbox {
		r.UserID = u.ID
	}
	if r.Box == "" {
		return jsonFieldError(c, http.StatusBadRequest, "choose the inbox whose messages you want to hear about",
			map[string]string{"box": "required"})
	}
	if why := mayUseRule(u, access, r); why != "" {
		return jsonError(c, http.StatusForbidden, why)
	}
	r, err = s.store.AddNotifyRule(c.Request().Context(), r)
	if err != nil {
		return s.notifyFail(c, "add notification rule", err)
	}
	s.auditNotify(c, u, "notify.rule.add", r)
	return c.JSON(http.StatusCreated, viewNotifyRule(r, true))
}

// ruleReq is a request on one existing rule that the user may change.
type ruleReq struct {
	user   store.User
	access map[string]store.Access
	rule   store.NotifyRule
}

// ruleOf loads rule :id and checks that the user may change it; when not ok,
// the answer has been written (and err is what writing it returned).
func (s *Server) ruleOf(c echo.Context) (q ruleReq, ok bool, err error) {
	id, perr := strconv.ParseInt(c.Param("id"), 10, 64)
	if perr != nil || id <= 0 {
		return q, false, jsonError(c, http.StatusNotFound, "no such notification rule")
	}
	if q.user, q.access, err = s.notifyAccess(c); err != nil {
		return q, false, s.notifyFail(c, "read inbox access", err)
	}
	if q.rule, err = s.store.NotifyRuleByID(c.Request().Context(), id); err != nil {
		return q, false, s.notifyFail(c, "read notification rule", err)
	}
	// A user's rule is theirs alone (even an admin's access to the inbox
	// does not reach another user's own notifications); an inbox's needs
	// manage. Losing access to the box still lets a user remove their rule.
	r := q.rule
	if r.UserID != 0 && r.UserID != q.user.ID {
		return q, false, jsonError(c, http.StatusForbidden, "this notification rule belongs to another user")
	}
	if r.UserID == 0 && q.access[r.Box] < store.AccessManage {
		return q, false, jsonError(c, http.StatusForbidden, "only a manager of inbox "+r.Box+" or an admin may change the inbox's own notifications")
	}
	return q, true, nil
}

func (s *Server) updateNotifyRule(c echo.Context) error {
	rq, ok, err := s.ruleOf(c)
	if !ok {
		return err
	}
	u, r := rq.user, rq.rule
	var q notifyRuleRequest
	if err := c.Bind(&q); err != nil {
		return jsonError(c, http.StatusBadRequest, "the request body is not valid JSON for a notification rule")
	}
	secretSet := q.Secret != nil && strings.TrimSpace(*q.Secret) != ""
	if q.Secret != nil && !secretSet {
		q.Secret = nil // empty: keep the old one
	}
	oldChannel := r.Channel
	q.apply(&r)
	if why := mayUseRule(u, rq.access, r); why != "" {
		return jsonError(c, http.StatusForbidden, why)
	}
	r, err = s.store.UpdateNotifyRule(c.Request().Context(), r)
	if err != nil {
		return s.notifyFail(c, "change notification rule", err)
	}
	s.auditNotify(c, u, "notify.rule.change", r)
	// Show the secret when this request set it (or made one for a rule
	// that just became a webhook).
	return c.JSON(http.StatusOK, viewNotifyRule(r, secretSet || oldChannel != store.NotifyChannelWebhook && r.Channel == store.NotifyChannelWebhook))
}

func (s *Server) removeNotifyRule(c echo.Context) error {
	rq, ok, err := s.ruleOf(c)
	if !ok {
		return err
	}
	u, r := rq.user, rq.rule
	if err := s.store.RemoveNotifyRule(c.Request().Context(), r.ID); err != nil {
		return s.notifyFail(c, "remove notification rule", err)
	}
	s.auditNotify(c, u, "notify.rule.remove", r)
	return c.NoContent(http.StatusNoContent)
}

// auditNotify logs a change to a rule (not its target's secret parts).
func (s *Server) auditNotify(c echo.Context, u store.User, action string, r store.NotifyRule) {
	who := "user"
	if r.UserID == 0 {
		who = "inbox"
	}
	detail := who + " rule " + strconv.FormatInt(r.ID, 10) + ": " + r.Channel
	if r.Channel == store.NotifyChannelEmail {
		detail += " to " + r.Target
	} else if t, err := url.Parse(r.Target); err == nil {
		detail += " to " + t.Host
	}
	if err := s.store.Audit(c.Request().Context(), "user:"+u.Name, action, r.Box, 0, detail); err != nil {
		s.log.Error("audit notification rule change", "err", err)
	}
}

// notifyFail answers a store error: bad input 400 with its field, unknown
// rule or box 404 (400 for a box named in the request), the rest 500.
func (s *Server) notifyFail(c echo.Context, what string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound) && strings.Contains(err.Error(), "voicemail box"):
		msg := "there is no such inbox"
		return jsonFieldError(c, http.StatusBadRequest, msg, map[string]string{"box": msg})
	case errors.Is(err, store.ErrNotFound):
		return jsonError(c, http.StatusNotFound, "no such notification rule")
	}
	return s.fail(c, what, "", err)
}

// webSettingsView is the web UI's own address, which notifications and
// mails link to.
type webSettingsView struct {
	BaseURL string `json:"base_url"`
}

func (s *Server) webSettings(c echo.Context) error {
	v, err := s.store.Setting(c.Request().Context(), store.SettingWebBaseURL)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.notifyFail(c, "read web settings", err)
	}
	return c.JSON(http.StatusOK, webSettingsView{BaseURL: v})
}

func (s *Server) setWebSettings(c echo.Context) error {
	var q webSettingsView
	if err := c.Bind(&q); err != nil {
		return jsonError(c, http.StatusBadRequest, "the request body is not valid JSON: send {\"base_url\": \"https://pbx.example.com\"}")
	}
	base := strings.TrimRight(strings.TrimSpace(q.BaseURL), "/")
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			msg := "give the address people open the inbox at, such as https://pbx.example.com (http or https, no query)"
			return jsonFieldError(c, http.StatusBadRequest, msg, map[string]string{"base_url": msg})
		}
	}
	if err := s.store.SetSetting(c.Request().Context(), store.SettingWebBaseURL, base); err != nil {
		return s.notifyFail(c, "change web settings", err)
	}
	if err := s.store.Audit(c.Request().Context(), "user:"+currentUser(c).Name, "settings.web", "", 0, "base_url "+base); err != nil {
		s.log.Error("audit web settings", "err", err)
	}
	return c.JSON(http.StatusOK, webSettingsView{BaseURL: base})
}

// notifyAPIDocs describes this file's routes for the OpenAPI document; the
// document's owner merges them into apiDocs.
var notifyAPIDocs = map[string]routeDoc{
	"GET /notify-rules": {Summary: "Your own notification rules and the inbox rules of the inboxes you manage (webhook secrets are not shown)",
		Tag: "notifications", Response: []notifyRuleView{}},
	"POST /notify-rules": {Summary: "Add a notification rule: yours for an inbox you can reach, or (inbox: true) the inbox's own, which needs manage access; " +
		"a webhook without a secret gets a random one, shown in this answer only", Tag: "notifications", Body: notifyRuleRequest{}, Response: notifyRuleView{}},
	"PUT /notify-rules/{id}": {Summary: "Change your rule or, as its manager, an inbox's rule; absent fields (and an empty secret) keep their value",
		Tag: "notifications", Body: notifyRuleRequest{}, Response: notifyRuleView{}},
	"DELETE /notify-rules/{id}": {Summary: "Remove your rule or, as its manager, an inbox's rule", Tag: "notifications"},
	"GET /admin/settings/web":   {Summary: "The web UI's base URL, which notifications link to", Tag: "admin", Response: webSettingsView{}},
	"PUT /admin/settings/web": {Summary: "Set the web UI's base URL (http or https; empty: no links)", Tag: "admin",
		Body: webSettingsView{}, Response: webSettingsView{}},
}
