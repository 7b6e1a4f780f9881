package ui

// The admin portal's JSON API (/api/v1/admin, admins only) for people,
// voicemail and the system, and its pages (/admin). Every change goes
// through the store functions and the validation (pbx/validate_admin.go)
// the CLI uses, so the two always agree, and is audited as user:NAME.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// adminRoutes registers the routes for extensions, users, voicemail boxes,
// settings, status, backup, and the admin pages.
func (s *Server) adminRoutes() {
	a := s.admin
	a.GET("/extensions", s.adminListExtensions)
	a.POST("/extensions", s.adminAddExtension)
	a.GET("/extensions/:number", s.adminGetExtension)
	a.PUT("/extensions/:number", s.adminUpdateExtension)
	a.DELETE("/extensions/:number", s.adminRemoveExtension)

	a.GET("/users", s.adminListUsers)
	a.POST("/users", s.adminAddUser)
	a.GET("/users/:id", s.adminGetUser)
	a.PUT("/users/:id", s.adminUpdateUser)
	a.DELETE("/users/:id", s.adminRemoveUser)
	a.POST("/users/:id/reset-password", s.adminResetPassword)
	a.POST("/users/:id/unlock", s.adminUnlockUser)
	a.POST("/users/:id/logout-all", s.adminLogoutUser)

	a.GET("/boxes", s.adminListBoxes)
	a.POST("/boxes", s.adminAddBox)
	a.GET("/boxes/:number", s.adminGetBox)
	a.PUT("/boxes/:number", s.adminUpdateBox)
	a.DELETE("/boxes/:number", s.adminRemoveBox)
	a.PUT("/boxes/:number/members", s.adminSetMembers)
	a.DELETE("/boxes/:number/members/:ext", s.adminRemoveMember)
	a.GET("/boxes/:number/users", s.adminBoxUsers)
	a.PUT("/boxes/:number/users", s.adminSetBoxUser)
	a.DELETE("/boxes/:number/users/:id", s.adminRemoveBoxUser)
	a.POST("/boxes/:number/pin", s.adminResetPIN)
	a.GET("/boxes/:number/greeting", s.adminGetGreeting)
	a.PUT("/boxes/:number/greeting", s.adminUploadGreeting)
	a.POST("/boxes/:number/greeting/say", s.adminSayGreeting)
	a.DELETE("/boxes/:number/greeting", s.adminRemoveGreeting)
	a.GET("/boxes/:number/inbox", s.adminGetInboxSettings)
	a.PUT("/boxes/:number/inbox", s.adminSetInboxSettings)

	a.GET("/smtp", s.adminGetSMTP)
	a.PUT("/smtp", s.adminSetSMTP)
	a.POST("/smtp/test", s.adminTestSMTP)

	a.GET("/status", s.adminStatus)
	a.GET("/devices", s.adminDevices)
	a.GET("/calls", s.adminCalls)
	a.GET("/backup", s.adminBackup)
	s.abuseRoutes() // admin_abuse.go: blocked SIP sources

	s.adminPageRoutes()
}

// badField answers 400 naming one field.
func badField(c echo.Context, field, msg string) error {
	return c.JSON(http.StatusBadRequest, apiError{Error: msg, Fields: map[string]string{field: msg}})
}

// adminFail answers an error from validation or the store (see fail).
func (s *Server) adminFail(c echo.Context, what string, err error) error {
	return s.fail(c, "admin: "+what, "number", err)
}

// decodeJSON reads the request's JSON body into v, answering 400 (and
// returning false) when it isn't JSON of the right shape.
func decodeJSON(c echo.Context, v any) (bool, error) {
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 1<<20))
	err := dec.Decode(v)
	if err == nil {
		return true, nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		want := te.Type.String()
		switch {
		case strings.Contains(want, "int"):
			want = "a whole number"
		case strings.Contains(want, "bool"):
			want = "true or false"
		case strings.Contains(want, "string"):
			want = "text"
		case strings.Contains(want, "[]"):
			want = "a list"
		}
		return false, badField(c, te.Field, fmt.Sprintf("%s must be %s", te.Field, want))
	}
	if errors.Is(err, io.EOF) {
		return false, jsonError(c, http.StatusBadRequest, "the request needs a JSON body")
	}
	return false, jsonError(c, http.StatusBadRequest, "the body is not valid JSON: "+err.Error())
}

// actorName is how the audit log names the request's user.
func actorName(c echo.Context) string { return "user:" + currentUser(c).Name }

// audit writes an audit row for an admin change; a failure is logged, the
// change itself already happened.
func (s *Server) audit(c echo.Context, action, box, detail string) {
	if err := s.store.Audit(c.Request().Context(), actorName(c), action, box, 0, detail); err != nil {
		s.log.Error("admin: audit", "action", action, "error", err)
	}
}
