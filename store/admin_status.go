package store

// Queries for the admin portal's live view and status page.

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AllBindings lists every registration that has not expired at now, by
// extension.
func (s *Store) AllBindings(ctx context.Context, now time.Time) ([]Binding, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT extension, contact, transport, source, user_agent, expires_at
		FROM bindings WHERE expires_at > ? ORDER BY length(extension), extension, updated_at DESC`, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("list registrations: %w", err)
	}
	defer rows.Close()
	out := []Binding{}
	for rows.Next() {
		var b Binding
		var exp int64
		if err := rows.Scan(&b.Extension, &b.Contact, &b.Transport, &b.Source, &b.UserAgent, &exp); err != nil {
			return nil, fmt.Errorf("list registrations: %w", err)
		}
		b.ExpiresAt = time.Unix(exp, 0).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// ActiveCalls lists the calls that have not ended and started after since
// (older unended rows are leftovers of a crash), newest first.
func (s *Store) ActiveCalls(ctx context.Context, since time.Time) ([]Call, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, sip_call_id, from_number, from_name, to_number, started_at, answered_at, ended_at, status, hangup_by
		FROM calls WHERE ended_at IS NULL AND started_at > ? ORDER BY started_at DESC, id DESC LIMIT 500`, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list active calls: %w", err)
	}
	defer rows.Close()
	out := []Call{}
	for rows.Next() {
		var c Call
		var started int64
		var answered, ended sql.NullInt64
		if err := rows.Scan(&c.ID, &c.SIPCallID, &c.FromNumber, &c.FromName, &c.ToNumber, &started, &answered, &ended, &c.Status, &c.HangupBy); err != nil {
			return nil, fmt.Errorf("list active calls: %w", err)
		}
		c.StartedAt = time.UnixMilli(started).UTC()
		c.AnsweredAt, c.EndedAt = msTime(answered), msTime(ended)
		out = append(out, c)
	}
	return out, rows.Err()
}

// SystemCounts are the numbers on the admin status page.
type SystemCounts struct {
	Messages            int `json:"messages"`       // not in the trash
	MessagesTrash       int `json:"messages_trash"` // in the trash
	PendingEmails       int `json:"pending_emails"`
	PendingNotification int `json:"pending_notifications"`
}

// SystemCounts counts messages and what waits in the outboxes.
func (s *Store) SystemCounts(ctx context.Context) (SystemCounts, error) {
	var c SystemCounts
	err := s.read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM messages WHERE deleted_at IS NULL),
		(SELECT COUNT(*) FROM messages WHERE deleted_at IS NOT NULL),
		(SELECT COUNT(*) FROM email_outbox WHERE sent_at IS NULL),
		(SELECT COUNT(*) FROM notify_outbox WHERE sent_at IS NULL)`).
		Scan(&c.Messages, &c.MessagesTrash, &c.PendingEmails, &c.PendingNotification)
	if err != nil {
		return c, fmt.Errorf("count messages and outboxes: %w", err)
	}
	return c, nil
}

// UnlockBox lifts a box's PIN lockout and forgets its wrong PINs (after an
// admin reset the PIN).
func (s *Store) UnlockBox(ctx context.Context, box string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE voicemail_boxes SET locked_until = 0 WHERE number = ?`, box); err != nil {
		return fmt.Errorf("unlock box %s: %w", box, err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM pin_failures WHERE box = ?`, box); err != nil {
		return fmt.Errorf("unlock box %s: %w", box, err)
	}
	return nil
}
