package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Call statuses written to the call log.
const (
	CallRinging     = "ringing"
	CallAnswered    = "answered"
	CallBusy        = "busy"
	CallNoAnswer    = "no-answer"
	CallCanceled    = "canceled"
	CallUnavailable = "unavailable"
	CallNotFound    = "not-found"
	CallFailed      = "failed"
	CallVoicemail   = "voicemail" // answered by a voicemail box
	CallRefused     = "refused"   // not allowed (outbound permission)
)

// Call is one row of the call log.
type Call struct {
	ID         int64      `json:"id"`
	SIPCallID  string     `json:"sip_call_id"`
	FromNumber string     `json:"from_number"`
	FromName   string     `json:"from_name"`
	ToNumber   string     `json:"to_number"`
	StartedAt  time.Time  `json:"started_at"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	Status     string     `json:"status"`
	HangupBy   string     `json:"hangup_by,omitempty"`
}

// StartCall writes a new call-log row and returns its id.
func (s *Store) StartCall(ctx context.Context, c Call) (int64, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO calls(sip_call_id, from_number, from_name, to_number, started_at, status)
		VALUES (?, ?, ?, ?, ?, ?)`, c.SIPCallID, c.FromNumber, c.FromName, c.ToNumber, c.StartedAt.UnixMilli(), c.Status)
	if err != nil {
		return 0, fmt.Errorf("log call from %s to %s: %w", c.FromNumber, c.ToNumber, err)
	}
	return res.LastInsertId()
}

// CallAnswered records when a call was answered.
func (s *Store) CallAnswered(ctx context.Context, id int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE calls SET status = ?, answered_at = ? WHERE id = ?`, CallAnswered, at.UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("log call %d answered: %w", id, err)
	}
	return nil
}

// EndCall records a call's end. status is kept as "answered" for calls a
// person answered.
func (s *Store) EndCall(ctx context.Context, id int64, at time.Time, status, hangupBy string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE calls SET ended_at = ?, hangup_by = ?,
		status = CASE WHEN status = 'answered' THEN status ELSE ? END WHERE id = ?`, at.UnixMilli(), hangupBy, status, id)
	if err != nil {
		return fmt.Errorf("log call %d ended: %w", id, err)
	}
	return nil
}

// RecentCalls lists the newest calls first.
func (s *Store) RecentCalls(ctx context.Context, limit int) ([]Call, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, sip_call_id, from_number, from_name, to_number, started_at, answered_at, ended_at, status, hangup_by
		FROM calls ORDER BY started_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	defer rows.Close()
	var out []Call
	for rows.Next() {
		var c Call
		var started int64
		var answered, ended sql.NullInt64
		if err := rows.Scan(&c.ID, &c.SIPCallID, &c.FromNumber, &c.FromName, &c.ToNumber, &started, &answered, &ended, &c.Status, &c.HangupBy); err != nil {
			return nil, fmt.Errorf("list calls: %w", err)
		}
		c.StartedAt = time.UnixMilli(started).UTC()
		c.AnsweredAt, c.EndedAt = msTime(answered), msTime(ended)
		out = append(out, c)
	}
	return out, rows.Err()
}

func msTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64).UTC()
	return &t
}
