package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Transcription job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
	JobNoModel = "no-model" // waiting for a model (or an engine) to be set
	JobOff     = "off"      // the box doesn't transcribe
)

// Job is one message's transcription job.
type Job struct {
	MessageID int64  `json:"message_id"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	Error     string `json:"error,omitempty"`
	Audio     string `json:"-"`
	Language  string `json:"-"` // the box's setting: auto or a code
}

// NextJob claims the oldest due queued job: it is marked running (one more
// attempt) in the same transaction, so two workers never take the same one.
// ok is false when nothing is due.
func (s *Store) NextJob(ctx context.Context, now time.Time) (Job, bool, error) {
	var j Job
	err := s.inTx(ctx, "claim transcription job", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT j.message_id, j.attempts, m.audio, b.transcribe_language
			FROM transcription_jobs j JOIN messages m ON m.id = j.message_id JOIN voicemail_boxes b ON b.number = m.box
			WHERE j.state = 'queued' AND j.next_attempt_at <= ? ORDER BY j.next_attempt_at, j.message_id LIMIT 1`, now.UnixMilli()).
			Scan(&j.MessageID, &j.Attempts, &j.Audio, &j.Language)
		if err != nil {
			return err
		}
		j.Attempts++
		j.State = JobRunning
		_, err = tx.ExecContext(ctx, `UPDATE transcription_jobs SET state = 'running', attempts = ?, updated_at = ? WHERE message_id = ?`,
			j.Attempts, now.Unix(), j.MessageID)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) || errors.Is(errors.Unwrap(err), sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, err
	}
	return j, true, nil
}

// RequeueRunning puts back jobs a crash cut off: at start nothing runs.
func (s *Store) RequeueRunning(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE transcription_jobs SET state = 'queued', updated_at = ? WHERE state = 'running'`, time.Now().Unix())
	if err != nil {
		return 0, fmt.Errorf("requeue interrupted transcriptions: %w", err)
	}
	return res.RowsAffected()
}

// RequeueWaiting queues the jobs that waited for a model.
func (s *Store) RequeueWaiting(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE transcription_jobs SET state = 'queued', error = '', next_attempt_at = ?, updated_at = ?
		WHERE state = 'no-model'`, now.UnixMilli(), now.Unix())
	if err != nil {
		return 0, fmt.Errorf("queue the transcription backlog: %w", err)
	}
	return res.RowsAffected()
}

// JobWaiting parks a job until a model is set, with the reason shown to users.
func (s *Store) JobWaiting(ctx context.Context, messageID int64, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE transcription_jobs SET state = 'no-model', error = ?, attempts = max(attempts - 1, 0), updated_at = ?
		WHERE message_id = ?`, reason, time.Now().Unix(), messageID)
	return err
}

// JobFailed records a failed attempt: queued again at next, or failed for
// good when next is zero.
func (s *Store) JobFailed(ctx context.Context, messageID int64, reason string, next time.Time) error {
	state, at := JobQueued, next.UnixMilli()
	if next.IsZero() {
		state, at = JobFailed, 0
	}
	_, err := s.db.ExecContext(ctx, `UPDATE transcription_jobs SET state = ?, error = ?, next_attempt_at = ?, updated_at = ? WHERE message_id = ?`,
		state, reason, at, time.Now().Unix(), messageID)
	return err
}

// Transcript is a message's text with its timed segments.
type Transcript struct {
	MessageID int64      `json:"message_id"`
	Language  string     `json:"language"`
	Model     string     `json:"model"`
	Text      string     `json:"text"`
	Seconds   float64    `json:"seconds"` // how long transcribing took
	Segments  []TextSpan `json:"segments"`
}

// TextSpan is one segment: where it is in the message's audio, and its words.
type TextSpan struct {
	StartMS int64  `json:"start_ms"`
	EndMS   int64  `json:"end_ms"`
	Text    string `json:"text"`
}

// SaveTranscript stores a transcript and marks the job done, replacing any
// earlier transcript of the message (a job run twice after a crash leaves
// exactly one).
func (s *Store) SaveTranscript(ctx context.Context, t Transcript) error {
	var box string
	err := s.inTx(ctx, fmt.Sprintf("save transcript of message %d", t.MessageID), func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM transcript_segments WHERE message_id = ?`, t.MessageID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO transcripts(message_id, language, model, text, seconds, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(message_id) DO UPDATE SET language = excluded.language, model = excluded.model, text = excluded.text,
				seconds = excluded.seconds, created_at = excluded.created_at`,
			t.MessageID, t.Language, t.Model, t.Text, t.Seconds, time.Now().Unix()); err != nil {
			return err
		}
		for i, seg := range t.Segments {
			if _, err := tx.ExecContext(ctx, `INSERT INTO transcript_segments(message_id, idx, start_ms, end_ms, text) VALUES (?, ?, ?, ?, ?)`,
				t.MessageID, i, seg.StartMS, seg.EndMS, seg.Text); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE transcription_jobs SET state = 'done', error = '', updated_at = ? WHERE message_id = ?`, time.Now().Unix(), t.MessageID); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT box FROM messages WHERE id = ?`, t.MessageID).Scan(&box)
	})
	if err != nil {
		return err
	}
	s.publish(Change{Kind: ChangeTranscript, Box: box, MessageID: t.MessageID})
	return nil
}

// Transcript returns a message's transcript, or ErrNotFound.
func (s *Store) Transcript(ctx context.Context, messageID int64) (Transcript, error) {
	t := Transcript{MessageID: messageID}
	err := s.read.QueryRowContext(ctx, `SELECT language, model, text, seconds FROM transcripts WHERE message_id = ?`, messageID).
		Scan(&t.Language, &t.Model, &t.Text, &t.Seconds)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("transcript of message %d: %w", messageID, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("read transcript of message %d: %w", messageID, err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT start_ms, end_ms, text FROM transcript_segments WHERE message_id = ? ORDER BY idx`, messageID)
	if err != nil {
		return t, err
	}
	defer rows.Close()
	for rows.Next() {
		var sp TextSpan
		if err := rows.Scan(&sp.StartMS, &sp.EndMS, &sp.Text); err != nil {
			return t, err
		}
		t.Segments = append(t.Segments, sp)
	}
	return t, rows.Err()
}

// JobOf returns a message's transcription job.
func (s *Store) JobOf(ctx context.Context, messageID int64) (Job, error) {
	j := Job{MessageID: messageID}
	err := s.read.QueryRowContext(ctx, `SELECT state, attempts, error FROM transcription_jobs WHERE message_id = ?`, messageID).Scan(&j.State, &j.Attempts, &j.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("transcription of message %d: %w", messageID, ErrNotFound)
	}
	return j, err
}

// JobCounts counts jobs by state (queue depth for status pages and metrics).
func (s *Store) JobCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT state, COUNT(*) FROM transcription_jobs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count transcription jobs: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// SearchHit is a message matching a search, with the matching words marked.
type SearchHit struct {
	Message
	Snippet string `json:"snippet"` // transcript excerpt with matches in [brackets]
}

// SearchMessages finds messages (not in the trash) whose transcript, caller
// number or caller name match query, best match first, optionally in some
// boxes only. Words are matched as prefixes; FTS syntax is not exposed.
func (s *Store) SearchMessages(ctx context.Context, query string, boxes []string, limit int) ([]SearchHit, error) {
	match := ftsQuery(query)
	if match == "" {
		return nil, nil
	}
	args := []any{match}
	boxFilter := ""
	if len(boxes) > 0 {
		boxFilter = " AND m.box IN (" + strings.TrimSuffix(strings.Repeat("?,", len(boxes)), ",") + ")"
		for _, b := range boxes {
			args = append(args, b)
		}
	}
	args = append(args, limit)
	rows, err := s.read.QueryContext(ctx, `SELECT `+messageCols("m.")+`, snippet(message_search, 0, '[', ']', '…', 12)
		FROM message_search JOIN messages m ON m.id = message_search.rowid
		WHERE message_search MATCH ? AND m.deleted_at IS NULL`+boxFilter+`
		ORDER BY rank LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("search messages: %w", err)
	}
	defer rows.Close()
	var out []SearchHit
	for rows.Next() {
		var h SearchHit
		m, err := scanMessage(rows, &h.Snippet)
		if err != nil {
			return nil, err
		}
		h.Message = m
		out = append(out, h)
	}
	return out, rows.Err()
}

// ftsQuery turns what a user typed into an FTS5 query of quoted prefix
// terms, all of which must match: no operator or column syntax gets through.
func ftsQuery(q string) string {
	var terms []string
	for _, w := range strings.FieldsFunc(q, func(r rune) bool {
		return !(r == '+' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 127)
	}) {
		w = strings.Trim(w, "+")
		if w != "" {
			terms = append(terms, `"`+w+`"*`)
		}
	}
	return strings.Join(terms, " ")
}
