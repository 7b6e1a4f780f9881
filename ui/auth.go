package ui

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Keys under which requireUser leaves the request's user and session.
const (
	ctxUser = "frontdesk.user"
	ctxCSRF = "frontdesk.csrf"
)

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

// authRoutes: /login, /logout, sessions. (Being written.)
func (s *Server) authRoutes() {}

// requireUser lets a request through only with a valid session (or HTTP
// Basic credentials on /api/v1), and checks the CSRF token on every state
// change made with a session. (Being written.)
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		return jsonError(c, http.StatusUnauthorized, "log in first")
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

// securityHeaders sets CSP and friends on every response. (Being written.)
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc { return next }
