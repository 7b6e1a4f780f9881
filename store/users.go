package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// User is a person who logs in to the web UI.
type User struct {
	ID                 int64     `json:"id"`
	Name               string    `json:"name"`
	Email              string    `json:"email"`
	PasswordHash       string    `json:"-"`
	IsAdmin            bool      `json:"is_admin"`
	MustChangePassword bool      `json:"must_change_password"`
	Extension          string    `json:"extension,omitempty"`   // the user's own extension, if linked
	LockedUntil        time.Time `json:"locked_until,omitzero"` // login lockout after failed logins
	CreatedAt          time.Time `json:"created_at,omitzero"`
}

// ErrLastAdmin refuses a change that would leave no admin to run the system.
var ErrLastAdmin = errors.New("this is the last admin; make another user an admin first")

// userCols are the columns scanUser reads, in order.
const userCols = `id, name, email, password_hash, is_admin, must_change_password, COALESCE(extension, ''), locked_until, created_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var locked, created int64
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.IsAdmin, &u.MustChangePassword, &u.Extension, &locked, &created)
	if locked > 0 {
		u.LockedUntil = time.Unix(locked, 0)
	}
	if created > 0 {
		u.CreatedAt = time.Unix(created, 0)
	}
	return u, err
}

// UserByName returns a user by name or email (either case-insensitive), or
// ErrNotFound.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, `SELECT `+userCols+`
		FROM users WHERE name = ?1 COLLATE NOCASE OR (email != '' AND email = ?1 COLLATE NOCASE)`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %s: %w", name, err)
	}
	return u, nil
}

// UserByID returns a user by id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %d: %w", id, err)
	}
	return u, nil
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name COLLATE NOCASE`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
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

// checkUserUnique makes sure a name or email (skipped when empty) is nobody
// else's name or email: login accepts either, so they share one namespace.
func checkUserUnique(ctx context.Context, tx *sql.Tx, self int64, what, value string) error {
	if value == "" {
		return nil
	}
	var id int64
	var name string
	err := tx.QueryRowContext(ctx, `SELECT id, name FROM users
		WHERE id != ?1 AND (name = ?2 COLLATE NOCASE OR (email != '' AND email = ?2 COLLATE NOCASE)) LIMIT 1`, self, value).Scan(&id, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s %s: %w", what, value, err)
	}
	return fmt.Errorf("%s %s is already used by user %s: %w", what, value, name, ErrExists)
}

// checkExtension makes sure a user's linked extension exists.
func checkExtension(ctx context.Context, tx *sql.Tx, number string) error {
	if number == "" {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM extensions WHERE number = ?`, number).Scan(&n); err != nil {
		return fmt.Errorf("check extension %s: %w", number, err)
	}
	if n == 0 {
		return fmt.Errorf("extension %s: %w", number, ErrNotFound)
	}
	return nil
}

// AddUser adds a user and returns it with its id. Names and emails are
// unique (case-insensitively, across both); the extension, if given, must
// exist.
func (s *Store) AddUser(ctx context.Context, u User) (User, error) {
	u.Name, u.Email = strings.TrimSpace(u.Name), strings.TrimSpace(u.Email)
	if u.Name == "" || u.PasswordHash == "" {
		return u, errors.New("add user: a name and a password are required")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return u, fmt.Errorf("add user %s: %w", u.Name, err)
	}
	defer tx.Rollback()
	if err := checkUserUnique(ctx, tx, 0, "name", u.Name); err != nil {
		return u, err
	}
	if err := checkUserUnique(ctx, tx, 0, "email", u.Email); err != nil {
		return u, err
	}
	if err := checkExtension(ctx, tx, u.Extension); err != nil {
		return u, err
	}
	now := time.Now()
	res, err := tx.ExecContext(ctx, `INSERT INTO users(name, email, password_hash, is_admin, must_change_password, extension, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?)`, u.Name, u.Email, u.PasswordHash, u.IsAdmin, u.MustChangePassword, u.Extension, now.Unix(), now.Unix())
	if isUniqueViolation(err) {
		return u, fmt.Errorf("user %s: %w", u.Name, ErrExists)
	}
	if err != nil {
		return u, fmt.Errorf("add user %s: %w", u.Name, err)
	}
	if u.ID, err = res.LastInsertId(); err != nil {
		return u, fmt.Errorf("add user %s: %w", u.Name, err)
	}
	u.CreatedAt = time.Unix(now.Unix(), 0)
	return u, tx.Commit()
}

// UserUpdate changes the fields that are not nil.
type UserUpdate struct {
	Email              *string
	IsAdmin            *bool
	Extension          *string // "" unlinks
	PasswordHash       *string
	MustChangePassword *bool
}

// UpdateUser changes a user. Taking admin away from the last admin is
// refused with ErrLastAdmin.
func (s *Store) UpdateUser(ctx context.Context, id int64, up UserUpdate) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update user %d: %w", id, err)
	}
	defer tx.Rollback()
	var name string
	var admin bool
	err = tx.QueryRowContext(ctx, `SELECT name, is_admin FROM users WHERE id = ?`, id).Scan(&name, &admin)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update user %d: %w", id, err)
	}
	var sets []string
	var args []any
	set := func(col string, v any) {
		sets = append(sets, col+" = ?")
		args = append(args, v)
	}
	if up.Email != nil {
		email := strings.TrimSpace(*up.Email)
		if err := checkUserUnique(ctx, tx, id, "email", email); err != nil {
			return err
		}
		set("email", email)
	}
	if up.IsAdmin != nil {
		if admin && !*up.IsAdmin {
			if err := checkOtherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		set("is_admin", *up.IsAdmin)
	}
	if up.Extension != nil {
		if err := checkExtension(ctx, tx, *up.Extension); err != nil {
			return err
		}
		sets = append(sets, "extension = NULLIF(?, '')")
		args = append(args, *up.Extension)
	}
	if up.PasswordHash != nil {
		if *up.PasswordHash == "" {
			return errors.New("update user: the password hash can't be empty")
		}
		set("password_hash", *up.PasswordHash)
	}
	if up.MustChangePassword != nil {
		set("must_change_password", *up.MustChangePassword)
	}
	if len(sets) == 0 {
		return nil
	}
	set("updated_at", time.Now().Unix())
	args = append(args, id)
	if _, err := tx.ExecContext(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...); err != nil {
		return fmt.Errorf("update user %s: %w", name, err)
	}
	return tx.Commit()
}

// checkOtherAdmin makes sure an admin other than user id exists.
func checkOtherAdmin(ctx context.Context, tx *sql.Tx, id int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE is_admin = 1 AND id != ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// RemoveUser deletes a user with their sessions and box access; messages
// assigned to them become unassigned. The last admin can't be removed.
func (s *Store) RemoveUser(ctx context.Context, id int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("remove user %d: %w", id, err)
	}
	defer tx.Rollback()
	var admin bool
	err = tx.QueryRowContext(ctx, `SELECT is_admin FROM users WHERE id = ?`, id).Scan(&admin)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("remove user %d: %w", id, err)
	}
	if admin {
		if err := checkOtherAdmin(ctx, tx, id); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
		return fmt.Errorf("remove user %d: %w", id, err)
	}
	return tx.Commit()
}
