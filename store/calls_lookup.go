package store

// One call-log row by id: the inbox API's done-on-callback polls it.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CallByID returns one call-log row, or ErrNotFound.
func (s *Store) CallByID(ctx context.Context, id int64) (Call, error) {
	var c Call
	var started int64
	var answered, ended sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT id, sip_call_id, from_number, from_name, to_number, started_at, answered_at, ended_at, status, hangup_by
		FROM calls WHERE id = ?`, id).
		Scan(&c.ID, &c.SIPCallID, &c.FromNumber, &c.FromName, &c.ToNumber, &started, &answered, &ended, &c.Status, &c.HangupBy)
	if errors.Is(err, sql.ErrNoRows) {
		return Call{}, fmt.Errorf("call %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Call{}, fmt.Errorf("read call %d: %w", id, err)
	}
	c.StartedAt = time.UnixMilli(started).UTC()
	c.AnsweredAt, c.EndedAt = msTime(answered), msTime(ended)
	return c, nil
}
