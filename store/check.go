package store

import (
	"context"
	"fmt"
	"strings"
)

// QuickCheck runs SQLite's quick_check and returns its complaints as an
// error (nil when the database is sound).
func (s *Store) QuickCheck(ctx context.Context) error {
	rows, err := s.read.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return fmt.Errorf("quick_check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("quick_check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("quick_check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("database damaged: %s", strings.Join(problems, "; "))
	}
	return nil
}
