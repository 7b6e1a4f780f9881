package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// AudioRetentionSetting holds how many days recordings are kept (empty or 0:
// forever). Transcripts and the audit log are kept regardless.
const AudioRetentionSetting = "retention.audio_days"

// AudioRetentionDays reads the audio retention setting (0: keep forever).
func (s *Store) AudioRetentionDays(ctx context.Context) (int, error) {
	v, err := s.Setting(ctx, AudioRetentionSetting)
	if err != nil || v == "" {
		return 0, nil
	}
	days, err := strconv.Atoi(v)
	if err != nil || days < 0 {
		return 0, fmt.Errorf("setting %s = %q: want a number of days", AudioRetentionSetting, v)
	}
	return days, nil
}

// PurgeOldAudio marks the audio of messages older than days as purged,
// audited as the system, and returns the audio file names for the caller to
// delete. Rows, transcripts and audit history stay. Work is done in batches
// so the writer is never held long.
func (s *Store) PurgeOldAudio(ctx context.Context, now time.Time, days int) ([]string, error) {
	if days <= 0 {
		return nil, nil
	}
	cutoff := now.Add(-time.Duration(days) * 24 * time.Hour).UnixMilli()
	var files []string
	for {
		batch, err := s.purgeAudioBatch(ctx, now, cutoff, days, 500)
		if err != nil {
			return files, err
		}
		files = append(files, batch...)
		if len(batch) < 500 {
			return files, nil
		}
	}
}

func (s *Store) purgeAudioBatch(ctx context.Context, now time.Time, cutoff int64, days, limit int) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("purge old audio: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, box, audio FROM messages
		WHERE audio_purged_at IS NULL AND started_at < ? ORDER BY started_at LIMIT ?`, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("purge old audio: %w", err)
	}
	type victim struct {
		id         int64
		box, audio string
	}
	var vs []victim
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.id, &v.box, &v.audio); err != nil {
			rows.Close()
			return nil, fmt.Errorf("purge old audio: %w", err)
		}
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("purge old audio: %w", err)
	}
	files := make([]string, 0, len(vs))
	for _, v := range vs {
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET audio_purged_at = ? WHERE id = ?`, now.UnixMilli(), v.id); err != nil {
			return nil, fmt.Errorf("purge audio of message %d: %w", v.id, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log(at, actor, action, box, message_id, detail) VALUES (?, 'system', 'message.audio_purged', ?, ?, ?)`,
			now.UnixMilli(), v.box, v.id, fmt.Sprintf("audio retention %d days", days)); err != nil {
			return nil, fmt.Errorf("audit audio purge of message %d: %w", v.id, err)
		}
		files = append(files, v.audio)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("purge old audio: %w", err)
	}
	for _, v := range vs {
		s.publish(Change{Kind: "message.updated", Box: v.box, MessageID: v.id, Actor: "system"})
	}
	return files, nil
}

// AudioPurged reports whether a message's recording was removed by retention.
func (s *Store) AudioPurged(ctx context.Context, id int64) (bool, error) {
	var at *int64
	if err := s.read.QueryRowContext(ctx, `SELECT audio_purged_at FROM messages WHERE id = ?`, id).Scan(&at); err != nil {
		return false, fmt.Errorf("message %d: %w", id, err)
	}
	return at != nil, nil
}
