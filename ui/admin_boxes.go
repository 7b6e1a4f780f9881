package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/media"
	"github.com/frontdesk-pbx/frontdesk/pbx"
	"github.com/frontdesk-pbx/frontdesk/store"
)

// maxGreetingUpload is the largest greeting file accepted (about 10 minutes
// of 8 kHz audio, and far more than 120 s at any usual rate).
const maxGreetingUpload = 10 << 20

// adminBox is a box as the admin API lists it.
type adminBox struct {
	store.Box
	New   int `json:"new"`
	Saved int `json:"saved"`
}

// adminBoxDetail is one box with everything its admin page shows.
type adminBoxDetail struct {
	adminBox
	Inbox *store.InboxSettings `json:"inbox,omitempty"` // nil while the inbox store is not available
	Users []store.BoxUser      `json:"users"`
}

func (s *Server) adminListBoxes(c echo.Context) error {
	ctx := c.Request().Context()
	boxes, err := s.store.Boxes(ctx)
	if err != nil {
		return s.adminFail(c, "list boxes", err)
	}
	out := make([]adminBox, 0, len(boxes))
	for _, b := range boxes {
		v, err := s.boxView(ctx, b)
		if err != nil {
			return s.adminFail(c, "list boxes", err)
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) boxView(ctx context.Context, b store.Box) (adminBox, error) {
	n, saved, err := s.store.Counts(ctx, b.Number)
	if b.Emails == nil {
		b.Emails = []string{}
	}
	if b.Members == nil {
		b.Members = []store.Member{}
	}
	return adminBox{Box: b, New: n, Saved: saved}, err
}

func (s *Server) adminGetBox(c echo.Context) error {
	ctx := c.Request().Context()
	b, err := s.store.Box(ctx, c.Param("number"))
	if err != nil {
		return s.adminFail(c, "read box", err)
	}
	v, err := s.boxView(ctx, b)
	if err != nil {
		return s.adminFail(c, "read box", err)
	}
	out := adminBoxDetail{adminBox: v, Users: []store.BoxUser{}}
	if in, err := s.store.InboxSettingsOf(ctx, b.Number); err == nil {
		out.Inbox = &in
	} else {
		return s.adminFail(c, "read box", err)
	}
	if us, err := s.store.BoxUsers(ctx, b.Number); err == nil && us != nil {
		out.Users = us
	} else if err != nil {
		return s.adminFail(c, "read box", err)
	}
	return c.JSON(http.StatusOK, out)
}

// boxRequest is the body of add and edit; absent fields (edit) stay as they are.
type boxRequest struct {
	Number         string    `json:"number"`
	Name           *string   `json:"name"`
	PIN            *string   `json:"pin"` // add: required; edit: "" keeps it
	Emails         *[]string `json:"emails"`
	EmailAttach    *bool     `json:"email_attach"`
	Language       *string   `json:"language"`
	Operator       *string   `json:"operator"`
	MaxSeconds     *int      `json:"max_seconds"`
	SilenceSeconds *int      `json:"silence_seconds"`
	Transcribe     *bool     `json:"transcribe"`
	TranscribeLang *string   `json:"transcribe_language"`
	Members        []string  `json:"members"` // add: extensions sharing the box
	Access         string    `json:"access"`  // add: the members' access (default delete)
}

func (s *Server) adminAddBox(c echo.Context) error {
	var r boxRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	if r.Access == "" {
		r.Access = "delete"
	}
	ms, err := pbx.ParseMembers(r.Members, r.Access, true)
	if err != nil {
		var bad *pbx.Invalid
		if errors.As(err, &bad) && bad.Fields["extension"] != "" {
			return badField(c, "members", bad.Fields["extension"])
		}
		return s.adminFail(c, "add box", err)
	}
	nb := pbx.NewBox{Number: strings.TrimSpace(r.Number), Name: str(r.Name), PIN: str(r.PIN), Attach: r.EmailAttach == nil || *r.EmailAttach,
		Language: str(r.Language), Operator: str(r.Operator), Transcribe: r.Transcribe, TranscribeLang: r.TranscribeLang, Members: ms}
	if r.Emails != nil {
		nb.Emails = *r.Emails
	}
	if r.MaxSeconds != nil {
		nb.MaxSeconds = *r.MaxSeconds
		if nb.MaxSeconds == 0 {
			return badField(c, "max_seconds", "max seconds 0: want 5 to 3600")
		}
	}
	if r.SilenceSeconds != nil {
		nb.SilenceSeconds = *r.SilenceSeconds
	}
	b, tu, err := nb.Prepare()
	if err != nil {
		return s.adminFail(c, "add box", err)
	}
	ctx := c.Request().Context()
	if err := s.store.AddBox(ctx, b); err != nil {
		if errors.Is(err, store.ErrNotFound) { // a member that is no extension
			return badField(c, "members", strings.TrimPrefix(err.Error(), "read "))
		}
		return s.adminFail(c, "add box", err)
	}
	if tu != (store.BoxUpdate{}) {
		if err := s.store.UpdateBox(ctx, b.Number, tu); err != nil {
			return s.adminFail(c, "add box", err)
		}
	}
	s.audit(c, "vm.add", b.Number, b.Name)
	return s.writeBox(c, http.StatusCreated, b.Number)
}

func (s *Server) writeBox(c echo.Context, code int, number string) error {
	ctx := c.Request().Context()
	b, err := s.store.Box(ctx, number)
	if err != nil {
		return s.adminFail(c, "read box", err)
	}
	v, err := s.boxView(ctx, b)
	if err != nil {
		return s.adminFail(c, "read box", err)
	}
	return c.JSON(code, v)
}

func (s *Server) adminUpdateBox(c echo.Context) error {
	number := c.Param("number")
	var r boxRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	ch := pbx.BoxChange{Name: r.Name, Language: trimmed(r.Language), Operator: trimmed(r.Operator), TranscribeLang: trimmed(r.TranscribeLang),
		Emails: r.Emails, Attach: r.EmailAttach, Transcribe: r.Transcribe, MaxSeconds: r.MaxSeconds, SilenceSeconds: r.SilenceSeconds}
	if r.PIN != nil && *r.PIN != "" {
		ch.PIN = r.PIN
	}
	u, err := ch.Update()
	if err != nil {
		return s.adminFail(c, "change box", err)
	}
	ctx := c.Request().Context()
	if _, err := s.store.Box(ctx, number); err != nil {
		return s.adminFail(c, "change box", err)
	}
	if u != (store.BoxUpdate{}) {
		if err := s.store.UpdateBox(ctx, number, u); err != nil {
			return s.adminFail(c, "change box", err)
		}
		detail := ""
		if u.PINHash != nil {
			detail = "new PIN"
			if err := s.store.UnlockBox(ctx, number); err != nil {
				return s.adminFail(c, "change box", err)
			}
		}
		s.audit(c, "vm.set", number, detail)
	}
	return s.writeBox(c, http.StatusOK, number)
}

func (s *Server) adminRemoveBox(c echo.Context) error {
	ctx := c.Request().Context()
	box, err := s.store.Box(ctx, c.Param("number"))
	if err != nil {
		return s.adminFail(c, "remove box", err)
	}
	if box.Kind == store.BoxPersonal {
		return jsonError(c, http.StatusConflict, fmt.Sprintf("box %s is extension %s's personal box: remove the extension, or turn its voicemail off, instead", box.Number, box.Owner))
	}
	msgs, err := s.store.Messages(ctx, box.Number)
	if err != nil {
		return s.adminFail(c, "remove box", err)
	}
	if err := s.store.RemoveBox(ctx, box.Number); err != nil {
		return s.adminFail(c, "remove box", err)
	}
	for _, m := range msgs {
		if m.Audio != "" {
			os.Remove(filepath.Join(s.opts.DataDir, pbx.MessagesDir, filepath.Base(m.Audio)))
		}
	}
	s.audit(c, "vm.rm", box.Number, fmt.Sprintf("%d messages removed", len(msgs)))
	return c.NoContent(http.StatusNoContent)
}

// memberRequest adds extensions to a shared box or changes their access.
type memberRequest struct {
	Extension  string   `json:"extension"`
	Extensions []string `json:"extensions"`
	Access     string   `json:"access"`
	Lamp       *bool    `json:"lamp"` // default on
}

func (s *Server) adminSetMembers(c echo.Context) error {
	var r memberRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	list := r.Extensions
	if r.Extension != "" {
		list = append(list, strings.Split(r.Extension, ",")...)
	}
	if r.Access == "" {
		r.Access = "delete"
	}
	ms, err := pbx.ParseMembers(list, r.Access, r.Lamp == nil || *r.Lamp)
	if err != nil {
		return s.adminFail(c, "set members", err)
	}
	if len(ms) == 0 {
		return badField(c, "extension", "give the extension to add")
	}
	ctx := c.Request().Context()
	box, err := s.store.Box(ctx, c.Param("number"))
	if err != nil {
		return s.adminFail(c, "set members", err)
	}
	if box.Kind != store.BoxShared {
		return jsonError(c, http.StatusConflict, fmt.Sprintf("box %s is personal: only shared boxes have members", box.Number))
	}
	if err := s.store.SetMembers(ctx, box.Number, ms); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return badField(c, "extension", strings.TrimPrefix(err.Error(), "read "))
		}
		return s.adminFail(c, "set members", err)
	}
	exts := make([]string, len(ms))
	for i, m := range ms {
		exts[i] = m.Extension
	}
	s.audit(c, "vm.members_add", box.Number, strings.Join(exts, ",")+" "+r.Access)
	return s.writeBox(c, http.StatusOK, box.Number)
}

func (s *Server) adminRemoveMember(c echo.Context) error {
	ctx := c.Request().Context()
	number, ext := c.Param("number"), c.Param("ext")
	if _, err := s.store.Box(ctx, number); err != nil {
		return s.adminFail(c, "remove member", err)
	}
	if err := s.store.RemoveMembers(ctx, number, []string{ext}); err != nil {
		return s.adminFail(c, "remove member", err)
	}
	s.audit(c, "vm.members_rm", number, ext)
	return s.writeBox(c, http.StatusOK, number)
}

func (s *Server) adminBoxUsers(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := s.store.Box(ctx, c.Param("number")); err != nil {
		return s.adminFail(c, "list box users", err)
	}
	us, err := s.store.BoxUsers(ctx, c.Param("number"))
	if err != nil {
		return s.adminFail(c, "list box users", err)
	}
	if us == nil {
		us = []store.BoxUser{}
	}
	return c.JSON(http.StatusOK, us)
}

// boxUserRequest gives a user direct access to a box ("none" removes it).
type boxUserRequest struct {
	UserID int64  `json:"user_id"`
	Access string `json:"access"`
}

func (s *Server) adminSetBoxUser(c echo.Context) error {
	var r boxUserRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	return s.setBoxUser(c, r.UserID, r.Access)
}

func (s *Server) adminRemoveBoxUser(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return jsonError(c, http.StatusNotFound, "no such user")
	}
	return s.setBoxUser(c, id, "none")
}

func (s *Server) setBoxUser(c echo.Context, userID int64, level string) error {
	ctx := c.Request().Context()
	number := c.Param("number")
	access := store.AccessNone
	if level != "none" {
		var err error
		if access, err = store.ParseAccess(level); err != nil {
			return badField(c, "access", err.Error())
		}
	}
	if userID <= 0 {
		return badField(c, "user_id", "choose a user")
	}
	if _, err := s.store.Box(ctx, number); err != nil {
		return s.adminFail(c, "set box access", err)
	}
	u, err := s.store.UserByID(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return badField(c, "user_id", fmt.Sprintf("there is no user %d", userID))
	} else if err != nil {
		return s.adminFail(c, "set box access", err)
	}
	if err := s.store.SetBoxUser(ctx, number, userID, access); err != nil {
		return s.adminFail(c, "set box access", err)
	}
	s.audit(c, "vm.user_access", number, u.Name+" "+access.String())
	return s.adminBoxUsers(c)
}

// pinRequest sets a box's PIN; an empty pin generates one.
type pinRequest struct {
	PIN string `json:"pin"`
}

func (s *Server) adminResetPIN(c echo.Context) error {
	var r pinRequest
	if c.Request().ContentLength != 0 {
		if ok, err := decodeJSON(c, &r); !ok {
			return err
		}
	}
	pin, hash, generated, err := pbx.PINOrGenerated(strings.TrimSpace(r.PIN))
	if err != nil {
		return s.adminFail(c, "reset PIN", err)
	}
	ctx := c.Request().Context()
	number := c.Param("number")
	if err := s.store.UpdateBox(ctx, number, store.BoxUpdate{PINHash: &hash}); err != nil {
		return s.adminFail(c, "reset PIN", err)
	}
	if err := s.store.UnlockBox(ctx, number); err != nil {
		return s.adminFail(c, "reset PIN", err)
	}
	s.audit(c, "vm.pin_reset", number, map[bool]string{true: "generated", false: "set"}[generated])
	out := map[string]any{"ok": true}
	if generated {
		out["pin"] = pin
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) adminGetGreeting(c echo.Context) error {
	b, err := s.store.Box(c.Request().Context(), c.Param("number"))
	if err != nil {
		return s.adminFail(c, "read greeting", err)
	}
	if b.Greeting == "" {
		return jsonError(c, http.StatusNotFound, "box "+b.Number+" has the default greeting")
	}
	return s.serveGreeting(c, b.Greeting)
}

// serveGreeting serves a stored greeting file: a plain file name in the
// greetings directory, and a regular file there (404 for anything else,
// so a bad name in the database never reaches another file).
func (s *Server) serveGreeting(c echo.Context, name string) error {
	if name == "" || name == "." || name == ".." || name != filepath.Base(name) || strings.ContainsAny(name, "/\\\x00") {
		s.log.Error("greeting name is not a plain file name", "greeting", name)
		return jsonError(c, http.StatusNotFound, "the greeting file is missing")
	}
	f, err := os.Open(filepath.Join(s.opts.DataDir, pbx.GreetingsDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return jsonError(c, http.StatusNotFound, "the greeting file is missing")
	}
	if err != nil {
		return s.adminFail(c, "read greeting", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return s.adminFail(c, "read greeting", err)
	}
	if !st.Mode().IsRegular() {
		return jsonError(c, http.StatusNotFound, "the greeting file is missing")
	}
	c.Response().Header().Set("Content-Type", "audio/wav")
	c.Response().Header().Set("Cache-Control", "no-store")
	http.ServeContent(c.Response(), c.Request(), "greeting.wav", st.ModTime(), f)
	return nil
}

func (s *Server) adminUploadGreeting(c echo.Context) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, maxGreetingUpload+64<<10)
	fh, err := c.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return badField(c, "file", "the file is too big: a greeting file may be at most 10 MB")
		}
		return badField(c, "file", "choose a WAV file to upload (form field \"file\")")
	}
	if fh.Size > maxGreetingUpload {
		return badField(c, "file", "the file is too big: a greeting file may be at most 10 MB")
	}
	f, err := fh.Open()
	if err != nil {
		return s.adminFail(c, "upload greeting", err)
	}
	defer f.Close()
	a, err := media.ReadWAV(io.LimitReader(f, maxGreetingUpload))
	if err != nil {
		return badField(c, "file", "that is not a WAV file this server can read ("+err.Error()+"): upload a PCM WAV file")
	}
	if err := pbx.CheckGreeting(a); err != nil {
		return s.adminFail(c, "upload greeting", err)
	}
	return s.setGreeting(c, a, "file "+filepath.Base(fh.Filename))
}

// sayRequest is text to speak as the greeting.
type sayRequest struct {
	Text string `json:"text"`
}

func (s *Server) adminSayGreeting(c echo.Context) error {
	var r sayRequest
	if ok, err := decodeJSON(c, &r); !ok {
		return err
	}
	if err := pbx.CheckGreetingText(r.Text); err != nil {
		return s.adminFail(c, "speak greeting", err)
	}
	if _, err := s.store.Box(c.Request().Context(), c.Param("number")); err != nil {
		return s.adminFail(c, "speak greeting", err)
	}
	a, err := pbx.Speak(c.Request().Context(), r.Text)
	if err != nil {
		s.log.Warn("admin: speak greeting", "error", err)
		return jsonError(c, http.StatusServiceUnavailable, "the text could not be spoken: "+err.Error())
	}
	return s.setGreeting(c, a, "spoken text")
}

// setGreeting stores a greeting the way `vm greeting set` does and removes
// the file of the one it replaces.
func (s *Server) setGreeting(c echo.Context, a media.Audio, what string) error {
	ctx := c.Request().Context()
	number := c.Param("number")
	old, err := s.store.Box(ctx, number)
	if err != nil {
		return s.adminFail(c, "set greeting", err)
	}
	if err := pbx.SaveGreeting(ctx, s.store, s.opts.DataDir, number, a); err != nil {
		return s.adminFail(c, "set greeting", err)
	}
	s.removeGreetingFile(old.Greeting)
	s.audit(c, "vm.greeting_set", number, what)
	return c.JSON(http.StatusOK, map[string]any{"seconds": a.Seconds()})
}

func (s *Server) removeGreetingFile(name string) {
	if name == "" {
		return
	}
	if err := os.Remove(filepath.Join(s.opts.DataDir, pbx.GreetingsDir, filepath.Base(name))); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("admin: remove old greeting", "file", name, "error", err)
	}
}

func (s *Server) adminRemoveGreeting(c echo.Context) error {
	ctx := c.Request().Context()
	number := c.Param("number")
	old, err := s.store.Box(ctx, number)
	if err != nil {
		return s.adminFail(c, "remove greeting", err)
	}
	empty := ""
	if err := s.store.UpdateBox(ctx, number, store.BoxUpdate{Greeting: &empty}); err != nil {
		return s.adminFail(c, "remove greeting", err)
	}
	s.removeGreetingFile(old.Greeting)
	s.audit(c, "vm.greeting_removed", number, "")
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) adminGetInboxSettings(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := s.store.Box(ctx, c.Param("number")); err != nil {
		return s.adminFail(c, "read inbox settings", err)
	}
	in, err := s.store.InboxSettingsOf(ctx, c.Param("number"))
	if err != nil {
		return s.adminFail(c, "read inbox settings", err)
	}
	return c.JSON(http.StatusOK, in)
}

// Inbox setting limits.
const (
	maxConversationMinutes = 30 * 24 * 60
	maxOpenLimitMinutes    = 30 * 24 * 60
	maxTrashDays           = 3650
)

func (s *Server) adminSetInboxSettings(c echo.Context) error {
	var in store.InboxSettings
	if ok, err := decodeJSON(c, &in); !ok {
		return err
	}
	ctx := c.Request().Context()
	number := c.Param("number")
	if _, err := s.store.Box(ctx, number); err != nil {
		return s.adminFail(c, "change inbox settings", err)
	}
	if in.AssignMode == "" {
		in.AssignMode = "none"
	}
	switch {
	case in.ConversationMinutes < 0 || in.ConversationMinutes > maxConversationMinutes:
		return badField(c, "conversation_minutes", fmt.Sprintf("conversation window %d minutes: want 0 (off) to %d", in.ConversationMinutes, maxConversationMinutes))
	case !slices.Contains([]string{"none", "round-robin", "rota"}, in.AssignMode):
		return badField(c, "assign_mode", fmt.Sprintf("assignment %q: want none, round-robin or rota", in.AssignMode))
	case in.OpenLimitMinutes < 0 || in.OpenLimitMinutes > maxOpenLimitMinutes:
		return badField(c, "open_limit_minutes", fmt.Sprintf("open limit %d minutes: want 0 (off) to %d", in.OpenLimitMinutes, maxOpenLimitMinutes))
	case in.TrashDays < 1 || in.TrashDays > maxTrashDays:
		return badField(c, "trash_days", fmt.Sprintf("trash days %d: want 1 to %d", in.TrashDays, maxTrashDays))
	}
	rota := map[int]int64{}
	for day, uid := range in.Rota {
		if day < 0 || day > 6 {
			return badField(c, "rota", fmt.Sprintf("weekday %d: want 0 (Sunday) to 6 (Saturday)", day))
		}
		if uid == 0 {
			continue // nobody on duty that day
		}
		if _, err := s.store.UserByID(ctx, uid); errors.Is(err, store.ErrNotFound) {
			return badField(c, "rota", fmt.Sprintf("%s: there is no user %d", time.Weekday(day), uid))
		} else if err != nil {
			return s.adminFail(c, "change inbox settings", err)
		}
		rota[day] = uid
	}
	in.Rota = rota
	if in.AssignMode == "rota" && len(rota) == 0 {
		return badField(c, "rota", "rota assignment needs someone on duty on at least one weekday")
	}
	if err := s.store.SetInboxSettings(ctx, number, in); err != nil {
		return s.adminFail(c, "change inbox settings", err)
	}
	s.audit(c, "vm.inbox_set", number, fmt.Sprintf("assign %s, conversation %d min, open limit %d min, trash %d days",
		in.AssignMode, in.ConversationMinutes, in.OpenLimitMinutes, in.TrashDays))
	out, err := s.store.InboxSettingsOf(ctx, number)
	if err != nil {
		return s.adminFail(c, "change inbox settings", err)
	}
	return c.JSON(http.StatusOK, out)
}
