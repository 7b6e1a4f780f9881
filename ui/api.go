package ui

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
	"github.com/frontdesk-pbx/frontdesk/store/secret"
)

// Dialer places calls on behalf of the API (the PBX's click-to-call).
type Dialer interface {
	ClickToCall(ctx context.Context, extension, number, actor string) (int64, error)
}

// SetDialer enables the click-to-call API.
func (s *Server) SetDialer(d Dialer) { s.dialer = d }

// apiError is the JSON body of every API error.
type apiError struct {
	Error string `json:"error"`
}

func jsonError(c echo.Context, code int, msg string) error {
	return c.JSON(code, apiError{Error: msg})
}

// apiUser authenticates an API request by HTTP Basic auth against the web
// users. (Browser sessions come with the web inbox.)
func (s *Server) apiUser(c echo.Context) (store.User, bool) {
	name, password, ok := c.Request().BasicAuth()
	if !ok {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="frontdesk"`)
		return store.User{}, false
	}
	u, err := s.store.UserByName(c.Request().Context(), name)
	if err != nil {
		secret.Check(dummyHash, password) // the same work for unknown users
		return store.User{}, false
	}
	if !secret.Check(u.PasswordHash, password) {
		return store.User{}, false
	}
	return u, true
}

// dummyHash is checked against for unknown users so they take as long.
var dummyHash, _ = secret.Hash("not a password")

type clickToCallRequest struct {
	Extension string `json:"extension"`
	Number    string `json:"number"`
}

// clickToCall rings the user's extension and then calls the number.
// Admins may use any extension; others only the one linked to them.
func (s *Server) clickToCall(c echo.Context) error {
	u, ok := s.apiUser(c)
	if !ok {
		return jsonError(c, http.StatusUnauthorized, "log in with your Frontdesk user name and password")
	}
	if s.dialer == nil {
		return jsonError(c, http.StatusServiceUnavailable, "calls can't be placed right now")
	}
	var req clickToCallRequest
	if err := c.Bind(&req); err != nil {
		return jsonError(c, http.StatusBadRequest, "body must be JSON: {\"extension\": \"101\", \"number\": \"5551234\"}")
	}
	req.Extension, req.Number = strings.TrimSpace(req.Extension), strings.TrimSpace(req.Number)
	if req.Extension == "" {
		req.Extension = u.Extension
	}
	if req.Extension == "" || req.Number == "" {
		return jsonError(c, http.StatusBadRequest, "extension and number are required")
	}
	if !u.IsAdmin && req.Extension != u.Extension {
		return jsonError(c, http.StatusForbidden, "you may only place calls from your own extension")
	}
	id, err := s.dialer.ClickToCall(c.Request().Context(), req.Extension, req.Number, "user:"+u.Name)
	switch {
	case errors.Is(err, pbx.ErrNotAllowed):
		return jsonError(c, http.StatusForbidden, err.Error())
	case errors.Is(err, pbx.ErrNotRegistered):
		return jsonError(c, http.StatusConflict, err.Error())
	case errors.Is(err, pbx.ErrNoRoute), errors.Is(err, store.ErrNotFound):
		return jsonError(c, http.StatusNotFound, err.Error())
	case err != nil:
		s.log.Error("click-to-call", "error", err)
		return jsonError(c, http.StatusInternalServerError, "the call could not be placed")
	}
	return c.JSON(http.StatusAccepted, map[string]any{"call_id": id})
}
