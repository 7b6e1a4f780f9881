package store

// The inbox's workflow actions. Each runs in one transaction with its audit
// row; state that belongs to a conversation (assignee, status, in progress,
// box) is changed on all of its messages outside the trash at once, so a
// conversation never shows mixed state. Changes are published after commit.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ChangeNew, ChangeUpdated, ChangeDeleted and ChangeTranscript are the
// kinds of Change.
const (
	ChangeNew        = "message.new"
	ChangeUpdated    = "message.updated"
	ChangeDeleted    = "message.deleted"
	ChangeTranscript = "transcript.done"
)

// messageTx reads one message inside tx, or ErrNotFound.
func messageTx(ctx context.Context, q dbtx, id int64) (Message, error) {
	m, err := scanMessage(q.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("read message %d: %w", id, err)
	}
	if m.Conversation == 0 {
		m.Conversation = m.ID
	}
	return m, nil
}

// insertAudit writes one audit row inside tx.
func insertAudit(ctx context.Context, q dbtx, at time.Time, actor, action, box string, messageID int64, detail string) error {
	var mid any
	if messageID != 0 {
		mid = messageID
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO audit_log(at, actor, action, box, message_id, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		at.UnixMilli(), actor, action, box, mid, detail); err != nil {
		return fmt.Errorf("audit %s %s: %w", actor, action, err)
	}
	return nil
}

// updateConversation sets columns on every message of m's conversation
// outside the trash (and m itself) and returns the ids it changed.
func updateConversation(ctx context.Context, q dbtx, m Message, now time.Time, set string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, `UPDATE messages SET `+set+`, updated_at = ?
		WHERE (conversation = ? AND deleted_at IS NULL) OR id = ? RETURNING id`,
		append(args, now.UnixMilli(), m.Conversation, m.ID)...)
	if err != nil {
		return nil, fmt.Errorf("update conversation %d: %w", m.Conversation, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// updateOne sets columns (set may be empty) and updated_at on one message.
func updateOne(ctx context.Context, q dbtx, id int64, now time.Time, set string, args ...any) ([]int64, error) {
	if set != "" {
		set += ", "
	}
	if _, err := q.ExecContext(ctx, `UPDATE messages SET `+set+`updated_at = ? WHERE id = ?`, append(args, now.UnixMilli(), id)...); err != nil {
		return nil, fmt.Errorf("update message %d: %w", id, err)
	}
	return []int64{id}, nil
}

// step is what one action did, for its audit row and its Changes.
type step struct {
	action  string
	detail  string
	touched []int64 // messages changed; their Changes are published
	kind    string  // Change kind; default message.updated
	also    []Change
}

// act runs one action on message id: read it, let do check and change it,
// write the audit row, commit, publish. do sees the message as it was.
func (s *Store) act(ctx context.Context, a Actor, id int64, what string, do func(tx *sql.Tx, m Message, now time.Time) (step, error)) (Message, error) {
	var st step
	var after Message
	err := s.inTx(ctx, fmt.Sprintf("%s message %d", what, id), func(tx *sql.Tx) error {
		m, err := messageTx(ctx, tx, id)
		if err != nil {
			return err
		}
		now := time.Now()
		if st, err = do(tx, m, now); err != nil {
			return err
		}
		if err := insertAudit(ctx, tx, now, a.AuditName(), st.action, m.Box, m.ID, st.detail); err != nil {
			return err
		}
		after, err = messageTx(ctx, tx, id)
		if errors.Is(err, ErrNotFound) {
			err = nil // purged
		}
		return err
	})
	if err != nil {
		return Message{}, err
	}
	kind := st.kind
	if kind == "" {
		kind = ChangeUpdated
	}
	for _, mid := range st.touched {
		s.publish(Change{Kind: kind, Box: after.Box, MessageID: mid, Actor: a.AuditName()})
	}
	for _, c := range st.also {
		c.Actor = a.AuditName()
		s.publish(c)
	}
	return after, nil
}

// takeOver enforces that only a manager changes who owns a message that is
// assigned to someone else.
func takeOver(a Actor, m Message) error {
	if m.Assignee != 0 && m.Assignee != a.UserID && !a.Manager {
		return fmt.Errorf("message %d: %w", m.ID, ErrAssignedElsewhere)
	}
	return nil
}

func notTrashed(m Message) error {
	if m.DeletedAt != nil {
		return fmt.Errorf("message %d: %w", m.ID, ErrInTrash)
	}
	return nil
}

func userName(ctx context.Context, q dbtx, id int64) (string, error) {
	var name string
	err := q.QueryRowContext(ctx, `SELECT name FROM users WHERE id = ?`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	return name, err
}

// Claim assigns the message (its whole conversation) to the actor.
func (s *Store) Claim(ctx context.Context, a Actor, id int64) (Message, error) {
	if a.UserID == 0 {
		return Message{}, invalid("user_id", "only a user can claim a message")
	}
	return s.act(ctx, a, id, "claim", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		if err := notTrashed(m); err != nil {
			return step{}, err
		}
		if err := takeOver(a, m); err != nil {
			return step{}, err
		}
		ids, err := updateConversation(ctx, tx, m, now, `assignee = ?`, a.UserID)
		return step{action: "message.claimed", touched: ids}, err
	})
}

// Assign assigns the message's conversation to userID; 0 returns it to the
// inbox. Assigning to someone else queues their notifications.
func (s *Store) Assign(ctx context.Context, a Actor, id, userID int64) (Message, error) {
	return s.act(ctx, a, id, "assign", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		if err := notTrashed(m); err != nil {
			return step{}, err
		}
		if err := takeOver(a, m); err != nil {
			return step{}, err
		}
		if userID == 0 {
			ids, err := updateConversation(ctx, tx, m, now, `assignee = NULL, in_progress = 0`)
			return step{action: "message.returned", touched: ids}, err
		}
		name, err := userName(ctx, tx, userID)
		if err != nil {
			return step{}, err
		}
		ids, err := updateConversation(ctx, tx, m, now, `assignee = ?`, userID)
		if err != nil {
			return step{}, err
		}
		if userID != a.UserID {
			if err := s.enqueueNotifications(ctx, tx, NotifyEvent{Event: NotifyAssigned, MessageID: m.ID, Box: m.Box, Assignee: userID}); err != nil {
				return step{}, fmt.Errorf("queue assignment notifications: %w", err)
			}
		}
		return step{action: "message.assigned", detail: "to " + name, touched: ids}, nil
	})
}

// Transfer moves the message's conversation to another box, unassigned and
// not in progress.
func (s *Store) Transfer(ctx context.Context, a Actor, id int64, box string) (Message, error) {
	return s.act(ctx, a, id, "transfer", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		if err := notTrashed(m); err != nil {
			return step{}, err
		}
		if err := takeOver(a, m); err != nil {
			return step{}, err
		}
		if box == m.Box {
			return step{}, invalid("box", "the message is already in box %s: pick another box", box)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM voicemail_boxes WHERE number = ?`, box).Scan(&n); err != nil {
			return step{}, err
		}
		if n == 0 {
			return step{}, fmt.Errorf("voicemail box %s: %w", box, ErrNotFound)
		}
		ids, err := updateConversation(ctx, tx, m, now, `box = ?, assignee = NULL, in_progress = 0`, box)
		st := step{action: "message.transferred", detail: fmt.Sprintf("from %s to %s", m.Box, box), touched: ids}
		// Whoever watches the old box sees the messages leave.
		for _, mid := range ids {
			st.also = append(st.also, Change{Kind: ChangeUpdated, Box: m.Box, MessageID: mid})
		}
		return st, err
	})
}

// MarkInProgress marks the conversation in progress (open).
func (s *Store) MarkInProgress(ctx context.Context, a Actor, id int64) (Message, error) {
	return s.act(ctx, a, id, "mark in progress", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		if err := notTrashed(m); err != nil {
			return step{}, err
		}
		ids, err := updateConversation(ctx, tx, m, now, `status = 'open', in_progress = 1, done_note = ''`)
		return step{action: "message.in_progress", touched: ids}, err
	})
}

// MarkDone marks the conversation done with an optional note.
func (s *Store) MarkDone(ctx context.Context, a Actor, id int64, note string) (Message, error) {
	return s.act(ctx, a, id, "mark done", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		if err := notTrashed(m); err != nil {
			return step{}, err
		}
		ids, err := updateConversation(ctx, tx, m, now, `status = 'done', in_progress = 0, done_note = ?`, note)
		return step{action: "message.done", detail: note, touched: ids}, err
	})
}

// Reopen marks a done conversation open again.
func (s *Store) Reopen(ctx context.Context, a Actor, id int64) (Message, error) {
	return s.act(ctx, a, id, "reopen", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		if err := notTrashed(m); err != nil {
			return step{}, err
		}
		ids, err := updateConversation(ctx, tx, m, now, `status = 'open', in_progress = 0, done_note = ''`)
		return step{action: "message.reopened", touched: ids}, err
	})
}

// AddNote writes a note on the message's timeline.
func (s *Store) AddNote(ctx context.Context, a Actor, id int64, note string) error {
	if note == "" {
		return invalid("text", "the note is empty: write something")
	}
	_, err := s.act(ctx, a, id, "note on", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		ids, err := updateOne(ctx, tx, id, now, "")
		return step{action: "message.note", detail: note, touched: ids}, err
	})
	return err
}

// MarkPlayed sets the played state (the same one *56 and the lamps use).
func (s *Store) MarkPlayed(ctx context.Context, a Actor, id int64, played bool) (Message, error) {
	action := "message.unplayed"
	if played {
		action = "message.played"
	}
	return s.act(ctx, a, id, "mark played", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		ids, err := updateOne(ctx, tx, id, now, `played = ?`, played)
		return step{action: action, touched: ids}, err
	})
}

// Trash moves a message to the trash.
func (s *Store) Trash(ctx context.Context, a Actor, id int64) (Message, error) {
	return s.act(ctx, a, id, "trash", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		if err := notTrashed(m); err != nil {
			return step{}, err
		}
		ids, err := updateOne(ctx, tx, id, now, `deleted_at = ?`, now.UnixMilli())
		return step{action: "message.trashed", touched: ids, kind: ChangeDeleted}, err
	})
}

// Untrash takes a message out of the trash. It takes on the state of the
// rest of its conversation if that is still in the same box; otherwise it
// stands alone again.
func (s *Store) Untrash(ctx context.Context, a Actor, id int64) (Message, error) {
	return s.act(ctx, a, id, "restore", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		if m.DeletedAt == nil {
			return step{}, fmt.Errorf("message %d: %w", id, ErrNotInTrash)
		}
		var box, status, note string
		var assignee sql.NullInt64
		var inProgress bool
		err := tx.QueryRowContext(ctx, `SELECT box, status, assignee, in_progress, done_note FROM messages
			WHERE conversation = ? AND id != ? AND deleted_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1`, m.Conversation, id).
			Scan(&box, &status, &assignee, &inProgress, &note)
		var ids []int64
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && box != m.Box:
			ids, err = updateOne(ctx, tx, id, now, `deleted_at = NULL, conversation = id`)
		case err == nil:
			ids, err = updateOne(ctx, tx, id, now, `deleted_at = NULL, status = ?, assignee = ?, in_progress = ?, done_note = ?`,
				status, assignee, inProgress, note)
		}
		return step{action: "message.restored", touched: ids}, err
	})
}

// Purge deletes a message in the trash for good and returns its audio file
// name for the caller to remove. The audit row keeps its id and box.
func (s *Store) Purge(ctx context.Context, a Actor, id int64) (string, error) {
	var audio string
	_, err := s.act(ctx, a, id, "purge", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		if m.DeletedAt == nil {
			return step{}, fmt.Errorf("message %d: %w", id, ErrNotInTrash)
		}
		audio = m.Audio
		if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id = ?`, id); err != nil {
			return step{}, err
		}
		return step{action: "message.purged", detail: purgeDetail(m), kind: ChangeDeleted,
			also: []Change{{Kind: ChangeDeleted, Box: m.Box, MessageID: id}}}, nil
	})
	return audio, err
}

func purgeDetail(m Message) string {
	return fmt.Sprintf("caller %s at %s", m.CallerNumber, m.StartedAt.Format(time.RFC3339))
}

// PurgeExpired purges messages that have been in the trash longer than their
// box's trash_days, audited as the system, and returns their audio file names.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) ([]string, error) {
	var files []string
	var gone []Change
	err := s.inTx(ctx, "purge expired trash", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+messageCols("m.")+`, b.trash_days FROM voicemail_boxes b
			JOIN messages m ON m.box = b.number AND m.deleted_at IS NOT NULL AND m.deleted_at < ? - b.trash_days * 86400000`, now.UnixMilli())
		if err != nil {
			return err
		}
		type expired struct {
			m    Message
			days int
		}
		var ex []expired
		for rows.Next() {
			var e expired
			if e.m, err = scanMessage(rows, &e.days); err != nil {
				rows.Close()
				return err
			}
			ex = append(ex, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range ex {
			if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id = ?`, e.m.ID); err != nil {
				return err
			}
			detail := fmt.Sprintf("trash retention %d days; %s", e.days, purgeDetail(e.m))
			if err := insertAudit(ctx, tx, now, "system", "message.purged", e.m.Box, e.m.ID, detail); err != nil {
				return err
			}
			files = append(files, e.m.Audio)
			gone = append(gone, Change{Kind: ChangeDeleted, Box: e.m.Box, MessageID: e.m.ID, Actor: "system"})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range gone {
		s.publish(c)
	}
	return files, nil
}

// LogAction writes an audit row for an action the store does not perform
// itself (download, forward by email, call back) and publishes it.
func (s *Store) LogAction(ctx context.Context, a Actor, action string, id int64, detail string) error {
	_, err := s.act(ctx, a, id, "log "+action+" on", func(tx *sql.Tx, m Message, now time.Time) (step, error) {
		return step{action: action, detail: detail, touched: []int64{id}}, nil
	})
	return err
}

// QueueEmail queues the message (audio and transcript) to be mailed to
// address, as the forward-by-email action does.
func (s *Store) QueueEmail(ctx context.Context, messageID int64, address string) error {
	if address == "" {
		return invalid("address", "the email address is empty")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO email_outbox(message_id, address, next_attempt_at, forwarded) VALUES (?, ?, ?, 1)`,
		messageID, address, time.Now().UnixMilli())
	if err != nil {
		if isForeignKey(err) {
			return fmt.Errorf("message %d: %w", messageID, ErrNotFound)
		}
		return fmt.Errorf("queue email of message %d: %w", messageID, err)
	}
	return nil
}
