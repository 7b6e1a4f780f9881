package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Queue holds callers until a member takes the call.
type Queue struct {
	Number          string        `json:"number"`
	Name            string        `json:"name"`
	Strategy        string        `json:"strategy"` // roundrobin or longest-idle
	RingSeconds     int           `json:"ring_seconds"`
	MaxWait         int           `json:"max_wait"`
	Fallback        string        `json:"fallback"`    // on max wait, no member logged in, or the leave digit
	LeaveDigit      string        `json:"leave_digit"` // '' = none
	AnnounceSeconds int           `json:"announce_seconds"`
	Music           []string      `json:"music,omitempty"` // WAV files under music/; empty = built-in
	Members         []QueueMember `json:"members"`
}

// QueueMember is an extension answering a queue.
type QueueMember struct {
	Extension  string    `json:"extension"`
	LoggedIn   bool      `json:"logged_in"`
	LastCallAt time.Time `json:"last_call_at,omitzero"`
}

// SaveQueue adds (replace false) or replaces a queue; members given replace
// the member list (keeping their login state and last call).
func (s *Store) SaveQueue(ctx context.Context, q Queue, replace bool) error {
	return s.inTx(ctx, "save queue "+q.Number, func(tx *sql.Tx) error {
		music := strings.Join(q.Music, ",")
		if replace {
			res, err := tx.ExecContext(ctx, `UPDATE queues SET name = ?, strategy = ?, ring_seconds = ?, max_wait = ?, fallback = ?,
				leave_digit = ?, announce_seconds = ?, music = ? WHERE number = ?`,
				q.Name, q.Strategy, q.RingSeconds, q.MaxWait, q.Fallback, q.LeaveDigit, q.AnnounceSeconds, music, q.Number)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("queue %s: %w", q.Number, ErrNotFound)
			}
		} else {
			if owner, err := numberOwner(ctx, tx, q.Number); err != nil || owner != "" {
				return errors.Join(err, errTakenIf(q.Number, owner))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO queues(number, name, strategy, ring_seconds, max_wait, fallback, leave_digit, announce_seconds, music, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, q.Number, q.Name, q.Strategy, q.RingSeconds, q.MaxWait, q.Fallback, q.LeaveDigit,
				q.AnnounceSeconds, music, time.Now().Unix()); err != nil {
				return err
			}
		}
		if q.Members == nil {
			return nil
		}
		keep := map[string]bool{}
		for _, m := range q.Members {
			keep[m.Extension] = true
			if _, err := tx.ExecContext(ctx, `INSERT INTO queue_members(queue, extension, logged_in) VALUES (?, ?, 1)
				ON CONFLICT(queue, extension) DO NOTHING`, q.Number, m.Extension); err != nil {
				if strings.Contains(err.Error(), "FOREIGN KEY") {
					return fmt.Errorf("member %s: extension %w", m.Extension, ErrNotFound)
				}
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT extension FROM queue_members WHERE queue = ?`, q.Number)
		if err != nil {
			return err
		}
		var gone []string
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				rows.Close()
				return err
			}
			if !keep[e] {
				gone = append(gone, e)
			}
		}
		rows.Close()
		for _, e := range gone {
			if _, err := tx.ExecContext(ctx, `DELETE FROM queue_members WHERE queue = ? AND extension = ?`, q.Number, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Queue returns one queue with its members, or ErrNotFound.
func (s *Store) Queue(ctx context.Context, number string) (Queue, error) {
	var q Queue
	var music string
	err := s.read.QueryRowContext(ctx, `SELECT number, name, strategy, ring_seconds, max_wait, fallback, leave_digit, announce_seconds, music
		FROM queues WHERE number = ?`, number).Scan(&q.Number, &q.Name, &q.Strategy, &q.RingSeconds, &q.MaxWait, &q.Fallback, &q.LeaveDigit, &q.AnnounceSeconds, &music)
	if errors.Is(err, sql.ErrNoRows) {
		return q, fmt.Errorf("queue %s: %w", number, ErrNotFound)
	}
	if err != nil {
		return q, fmt.Errorf("read queue %s: %w", number, err)
	}
	q.Music = splitList(music)
	rows, err := s.read.QueryContext(ctx, `SELECT extension, logged_in, last_call_at FROM queue_members WHERE queue = ? ORDER BY extension`, number)
	if err != nil {
		return q, err
	}
	defer rows.Close()
	for rows.Next() {
		var m QueueMember
		var last int64
		if err := rows.Scan(&m.Extension, &m.LoggedIn, &last); err != nil {
			return q, err
		}
		if last > 0 {
			m.LastCallAt = time.Unix(last, 0).UTC()
		}
		q.Members = append(q.Members, m)
	}
	return q, rows.Err()
}

// Queues lists every queue.
func (s *Store) Queues(ctx context.Context) ([]Queue, error) {
	return listEach(ctx, s, "queues", s.Queue)
}

// RemoveQueue deletes a queue.
func (s *Store) RemoveQueue(ctx context.Context, number string) error {
	return s.removeRow(ctx, "queues", "number", number, "queue")
}

// SetQueueLogin logs a member in or out of a queue; ErrNotFound when the
// extension is not a member.
func (s *Store) SetQueueLogin(ctx context.Context, queue, extension string, in bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE queue_members SET logged_in = ? WHERE queue = ? AND extension = ?`, in, queue, extension)
	if err != nil {
		return fmt.Errorf("queue login %s/%s: %w", queue, extension, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("extension %s in queue %s: %w", extension, queue, ErrNotFound)
	}
	return nil
}

// QueueCallTaken records when a member last took a queue call (longest idle).
func (s *Store) QueueCallTaken(ctx context.Context, queue, extension string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE queue_members SET last_call_at = ? WHERE queue = ? AND extension = ?`, at.Unix(), queue, extension)
	return err
}
