package store

import (
	"context"
	"fmt"
)

// TranscriptionTotals returns how many transcripts exist and the seconds
// spent making them.
func (s *Store) TranscriptionTotals(ctx context.Context) (n int64, seconds float64, err error) {
	err = s.read.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(seconds), 0) FROM transcripts`).Scan(&n, &seconds)
	if err != nil {
		err = fmt.Errorf("transcription totals: %w", err)
	}
	return n, seconds, err
}
