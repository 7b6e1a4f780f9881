package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is a person who logs in to the web UI.
type User struct {
	ID                 int64  `json:"id"`
	Name               string `json:"name"`
	Email              string `json:"email"`
	PasswordHash       string `json:"-"`
	IsAdmin            bool   `json:"is_admin"`
	MustChangePassword bool   `json:"must_change_password"`
	Extension          string `json:"extension,omitempty"` // the user's own extension, if linked
}

// UserByName returns a user by name or email, or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	var u User
	err := s.read.QueryRowContext(ctx, `SELECT id, name, email, password_hash, is_admin, must_change_password, COALESCE(extension, '')
		FROM users WHERE name = ?1 OR (email != '' AND email = ?1)`, name).
		Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.IsAdmin, &u.MustChangePassword, &u.Extension)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %s: %w", name, err)
	}
	return u, nil
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// AddUserIfNone adds u only when there are no users at all, in one
// transaction, so two processes starting at once can't both create the first
// admin. It reports whether u was added.
func (s *Store) AddUserIfNone(ctx context.Context, u User) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("add first user: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return false, fmt.Errorf("add first user: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO users(name, email, password_hash, is_admin, must_change_password, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, u.Name, u.Email, u.PasswordHash, u.IsAdmin, u.MustChangePassword, time.Now().Unix())
	if err != nil {
		return false, fmt.Errorf("add first user %s: %w", u.Name, err)
	}
	return true, tx.Commit()
}
