package store

import (
	"context"
	"fmt"
	"time"
)

// Binding is one registered device of an extension.
type Binding struct {
	Extension string    `json:"extension"`
	Contact   string    `json:"contact"`
	Transport string    `json:"transport"`
	Source    string    `json:"source"`
	CallID    string    `json:"-"`
	CSeq      uint32    `json:"-"`
	UserAgent string    `json:"user_agent"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SaveBinding inserts or refreshes a device registration.
func (s *Store) SaveBinding(ctx context.Context, b Binding) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO bindings(extension, contact, transport, source, call_id, cseq, user_agent, expires_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(extension, contact) DO UPDATE SET transport = excluded.transport, source = excluded.source,
			call_id = excluded.call_id, cseq = excluded.cseq, user_agent = excluded.user_agent,
			expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
		b.Extension, b.Contact, b.Transport, b.Source, b.CallID, b.CSeq, b.UserAgent, b.ExpiresAt.Unix(), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("save registration of %s: %w", b.Extension, err)
	}
	return nil
}

// RemoveBinding removes one device registration (un-REGISTER).
func (s *Store) RemoveBinding(ctx context.Context, extension, contact string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM bindings WHERE extension = ? AND contact = ?`, extension, contact); err != nil {
		return fmt.Errorf("remove registration of %s: %w", extension, err)
	}
	return nil
}

// RemoveBindings removes every registration of an extension (Contact: *).
func (s *Store) RemoveBindings(ctx context.Context, extension string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM bindings WHERE extension = ?`, extension); err != nil {
		return fmt.Errorf("remove registrations of %s: %w", extension, err)
	}
	return nil
}

// Bindings lists the registrations of an extension that have not expired at now.
func (s *Store) Bindings(ctx context.Context, extension string, now time.Time) ([]Binding, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT extension, contact, transport, source, call_id, cseq, user_agent, expires_at
		FROM bindings WHERE extension = ? AND expires_at > ? ORDER BY updated_at DESC`, extension, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("list registrations of %s: %w", extension, err)
	}
	defer rows.Close()
	var out []Binding
	for rows.Next() {
		var b Binding
		var exp int64
		if err := rows.Scan(&b.Extension, &b.Contact, &b.Transport, &b.Source, &b.CallID, &b.CSeq, &b.UserAgent, &exp); err != nil {
			return nil, fmt.Errorf("list registrations of %s: %w", extension, err)
		}
		b.ExpiresAt = time.Unix(exp, 0).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// BindingContacts is Bindings with only Contact and ExpiresAt set: what a
// REGISTER's 200 OK lists. SQLite parses every query afresh, and this one,
// run for every registration, is cheaper for naming two columns, not eight.
func (s *Store) BindingContacts(ctx context.Context, extension string, now time.Time) ([]Binding, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT contact, expires_at FROM bindings
		WHERE extension = ? AND expires_at > ? ORDER BY updated_at DESC`, extension, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("list registrations of %s: %w", extension, err)
	}
	defer rows.Close()
	var out []Binding
	for rows.Next() {
		b := Binding{Extension: extension}
		var exp int64
		if err := rows.Scan(&b.Contact, &exp); err != nil {
			return nil, fmt.Errorf("list registrations of %s: %w", extension, err)
		}
		b.ExpiresAt = time.Unix(exp, 0).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// DeleteExpiredBindings removes registrations that expired before now.
func (s *Store) DeleteExpiredBindings(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM bindings WHERE expires_at <= ?`, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("delete expired registrations: %w", err)
	}
	return res.RowsAffected()
}

// RegisteredCounts maps each extension to its number of live registrations.
func (s *Store) RegisteredCounts(ctx context.Context, now time.Time) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT extension, COUNT(*) FROM bindings WHERE expires_at > ? GROUP BY extension`, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("count registrations: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var ext string
		var n int
		if err := rows.Scan(&ext, &n); err != nil {
			return nil, fmt.Errorf("count registrations: %w", err)
		}
		out[ext] = n
	}
	return out, rows.Err()
}
