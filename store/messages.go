package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Message statuses.
const (
	MessageOpen = "open"
	MessageDone = "done"
)

// Message is one voicemail.
type Message struct {
	ID           int64      `json:"id"`
	Box          string     `json:"box"`
	CallerNumber string     `json:"caller_number"`
	CallerName   string     `json:"caller_name"`
	CalledNumber string     `json:"called_number"`
	StartedAt    time.Time  `json:"time"`
	Duration     float64    `json:"duration_seconds"`
	Audio        string     `json:"-"`
	Played       bool       `json:"played"`
	Status       string     `json:"status"`
	DeletedAt    *time.Time `json:"deleted_at,omitempty"`

	// The team-inbox workflow.
	Assignee     int64     `json:"assignee,omitempty"` // user id; 0: unassigned
	InProgress   bool      `json:"in_progress"`
	Conversation int64     `json:"conversation"` // id of the conversation's first message
	DoneNote     string    `json:"done_note,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// messageCols lists the columns scanMessage reads, each qualified with
// prefix (such as "m.") for queries that join.
func messageCols(prefix string) string {
	cols := []string{"id", "box", "caller_number", "caller_name", "called_number", "started_at", "duration_ms", "audio", "played",
		"status", "deleted_at", "COALESCE(" + prefix + "assignee, 0)", "in_progress", "conversation", "done_note", "updated_at"}
	for i, c := range cols {
		if !strings.HasPrefix(c, "COALESCE") {
			cols[i] = prefix + c
		}
	}
	return strings.Join(cols, ", ")
}

var messageColumns = messageCols("")

// scanMessage reads the columns of messageCols, then any extra ones into extra.
func scanMessage(row interface{ Scan(...any) error }, extra ...any) (Message, error) {
	var m Message
	var started, durMS, updated int64
	var deleted sql.NullInt64
	err := row.Scan(append([]any{&m.ID, &m.Box, &m.CallerNumber, &m.CallerName, &m.CalledNumber, &started, &durMS, &m.Audio, &m.Played, &m.Status, &deleted,
		&m.Assignee, &m.InProgress, &m.Conversation, &m.DoneNote, &updated}, extra...)...)
	m.StartedAt = time.UnixMilli(started).UTC()
	m.UpdatedAt = time.UnixMilli(updated).UTC()
	m.Duration = float64(durMS) / 1000
	m.DeletedAt = msTime(deleted)
	return m, err
}

// AddMessage stores a message whose audio file is already complete on disk,
// and queues its notification emails, in one transaction.
func (s *Store) AddMessage(ctx context.Context, m Message, emails []string) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store message: %w", err)
	}
	defer tx.Rollback()
	now := time.Now()
	res, err := tx.ExecContext(ctx, `INSERT INTO messages(box, caller_number, caller_name, called_number, started_at, duration_ms, audio, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, m.Box, m.CallerNumber, m.CallerName, m.CalledNumber, m.StartedAt.UnixMilli(),
		int64(m.Duration*1000), m.Audio, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("store message for box %s: %w", m.Box, err)
	}
	id, _ := res.LastInsertId()
	for _, addr := range emails {
		if _, err := tx.ExecContext(ctx, `INSERT INTO email_outbox(message_id, address, next_attempt_at) VALUES (?, ?, ?)`, id, addr, now.UnixMilli()); err != nil {
			return 0, fmt.Errorf("queue email for message %d: %w", id, err)
		}
	}
	return id, tx.Commit()
}

// Message returns one message (also from the trash), or ErrNotFound.
func (s *Store) Message(ctx context.Context, id int64) (Message, error) {
	m, err := scanMessage(s.read.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	return m, err
}

// Messages lists a box's messages not in the trash: unplayed first, then
// played, each oldest first (the order *56 plays them in).
func (s *Store) Messages(ctx context.Context, box string) ([]Message, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE box = ? AND deleted_at IS NULL
		ORDER BY played, started_at, id`, box)
	if err != nil {
		return nil, fmt.Errorf("list messages of %s: %w", box, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// AudioFiles lists every message audio file name the database knows, trash included.
func (s *Store) AudioFiles(ctx context.Context) (map[string]bool, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT audio FROM messages`)
	if err != nil {
		return nil, fmt.Errorf("list audio files: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out[a] = true
	}
	return out, rows.Err()
}

// Counts returns a box's unplayed and played message counts (trash excluded).
func (s *Store) Counts(ctx context.Context, box string) (unplayed, played int, err error) {
	err = s.read.QueryRowContext(ctx, `SELECT COALESCE(SUM(played = 0), 0), COALESCE(SUM(played = 1), 0)
		FROM messages WHERE box = ? AND deleted_at IS NULL`, box).Scan(&unplayed, &played)
	if err != nil {
		err = fmt.Errorf("count messages of %s: %w", box, err)
	}
	return
}

// SetPlayed marks a message played or unplayed for everyone.
func (s *Store) SetPlayed(ctx context.Context, id int64, played bool) error {
	return s.updateMessage(ctx, id, `played = ?`, played)
}

// SetStatus marks a message open or done.
func (s *Store) SetStatus(ctx context.Context, id int64, status string) error {
	return s.updateMessage(ctx, id, `status = ?`, status)
}

// TrashMessage moves a message to the trash.
func (s *Store) TrashMessage(ctx context.Context, id int64, at time.Time) error {
	return s.updateMessage(ctx, id, `deleted_at = ?`, at.UnixMilli())
}

func (s *Store) updateMessage(ctx context.Context, id int64, set string, v any) error {
	res, err := s.db.ExecContext(ctx, `UPDATE messages SET `+set+` WHERE id = ?`, v, id)
	if err != nil {
		return fmt.Errorf("update message %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	return nil
}

// Email is one queued notification.
type Email struct {
	ID        int64
	MessageID int64
	Address   string
	Attempts  int
}

// DueEmails lists unsent emails whose next attempt is due.
func (s *Store) DueEmails(ctx context.Context, now time.Time, limit int) ([]Email, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, message_id, address, attempts FROM email_outbox
		WHERE sent_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("list due emails: %w", err)
	}
	defer rows.Close()
	var out []Email
	for rows.Next() {
		var e Email
		if err := rows.Scan(&e.ID, &e.MessageID, &e.Address, &e.Attempts); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EmailSent marks an email sent.
func (s *Store) EmailSent(ctx context.Context, id int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE email_outbox SET sent_at = ?, attempts = attempts + 1, last_error = '' WHERE id = ?`, at.UnixMilli(), id)
	return err
}

// EmailFailed records a failed attempt and when to try again.
func (s *Store) EmailFailed(ctx context.Context, id int64, reason string, next time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE email_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?`, reason, next.UnixMilli(), id)
	return err
}
