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
	// AudioPurged: the audio retention policy deleted the recording.
	AudioPurged bool `json:"audio_purged,omitempty"`
}

// messageCols lists the columns scanMessage reads, each qualified with
// prefix (such as "m.") for queries that join.
func messageCols(prefix string) string {
	cols := []string{"id", "box", "caller_number", "caller_name", "called_number", "started_at", "duration_ms", "audio", "played",
		"status", "deleted_at", "COALESCE(" + prefix + "assignee, 0)", "in_progress", "conversation", "done_note", "updated_at",
		"(" + prefix + "audio_purged_at IS NOT NULL)"}
	for i, c := range cols {
		if !strings.HasPrefix(c, "COALESCE") && !strings.HasPrefix(c, "(") {
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
		&m.Assignee, &m.InProgress, &m.Conversation, &m.DoneNote, &updated, &m.AudioPurged}, extra...)...)
	m.StartedAt = time.UnixMilli(started).UTC()
	m.UpdatedAt = time.UnixMilli(updated).UTC()
	m.Duration = float64(durMS) / 1000
	m.DeletedAt = msTime(deleted)
	return m, err
}

// AddMessage stores a message whose audio file is already complete on disk,
// and queues its notification emails, in one transaction. The message joins
// the conversation of the same caller's newest message in the box within the
// box's window (reopening it if it was done, keeping its assignee); a message
// nobody inherits is auto-assigned by the box's rota or round robin. The
// rota's weekday is that of m.StartedAt in local time.
func (s *Store) AddMessage(ctx context.Context, m Message, emails []string) (int64, error) {
	var id int64
	err := s.inTx(ctx, "store message for box "+m.Box, func(tx *sql.Tx) error {
		now := time.Now()
		if m.StartedAt.IsZero() {
			m.StartedAt = now
		}
		var windowMin int
		var mode string
		var last int64
		err := tx.QueryRowContext(ctx, `SELECT conversation_minutes, assign_mode, assign_last_user FROM voicemail_boxes WHERE number = ?`, m.Box).
			Scan(&windowMin, &mode, &last)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("voicemail box %s: %w", m.Box, ErrNotFound)
		}
		if err != nil {
			return err
		}
		// The conversation this message continues, if any.
		var prev Message
		if windowMin > 0 && realCaller(m.CallerNumber) {
			from := m.StartedAt.Add(-time.Duration(windowMin) * time.Minute).UnixMilli()
			prev, err = scanMessage(tx.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages
				WHERE caller_number = ? AND box = ? AND deleted_at IS NULL AND started_at BETWEEN ? AND ?
				ORDER BY started_at DESC, id DESC LIMIT 1`, m.CallerNumber, m.Box, from, m.StartedAt.UnixMilli()))
			if errors.Is(err, sql.ErrNoRows) {
				prev, err = Message{}, nil
			}
			if err != nil {
				return err
			}
			if prev.ID != 0 && prev.Conversation == 0 {
				prev.Conversation = prev.ID
			}
		}
		var assignee any
		if prev.Assignee != 0 {
			assignee = prev.Assignee
		}
		inProgress := prev.ID != 0 && prev.Status == MessageOpen && prev.InProgress
		res, err := tx.ExecContext(ctx, `INSERT INTO messages(box, caller_number, caller_name, called_number, started_at, duration_ms, audio,
			created_at, assignee, in_progress, conversation, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.Box, m.CallerNumber, m.CallerName, m.CalledNumber, m.StartedAt.UnixMilli(),
			int64(m.Duration*1000), m.Audio, now.UnixMilli(), assignee, inProgress, prev.Conversation, now.UnixMilli())
		if err != nil {
			return err
		}
		id, _ = res.LastInsertId()
		if prev.ID == 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET conversation = id WHERE id = ?`, id); err != nil {
				return err
			}
		} else if prev.Status == MessageDone {
			// New activity reopens a finished conversation, as shared inboxes do.
			if _, err := updateConversation(ctx, tx, prev, now, `status = 'open', in_progress = 0, done_note = ''`); err != nil {
				return err
			}
			if err := insertAudit(ctx, tx, now, "system", "message.reopened", m.Box, id, "new message from the caller"); err != nil {
				return err
			}
		}
		if prev.Assignee == 0 {
			uid, how, err := autoAssignee(ctx, tx, m.Box, mode, last, m.StartedAt)
			if err != nil {
				return fmt.Errorf("auto-assign: %w", err)
			}
			if uid != 0 {
				cur := Message{ID: id, Conversation: id}
				if prev.ID != 0 {
					cur.Conversation = prev.Conversation
				}
				if _, err := updateConversation(ctx, tx, cur, now, `assignee = ?`, uid); err != nil {
					return err
				}
				if err := insertAudit(ctx, tx, now, "system", "message.assigned", m.Box, id, how); err != nil {
					return err
				}
				if err := s.enqueueNotifications(ctx, tx, NotifyEvent{Event: NotifyAssigned, MessageID: id, Box: m.Box, Assignee: uid}); err != nil {
					return fmt.Errorf("queue assignment notifications: %w", err)
				}
			}
		}
		for _, addr := range emails {
			if _, err := tx.ExecContext(ctx, `INSERT INTO email_outbox(message_id, address, next_attempt_at) VALUES (?, ?, ?)`, id, addr, now.UnixMilli()); err != nil {
				return fmt.Errorf("queue email for message %d: %w", id, err)
			}
		}
		if err := s.enqueueNotifications(ctx, tx, NotifyEvent{Event: NotifyNew, MessageID: id, Box: m.Box}); err != nil {
			return fmt.Errorf("queue notifications: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.publish(Change{Kind: ChangeNew, Box: m.Box, MessageID: id})
	return id, nil
}

// autoAssignee picks who gets a new message by the box's assign mode: the
// rota's user of at's weekday, or the next user after last (by id) among
// those who may work the box, whom it records as the last one. It returns 0
// when nobody is picked, and the audit detail.
func autoAssignee(ctx context.Context, tx *sql.Tx, box, mode string, last int64, at time.Time) (int64, string, error) {
	switch mode {
	case "rota":
		var uid int64
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM box_rota WHERE box = ? AND weekday = ?`, box, int(at.Local().Weekday())).Scan(&uid)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, "", nil
		}
		return uid, "auto: rota", err
	case "round-robin":
		users, err := boxUsers(ctx, tx, box)
		if err != nil || len(users) == 0 {
			return 0, "", err
		}
		next := users[0].UserID
		for _, u := range users {
			if u.UserID > last {
				next = u.UserID
				break
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE voicemail_boxes SET assign_last_user = ? WHERE number = ?`, next, box); err != nil {
			return 0, "", err
		}
		return next, "auto: round robin", nil
	}
	return 0, "", nil
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
	return s.updateMessage(ctx, id, ChangeUpdated, `played = ?`, played)
}

// SetStatus marks a message open or done.
func (s *Store) SetStatus(ctx context.Context, id int64, status string) error {
	return s.updateMessage(ctx, id, ChangeUpdated, `status = ?`, status)
}

// TrashMessage moves a message to the trash.
func (s *Store) TrashMessage(ctx context.Context, id int64, at time.Time) error {
	return s.updateMessage(ctx, id, ChangeDeleted, `deleted_at = ?`, at.UnixMilli())
}

// updateMessage changes one message (for the phone menu) and publishes it.
func (s *Store) updateMessage(ctx context.Context, id int64, kind, set string, v any) error {
	var box string
	err := s.db.QueryRowContext(ctx, `UPDATE messages SET `+set+`, updated_at = ? WHERE id = ? RETURNING box`, v, time.Now().UnixMilli(), id).Scan(&box)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update message %d: %w", id, err)
	}
	s.publish(Change{Kind: kind, Box: box, MessageID: id})
	return nil
}

// Email is one queued notification.
type Email struct {
	ID        int64
	MessageID int64
	Address   string
	Attempts  int
	// Forwarded: someone forwarded the message from the inbox; it goes with
	// its audio whatever the box's attach setting.
	Forwarded bool
}

// DueEmails lists unsent emails whose next attempt is due.
func (s *Store) DueEmails(ctx context.Context, now time.Time, limit int) ([]Email, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, message_id, address, attempts, forwarded FROM email_outbox
		WHERE sent_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("list due emails: %w", err)
	}
	defer rows.Close()
	var out []Email
	for rows.Next() {
		var e Email
		if err := rows.Scan(&e.ID, &e.MessageID, &e.Address, &e.Attempts, &e.Forwarded); err != nil {
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
