package ui

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// Dialer places calls on behalf of the API (the PBX's click-to-call).
type Dialer interface {
	ClickToCall(ctx context.Context, extension, number, actor string) (int64, error)
}

// SetDialer enables the click-to-call API.
func (s *Server) SetDialer(d Dialer) { s.dialer = d }

// apiError is the JSON body of every API error; Fields names what is wrong
// with each bad input field.
type apiError struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

func jsonError(c echo.Context, code int, msg string) error {
	return c.JSON(code, apiError{Error: msg})
}

// jsonFieldError is jsonError with what is wrong with each field.
func jsonFieldError(c echo.Context, code int, msg string, fields map[string]string) error {
	return c.JSON(code, apiError{Error: msg, Fields: fields})
}

// fail answers an error from validation or the store the same way for every
// part of the API: 400 naming the fields at fault (the checks the CLI shares
// in pbx, or the store's own), 404, 409 on keyField when the name or number
// is taken, else 500 with a log line (the details stay in the log).
func (s *Server) fail(c echo.Context, what, keyField string, err error) error {
	var bad *pbx.Invalid
	var fe *store.FieldError
	switch {
	case errors.As(err, &bad):
		return jsonFieldError(c, http.StatusBadRequest, bad.Error(), bad.Fields)
	case errors.As(err, &fe):
		return jsonFieldError(c, http.StatusBadRequest, fe.Message, map[string]string{fe.Field: fe.Message})
	case errors.Is(err, store.ErrNotFound):
		return jsonError(c, http.StatusNotFound, strings.TrimPrefix(err.Error(), "read "))
	case errors.Is(err, store.ErrExists):
		msg := strings.TrimPrefix(err.Error(), "read ")
		return jsonFieldError(c, http.StatusConflict, msg, map[string]string{keyField: msg})
	}
	s.log.Error(what, "path", c.Path(), "error", err)
	return jsonError(c, http.StatusInternalServerError, what+" failed; see the server log")
}

type clickToCallRequest struct {
	Extension string `json:"extension"`
	Number    string `json:"number"`
}

// clickToCall rings the user's extension and then calls the number.
// Admins may use any extension; others only the one linked to them.
// requireUser has authenticated the request (session or HTTP Basic).
func (s *Server) clickToCall(c echo.Context) error {
	u := currentUser(c)
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
	case errors.Is(err, pbx.ErrTrunkUnreachable):
		return jsonError(c, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, pbx.ErrNoRoute), errors.Is(err, store.ErrNotFound):
		return jsonError(c, http.StatusNotFound, err.Error())
	case err != nil:
		s.log.Error("click-to-call", "error", err)
		return jsonError(c, http.StatusInternalServerError, "the call could not be placed")
	}
	return c.JSON(http.StatusAccepted, map[string]any{"call_id": id})
}
