package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// OutboxEmail is a queued notification with its delivery state.
type OutboxEmail struct {
	ID          int64      `json:"id"`
	MessageID   int64      `json:"message_id"`
	Address     string     `json:"address"`
	Attempts    int        `json:"attempts"`
	NextAttempt time.Time  `json:"next_attempt_at"`
	LastError   string     `json:"last_error,omitempty"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
}

// OutboxEmails lists the notifications queued for one message, sent or not.
func (s *Store) OutboxEmails(ctx context.Context, messageID int64) ([]OutboxEmail, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, message_id, address, attempts, next_attempt_at, last_error, sent_at
		FROM email_outbox WHERE message_id = ? ORDER BY id`, messageID)
	if err != nil {
		return nil, fmt.Errorf("list emails of message %d: %w", messageID, err)
	}
	defer rows.Close()
	var out []OutboxEmail
	for rows.Next() {
		var e OutboxEmail
		var next int64
		var sent sql.NullInt64
		if err := rows.Scan(&e.ID, &e.MessageID, &e.Address, &e.Attempts, &next, &e.LastError, &sent); err != nil {
			return nil, err
		}
		e.NextAttempt = time.UnixMilli(next).UTC()
		e.SentAt = msTime(sent)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PendingEmails counts the unsent notifications and returns the error of the
// most recent failed attempt among them ("" when none has failed).
func (s *Store) PendingEmails(ctx context.Context) (count int, lastError string, err error) {
	err = s.read.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE((SELECT last_error FROM email_outbox
		WHERE sent_at IS NULL AND last_error != '' ORDER BY next_attempt_at DESC, id DESC LIMIT 1), '')
		FROM email_outbox WHERE sent_at IS NULL`).Scan(&count, &lastError)
	if err != nil {
		err = fmt.Errorf("count pending emails: %w", err)
	}
	return
}

// RetryEmailsNow makes every unsent notification due at once (after the mail
// settings changed, waiting out an old backoff helps nobody).
func (s *Store) RetryEmailsNow(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE email_outbox SET next_attempt_at = ? WHERE sent_at IS NULL AND next_attempt_at > ?`,
		now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("retry pending emails: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
