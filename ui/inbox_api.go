package ui

// The team inbox's JSON API: the inboxes a user can reach, message lists and
// search, a message's detail, its audio, the workflow actions and the audit
// log. Access is checked on every request against the user's level on the
// message's box (store.InboxAccess); the store does the work and the audit.

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// Refusals shared by the handlers.
const (
	msgNoInboxAccess = "you don't have access to that inbox"
	msgTakeOver      = "only an admin or a manager of the inbox can take it over"
)

// inboxRoutes registers the routes for lists, messages, workflow actions,
// audio, search and the audit log.
func (s *Server) inboxRoutes() {
	g := s.api
	g.GET("/inboxes", s.listInboxes)
	g.GET("/messages", s.listMessages)
	g.GET("/messages/:id", s.withMessage(store.AccessListen, s.messageDetailHandler))
	g.GET("/messages/:id/audio", s.withMessage(store.AccessListen, s.messageAudio))
	g.POST("/messages/:id/claim", s.withMessage(store.AccessListen, s.claimMessage))
	g.POST("/messages/:id/assign", s.withMessage(store.AccessListen, s.assignMessage))
	g.POST("/messages/:id/return", s.withMessage(store.AccessListen, s.returnMessage))
	g.POST("/messages/:id/progress", s.withMessage(store.AccessListen, s.progressMessage))
	g.POST("/messages/:id/done", s.withMessage(store.AccessListen, s.doneMessage))
	g.POST("/messages/:id/reopen", s.withMessage(store.AccessListen, s.reopenMessage))
	g.POST("/messages/:id/note", s.withMessage(store.AccessListen, s.noteMessage))
	g.POST("/messages/:id/played", s.withMessage(store.AccessListen, s.playedMessage))
	g.POST("/messages/:id/transfer", s.withMessage(store.AccessListen, s.transferMessage))
	g.POST("/messages/:id/callback", s.withMessage(store.AccessListen, s.callbackMessage))
	g.POST("/messages/:id/forward", s.withMessage(store.AccessDownload, s.forwardMessage))
	g.POST("/messages/:id/trash", s.withMessage(store.AccessDelete, s.trashMessage))
	g.POST("/messages/:id/restore", s.withMessage(store.AccessDelete, s.restoreMessage))
	g.DELETE("/messages/:id", s.withMessage(store.AccessDelete, s.purgeMessage))
	g.GET("/boxes/:box/assignees", s.boxAssignees)
	g.GET("/audit", s.auditLog)
}

// inboxUser is the request's user with their access to each box.
type inboxUser struct {
	user   store.User
	access map[string]store.Access
}

// actor is who the store records for an action on a message in box.
func (iu inboxUser) actor(box string) store.Actor {
	return store.Actor{UserID: iu.user.ID, Name: iu.user.Name,
		Manager: iu.user.IsAdmin || iu.access[box] >= store.AccessManage}
}

// boxes lists the boxes the user can reach, sorted.
func (iu inboxUser) boxes() []string {
	out := make([]string, 0, len(iu.access))
	for b, a := range iu.access {
		if a >= store.AccessListen {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// loadInboxUser reads the logged-in user's access.
func (s *Server) loadInboxUser(c echo.Context) (inboxUser, error) {
	u := currentUser(c)
	access, err := s.store.InboxAccess(c.Request().Context(), u)
	if err != nil {
		return inboxUser{}, err
	}
	return inboxUser{user: u, access: access}, nil
}

// msgRequest is a request about one message the user may reach.
type msgRequest struct {
	inboxUser
	msg   store.Message
	level store.Access // the user's access to the message's box
}

func (r *msgRequest) actor() store.Actor { return r.inboxUser.actor(r.msg.Box) }

// withMessage loads the user and the message named by :id and lets the
// request through only with at least need on the message's box.
func (s *Server) withMessage(need store.Access, h func(echo.Context, *msgRequest) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			return jsonError(c, http.StatusBadRequest, "the message id must be a positive number")
		}
		iu, err := s.loadInboxUser(c)
		if err != nil {
			return s.inboxFail(c, "read inbox access", err)
		}
		m, err := s.store.Message(c.Request().Context(), id)
		if err != nil {
			return s.inboxFail(c, "read message", err)
		}
		level := iu.access[m.Box]
		if level < store.AccessListen {
			return jsonError(c, http.StatusForbidden, msgNoInboxAccess)
		}
		if level < need {
			return jsonError(c, http.StatusForbidden, "this needs "+need.String()+" access to inbox "+m.Box+"; you have "+level.String())
		}
		return h(c, &msgRequest{inboxUser: iu, msg: m, level: level})
	}
}

// inboxFail answers a store error: the workflow's errors as 404/409, the
// rest as 500 with a log line.
func (s *Server) inboxFail(c echo.Context, what string, err error) error {
	var fe *store.FieldError
	switch {
	case errors.As(err, &fe):
		return s.fail(c, "inbox: "+what, "", err)
	case errors.Is(err, store.ErrInvalid):
		return jsonError(c, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotInTrash):
		return jsonError(c, http.StatusConflict, "the message is not in the trash; move it to the trash first")
	case errors.Is(err, store.ErrNotFound):
		return jsonError(c, http.StatusNotFound, notFoundText(err))
	case errors.Is(err, store.ErrInTrash):
		return jsonError(c, http.StatusConflict, "the message is in the trash; restore it first")
	case errors.Is(err, store.ErrAssignedElsewhere):
		return jsonError(c, http.StatusConflict, "the message is assigned to someone else; "+msgTakeOver)
	}
	s.log.Error("inbox API", "action", what, "path", c.Path(), "error", err)
	return jsonError(c, http.StatusInternalServerError, "something went wrong on the server ("+what+"); try again")
}

// notFoundText is the sentence for a wrapped ErrNotFound ("message 7: not found").
func notFoundText(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i > 0 {
		return msg[:i] + " doesn't exist"
	}
	return "not found"
}

// actionFail is inboxFail for an action on r.msg: ErrAssignedElsewhere names
// the assignee.
func (s *Server) actionFail(c echo.Context, r *msgRequest, what string, err error) error {
	if errors.Is(err, store.ErrAssignedElsewhere) {
		ctx := c.Request().Context()
		name := "someone else"
		if m, merr := s.store.Message(ctx, r.msg.ID); merr == nil && m.Assignee != 0 {
			if u, uerr := s.store.UserByID(ctx, m.Assignee); uerr == nil {
				name = u.Name
			}
		}
		return jsonError(c, http.StatusConflict, "assigned to "+name+"; "+msgTakeOver)
	}
	return s.inboxFail(c, what, err)
}

// bindJSON reads an optional JSON body into v: an empty body leaves v as is.
func bindJSON(c echo.Context, v any) error {
	req := c.Request()
	if req.ContentLength == 0 {
		return nil
	}
	if err := c.Bind(v); err != nil {
		return err
	}
	return nil
}

// replyDetail answers an action with the message's updated detail.
func (s *Server) replyDetail(c echo.Context, r *msgRequest, id int64) error {
	m, err := s.store.Message(c.Request().Context(), id)
	if err != nil {
		return s.inboxFail(c, "read message", err)
	}
	r.msg = m
	r.level = r.access[m.Box]
	d, err := s.messageDetail(c.Request().Context(), r)
	if err != nil {
		return s.inboxFail(c, "read message detail", err)
	}
	return c.JSON(http.StatusOK, d)
}

// logAction audits an action the store doesn't perform itself; a failure is
// logged, not shown: the action already happened.
func (s *Server) logAction(ctx context.Context, a store.Actor, action string, id int64, detail string) {
	if err := s.store.LogAction(ctx, a, action, id, detail); err != nil {
		s.log.Error("audit", "action", action, "message", id, "error", err)
	}
}

// parseTimeParam reads a time as RFC 3339 or a date (YYYY-MM-DD, local
// midnight); endOfDay moves a date to the next midnight (for "to" bounds).
func parseTimeParam(v string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, v, time.Local)
	if err != nil {
		return time.Time{}, err
	}
	if endOfDay {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
