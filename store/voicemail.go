package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Box kinds.
const (
	BoxShared   = "shared"
	BoxPersonal = "personal"
)

// Member access levels, each including the ones before it.
var AccessLevels = []string{"listen", "download", "delete", "manage"}

// Box is a voicemail box.
type Box struct {
	Number         string    `json:"number"`
	Name           string    `json:"name"`
	Kind           string    `json:"kind"`
	Owner          string    `json:"owner,omitempty"`
	Language       string    `json:"language"`
	PINHash        string    `json:"-"`
	HasPIN         bool      `json:"has_pin"`
	Emails         []string  `json:"emails"`
	EmailAttach    bool      `json:"email_attach"`
	Greeting       string    `json:"greeting,omitempty"`
	Operator       string    `json:"operator,omitempty"`
	MaxSeconds     int       `json:"max_seconds"`
	SilenceSeconds int       `json:"silence_seconds"`
	LockedUntil    time.Time `json:"locked_until,omitzero"`
	Transcribe     bool      `json:"transcribe"`
	TranscribeLang string    `json:"transcribe_language"` // auto or a language code
	Members        []Member  `json:"members,omitempty"`
}

// Member is an extension's access to a shared box.
type Member struct {
	Extension string `json:"extension"`
	Access    string `json:"access"`
	Lamp      bool   `json:"lamp"`
}

const boxColumns = `number, name, kind, COALESCE(owner, ''), language, pin_hash, emails, email_attach, greeting, operator, max_seconds, silence_seconds, locked_until, transcribe, transcribe_language`

func scanBox(row interface{ Scan(...any) error }) (Box, error) {
	var b Box
	var emails string
	var locked int64
	err := row.Scan(&b.Number, &b.Name, &b.Kind, &b.Owner, &b.Language, &b.PINHash, &emails, &b.EmailAttach, &b.Greeting, &b.Operator,
		&b.MaxSeconds, &b.SilenceSeconds, &locked, &b.Transcribe, &b.TranscribeLang)
	b.HasPIN = b.PINHash != ""
	b.Emails = splitList(emails)
	if locked > 0 {
		b.LockedUntil = time.Unix(locked, 0).UTC()
	}
	return b, err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// AddBox stores a new shared box with its members.
func (s *Store) AddBox(ctx context.Context, b Box) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add box %s: %w", b.Number, err)
	}
	defer tx.Rollback()
	if owner, err := numberOwner(ctx, tx, b.Number); err != nil {
		return err
	} else if owner != "" {
		return errTaken(b.Number, owner)
	}
	if err := insertBox(ctx, tx, b); err != nil {
		return err
	}
	for _, m := range b.Members {
		if err := upsertMember(ctx, tx, b.Number, m); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func insertBox(ctx context.Context, tx *sql.Tx, b Box) error {
	if b.MaxSeconds == 0 {
		b.MaxSeconds = 180
	}
	if b.SilenceSeconds == 0 {
		b.SilenceSeconds = 5
	}
	if b.Language == "" {
		b.Language = "en"
	}
	var owner any
	if b.Owner != "" {
		owner = b.Owner
	}
	now := time.Now().Unix()
	_, err := tx.ExecContext(ctx, `INSERT INTO voicemail_boxes(number, name, kind, owner, language, pin_hash, emails, email_attach, greeting, operator, max_seconds, silence_seconds, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.Number, b.Name, b.Kind, owner, b.Language, b.PINHash, strings.Join(b.Emails, ","), b.EmailAttach || len(b.Emails) == 0, b.Greeting, b.Operator, b.MaxSeconds, b.SilenceSeconds, now, now)
	if isUniqueViolation(err) {
		return fmt.Errorf("voicemail box %s: %w", b.Number, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add voicemail box %s: %w", b.Number, err)
	}
	return nil
}

func upsertMember(ctx context.Context, tx *sql.Tx, box string, m Member) error {
	if m.Access == "" {
		m.Access = "listen"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO box_members(box, extension, access, lamp) VALUES (?, ?, ?, ?)
		ON CONFLICT(box, extension) DO UPDATE SET access = excluded.access, lamp = excluded.lamp`, box, m.Extension, m.Access, m.Lamp)
	if err != nil {
		if strings.Contains(err.Error(), "FOREIGN KEY") {
			return fmt.Errorf("member %s: extension %w", m.Extension, ErrNotFound)
		}
		return fmt.Errorf("add member %s to box %s: %w", m.Extension, box, err)
	}
	return nil
}

// Box returns one box with its members, or ErrNotFound.
func (s *Store) Box(ctx context.Context, number string) (Box, error) {
	b, err := scanBox(s.read.QueryRowContext(ctx, `SELECT `+boxColumns+` FROM voicemail_boxes WHERE number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return Box{}, fmt.Errorf("voicemail box %s: %w", number, ErrNotFound)
	}
	if err != nil {
		return Box{}, fmt.Errorf("read voicemail box %s: %w", number, err)
	}
	b.Members, err = s.members(ctx, number)
	return b, err
}

func (s *Store) members(ctx context.Context, box string) ([]Member, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT extension, access, lamp FROM box_members WHERE box = ? ORDER BY extension`, box)
	if err != nil {
		return nil, fmt.Errorf("members of box %s: %w", box, err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.Extension, &m.Access, &m.Lamp); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Boxes lists every box, shared ones first.
func (s *Store) Boxes(ctx context.Context) ([]Box, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+boxColumns+` FROM voicemail_boxes ORDER BY kind DESC, length(number), number`)
	if err != nil {
		return nil, fmt.Errorf("list voicemail boxes: %w", err)
	}
	var out []Box
	for rows.Next() {
		b, err := scanBox(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Members, err = s.members(ctx, out[i].Number); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PersonalBox returns the personal box of an extension, or ErrNotFound.
func (s *Store) PersonalBox(ctx context.Context, extension string) (Box, error) {
	b, err := scanBox(s.read.QueryRowContext(ctx, `SELECT `+boxColumns+` FROM voicemail_boxes WHERE owner = ?`, extension))
	if errors.Is(err, sql.ErrNoRows) {
		return Box{}, fmt.Errorf("personal voicemail box of %s: %w", extension, ErrNotFound)
	}
	return b, err
}

// BoxUpdate holds the fields to change; nil leaves a field as it is.
type BoxUpdate struct {
	Name, Language, PINHash, Greeting, Operator *string
	Emails                                      *[]string
	EmailAttach, Transcribe                     *bool
	TranscribeLang                              *string
	MaxSeconds, SilenceSeconds                  *int
}

// UpdateBox changes a box.
func (s *Store) UpdateBox(ctx context.Context, number string, u BoxUpdate) error {
	sets := []string{}
	args := []any{}
	add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
	if u.Name != nil {
		add("name", *u.Name)
	}
	if u.Language != nil {
		add("language", *u.Language)
	}
	if u.PINHash != nil {
		add("pin_hash", *u.PINHash)
	}
	if u.Greeting != nil {
		add("greeting", *u.Greeting)
	}
	if u.Operator != nil {
		add("operator", *u.Operator)
	}
	if u.Emails != nil {
		add("emails", strings.Join(*u.Emails, ","))
	}
	if u.EmailAttach != nil {
		add("email_attach", *u.EmailAttach)
	}
	if u.MaxSeconds != nil {
		add("max_seconds", *u.MaxSeconds)
	}
	if u.Transcribe != nil {
		add("transcribe", *u.Transcribe)
	}
	if u.TranscribeLang != nil {
		add("transcribe_language", *u.TranscribeLang)
	}
	if u.SilenceSeconds != nil {
		add("silence_seconds", *u.SilenceSeconds)
	}
	if len(sets) == 0 {
		return nil
	}
	add("updated_at", time.Now().Unix())
	args = append(args, number)
	res, err := s.db.ExecContext(ctx, `UPDATE voicemail_boxes SET `+strings.Join(sets, ", ")+` WHERE number = ?`, args...)
	if err != nil {
		return fmt.Errorf("update voicemail box %s: %w", number, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("voicemail box %s: %w", number, ErrNotFound)
	}
	return nil
}

// RemoveBox deletes a box and its messages' rows (the caller removes files).
func (s *Store) RemoveBox(ctx context.Context, number string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM voicemail_boxes WHERE number = ?`, number)
	if err != nil {
		return fmt.Errorf("remove voicemail box %s: %w", number, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("voicemail box %s: %w", number, ErrNotFound)
	}
	return nil
}

// SetMembers adds or updates members of a box.
func (s *Store) SetMembers(ctx context.Context, box string, ms []Member) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, m := range ms {
		if err := upsertMember(ctx, tx, box, m); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// RemoveMembers removes extensions from a box.
func (s *Store) RemoveMembers(ctx context.Context, box string, extensions []string) error {
	for _, e := range extensions {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM box_members WHERE box = ? AND extension = ?`, box, e); err != nil {
			return fmt.Errorf("remove member %s from box %s: %w", e, box, err)
		}
	}
	return nil
}

// BoxesOf lists the boxes whose lamp an extension shows: its own and the
// shared boxes it is a member of with the lamp on.
func (s *Store) BoxesOf(ctx context.Context, extension string) ([]string, error) {
	return s.strings(ctx, "boxes of "+extension, `SELECT number FROM voicemail_boxes WHERE owner = ?1
		UNION SELECT box FROM box_members WHERE extension = ?1 AND lamp = 1`, extension)
}

// LampWatchers lists the extensions whose lamp shows a box.
func (s *Store) LampWatchers(ctx context.Context, box string) ([]string, error) {
	return s.strings(ctx, "lamp watchers of "+box, `SELECT owner FROM voicemail_boxes WHERE number = ?1 AND owner IS NOT NULL
		UNION SELECT extension FROM box_members WHERE box = ?1 AND lamp = 1`, box)
}

// strings runs a query whose rows are one string each.
func (s *Store) strings(ctx context.Context, what, query string, args ...any) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Audit writes one audit-log row.
func (s *Store) Audit(ctx context.Context, actor, action, box string, messageID int64, detail string) error {
	var mid any
	if messageID != 0 {
		mid = messageID
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit_log(at, actor, action, box, message_id, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		time.Now().UnixMilli(), actor, action, box, mid, detail)
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", actor, action, err)
	}
	return nil
}

// AuditEntry is one audit-log row.
type AuditEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Box       string    `json:"box,omitempty"`
	MessageID int64     `json:"message_id,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// AuditLog lists the newest audit rows first.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return scanAudit(rows)
}

// RecordPINFailure counts a wrong PIN and returns how many failures the box
// had within window (this one included).
func (s *Store) RecordPINFailure(ctx context.Context, box, source string, now time.Time, window time.Duration) (int, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO pin_failures(box, at, source) VALUES (?, ?, ?)`, box, now.Unix(), source); err != nil {
		return 0, fmt.Errorf("record wrong PIN for %s: %w", box, err)
	}
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pin_failures WHERE box = ? AND at > ?`, box, now.Add(-window).Unix()).Scan(&n)
	return n, err
}

// LockBox locks a box against PIN entry until the given time and forgets the
// failures that led to it.
func (s *Store) LockBox(ctx context.Context, box string, until time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE voicemail_boxes SET locked_until = ? WHERE number = ?`, until.Unix(), box); err != nil {
		return fmt.Errorf("lock box %s: %w", box, err)
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM pin_failures WHERE box = ?`, box)
	return err
}

// ClearPINFailures forgets a box's wrong PINs after a right one.
func (s *Store) ClearPINFailures(ctx context.Context, box string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM pin_failures WHERE box = ?`, box)
	return err
}
