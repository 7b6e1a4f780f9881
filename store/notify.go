package store

import (
	"context"
	"database/sql"
)

// Notification events.
const (
	NotifyNew      = "message.new"
	NotifyAssigned = "message.assigned"
	NotifyOverdue  = "message.overdue"
)

// NotifyEvent is something notification rules may want to hear about.
type NotifyEvent struct {
	Event     string // one of the Notify constants
	MessageID int64
	Box       string
	// Assignee: for message.assigned, the user it was assigned to (only that
	// user's rules fire); otherwise 0.
	Assignee int64
}

// enqueueNotifications queues, inside tx, one outbox row per matching rule,
// so a committed message always gets its notifications. (Being written.)
func (s *Store) enqueueNotifications(ctx context.Context, tx *sql.Tx, ev NotifyEvent) error {
	return nil
}
