package ui

// The inbox's read side: the boxes a user can reach with their counts, the
// message lists (views, search, filters, paging) and a message's detail.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// inboxJSON is one entry of GET /api/v1/inboxes.
type inboxJSON struct {
	Number string            `json:"number"`
	Name   string            `json:"name"`
	Kind   string            `json:"kind"`
	Access string            `json:"access"`
	Counts store.InboxCounts `json:"counts"`
}

// listInboxes lists the boxes the user can reach: their personal box first,
// then the others by number.
func (s *Server) listInboxes(c echo.Context) error {
	ctx := c.Request().Context()
	iu, err := s.loadInboxUser(c)
	if err != nil {
		return s.inboxFail(c, "read inbox access", err)
	}
	boxes := iu.boxes()
	out := []inboxJSON{}
	if len(boxes) == 0 {
		return c.JSON(http.StatusOK, out)
	}
	all, err := s.store.Boxes(ctx)
	if err != nil {
		return s.inboxFail(c, "list boxes", err)
	}
	counts, err := s.store.InboxCounts(ctx, boxes, iu.user.ID)
	if err != nil {
		return s.inboxFail(c, "count messages", err)
	}
	var personal []inboxJSON
	for _, b := range all {
		level := iu.access[b.Number]
		if level < store.AccessListen {
			continue
		}
		cnt := counts[b.Number]
		cnt.Box = b.Number
		e := inboxJSON{Number: b.Number, Name: b.Name, Kind: b.Kind, Access: level.String(), Counts: cnt}
		if b.Kind == store.BoxPersonal && b.Owner != "" && b.Owner == iu.user.Extension {
			personal = append(personal, e)
			continue
		}
		out = append(out, e)
	}
	return c.JSON(http.StatusOK, append(personal, out...))
}

// messagePage is the answer of GET /api/v1/messages.
type messagePage struct {
	Items []store.InboxItem `json:"items"`
	Next  *pageCursor       `json:"next"`
}

// pageCursor names where the next page starts.
type pageCursor struct {
	BeforeTime time.Time `json:"before_time,omitzero"` // absent for a search: it pages by id alone
	BeforeID   int64     `json:"before_id"`
}

// inboxViews are the values of ?view=.
var inboxViews = []string{store.ViewUnassigned, store.ViewMine, store.ViewOpen, store.ViewDone, store.ViewTrash, store.ViewAll}

// paramError is a bad query parameter: 400 naming it.
type paramError struct{ name, msg string }

func (e *paramError) Error() string { return e.name + ": " + e.msg }

func badParam(c echo.Context, err error) error {
	var pe *paramError
	if errors.As(err, &pe) {
		return c.JSON(http.StatusBadRequest, map[string]any{"error": "query parameter " + pe.name + ": " + pe.msg,
			"fields": map[string]string{pe.name: pe.msg}})
	}
	return jsonError(c, http.StatusBadRequest, err.Error())
}

// queryParser reads typed query parameters, keeping the first error.
type queryParser struct {
	q   url.Values
	err error
}

func (p *queryParser) fail(name, msg string) {
	if p.err == nil {
		p.err = &paramError{name, msg}
	}
}

func (p *queryParser) str(name string) string { return strings.TrimSpace(p.q.Get(name)) }

func (p *queryParser) int(name string, min, max int64) int64 {
	v := p.str(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		p.fail(name, "must be a whole number from "+strconv.FormatInt(min, 10)+" to "+strconv.FormatInt(max, 10))
		return 0
	}
	return n
}

func (p *queryParser) time(name string, endOfDay bool) time.Time {
	v := p.str(name)
	if v == "" {
		return time.Time{}
	}
	t, err := parseTimeParam(v, endOfDay)
	if err != nil {
		p.fail(name, "must be a time like 2026-03-01T09:30:00Z or a date like 2026-03-01")
	}
	return t
}

func (p *queryParser) oneOf(name string, allowed ...string) string {
	v := p.str(name)
	if v == "" {
		return ""
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, "must be one of "+strings.Join(allowed, ", "))
	return ""
}

// listMessages lists (or searches) messages of one box or all the user's.
func (s *Server) listMessages(c echo.Context) error {
	iu, err := s.loadInboxUser(c)
	if err != nil {
		return s.inboxFail(c, "read inbox access", err)
	}
	p := &queryParser{q: c.QueryParams()}
	f := store.InboxFilter{
		View:       p.oneOf("view", inboxViews...),
		UserID:     iu.user.ID,
		Query:      p.str("q"),
		Caller:     p.str("caller"),
		Status:     p.oneOf("status", store.MessageOpen, "in_progress", store.MessageDone),
		From:       p.time("from", false),
		To:         p.time("to", true),
		BeforeTime: p.time("before_time", false),
		BeforeID:   p.int("before_id", 1, 1<<62),
		Limit:      int(p.int("limit", 1, 500)),
	}
	switch a := p.str("assignee"); a {
	case "":
	case "me":
		f.Assignee = iu.user.ID
	case "none", "unassigned", "-1":
		f.Assignee = -1
	default:
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n <= 0 {
			p.fail("assignee", "must be a user id, me or none")
		}
		f.Assignee = n
	}
	if p.err != nil {
		return badParam(c, p.err)
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Query != "" {
		f.BeforeTime = time.Time{} // search results page by id alone
	}
	if box := p.str("box"); box != "" {
		if iu.access[box] < store.AccessListen {
			return jsonError(c, http.StatusForbidden, msgNoInboxAccess)
		}
		f.Boxes = []string{box}
	} else {
		f.Boxes = iu.boxes()
	}
	page := messagePage{Items: []store.InboxItem{}}
	if len(f.Boxes) == 0 { // the store reads no boxes as no limit
		return c.JSON(http.StatusOK, page)
	}
	items, err := s.store.Inbox(c.Request().Context(), f)
	if err != nil {
		return s.inboxFail(c, "list messages", err)
	}
	if items != nil {
		page.Items = items
	}
	if len(items) >= f.Limit {
		last := items[len(items)-1]
		page.Next = &pageCursor{BeforeTime: last.StartedAt, BeforeID: last.ID}
		if f.Query != "" {
			page.Next.BeforeTime = time.Time{}
		}
	}
	return c.JSON(http.StatusOK, page)
}

// messageDetailJSON is the answer of GET /api/v1/messages/:id and of every action.
type messageDetailJSON struct {
	Message         store.Message         `json:"message"`
	Box             boxRef                `json:"box"`
	Access          string                `json:"access"`
	AssigneeName    string                `json:"assignee_name"`
	Transcript      *transcriptJSON       `json:"transcript"`
	TranscriptState string                `json:"transcript_state"`
	Conversation    []store.Message       `json:"conversation"`
	Timeline        []store.TimelineEntry `json:"timeline"`
	History         callerHistoryJSON     `json:"history"`
	Can             messageCan            `json:"can"`
}

type boxRef struct {
	Number string `json:"number"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
}

type transcriptJSON struct {
	Text     string           `json:"text"`
	Language string           `json:"language"`
	Segments []store.TextSpan `json:"segments"`
}

type callerHistoryJSON struct {
	Messages []store.Message `json:"messages"`
	Calls    []store.Call    `json:"calls"`
}

// messageCan says which of the restricted actions the user may take, so the
// page shows only those buttons (the server checks again anyway).
type messageCan struct {
	Download bool `json:"download"`
	Delete   bool `json:"delete"`
	TakeOver bool `json:"take_over"` // claim or reassign a message someone else has
	Transfer bool `json:"transfer"`  // there is another box to move it to
	Callback bool `json:"callback"`  // the user has a linked extension and calls can be placed
}

// How many earlier messages and calls the caller history shows.
const callerHistoryLimit = 20

func (s *Server) messageDetailHandler(c echo.Context, r *msgRequest) error {
	d, err := s.messageDetail(c.Request().Context(), r)
	if err != nil {
		return s.inboxFail(c, "read message detail", err)
	}
	return c.JSON(http.StatusOK, d)
}

// messageDetail gathers everything the message page shows.
func (s *Server) messageDetail(ctx context.Context, r *msgRequest) (messageDetailJSON, error) {
	m := r.msg
	d := messageDetailJSON{Message: m, Access: r.level.String(), Conversation: []store.Message{}, Timeline: []store.TimelineEntry{},
		History: callerHistoryJSON{Messages: []store.Message{}, Calls: []store.Call{}}}
	box, err := s.store.Box(ctx, m.Box)
	if err != nil {
		return d, err
	}
	d.Box = boxRef{Number: box.Number, Name: box.Name, Kind: box.Kind}
	if m.Assignee != 0 {
		switch u, err := s.store.UserByID(ctx, m.Assignee); {
		case err == nil:
			d.AssigneeName = u.Name
		case !errors.Is(err, store.ErrNotFound):
			return d, err
		}
	}
	switch t, err := s.store.Transcript(ctx, m.ID); {
	case err == nil:
		segs := t.Segments
		if segs == nil {
			segs = []store.TextSpan{}
		}
		d.Transcript = &transcriptJSON{Text: t.Text, Language: t.Language, Segments: segs}
	case !errors.Is(err, store.ErrNotFound):
		return d, err
	}
	switch j, err := s.store.JobOf(ctx, m.ID); {
	case err == nil:
		d.TranscriptState = j.State
	case errors.Is(err, store.ErrNotFound):
		d.TranscriptState = store.JobOff
	default:
		return d, err
	}
	if m.Conversation != 0 {
		conv, err := s.store.Conversation(ctx, m.Conversation)
		if err != nil {
			return d, err
		}
		if conv != nil {
			d.Conversation = conv
		}
	}
	tl, err := s.store.Timeline(ctx, m.ID)
	if err != nil {
		return d, err
	}
	if tl != nil {
		d.Timeline = tl
	}
	if m.CallerNumber != "" {
		msgs, calls, err := s.store.CallerHistory(ctx, m.CallerNumber, r.boxes(), callerHistoryLimit)
		if err != nil {
			return d, err
		}
		if msgs != nil {
			d.History.Messages = msgs
		}
		if calls != nil {
			d.History.Calls = calls
		}
	}
	d.Can = messageCan{
		Download: r.level >= store.AccessDownload,
		Delete:   r.level >= store.AccessDelete,
		TakeOver: r.actor().Manager,
		Transfer: len(r.boxes()) > 1,
		Callback: s.dialer != nil && r.user.Extension != "" && m.CallerNumber != "",
	}
	return d, nil
}
