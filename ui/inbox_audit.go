package ui

// Who a box's messages can be assigned to, and the audit log (JSON or CSV):
// admins see every row, members only the rows of the boxes they can reach.

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// assigneeJSON is one entry of GET /api/v1/boxes/:box/assignees.
type assigneeJSON struct {
	UserID int64  `json:"user_id"`
	Name   string `json:"name"`
}

func (s *Server) boxAssignees(c echo.Context) error {
	iu, err := s.loadInboxUser(c)
	if err != nil {
		return s.inboxFail(c, "read inbox access", err)
	}
	box := c.Param("box")
	if iu.access[box] < store.AccessListen {
		return jsonError(c, http.StatusForbidden, msgNoInboxAccess)
	}
	users, err := s.store.BoxUsers(c.Request().Context(), box)
	if err != nil {
		return s.inboxFail(c, "list the inbox's users", err)
	}
	out := make([]assigneeJSON, 0, len(users))
	for _, u := range users {
		out = append(out, assigneeJSON{UserID: u.UserID, Name: u.Name})
	}
	return c.JSON(http.StatusOK, out)
}

// auditPage is the JSON answer of GET /api/v1/audit.
type auditPage struct {
	Items []store.AuditEntry `json:"items"`
	Next  *auditCursor       `json:"next"`
}

type auditCursor struct {
	BeforeID int64 `json:"before_id"`
}

// Audit page sizes: JSON pages, and the CSV export (one file).
const (
	auditPageDefault = 100
	auditPageMax     = 1000
	auditCSVDefault  = 100000
	auditCSVMax      = 100000
	auditStoreChunk  = 5000 // the store answers at most this many rows per query
)

// auditCSVHeader is the CSV export's first row.
var auditCSVHeader = []string{"at", "actor", "action", "box", "message_id", "detail"}

func (s *Server) auditLog(c echo.Context) error {
	iu, err := s.loadInboxUser(c)
	if err != nil {
		return s.inboxFail(c, "read inbox access", err)
	}
	p := &queryParser{q: c.QueryParams()}
	format := p.oneOf("format", "json", "csv")
	maxLimit, defLimit := int64(auditPageMax), auditPageDefault
	if format == "csv" {
		maxLimit, defLimit = auditCSVMax, auditCSVDefault
	}
	q := store.AuditFilter{
		Actor:     p.str("actor"),
		Action:    p.str("action"),
		Box:       p.str("box"),
		MessageID: p.int("message_id", 1, 1<<62),
		From:      p.time("from", false),
		To:        p.time("to", true),
		BeforeID:  p.int("before_id", 1, 1<<62),
		Limit:     int(p.int("limit", 1, maxLimit)),
	}
	if p.err != nil {
		return badParam(c, p.err)
	}
	if q.Limit == 0 {
		q.Limit = defLimit
	}
	if !iu.user.IsAdmin {
		if q.Box != "" && iu.access[q.Box] < store.AccessListen {
			return jsonError(c, http.StatusForbidden, msgNoInboxAccess)
		}
		q.Boxes = iu.boxes() // never nil for a member: nil would mean every row
	}
	if format == "csv" {
		rows, err := s.auditRows(c, q)
		if err != nil {
			return s.inboxFail(c, "read the audit log", err)
		}
		return writeAuditCSV(c, rows)
	}
	rows, err := s.store.AuditQuery(c.Request().Context(), q)
	if err != nil {
		return s.inboxFail(c, "read the audit log", err)
	}
	page := auditPage{Items: rows}
	if page.Items == nil {
		page.Items = []store.AuditEntry{}
	}
	if len(rows) >= q.Limit && len(rows) > 0 {
		page.Next = &auditCursor{BeforeID: rows[len(rows)-1].ID}
	}
	return c.JSON(http.StatusOK, page)
}

// auditRows reads up to q.Limit rows, in the store's chunks.
func (s *Server) auditRows(c echo.Context, q store.AuditFilter) ([]store.AuditEntry, error) {
	want := q.Limit
	var out []store.AuditEntry
	for len(out) < want {
		q.Limit = min(want-len(out), auditStoreChunk)
		rows, err := s.store.AuditQuery(c.Request().Context(), q)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		if len(rows) < q.Limit {
			break
		}
		q.BeforeID = rows[len(rows)-1].ID
	}
	return out, nil
}

// writeAuditCSV answers with the rows as a CSV attachment.
func writeAuditCSV(c echo.Context, rows []store.AuditEntry) error {
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="frontdesk-audit-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	if err := w.Write(auditCSVHeader); err != nil {
		return err
	}
	for _, r := range rows {
		id := ""
		if r.MessageID != 0 {
			id = strconv.FormatInt(r.MessageID, 10)
		}
		if err := w.Write([]string{r.At.UTC().Format(time.RFC3339Nano), r.Actor, r.Action, r.Box, id, r.Detail}); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
