package store

// The inbox's read side: lists, counts, conversations, caller history, the
// timeline and the audit query.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Inbox page sizes.
const (
	inboxDefaultLimit = 50
	inboxMaxLimit     = 500
)

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// inboxConds turns f's view and filters (all but boxes and the search) into
// SQL conditions on messages m.
func inboxConds(f InboxFilter) (string, []any, error) {
	var conds []string
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	switch f.View {
	case ViewUnassigned:
		add(`m.deleted_at IS NULL AND m.status = 'open' AND m.assignee IS NULL`)
	case ViewMine:
		add(`m.deleted_at IS NULL AND m.status = 'open' AND m.assignee = ?`, f.UserID)
	case ViewOpen:
		add(`m.deleted_at IS NULL AND m.status = 'open'`)
	case ViewDone:
		add(`m.deleted_at IS NULL AND m.status = 'done'`)
	case ViewTrash:
		add(`m.deleted_at IS NOT NULL`)
	case ViewAll, "":
		add(`m.deleted_at IS NULL`)
	default:
		return "", nil, invalid("view", "view %q is unknown: use unassigned, mine, open, done, trash or all", f.View)
	}
	switch f.Status {
	case "":
	case "open":
		add(`m.status = 'open' AND m.in_progress = 0`)
	case "in_progress":
		add(`m.status = 'open' AND m.in_progress = 1`)
	case "done":
		add(`m.status = 'done'`)
	default:
		return "", nil, invalid("status", "status %q is unknown: use open, in_progress or done", f.Status)
	}
	switch {
	case f.Assignee == -1:
		add(`m.assignee IS NULL`)
	case f.Assignee > 0:
		add(`m.assignee = ?`, f.Assignee)
	}
	if c := strings.TrimSpace(f.Caller); c != "" {
		r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		add(`m.caller_number LIKE ? ESCAPE '\'`, "%"+r.Replace(c)+"%")
	}
	if !f.From.IsZero() {
		add(`m.started_at >= ?`, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		add(`m.started_at < ?`, f.To.UnixMilli())
	}
	if !f.BeforeTime.IsZero() {
		// The first term bounds the index range; the second breaks ties by id.
		bt := f.BeforeTime.UnixMilli()
		if f.BeforeID > 0 {
			add(`m.started_at <= ? AND (m.started_at < ? OR m.id < ?)`, bt, bt, f.BeforeID)
		} else {
			add(`m.started_at < ?`, bt)
		}
	} else if f.BeforeID > 0 {
		add(`m.id < ?`, f.BeforeID)
	}
	return strings.Join(conds, " AND "), args, nil
}

// Inbox lists messages by f, newest first (started_at, then id). Only
// f.Boxes are searched; none gives an empty list. With a Query the matches
// come newest first by id, and paging uses BeforeID alone.
func (s *Store) Inbox(ctx context.Context, f InboxFilter) ([]InboxItem, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = inboxDefaultLimit
	}
	limit = min(limit, inboxMaxLimit)
	if len(f.Boxes) == 0 {
		return nil, nil
	}
	prefixes := ftsQuery(f.Query)
	if prefixes == "" {
		return s.inbox(ctx, f, limit, "")
	}
	// Whole words first: the index hands their matches out newest first and
	// stops after a page, while a prefix makes it gather every matching
	// entry (seconds for a common word in a million messages). Prefixes are
	// the fallback when no whole word matches, on the first page only.
	items, err := s.inbox(ctx, f, limit, strings.ReplaceAll(prefixes, `"*`, `"`))
	if err != nil || len(items) > 0 || f.BeforeID > 0 {
		return items, err
	}
	return s.inbox(ctx, f, limit, prefixes)
}

// inbox lists one page, searching for the FTS5 expression match if not "".
func (s *Store) inbox(ctx context.Context, f InboxFilter, limit int, match string) ([]InboxItem, error) {
	if match != "" {
		// Search results come newest first by id (the order messages arrive
		// in) so the index stops after a page; sorting by time would first
		// collect every match of a common word.
		f.BeforeTime = time.Time{}
	}
	conds, cargs, err := inboxConds(f)
	if err != nil {
		return nil, err
	}
	const order = ` ORDER BY m.started_at DESC, m.id DESC LIMIT ?`
	var page string
	var args []any
	switch {
	case match != "":
		page = `SELECT m.id FROM message_search JOIN messages m ON m.id = message_search.rowid
			WHERE message_search MATCH ? AND m.box IN (` + placeholders(len(f.Boxes)) + `) AND ` + conds +
			` ORDER BY message_search.rowid DESC LIMIT ?`
		args = append(args, match)
		for _, b := range f.Boxes {
			args = append(args, b)
		}
		args = append(append(args, cargs...), limit)
	case len(f.Boxes) == 1:
		page = `SELECT m.id FROM messages m WHERE m.box = ? AND ` + conds + order
		args = append(append(append(args, f.Boxes[0]), cargs...), limit)
	default:
		// One index walk per box, each stopping after a page, merged here:
		// "box IN (...)" would sort every matching row of every box instead.
		parts := make([]string, len(f.Boxes))
		for i, b := range f.Boxes {
			parts[i] = `SELECT * FROM (SELECT m.id, m.started_at FROM messages m WHERE m.box = ? AND ` + conds + order + `)`
			args = append(append(append(args, b), cargs...), limit)
		}
		page = `SELECT id FROM (` + strings.Join(parts, " UNION ALL ") + `) ORDER BY started_at DESC, id DESC LIMIT ?`
		args = append(args, limit)
	}
	outer := `m.started_at DESC, m.id DESC`
	if match != "" {
		outer = `m.id DESC`
	}
	rows, err := s.read.QueryContext(ctx, `WITH page(id) AS (`+page+`)
		SELECT `+messageCols("m.")+`, COALESCE(u.name, ''), COALESCE(substr(t.text, 1, 400), ''), COALESCE(j.state, ''),
			max(1, (SELECT COUNT(*) FROM messages c WHERE c.conversation = m.conversation AND c.deleted_at IS NULL))
		FROM page JOIN messages m ON m.id = page.id
		LEFT JOIN users u ON u.id = m.assignee
		LEFT JOIN transcripts t ON t.message_id = m.id
		LEFT JOIN transcription_jobs j ON j.message_id = m.id
		ORDER BY `+outer, args...)
	if err != nil {
		return nil, fmt.Errorf("list inbox: %w", err)
	}
	defer rows.Close()
	var out []InboxItem
	for rows.Next() {
		var it InboxItem
		var text string
		m, err := scanMessage(rows, &it.AssigneeName, &text, &it.TranscriptState, &it.ConversationSize)
		if err != nil {
			return nil, fmt.Errorf("list inbox: %w", err)
		}
		it.Message = m
		it.FirstLine = firstLine(text, it.TranscriptState)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list inbox: %w", err)
	}
	if match != "" && len(out) > 0 {
		if err := s.fillSnippets(ctx, match, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fillSnippets marks the matching words of one page of search results.
// Done after paging so only the page's snippets are computed.
func (s *Store) fillSnippets(ctx context.Context, match string, items []InboxItem) error {
	args := []any{match}
	at := map[int64]int{}
	for i, it := range items {
		args = append(args, it.ID)
		at[it.ID] = i
	}
	rows, err := s.read.QueryContext(ctx, `SELECT rowid, snippet(message_search, -1, '[', ']', '…', 12) FROM message_search
		WHERE message_search MATCH ? AND rowid IN (`+placeholders(len(items))+`)`, args...)
	if err != nil {
		return fmt.Errorf("search snippets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var snip string
		if err := rows.Scan(&id, &snip); err != nil {
			return fmt.Errorf("search snippets: %w", err)
		}
		items[at[id]].Snippet = snip
	}
	return rows.Err()
}

// firstLine is a list row's preview: the transcript's first line, or why
// there is no transcript.
func firstLine(text, state string) string {
	text = strings.TrimSpace(text)
	if text == "" {
		switch state {
		case JobQueued, JobRunning:
			return "transcribing…"
		case JobNoModel:
			return "not transcribed: no model"
		case JobOff:
			return "transcription off"
		case JobFailed:
			return "transcription failed"
		case JobDone:
			return "no speech"
		}
		return ""
	}
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		text = strings.TrimSpace(text[:i])
	}
	const max = 120
	if utf8.RuneCountInString(text) > max {
		r := []rune(text)[:max]
		text = strings.TrimSpace(string(r)) + "…"
	}
	return text
}

// InboxCounts counts each box's views for userID (trash included): the
// open ones from the indexes, the others from inbox_counts.
func (s *Store) InboxCounts(ctx context.Context, boxes []string, userID int64) (map[string]InboxCounts, error) {
	out := make(map[string]InboxCounts, len(boxes))
	for _, b := range boxes {
		c := InboxCounts{Box: b}
		err := s.read.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM messages WHERE box = ?1 AND deleted_at IS NULL AND status = 'open' AND assignee IS NULL),
			(SELECT COUNT(*) FROM messages WHERE box = ?1 AND deleted_at IS NULL AND status = 'open' AND assignee = ?2),
			(SELECT COUNT(*) FROM messages WHERE box = ?1 AND deleted_at IS NULL AND status = 'open'),
			COALESCE((SELECT done FROM inbox_counts WHERE box = ?1), 0),
			COALESCE((SELECT trash FROM inbox_counts WHERE box = ?1), 0),
			COALESCE((SELECT unplayed FROM inbox_counts WHERE box = ?1), 0)`, b, userID).
			Scan(&c.Unassigned, &c.Mine, &c.Open, &c.Done, &c.Trash, &c.Unplayed)
		if err != nil {
			return nil, fmt.Errorf("count inbox %s: %w", b, err)
		}
		out[b] = c
	}
	return out, nil
}

// Conversation lists the messages of a conversation (trash excluded), oldest first.
func (s *Store) Conversation(ctx context.Context, conversation int64) ([]Message, error) {
	return s.listMessages(ctx, "conversation "+fmt.Sprint(conversation), `SELECT `+messageColumns+` FROM messages
		WHERE conversation = ? AND deleted_at IS NULL ORDER BY started_at, id`, conversation)
}

func (s *Store) listMessages(ctx context.Context, what, query string, args ...any) ([]Message, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", what, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// realCaller reports whether a caller number identifies someone: withheld
// numbers don't group into conversations or have a history.
func realCaller(number string) bool {
	switch strings.ToLower(strings.TrimSpace(number)) {
	case "", "anonymous", "unknown", "private", "restricted", "unavailable":
		return false
	}
	return true
}

// CallerHistory lists messages (in boxes, trash excluded) and calls from
// number, newest first, at most limit of each (default 20). A withheld
// number has no history.
func (s *Store) CallerHistory(ctx context.Context, number string, boxes []string, limit int) ([]Message, []Call, error) {
	if !realCaller(number) {
		return nil, nil, nil
	}
	if limit <= 0 {
		limit = 20
	}
	var msgs []Message
	if len(boxes) > 0 {
		args := []any{number}
		for _, b := range boxes {
			args = append(args, b)
		}
		var err error
		msgs, err = s.listMessages(ctx, "messages from "+number, `SELECT `+messageColumns+` FROM messages
			WHERE caller_number = ? AND box IN (`+placeholders(len(boxes))+`) AND deleted_at IS NULL
			ORDER BY started_at DESC, id DESC LIMIT ?`, append(args, limit)...)
		if err != nil {
			return nil, nil, err
		}
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, sip_call_id, from_number, from_name, to_number, started_at, answered_at, ended_at, status, hangup_by
		FROM calls WHERE from_number = ? ORDER BY started_at DESC, id DESC LIMIT ?`, number, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("calls from %s: %w", number, err)
	}
	defer rows.Close()
	var calls []Call
	for rows.Next() {
		var c Call
		var started int64
		var answered, ended sql.NullInt64
		if err := rows.Scan(&c.ID, &c.SIPCallID, &c.FromNumber, &c.FromName, &c.ToNumber, &started, &answered, &ended, &c.Status, &c.HangupBy); err != nil {
			return nil, nil, fmt.Errorf("calls from %s: %w", number, err)
		}
		c.StartedAt = time.UnixMilli(started).UTC()
		c.AnsweredAt, c.EndedAt = msTime(answered), msTime(ended)
		calls = append(calls, c)
	}
	return msgs, calls, rows.Err()
}

const auditCols = `id, at, actor, action, box, COALESCE(message_id, 0), detail`

func scanAudit(rows *sql.Rows) ([]AuditEntry, error) {
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Box, &e.MessageID, &e.Detail); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Timeline returns the audit rows of a message's conversation (the message
// itself included, also when in the trash), oldest first.
func (s *Store) Timeline(ctx context.Context, messageID int64) ([]TimelineEntry, error) {
	m, err := s.Message(ctx, messageID)
	if err != nil {
		return nil, err
	}
	conv := m.Conversation
	if conv == 0 {
		conv = m.ID
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log
		WHERE message_id = ?1 OR message_id IN (SELECT id FROM messages WHERE conversation = ?2) ORDER BY at, id`, m.ID, conv)
	if err != nil {
		return nil, fmt.Errorf("timeline of message %d: %w", messageID, err)
	}
	return scanAudit(rows)
}

// AuditFilter selects audit rows.
type AuditFilter struct {
	Actor     string // exact, or a user name (matches user:NAME)
	Action    string
	Box       string
	MessageID int64
	From, To  time.Time
	// Boxes restricts the rows to these boxes (a member's view); nil means
	// no restriction, an empty slice nothing.
	Boxes    []string
	BeforeID int64 // paging: the last row's ID
	Limit    int   // default 100, at most 5000
}

// AuditQuery lists audit rows matching f, newest first.
func (s *Store) AuditQuery(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Boxes != nil && len(f.Boxes) == 0 {
		return nil, nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 5000)
	conds := []string{"1"}
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	if f.Actor != "" {
		add(`actor IN (?, ?)`, f.Actor, "user:"+f.Actor)
	}
	if f.Action != "" {
		add(`action = ?`, f.Action)
	}
	if f.Box != "" {
		add(`box = ?`, f.Box)
	}
	if f.MessageID != 0 {
		add(`message_id = ?`, f.MessageID)
	}
	if !f.From.IsZero() {
		add(`at >= ?`, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		add(`at < ?`, f.To.UnixMilli())
	}
	if f.Boxes != nil {
		bargs := make([]any, len(f.Boxes))
		for i, b := range f.Boxes {
			bargs[i] = b
		}
		add(`box IN (`+placeholders(len(f.Boxes))+`)`, bargs...)
	}
	if f.BeforeID > 0 {
		add(`id < ?`, f.BeforeID)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log WHERE `+strings.Join(conds, " AND ")+`
		ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("query audit log: %w", err)
	}
	return scanAudit(rows)
}
