package store

import (
	"context"
	"fmt"
)

// SnapshotTo writes a consistent copy of the database to path (which must
// not exist) with VACUUM INTO. It runs while the server works: it is one
// read transaction, so it sees every committed change and none half done.
func (s *Store) SnapshotTo(ctx context.Context, path string) error {
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("copy database to %s: %w", path, err)
	}
	return nil
}
