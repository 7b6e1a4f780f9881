package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DefaultRingSeconds is how long an extension rings before a call counts as
// unanswered, unless the extension says otherwise.
const DefaultRingSeconds = 25

// Extension is a dialable number with a SIP account.
type Extension struct {
	Number      string `json:"number"`
	Name        string `json:"name"`
	Realm       string `json:"-"`
	HA1MD5      string `json:"-"`
	HA1SHA256   string `json:"-"`
	RingSeconds int    `json:"ring_seconds"`
	// Voicemail says whether the extension has a personal box.
	Voicemail bool `json:"voicemail"`
	// Forwards for unanswered calls: a destination such as vm:600, or "" for
	// the extension's own box (when it has one).
	ForwardNoAnswer    string `json:"forward_no_answer,omitempty"`
	ForwardBusy        string `json:"forward_busy,omitempty"`
	ForwardUnavailable string `json:"forward_unavailable,omitempty"`
	// Outbound is what the extension may dial out to: internal, local,
	// national or international (emergency numbers always).
	Outbound  string    `json:"outbound"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const extensionColumns = `number, name, realm, ha1_md5, ha1_sha256, ring_seconds, voicemail, forward_no_answer, forward_busy, forward_unavailable, outbound, created_at, updated_at`

func scanExtension(row interface{ Scan(...any) error }) (Extension, error) {
	var e Extension
	var created, updated int64
	err := row.Scan(&e.Number, &e.Name, &e.Realm, &e.HA1MD5, &e.HA1SHA256, &e.RingSeconds, &e.Voicemail,
		&e.ForwardNoAnswer, &e.ForwardBusy, &e.ForwardUnavailable, &e.Outbound, &created, &updated)
	e.CreatedAt, e.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	return e, err
}

// AddExtension stores a new extension and, when e.Voicemail is set, its
// personal box with the given PIN hash; ErrExists if the number is taken by
// an extension or a shared box.
func (s *Store) AddExtension(ctx context.Context, e Extension, pinHash string) error {
	if e.RingSeconds == 0 {
		e.RingSeconds = DefaultRingSeconds
	}
	if e.Outbound == "" {
		e.Outbound = "national"
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add extension %s: %w", e.Number, err)
	}
	defer tx.Rollback()
	if owner, err := numberOwner(ctx, tx, e.Number); err != nil {
		return err
	} else if owner != "" {
		return errTaken(e.Number, owner)
	}
	now := time.Now().Unix()
	_, err = tx.ExecContext(ctx, `INSERT INTO extensions(`+extensionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Number, e.Name, e.Realm, e.HA1MD5, e.HA1SHA256, e.RingSeconds, e.Voicemail,
		e.ForwardNoAnswer, e.ForwardBusy, e.ForwardUnavailable, e.Outbound, now, now)
	if isUniqueViolation(err) {
		return fmt.Errorf("extension %s: %w", e.Number, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add extension %s: %w", e.Number, err)
	}
	if e.Voicemail {
		if err := insertBox(ctx, tx, Box{Number: e.Number, Name: e.Name, Kind: BoxPersonal, Owner: e.Number, PINHash: pinHash}); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add extension %s: %w", e.Number, err)
	}
	return nil
}

// Extension returns one extension, or ErrNotFound.
func (s *Store) Extension(ctx context.Context, number string) (Extension, error) {
	e, err := scanExtension(s.read.QueryRowContext(ctx, `SELECT `+extensionColumns+` FROM extensions WHERE number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return Extension{}, fmt.Errorf("extension %s: %w", number, ErrNotFound)
	}
	if err != nil {
		return Extension{}, fmt.Errorf("read extension %s: %w", number, err)
	}
	return e, nil
}

// ExtensionCredentials returns just the stored digest hashes of an
// extension, or ErrNotFound: what every authenticated REGISTER reads. It is
// Extension cut to three columns, as SQLite parses every query afresh and a
// shorter one costs less.
func (s *Store) ExtensionCredentials(ctx context.Context, number string) (Credentials, error) {
	var c Credentials
	err := s.read.QueryRowContext(ctx, `SELECT realm, ha1_md5, ha1_sha256 FROM extensions WHERE number = ?`, number).
		Scan(&c.Realm, &c.HA1MD5, &c.HA1SHA256)
	if errors.Is(err, sql.ErrNoRows) {
		return Credentials{}, fmt.Errorf("extension %s: %w", number, ErrNotFound)
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("read extension %s: %w", number, err)
	}
	return c, nil
}

// ExtensionExists tells whether an extension exists.
func (s *Store) ExtensionExists(ctx context.Context, number string) (bool, error) {
	var one int
	err := s.read.QueryRowContext(ctx, `SELECT 1 FROM extensions WHERE number = ?`, number).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read extension %s: %w", number, err)
	}
	return true, nil
}

// Extensions lists every extension ordered by number.
func (s *Store) Extensions(ctx context.Context) ([]Extension, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+extensionColumns+` FROM extensions ORDER BY length(number), number`)
	if err != nil {
		return nil, fmt.Errorf("list extensions: %w", err)
	}
	defer rows.Close()
	var out []Extension
	for rows.Next() {
		e, err := scanExtension(rows)
		if err != nil {
			return nil, fmt.Errorf("list extensions: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ExtensionUpdate holds the fields to change; nil means leave as is.
type ExtensionUpdate struct {
	Name        *string
	RingSeconds *int
	// Credentials replaces the secret hashes (all three set together).
	Credentials *Credentials
	// Forwards: a destination, or "" for the extension's own box.
	ForwardNoAnswer, ForwardBusy, ForwardUnavailable *string
	Outbound                                         *string
}

// Credentials are the stored digest hashes of an extension's secret.
type Credentials struct {
	Realm, HA1MD5, HA1SHA256 string
}

// UpdateExtension changes an extension; ErrNotFound if it doesn't exist.
func (s *Store) UpdateExtension(ctx context.Context, number string, u ExtensionUpdate) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update extension %s: %w", number, err)
	}
	defer tx.Rollback()
	e, err := scanExtension(tx.QueryRowContext(ctx, `SELECT `+extensionColumns+` FROM extensions WHERE number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("extension %s: %w", number, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update extension %s: %w", number, err)
	}
	if u.Name != nil {
		e.Name = *u.Name
	}
	if u.RingSeconds != nil {
		e.RingSeconds = *u.RingSeconds
	}
	if c := u.Credentials; c != nil {
		e.Realm, e.HA1MD5, e.HA1SHA256 = c.Realm, c.HA1MD5, c.HA1SHA256
	}
	for _, f := range []struct{ dst, src *string }{
		{&e.ForwardNoAnswer, u.ForwardNoAnswer}, {&e.ForwardBusy, u.ForwardBusy}, {&e.ForwardUnavailable, u.ForwardUnavailable},
		{&e.Outbound, u.Outbound},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE extensions SET name = ?, realm = ?, ha1_md5 = ?, ha1_sha256 = ?, ring_seconds = ?,
		forward_no_answer = ?, forward_busy = ?, forward_unavailable = ?, outbound = ?, updated_at = ?
		WHERE number = ?`, e.Name, e.Realm, e.HA1MD5, e.HA1SHA256, e.RingSeconds,
		e.ForwardNoAnswer, e.ForwardBusy, e.ForwardUnavailable, e.Outbound, time.Now().Unix(), number)
	if err != nil {
		return fmt.Errorf("update extension %s: %w", number, err)
	}
	if u.Credentials != nil {
		// A new secret logs out every device registered with the old one.
		if _, err := tx.ExecContext(ctx, `DELETE FROM bindings WHERE extension = ?`, number); err != nil {
			return fmt.Errorf("update extension %s: drop old registrations: %w", number, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update extension %s: %w", number, err)
	}
	return nil
}

// RemoveExtension deletes an extension and its registrations.
func (s *Store) RemoveExtension(ctx context.Context, number string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM extensions WHERE number = ?`, number)
	if err != nil {
		return fmt.Errorf("remove extension %s: %w", number, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("extension %s: %w", number, ErrNotFound)
	}
	return nil
}

// SetVoicemail turns an extension's personal box on or off. Turning it on
// creates the box (with pinHash) when it doesn't exist yet, and reports so;
// turning it off only stops calls going there, so no message is lost.
func (s *Store) SetVoicemail(ctx context.Context, number string, on bool, pinHash string) (created bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("voicemail of %s: %w", number, err)
	}
	defer tx.Rollback()
	e, err := scanExtension(tx.QueryRowContext(ctx, `SELECT `+extensionColumns+` FROM extensions WHERE number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("extension %s: %w", number, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("voicemail of %s: %w", number, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE extensions SET voicemail = ?, updated_at = ? WHERE number = ?`, on, time.Now().Unix(), number); err != nil {
		return false, fmt.Errorf("voicemail of %s: %w", number, err)
	}
	if on {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM voicemail_boxes WHERE owner = ?`, number).Scan(&n); err != nil {
			return false, fmt.Errorf("voicemail of %s: %w", number, err)
		}
		if n == 0 {
			if err := insertBox(ctx, tx, Box{Number: number, Name: e.Name, Kind: BoxPersonal, Owner: number, PINHash: pinHash}); err != nil {
				return false, err
			}
			created = true
		}
	}
	return created, tx.Commit()
}
