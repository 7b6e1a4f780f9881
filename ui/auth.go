package ui

// Web accounts: the login page, sessions in cookies, CSRF checks on every
// state change, HTTP Basic for scripts on /api/v1, the login lockout, and
// the security headers of every response.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// Keys under which requireUser leaves the request's user and session.
const (
	ctxUser    = "frontdesk.user"
	ctxCSRF    = "frontdesk.csrf"
	ctxSession = "frontdesk.session" // the raw session token
)

// Cookies.
const (
	sessionCookie   = "fd_session"
	loginFormCookie = "fd_login" // double-submit CSRF token of the login form
)

// Session lifetimes: idle, and absolute (store.SessionMaxAge).
const sessionIdle = 12 * time.Hour

// loginFailDelay slows every failed login, so guessing is slow even before
// the lockout starts.
const loginFailDelay = time.Second

// contentSecurityPolicy: only our own scripts, styles and media; no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// dummyHash is an argon2id hash of a random password nobody knows, checked
// against for unknown users so that they take as long as known ones.
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$ormGGj6b/kP43zswFyrrzg$FqGiLlV55Z/s7XFZW8or1MGzWjNKXT/iHLuhzASx+SQ"

// authSettings hold what tests shorten; zero values mean the defaults.
type authSettings struct {
	now       func() time.Time
	failDelay time.Duration // < 0: none
	limits    store.LoginLimits
}

func (s *Server) now() time.Time {
	if s.auth.now != nil {
		return s.auth.now()
	}
	return time.Now()
}

func (s *Server) loginLimits() store.LoginLimits {
	if s.auth.limits == (store.LoginLimits{}) {
		return store.DefaultLoginLimits
	}
	return s.auth.limits
}

// slowDown waits after a failed login (or until the client goes away).
func (s *Server) slowDown(ctx context.Context) {
	d := s.auth.failDelay
	if d == 0 {
		d = loginFailDelay
	}
	if d < 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// currentUser is the logged-in user of a request that passed requireUser.
func currentUser(c echo.Context) store.User {
	u, _ := c.Get(ctxUser).(store.User)
	return u
}

// csrfToken is the session's CSRF token ("" for HTTP Basic API clients).
func csrfToken(c echo.Context) string {
	t, _ := c.Get(ctxCSRF).(string)
	return t
}

// sessionToken is the request's raw session token ("" for HTTP Basic).
func sessionToken(c echo.Context) string {
	t, _ := c.Get(ctxSession).(string)
	return t
}

// authRoutes: /login, /logout, the user's own account and sessions.
func (s *Server) authRoutes() {
	s.echo.GET("/login", s.loginPage)
	s.echo.POST("/login", s.loginSubmit)
	s.web.POST("/logout", s.logout)
	s.api.GET("/me", s.me)
	s.api.POST("/me/password", s.changePassword)
	s.api.POST("/me/logout-all", s.logoutAll)
	s.api.GET("/me/sessions", s.mySessions)
	s.api.DELETE("/me/sessions/:id", s.endMySession)
}

// clientSource is the address a request came from. Forwarding headers are
// ignored: anyone can send them, and they would dodge the lockout.
func clientSource(c echo.Context) string {
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

// secureCookies: browsers keep Secure cookies on HTTPS, and on loopback
// addresses over plain HTTP too.
func secureCookies(c echo.Context) bool {
	if c.Scheme() == "https" {
		return true
	}
	host := c.Request().Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isAPIPath(p string) bool { return p == "/api" || strings.HasPrefix(p, "/api/") }

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// allowedBeforePasswordChange: a user who must change their password may
// only reach what changing it needs.
func allowedBeforePasswordChange(p string) bool {
	return p == "/settings" || p == "/logout" || p == "/api/v1/me" || strings.HasPrefix(p, "/api/v1/me/") ||
		strings.HasPrefix(p, "/static/")
}

// tokensEqual compares secrets in constant time.
func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// requireUser lets a request through only with a valid session (or HTTP
// Basic credentials on /api/v1), and checks the CSRF token on every state
// change made with a session.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		api := isAPIPath(req.URL.Path)
		var u store.User
		if ck, err := req.Cookie(sessionCookie); err == nil && ck.Value != "" {
			su, ss, err := s.store.SessionUser(req.Context(), ck.Value, s.now())
			switch {
			case err == nil:
				u = su
				c.Set(ctxCSRF, ss.CSRF)
				c.Set(ctxSession, ck.Value)
				if !safeMethod(req.Method) {
					got := req.Header.Get("X-CSRF-Token")
					if got == "" {
						got = c.FormValue("csrf_token")
					}
					if !tokensEqual(got, ss.CSRF) {
						return jsonError(c, http.StatusForbidden, "missing or wrong CSRF token; reload the page")
					}
				}
			case !errors.Is(err, store.ErrNotFound):
				s.log.Error("read session", "error", err)
				return jsonError(c, http.StatusInternalServerError, "the session could not be checked; try again")
			}
		}
		if u.ID == 0 && api {
			// Scripts authenticate each request; no WWW-Authenticate header,
			// so browsers never prompt for (and cache) Basic credentials.
			name, password, ok := req.BasicAuth()
			if !ok {
				return jsonError(c, http.StatusUnauthorized, "log in first (a browser session, or HTTP Basic with your Frontdesk name and password)")
			}
			bu, lerr := s.basicUser(c, name, password)
			if lerr != nil {
				return lerr.json(c)
			}
			u = bu
		}
		if u.ID == 0 {
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(req.URL.RequestURI()))
		}
		c.Set(ctxUser, u)
		if u.MustChangePassword && !allowedBeforePasswordChange(req.URL.Path) {
			if api {
				return jsonError(c, http.StatusForbidden, "change your password first (Settings, or POST /api/v1/me/password)")
			}
			return c.Redirect(http.StatusSeeOther, "/settings#password")
		}
		return next(c)
	}
}

// requireAdmin refuses non-admins with 403.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !currentUser(c).IsAdmin {
			return jsonError(c, http.StatusForbidden, "only an admin may do this")
		}
		return next(c)
	}
}

// securityHeaders sets CSP and friends on every response. Handlers may
// still override Cache-Control (static assets).
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// loginError is a refused login: its status and what to tell the user.
type loginError struct {
	code       int
	msg        string
	retryAfter time.Duration
}

func (e *loginError) json(c echo.Context) error {
	if e.retryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Seconds())+1))
	}
	return jsonError(c, e.code, e.msg)
}

// authenticate checks a name (or email) and password, with the lockout:
// each failure is counted, slowed down and audited. interactive logins
// are audited on success too (scripts' Basic auth would flood the log).
func (s *Server) authenticate(c echo.Context, name, password string, interactive bool) (store.User, *loginError) {
	ctx := c.Request().Context()
	now, src, lim := s.now(), clientSource(c), s.loginLimits()
	internal := &loginError{code: http.StatusInternalServerError, msg: "the login could not be checked; try again"}
	u, err := s.store.UserByName(ctx, name)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("login: read user", "error", err)
		return u, internal
	}
	// Failures count per user (whether they typed name or email), or per
	// typed name for unknown users.
	key, actor := strings.ToLower(name), "web"
	if known {
		key, actor = strings.ToLower(u.Name), "user:"+u.Name
	}
	lock, err := s.store.LoginLocked(ctx, key, src, now, lim)
	if err != nil {
		s.log.Error("login: read lockout", "error", err)
		return u, internal
	}
	if lock.Locked() {
		s.authAudit(ctx, actor, "auth.login_failed", src+" (locked out)")
		s.slowDown(ctx)
		return u, lockedError(lock, now)
	}
	var ok bool
	if known {
		ok = secret.Check(u.PasswordHash, password)
	} else {
		secret.Check(dummyHash, password) // the same work for unknown users
	}
	if ok {
		if err := s.store.ClearLoginFailures(ctx, key); err != nil {
			s.log.Error("login: clear failures", "error", err)
		}
		if interactive {
			s.authAudit(ctx, actor, "auth.login", src)
		}
		u.LockedUntil = time.Time{}
		return u, nil
	}
	lock, err = s.store.RecordLoginFailure(ctx, key, src, now, lim)
	if err != nil {
		s.log.Error("login: record failure", "error", err)
	}
	s.authAudit(ctx, actor, "auth.login_failed", src)
	if lock.Locked() {
		who := actor
		if lock.NameUntil.IsZero() {
			who = "web" // the source address is blocked, whoever it tried
		}
		s.authAudit(ctx, who, "auth.locked", src)
		s.log.Warn("login locked out", "name", key, "source", src)
	}
	s.slowDown(ctx)
	if lock.Locked() {
		return u, lockedError(lock, now)
	}
	return u, &loginError{code: http.StatusUnauthorized, msg: "wrong name or password"}
}

// lockedError says which lock holds and when to try again.
func lockedError(l store.LoginLock, now time.Time) *loginError {
	until, what := l.NameUntil, "for this name"
	if l.SourceUntil.After(until) {
		until, what = l.SourceUntil, "from your address"
	}
	wait := until.Sub(now)
	mins := int(wait.Round(time.Minute).Minutes())
	if mins < 1 {
		mins = 1
	}
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	return &loginError{
		code:       http.StatusTooManyRequests,
		msg:        fmt.Sprintf("too many failed logins %s: try again after %s (in %d %s), or ask an admin to unlock it", what, until.Local().Format("15:04"), mins, unit),
		retryAfter: wait,
	}
}

// authAudit writes an audit row, logging (not failing on) an error.
func (s *Server) authAudit(ctx context.Context, actor, action, detail string) {
	if err := s.store.Audit(ctx, actor, action, "", 0, detail); err != nil {
		s.log.Error("audit", "action", action, "error", err)
	}
}

// loginForm is the login page's data.
type loginForm struct {
	FormToken string
	Next      string
	Name      string
	Error     string
}

// safeNext keeps redirects after login on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") || next == "/login" || strings.HasPrefix(next, "/login?") {
		return "/"
	}
	return next
}

func randomString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// renderLogin shows the login form with its double-submit CSRF token: the
// same random value in a cookie and in the form, which another site can't
// read or set.
func (s *Server) renderLogin(c echo.Context, code int, f loginForm) error {
	if ck, err := c.Cookie(loginFormCookie); err == nil && len(ck.Value) >= 32 && len(ck.Value) <= 64 {
		f.FormToken = ck.Value
	} else {
		t, err := randomString()
		if err != nil {
			return err
		}
		f.FormToken = t
		c.SetCookie(&http.Cookie{Name: loginFormCookie, Value: t, Path: "/login", HttpOnly: true,
			Secure: secureCookies(c), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	}
	return s.render(c, code, "login", f)
}

// loginPage shows the form, or goes on if the visitor is logged in already.
func (s *Server) loginPage(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if ck, err := c.Cookie(sessionCookie); err == nil {
		if _, _, err := s.store.SessionUser(c.Request().Context(), ck.Value, s.now()); err == nil {
			return c.Redirect(http.StatusSeeOther, next)
		}
	}
	return s.renderLogin(c, http.StatusOK, loginForm{Next: next})
}

// loginSubmit checks the form and starts a new session.
func (s *Server) loginSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	f := loginForm{Name: strings.TrimSpace(c.FormValue("name")), Next: safeNext(c.FormValue("next"))}
	password := c.FormValue("password")
	ck, err := c.Cookie(loginFormCookie)
	if err != nil || !tokensEqual(c.FormValue("csrf_token"), ck.Value) {
		f.Error = "The login form had expired; please log in again."
		return s.renderLogin(c, http.StatusForbidden, f)
	}
	if f.Name == "" || password == "" {
		f.Error = "Enter your name (or email) and your password."
		return s.renderLogin(c, http.StatusBadRequest, f)
	}
	u, lerr := s.authenticate(c, f.Name, password, true)
	if lerr != nil {
		if lerr.retryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(lerr.retryAfter.Seconds())+1))
		}
		f.Error = strings.ToUpper(lerr.msg[:1]) + lerr.msg[1:] + "."
		return s.renderLogin(c, lerr.code, f)
	}
	now := s.now()
	// A new token on every login, so a token planted before can't ride it.
	if old, err := c.Cookie(sessionCookie); err == nil {
		_ = s.store.DeleteSession(ctx, old.Value)
	}
	if _, err := s.store.DeleteExpiredSessions(ctx, now); err != nil {
		s.log.Error("delete expired sessions", "error", err)
	}
	token, _, err := s.store.CreateSession(ctx, u.ID, clientSource(c), c.Request().UserAgent(), now, sessionIdle)
	if err != nil {
		return err
	}
	secure := secureCookies(c)
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, Expires: now.Add(store.SessionMaxAge)})
	c.SetCookie(&http.Cookie{Name: loginFormCookie, Value: "", Path: "/login", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	next := f.Next
	if u.MustChangePassword {
		next = "/settings#password"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// logout ends this browser's session.
func (s *Server) logout(c echo.Context) error {
	if t := sessionToken(c); t != "" {
		if err := s.store.DeleteSession(c.Request().Context(), t); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: secureCookies(c),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return c.Redirect(http.StatusSeeOther, "/login")
}

// meResponse is GET /api/v1/me.
type meResponse struct {
	User      store.User `json:"user"`
	CSRFToken string     `json:"csrf_token,omitempty"`
}

func (s *Server) me(c echo.Context) error {
	return c.JSON(http.StatusOK, meResponse{User: currentUser(c), CSRFToken: csrfToken(c)})
}

type passwordRequest struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// changePassword sets a new password after checking the current one, and
// logs out the user's other sessions.
func (s *Server) changePassword(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	var req passwordRequest
	if err := c.Bind(&req); err != nil {
		return jsonError(c, http.StatusBadRequest, `body must be JSON: {"current": "...", "new": "..."}`)
	}
	if req.Current == "" {
		return jsonFieldError(c, http.StatusBadRequest, "enter your current password", map[string]string{"current": "required"})
	}
	if err := CheckPassword(u.Name, req.New); err != nil {
		return jsonFieldError(c, http.StatusBadRequest, err.Error(), map[string]string{"new": err.Error()})
	}
	if req.New == req.Current {
		msg := "choose a new password different from the current one"
		return jsonFieldError(c, http.StatusBadRequest, msg, map[string]string{"new": msg})
	}
	// The current password is checked like a login: counted, slowed, locked.
	if _, lerr := s.authenticate(c, u.Name, req.Current, false); lerr != nil {
		if lerr.code == http.StatusUnauthorized {
			msg := "the current password is wrong"
			return jsonFieldError(c, http.StatusBadRequest, msg, map[string]string{"current": msg})
		}
		return lerr.json(c)
	}
	hash, err := secret.Hash(req.New)
	if err != nil {
		return err
	}
	no := false
	if err := s.store.UpdateUser(ctx, u.ID, store.UserUpdate{PasswordHash: &hash, MustChangePassword: &no}); err != nil {
		return err
	}
	n, err := s.store.DeleteUserSessions(ctx, u.ID, sessionToken(c))
	if err != nil {
		return err
	}
	s.authAudit(ctx, "user:"+u.Name, "auth.password_changed", clientSource(c))
	u.PasswordHash, u.MustChangePassword = hash, false
	return c.JSON(http.StatusOK, map[string]any{"user": u, "csrf_token": csrfToken(c), "logged_out_sessions": n})
}

// logoutAll ends every session of the user but the one asking.
func (s *Server) logoutAll(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	n, err := s.store.DeleteUserSessions(ctx, u.ID, sessionToken(c))
	if err != nil {
		return err
	}
	s.authAudit(ctx, "user:"+u.Name, "auth.logout_all", clientSource(c))
	return c.JSON(http.StatusOK, map[string]any{"logged_out_sessions": n})
}

// sessionView is one of GET /api/v1/me/sessions.
type sessionView struct {
	store.Session
	Current bool `json:"current"`
}

func (s *Server) mySessions(c echo.Context) error {
	list, err := s.store.ListSessions(c.Request().Context(), currentUser(c).ID, s.now())
	if err != nil {
		return err
	}
	current := ""
	if t := sessionToken(c); t != "" {
		current = store.SessionID(t)
	}
	out := make([]sessionView, 0, len(list))
	for _, ss := range list {
		out = append(out, sessionView{Session: ss, Current: ss.ID == current})
	}
	return c.JSON(http.StatusOK, out)
}

// endMySession logs out one of the user's sessions (another browser).
func (s *Server) endMySession(c echo.Context) error {
	err := s.store.DeleteSessionByID(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return jsonError(c, http.StatusNotFound, "no such session (it may have ended already)")
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
