package ui

// The workflow actions on one message. withMessage has checked the user's
// level on the message's box; the store checks the workflow (assigned
// elsewhere, in the trash) and writes the audit row in the same transaction.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// maxNoteLength bounds notes and done notes (they show on every timeline).
const maxNoteLength = 4000

// fieldError answers 400 naming a body field.
func fieldError(c echo.Context, field, msg string) error {
	return c.JSON(http.StatusBadRequest, map[string]any{"error": msg, "fields": map[string]string{field: msg}})
}

func badBody(c echo.Context, example string) error {
	return jsonError(c, http.StatusBadRequest, "the body must be JSON like "+example)
}

func (s *Server) claimMessage(c echo.Context, r *msgRequest) error {
	m, err := s.store.Claim(c.Request().Context(), r.actor(), r.msg.ID)
	if err != nil {
		return s.actionFail(c, r, "claim", err)
	}
	return s.replyDetail(c, r, m.ID)
}

type assignRequest struct {
	UserID *int64 `json:"user_id"`
}

// assignMessage gives the message to a user who may work its box (0 returns it).
func (s *Server) assignMessage(c echo.Context, r *msgRequest) error {
	var req assignRequest
	if err := bindJSON(c, &req); err != nil {
		return badBody(c, `{"user_id": 7}`)
	}
	if req.UserID == nil || *req.UserID < 0 {
		return fieldError(c, "user_id", "user_id is required: the id of a user who works this inbox (0 returns the message to the inbox)")
	}
	if id := *req.UserID; id != 0 && id != r.user.ID {
		users, err := s.store.BoxUsers(c.Request().Context(), r.msg.Box)
		if err != nil {
			return s.inboxFail(c, "list the inbox's users", err)
		}
		ok := false
		for _, u := range users {
			ok = ok || u.UserID == id
		}
		if !ok {
			return fieldError(c, "user_id", fmt.Sprintf("user %d doesn't work inbox %s; pick one from its assignees", id, r.msg.Box))
		}
	}
	m, err := s.store.Assign(c.Request().Context(), r.actor(), r.msg.ID, *req.UserID)
	if err != nil {
		return s.actionFail(c, r, "assign", err)
	}
	return s.replyDetail(c, r, m.ID)
}

func (s *Server) returnMessage(c echo.Context, r *msgRequest) error {
	m, err := s.store.Assign(c.Request().Context(), r.actor(), r.msg.ID, 0)
	if err != nil {
		return s.actionFail(c, r, "return to the inbox", err)
	}
	return s.replyDetail(c, r, m.ID)
}

func (s *Server) progressMessage(c echo.Context, r *msgRequest) error {
	m, err := s.store.MarkInProgress(c.Request().Context(), r.actor(), r.msg.ID)
	if err != nil {
		return s.actionFail(c, r, "mark in progress", err)
	}
	return s.replyDetail(c, r, m.ID)
}

type doneRequest struct {
	Note string `json:"note"`
}

func (s *Server) doneMessage(c echo.Context, r *msgRequest) error {
	var req doneRequest
	if err := bindJSON(c, &req); err != nil {
		return badBody(c, `{"note": "called back, sorted"}`)
	}
	req.Note = strings.TrimSpace(req.Note)
	if len(req.Note) > maxNoteLength {
		return fieldError(c, "note", fmt.Sprintf("the note is too long: at most %d characters", maxNoteLength))
	}
	m, err := s.store.MarkDone(c.Request().Context(), r.actor(), r.msg.ID, req.Note)
	if err != nil {
		return s.actionFail(c, r, "mark done", err)
	}
	return s.replyDetail(c, r, m.ID)
}

func (s *Server) reopenMessage(c echo.Context, r *msgRequest) error {
	m, err := s.store.Reopen(c.Request().Context(), r.actor(), r.msg.ID)
	if err != nil {
		return s.actionFail(c, r, "reopen", err)
	}
	return s.replyDetail(c, r, m.ID)
}

type noteRequest struct {
	Text string `json:"text"`
}

func (s *Server) noteMessage(c echo.Context, r *msgRequest) error {
	var req noteRequest
	if err := bindJSON(c, &req); err != nil {
		return badBody(c, `{"text": "left a message with their office"}`)
	}
	req.Text = strings.TrimSpace(req.Text)
	switch {
	case req.Text == "":
		return fieldError(c, "text", "write the note's text")
	case len(req.Text) > maxNoteLength:
		return fieldError(c, "text", fmt.Sprintf("the note is too long: at most %d characters", maxNoteLength))
	}
	if err := s.store.AddNote(c.Request().Context(), r.actor(), r.msg.ID, req.Text); err != nil {
		return s.actionFail(c, r, "add a note", err)
	}
	return s.replyDetail(c, r, r.msg.ID)
}

type playedRequest struct {
	Played *bool `json:"played"`
}

func (s *Server) playedMessage(c echo.Context, r *msgRequest) error {
	var req playedRequest
	if err := bindJSON(c, &req); err != nil {
		return badBody(c, `{"played": true}`)
	}
	if req.Played == nil {
		return fieldError(c, "played", "played is required: true or false")
	}
	m, err := s.store.MarkPlayed(c.Request().Context(), r.actor(), r.msg.ID, *req.Played)
	if err != nil {
		return s.actionFail(c, r, "mark played", err)
	}
	return s.replyDetail(c, r, m.ID)
}

type transferRequest struct {
	Box string `json:"box"`
}

// transferMessage moves the conversation to another box the user can reach.
func (s *Server) transferMessage(c echo.Context, r *msgRequest) error {
	var req transferRequest
	if err := bindJSON(c, &req); err != nil {
		return badBody(c, `{"box": "600"}`)
	}
	req.Box = strings.TrimSpace(req.Box)
	switch {
	case req.Box == "":
		return fieldError(c, "box", "box is required: the number of the inbox to move the message to")
	case req.Box == r.msg.Box:
		return fieldError(c, "box", "the message is already in inbox "+req.Box)
	case r.access[req.Box] < store.AccessListen:
		return jsonError(c, http.StatusForbidden, msgNoInboxAccess)
	}
	m, err := s.store.Transfer(c.Request().Context(), r.actor(), r.msg.ID, req.Box)
	if err != nil {
		return s.actionFail(c, r, "transfer", err)
	}
	return s.replyDetail(c, r, m.ID)
}

func (s *Server) trashMessage(c echo.Context, r *msgRequest) error {
	m, err := s.store.Trash(c.Request().Context(), r.actor(), r.msg.ID)
	if err != nil {
		return s.actionFail(c, r, "move to the trash", err)
	}
	return s.replyDetail(c, r, m.ID)
}

func (s *Server) restoreMessage(c echo.Context, r *msgRequest) error {
	m, err := s.store.Untrash(c.Request().Context(), r.actor(), r.msg.ID)
	if err != nil {
		return s.actionFail(c, r, "restore from the trash", err)
	}
	return s.replyDetail(c, r, m.ID)
}

// purgeMessage deletes a message in the trash for good, then its audio.
func (s *Server) purgeMessage(c echo.Context, r *msgRequest) error {
	if r.msg.DeletedAt == nil {
		return jsonError(c, http.StatusConflict, "only a message in the trash can be deleted for good; move it to the trash first")
	}
	audio, err := s.store.Purge(c.Request().Context(), r.actor(), r.msg.ID)
	if err != nil {
		return s.actionFail(c, r, "delete for good", err)
	}
	// The row is gone: a leftover file is only disk space, so log and go on.
	if path, ok := s.audioPath(audio); ok {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("remove a purged message's audio", "message", r.msg.ID, "file", path, "error", err)
		}
	}
	return c.NoContent(http.StatusNoContent)
}

type forwardRequest struct {
	Address string `json:"address"`
}

// forwardMessage queues an email with the message to an address.
func (s *Server) forwardMessage(c echo.Context, r *msgRequest) error {
	var req forwardRequest
	if err := bindJSON(c, &req); err != nil {
		return badBody(c, `{"address": "someone@example.com"}`)
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(req.Address))
	if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
		return fieldError(c, "address", "address must be one email address like someone@example.com")
	}
	if r.msg.DeletedAt != nil {
		return jsonError(c, http.StatusConflict, "the message is in the trash; restore it first")
	}
	ctx := c.Request().Context()
	if err := s.store.QueueEmail(ctx, r.msg.ID, addr.Address); err != nil {
		return s.actionFail(c, r, "queue the email", err)
	}
	if s.opts.Wake != nil {
		s.opts.Wake()
	}
	s.logAction(ctx, r.actor(), "message.forwarded", r.msg.ID, addr.Address)
	return s.replyDetail(c, r, r.msg.ID)
}

// How long a done-on-callback watch waits for the call to be answered, and
// how often it looks.
const (
	callbackWatch = 3 * time.Minute
	callbackPoll  = time.Second
)

// callbackMessage rings the user's desk phone and then the caller.
func (s *Server) callbackMessage(c echo.Context, r *msgRequest) error {
	if r.user.Extension == "" {
		return jsonError(c, http.StatusBadRequest, "link your user to an extension to call back")
	}
	if r.msg.CallerNumber == "" {
		return jsonError(c, http.StatusBadRequest, "the caller's number is unknown, so there is nobody to call back")
	}
	if s.dialer == nil {
		return jsonError(c, http.StatusServiceUnavailable, "calls can't be placed right now")
	}
	ctx := c.Request().Context()
	callID, err := s.dialer.ClickToCall(ctx, r.user.Extension, r.msg.CallerNumber, "user:"+r.user.Name)
	switch {
	case errors.Is(err, pbx.ErrNotAllowed):
		return jsonError(c, http.StatusForbidden, err.Error())
	case errors.Is(err, pbx.ErrNotRegistered):
		return jsonError(c, http.StatusConflict, "your desk phone isn't registered")
	case errors.Is(err, pbx.ErrTrunkUnreachable):
		return jsonError(c, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, pbx.ErrNoRoute), errors.Is(err, store.ErrNotFound):
		return jsonError(c, http.StatusNotFound, err.Error())
	case err != nil:
		s.log.Error("call back", "message", r.msg.ID, "error", err)
		return jsonError(c, http.StatusInternalServerError, "the call could not be placed")
	}
	s.logAction(ctx, r.actor(), "message.callback", r.msg.ID, fmt.Sprintf("call %d to %s", callID, r.msg.CallerNumber))
	if st, err := s.store.InboxSettingsOf(ctx, r.msg.Box); err != nil {
		s.log.Error("read inbox settings", "box", r.msg.Box, "error", err)
	} else if st.DoneOnCallback {
		// The request ends long before the call is answered.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callbackWatch)
		msgID := r.msg.ID
		go func() {
			defer cancel()
			s.doneWhenAnswered(wctx, msgID, callID)
		}()
	}
	return s.replyDetail(c, r, r.msg.ID)
}

// doneWhenAnswered marks a message done once its call back is answered,
// giving up when ctx ends or the call ends unanswered.
func (s *Server) doneWhenAnswered(ctx context.Context, messageID, callID int64) {
	t := time.NewTicker(callbackPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		call, err := s.store.CallByID(ctx, callID)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("watch a call back", "call", callID, "error", err)
			}
			return
		}
		if call.AnsweredAt == nil {
			if call.EndedAt != nil {
				return
			}
			continue
		}
		system := store.Actor{Name: "system", Manager: true}
		if _, err := s.store.MarkDone(ctx, system, messageID, fmt.Sprintf("call back answered (call %d)", callID)); err != nil {
			s.log.Warn("mark a called-back message done", "message", messageID, "call", callID, "error", err)
		}
		return
	}
}

// audioPath is where a message's audio lives; false when the name is not a
// plain file name (so a bad row can't reach outside the messages folder).
func (s *Server) audioPath(name string) (string, bool) {
	if name == "" || name == "." || name == ".." || name != filepath.Base(name) || strings.ContainsAny(name, "/\\\x00") {
		return "", false
	}
	return filepath.Join(s.opts.DataDir, pbx.MessagesDir, name), true
}

// messageAudio serves the WAV with range support: inline to play (listen),
// as an attachment with ?download=1 (download, audited).
func (s *Server) messageAudio(c echo.Context, r *msgRequest) error {
	download := c.QueryParam("download")
	isDownload := download == "1" || download == "true"
	if isDownload && r.level < store.AccessDownload {
		return jsonError(c, http.StatusForbidden, "downloading needs download access to inbox "+r.msg.Box+"; you have "+r.level.String())
	}
	if gone, err := s.store.AudioPurged(c.Request().Context(), r.msg.ID); err == nil && gone {
		return jsonError(c, http.StatusGone, "the recording was deleted by the audio retention policy; the transcript is kept")
	}
	path, ok := s.audioPath(r.msg.Audio)
	if !ok {
		s.log.Error("message audio name is not a plain file name", "message", r.msg.ID, "audio", r.msg.Audio)
		return jsonError(c, http.StatusNotFound, "the message's audio file is missing")
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return jsonError(c, http.StatusNotFound, "the message's audio file is missing")
	}
	if err != nil {
		s.log.Error("open message audio", "message", r.msg.ID, "error", err)
		return jsonError(c, http.StatusInternalServerError, "the audio could not be read")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return jsonError(c, http.StatusInternalServerError, "the audio could not be read")
	}
	h := c.Response().Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Accept-Ranges", "bytes")
	h.Set("Cache-Control", "private, no-cache")
	name := fmt.Sprintf("voicemail-%s-%d.wav", safeFileName(r.msg.Box), r.msg.ID)
	if isDownload {
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		// A resumed download (a later range) is the same download.
		if rg := c.Request().Header.Get("Range"); rg == "" || strings.HasPrefix(rg, "bytes=0-") {
			s.logAction(c.Request().Context(), r.actor(), "message.downloaded", r.msg.ID, "")
		}
	} else {
		h.Set("Content-Disposition", `inline; filename="`+name+`"`)
	}
	http.ServeContent(c.Response(), c.Request(), name, fi.ModTime(), f)
	return nil
}

// safeFileName keeps letters, digits, - and _.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
