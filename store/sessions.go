package store

// Web sessions and the login lockout. A session's cookie carries a random
// token; only its SHA-256 is stored, so a copy of the database can't be used
// to log in. Failed logins are counted per name and per source address.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// SessionMaxAge is a session's absolute lifetime, however active it is.
const SessionMaxAge = 7 * 24 * time.Hour

// sessionSlide is how stale last_seen_at may get before a request moves it
// (and the idle expiry) on: at most one write a minute per session.
const sessionSlide = time.Minute

// Session is one logged-in browser.
type Session struct {
	ID         string    `json:"id"` // a prefix of the token's hash: names the session, can't be used to log in
	UserID     int64     `json:"user_id"`
	CSRF       string    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Source     string    `json:"source"`
	UserAgent  string    `json:"user_agent"`
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// sessionIDLen is how much of the token hash names a session in lists.
const sessionIDLen = 16

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateSession starts a session for a user that expires after ttl without
// use (and after SessionMaxAge in any case). It returns the raw token for the
// cookie and the session's CSRF token.
func (s *Store) CreateSession(ctx context.Context, userID int64, source, userAgent string, now time.Time, ttl time.Duration) (token, csrf string, err error) {
	if token, err = randomToken(); err != nil {
		return "", "", err
	}
	if csrf, err = randomToken(); err != nil {
		return "", "", err
	}
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	expires := now.Add(min(ttl, SessionMaxAge))
	_, err = s.db.ExecContext(ctx, `INSERT INTO sessions(token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, source, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, hashToken(token), userID, csrf, now.Unix(), now.Unix(), expires.Unix(), source, userAgent)
	if err != nil {
		return "", "", fmt.Errorf("create session for user %d: %w", userID, err)
	}
	return token, csrf, nil
}

// SessionUser returns the user and session of a token, or ErrNotFound when
// there is none or it has expired. Use slides the idle expiry on, writing at
// most once a minute.
func (s *Store) SessionUser(ctx context.Context, token string, now time.Time) (User, Session, error) {
	if token == "" {
		return User{}, Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	h := hashToken(token)
	var ss Session
	var created, seen, expires int64
	u, err := scanUser(scanFunc(func(dest ...any) error {
		return s.read.QueryRowContext(ctx, `SELECT `+sessionUserCols+`,
			s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, s.source, s.user_agent
			FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`, h).
			Scan(append(dest, &ss.CSRF, &created, &seen, &expires, &ss.Source, &ss.UserAgent)...)
	}))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, Session{}, fmt.Errorf("read session: %w", err)
	}
	ss.ID, ss.UserID = h[:sessionIDLen], u.ID
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = time.Unix(created, 0), time.Unix(seen, 0), time.Unix(expires, 0)
	limit := ss.CreatedAt.Add(SessionMaxAge)
	if !now.Before(ss.ExpiresAt) || !now.Before(limit) {
		return User{}, Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if now.Sub(ss.LastSeenAt) >= sessionSlide {
		// The idle timeout is what CreateSession set: expiry minus last use.
		idle := ss.ExpiresAt.Sub(ss.LastSeenAt)
		ss.LastSeenAt = time.Unix(now.Unix(), 0)
		if next := ss.LastSeenAt.Add(idle); next.Before(limit) {
			ss.ExpiresAt = next
		} else {
			ss.ExpiresAt = limit
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?`,
			ss.LastSeenAt.Unix(), ss.ExpiresAt.Unix(), h); err != nil {
			return User{}, Session{}, fmt.Errorf("touch session: %w", err)
		}
	}
	return u, ss, nil
}

// scanFunc adapts a function to the Scan interface scanUser takes, so its
// columns can be followed by others.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// sessionUserCols are userCols for the users table aliased u.
const sessionUserCols = `u.id, u.name, u.email, u.password_hash, u.is_admin, u.must_change_password, COALESCE(u.extension, ''), u.locked_until, u.created_at`

// DeleteSession ends the session of a token (logout). Unknown tokens are fine.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, hashToken(token)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of a user except the one whose token
// is keep ("" ends them all), and returns how many ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, keep string) (int, error) {
	keepHash := ""
	if keep != "" {
		keepHash = hashToken(keep)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND token_hash != ?`, userID, keepHash)
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// DeleteSessionByID ends one of a user's sessions by its listed id.
func (s *Store) DeleteSessionByID(ctx context.Context, userID int64, id string) error {
	if len(id) != sessionIDLen {
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND substr(token_hash, 1, ?) = ?`, userID, sessionIDLen, id)
	if err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	return nil
}

// ListSessions lists a user's live sessions, the most recently used first.
func (s *Store) ListSessions(ctx context.Context, userID int64, now time.Time) ([]Session, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT token_hash, created_at, last_seen_at, expires_at, source, user_agent
		FROM sessions WHERE user_id = ? AND expires_at > ? AND created_at > ? ORDER BY last_seen_at DESC`,
		userID, now.Unix(), now.Add(-SessionMaxAge).Unix())
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var ss Session
		var h string
		var created, seen, expires int64
		if err := rows.Scan(&h, &created, &seen, &expires, &ss.Source, &ss.UserAgent); err != nil {
			return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
		}
		ss.ID, ss.UserID = h[:sessionIDLen], userID
		ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = time.Unix(created, 0), time.Unix(seen, 0), time.Unix(expires, 0)
		out = append(out, ss)
	}
	return out, rows.Err()
}

// SessionID is the listed id of the session a token belongs to.
func SessionID(token string) string { return hashToken(token)[:sessionIDLen] }

// DeleteExpiredSessions removes sessions past their expiry, and login
// failures too old to count, and returns how many sessions went.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR created_at <= ?`,
		now.Unix(), now.Add(-SessionMaxAge).Unix())
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM login_failures WHERE at < ?`, now.Add(-24*time.Hour).Unix()); err != nil {
		return int(n), fmt.Errorf("delete old login failures: %w", err)
	}
	return int(n), nil
}

// LoginLimits say when failed logins lock a name or a source address out.
type LoginLimits struct {
	Window       time.Duration // failures count within this window
	MaxPerName   int           // this many failures for one name lock it
	MaxPerSource int           // this many from one source block it
	LockFor      time.Duration // how long a lock lasts
}

// DefaultLoginLimits: 5 failures for a name or 20 from one address within
// 15 minutes lock it for 15 minutes.
var DefaultLoginLimits = LoginLimits{Window: 15 * time.Minute, MaxPerName: 5, MaxPerSource: 20, LockFor: 15 * time.Minute}

// LoginLock says until when a name and a source are locked out (zero: not).
type LoginLock struct {
	NameUntil   time.Time
	SourceUntil time.Time
}

// Locked reports whether either is locked.
func (l LoginLock) Locked() bool { return !l.NameUntil.IsZero() || !l.SourceUntil.IsZero() }

// LoginLocked says whether logins for name (a user name, or what was typed
// for unknown users) or from source are locked out at now. Unknown names
// lock like known ones, so the answer doesn't tell which names exist.
func (s *Store) LoginLocked(ctx context.Context, name, source string, now time.Time, lim LoginLimits) (LoginLock, error) {
	var l LoginLock
	var err error
	if l.NameUntil, err = s.lockedUntil(ctx, "name", name, lim.MaxPerName, now, lim); err != nil {
		return l, err
	}
	var locked int64
	err = s.read.QueryRowContext(ctx, `SELECT locked_until FROM users WHERE name = ? COLLATE NOCASE`, name).Scan(&locked)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("read lockout of %s: %w", name, err)
	}
	if t := time.Unix(locked, 0); locked > 0 && t.After(now) && t.After(l.NameUntil) {
		l.NameUntil = t
	}
	if l.SourceUntil, err = s.lockedUntil(ctx, "source", source, lim.MaxPerSource, now, lim); err != nil {
		return l, err
	}
	return l, nil
}

// lockedUntil: the newest limit failures for a name or source, if they fall
// within the window, lock it for LockFor from the newest of them. No
// failures are recorded while locked, so the newest one started the lock.
func (s *Store) lockedUntil(ctx context.Context, col, value string, limit int, now time.Time, lim LoginLimits) (time.Time, error) {
	if value == "" || limit <= 0 {
		return time.Time{}, nil
	}
	rows, err := s.read.QueryContext(ctx, `SELECT at FROM login_failures WHERE `+col+` = ? AND at > ? ORDER BY at DESC LIMIT ?`,
		value, now.Add(-lim.Window-lim.LockFor).Unix(), limit)
	if err != nil {
		return time.Time{}, fmt.Errorf("count login failures: %w", err)
	}
	defer rows.Close()
	var at []int64
	for rows.Next() {
		var a int64
		if err := rows.Scan(&a); err != nil {
			return time.Time{}, fmt.Errorf("count login failures: %w", err)
		}
		at = append(at, a)
	}
	if err := rows.Err(); err != nil || len(at) < limit {
		return time.Time{}, err
	}
	newest, oldest := time.Unix(at[0], 0), time.Unix(at[len(at)-1], 0)
	if newest.Sub(oldest) > lim.Window {
		return time.Time{}, nil
	}
	until := newest.Add(lim.LockFor)
	if !until.After(now) {
		return time.Time{}, nil
	}
	return until, nil
}

// RecordLoginFailure counts a failed login for name and source, locks the
// user (users.locked_until) when it reaches the limit, and returns the locks
// now in force.
func (s *Store) RecordLoginFailure(ctx context.Context, name, source string, now time.Time, lim LoginLimits) (LoginLock, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO login_failures(name, source, at) VALUES (?, ?, ?)`, name, source, now.Unix()); err != nil {
		return LoginLock{}, fmt.Errorf("record login failure: %w", err)
	}
	l, err := s.LoginLocked(ctx, name, source, now, lim)
	if err != nil {
		return l, err
	}
	if !l.NameUntil.IsZero() {
		if _, err := s.db.ExecContext(ctx, `UPDATE users SET locked_until = ? WHERE name = ? COLLATE NOCASE AND locked_until < ?`,
			l.NameUntil.Unix(), name, l.NameUntil.Unix()); err != nil {
			return l, fmt.Errorf("lock user %s: %w", name, err)
		}
	}
	return l, nil
}

// ClearLoginFailures forgets a name's failed logins and lifts its lock
// (after a successful login, or an admin's unlock).
func (s *Store) ClearLoginFailures(ctx context.Context, name string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM login_failures WHERE name = ? COLLATE NOCASE`, name); err != nil {
		return fmt.Errorf("clear login failures of %s: %w", name, err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET locked_until = 0 WHERE name = ? COLLATE NOCASE AND locked_until != 0`, name); err != nil {
		return fmt.Errorf("unlock user %s: %w", name, err)
	}
	return nil
}
