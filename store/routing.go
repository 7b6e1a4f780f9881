package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// querier is what both *sql.DB and *sql.Tx offer for reads.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// numberOwner says what already uses a dialable number ("extension",
// "voicemail box", "ring group", "queue", "auto attendant"), or "".
// Personal boxes share their extension's number and are not counted.
func numberOwner(ctx context.Context, q querier, number string) (string, error) {
	var what string
	err := q.QueryRowContext(ctx, `
		SELECT 'extension' FROM extensions WHERE number = ?1
		UNION ALL SELECT 'voicemail box' FROM voicemail_boxes WHERE number = ?1 AND kind = 'shared'
		UNION ALL SELECT 'ring group' FROM ring_groups WHERE number = ?1
		UNION ALL SELECT 'queue' FROM queues WHERE number = ?1
		UNION ALL SELECT 'auto attendant' FROM attendants WHERE number = ?1
		LIMIT 1`, number).Scan(&what)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("check number %s: %w", number, err)
	}
	return what, nil
}

// errTaken reports a number already in use.
func errTaken(number, owner string) error {
	article := "a"
	if strings.ContainsAny(owner[:1], "aeiou") {
		article = "an"
	}
	return fmt.Errorf("number %s: %w (%s %s has it)", number, ErrExists, article, owner)
}

// RingGroup rings several extensions for one number.
type RingGroup struct {
	Number      string   `json:"number"`
	Name        string   `json:"name"`
	Strategy    string   `json:"strategy"` // all or order
	RingSeconds int      `json:"ring_seconds"`
	Timeout     int      `json:"timeout"`
	NoAnswer    string   `json:"no_answer"`
	Members     []string `json:"members"` // in ringing order
}

// AddRingGroup stores a new ring group.
func (s *Store) AddRingGroup(ctx context.Context, g RingGroup) error {
	return s.inTx(ctx, "add ring group "+g.Number, func(tx *sql.Tx) error {
		if owner, err := numberOwner(ctx, tx, g.Number); err != nil || owner != "" {
			return errors.Join(err, errTakenIf(g.Number, owner))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ring_groups(number, name, strategy, ring_seconds, timeout, no_answer, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, g.Number, g.Name, g.Strategy, g.RingSeconds, g.Timeout, g.NoAnswer, time.Now().Unix()); err != nil {
			return err
		}
		return setGroupMembers(ctx, tx, g.Number, g.Members)
	})
}

func errTakenIf(number, owner string) error {
	if owner == "" {
		return nil
	}
	return errTaken(number, owner)
}

func setGroupMembers(ctx context.Context, tx *sql.Tx, group string, members []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM ring_group_members WHERE grp = ?`, group); err != nil {
		return err
	}
	for i, m := range members {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ring_group_members(grp, extension, position) VALUES (?, ?, ?)`, group, m, i); err != nil {
			if strings.Contains(err.Error(), "FOREIGN KEY") {
				return fmt.Errorf("member %s: extension %w", m, ErrNotFound)
			}
			return err
		}
	}
	return nil
}

// UpdateRingGroup replaces a ring group's settings and members.
func (s *Store) UpdateRingGroup(ctx context.Context, g RingGroup) error {
	return s.inTx(ctx, "update ring group "+g.Number, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE ring_groups SET name = ?, strategy = ?, ring_seconds = ?, timeout = ?, no_answer = ? WHERE number = ?`,
			g.Name, g.Strategy, g.RingSeconds, g.Timeout, g.NoAnswer, g.Number)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("ring group %s: %w", g.Number, ErrNotFound)
		}
		return setGroupMembers(ctx, tx, g.Number, g.Members)
	})
}

// RingGroup returns one ring group, or ErrNotFound.
func (s *Store) RingGroup(ctx context.Context, number string) (RingGroup, error) {
	var g RingGroup
	err := s.read.QueryRowContext(ctx, `SELECT number, name, strategy, ring_seconds, timeout, no_answer FROM ring_groups WHERE number = ?`, number).
		Scan(&g.Number, &g.Name, &g.Strategy, &g.RingSeconds, &g.Timeout, &g.NoAnswer)
	if errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("ring group %s: %w", number, ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("read ring group %s: %w", number, err)
	}
	g.Members, err = s.strings(ctx, "members of "+number, `SELECT extension FROM ring_group_members WHERE grp = ? ORDER BY position`, number)
	return g, err
}

// RingGroups lists every ring group.
func (s *Store) RingGroups(ctx context.Context) ([]RingGroup, error) {
	return listEach(ctx, s, "ring_groups", s.RingGroup)
}

// listEach reads every row of a table keyed by a dialable number, in number
// order, through the function that reads one (with its members).
func listEach[T any](ctx context.Context, s *Store, table string, one func(context.Context, string) (T, error)) ([]T, error) {
	numbers, err := s.strings(ctx, "list "+table, `SELECT number FROM `+table+` ORDER BY length(number), number`)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(numbers))
	for _, n := range numbers {
		v, err := one(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// RemoveRingGroup deletes a ring group.
func (s *Store) RemoveRingGroup(ctx context.Context, number string) error {
	return s.removeRow(ctx, "ring_groups", "number", number, "ring group")
}

// removeRow deletes one row by key, ErrNotFound when there was none.
func (s *Store) removeRow(ctx context.Context, table, key, value, what string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+key+` = ?`, value)
	if err != nil {
		return fmt.Errorf("remove %s %s: %w", what, value, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s %s: %w", what, value, ErrNotFound)
	}
	return nil
}

// inTx runs f in a write transaction.
func (s *Store) inTx(ctx context.Context, what string, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%s: %w", what, ErrExists)
		}
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) {
			return err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Trunk is a SIP connection to a provider.
type Trunk struct {
	Name         string `json:"name"`
	Mode         string `json:"mode"` // register or peer
	Host         string `json:"host"`
	Transport    string `json:"transport"`
	Username     string `json:"username,omitempty"`
	Password     string `json:"-"`
	AuthUsername string `json:"auth_username,omitempty"`
	CallerID     string `json:"caller_id,omitempty"`
	Codecs       string `json:"codecs"`
	AllowFrom    string `json:"allow_from,omitempty"`
	Expires      int    `json:"expires"`
}

const trunkColumns = `name, mode, host, transport, username, password, auth_username, caller_id, codecs, allow_from, expires`

func scanTrunk(row interface{ Scan(...any) error }) (Trunk, error) {
	var t Trunk
	err := row.Scan(&t.Name, &t.Mode, &t.Host, &t.Transport, &t.Username, &t.Password, &t.AuthUsername, &t.CallerID, &t.Codecs, &t.AllowFrom, &t.Expires)
	return t, err
}

// SaveTrunk adds a trunk, or replaces the settings of one with the same name
// when replace is set (keeping its dial rules: INSERT OR REPLACE would delete
// the row and, through the foreign key, every rule using the trunk).
func (s *Store) SaveTrunk(ctx context.Context, t Trunk, replace bool) error {
	upsert := ""
	if replace {
		upsert = ` ON CONFLICT(name) DO UPDATE SET mode = excluded.mode, host = excluded.host, transport = excluded.transport,
			username = excluded.username, password = excluded.password, auth_username = excluded.auth_username,
			caller_id = excluded.caller_id, codecs = excluded.codecs, allow_from = excluded.allow_from, expires = excluded.expires`
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO trunks(`+trunkColumns+`, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+upsert,
		t.Name, t.Mode, t.Host, t.Transport, t.Username, t.Password, t.AuthUsername, t.CallerID, t.Codecs, t.AllowFrom, t.Expires, time.Now().Unix())
	if isUniqueViolation(err) {
		return fmt.Errorf("trunk %s: %w", t.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("save trunk %s: %w", t.Name, err)
	}
	return nil
}

// Trunk returns one trunk, or ErrNotFound.
func (s *Store) Trunk(ctx context.Context, name string) (Trunk, error) {
	t, err := scanTrunk(s.read.QueryRowContext(ctx, `SELECT `+trunkColumns+` FROM trunks WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("trunk %s: %w", name, ErrNotFound)
	}
	return t, err
}

// Trunks lists every trunk.
func (s *Store) Trunks(ctx context.Context) ([]Trunk, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+trunkColumns+` FROM trunks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list trunks: %w", err)
	}
	defer rows.Close()
	var out []Trunk
	for rows.Next() {
		t, err := scanTrunk(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RemoveTrunk deletes a trunk and its dial rules.
func (s *Store) RemoveTrunk(ctx context.Context, name string) error {
	return s.removeRow(ctx, "trunks", "name", name, "trunk")
}

// InboundNumber maps a number arriving on a trunk to a destination.
type InboundNumber struct {
	Number         string `json:"number"`
	Dest           string `json:"dest"`
	Schedule       string `json:"schedule,omitempty"`
	AfterHoursDest string `json:"after_hours_dest,omitempty"`
}

// SaveInboundNumber adds or replaces an inbound number.
func (s *Store) SaveInboundNumber(ctx context.Context, n InboundNumber) error {
	var schedule any
	if n.Schedule != "" {
		schedule = n.Schedule
	}
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO inbound_numbers(number, dest, schedule, after_hours_dest, created_at) VALUES (?, ?, ?, ?, ?)`,
		n.Number, n.Dest, schedule, n.AfterHoursDest, time.Now().Unix())
	if err != nil {
		if strings.Contains(err.Error(), "FOREIGN KEY") {
			return fmt.Errorf("schedule %s: %w", n.Schedule, ErrNotFound)
		}
		return fmt.Errorf("save inbound number %s: %w", n.Number, err)
	}
	return nil
}

// InboundNumber returns one inbound number, or ErrNotFound.
func (s *Store) InboundNumber(ctx context.Context, number string) (InboundNumber, error) {
	var n InboundNumber
	err := s.read.QueryRowContext(ctx, `SELECT number, dest, COALESCE(schedule, ''), after_hours_dest FROM inbound_numbers WHERE number = ?`, number).
		Scan(&n.Number, &n.Dest, &n.Schedule, &n.AfterHoursDest)
	if errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("inbound number %s: %w", number, ErrNotFound)
	}
	return n, err
}

// InboundNumbers lists every inbound number.
func (s *Store) InboundNumbers(ctx context.Context) ([]InboundNumber, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT number, dest, COALESCE(schedule, ''), after_hours_dest FROM inbound_numbers ORDER BY number`)
	if err != nil {
		return nil, fmt.Errorf("list inbound numbers: %w", err)
	}
	defer rows.Close()
	var out []InboundNumber
	for rows.Next() {
		var n InboundNumber
		if err := rows.Scan(&n.Number, &n.Dest, &n.Schedule, &n.AfterHoursDest); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// RemoveInboundNumber deletes an inbound number.
func (s *Store) RemoveInboundNumber(ctx context.Context, number string) error {
	return s.removeRow(ctx, "inbound_numbers", "number", number, "inbound number")
}

// DialRule sends dialled numbers starting with Prefix out through Trunk.
type DialRule struct {
	Prefix  string `json:"prefix"`
	Trunk   string `json:"trunk"`
	Strip   int    `json:"strip"`
	Prepend string `json:"prepend"`
	Class   string `json:"class"` // local, national, international, emergency
}

// SaveDialRule adds or replaces the rule for a prefix.
func (s *Store) SaveDialRule(ctx context.Context, r DialRule) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO dial_rules(prefix, trunk, strip, prepend, class) VALUES (?, ?, ?, ?, ?)`,
		r.Prefix, r.Trunk, r.Strip, r.Prepend, r.Class)
	if err != nil {
		if strings.Contains(err.Error(), "FOREIGN KEY") {
			return fmt.Errorf("trunk %s: %w", r.Trunk, ErrNotFound)
		}
		return fmt.Errorf("save dial rule %q: %w", r.Prefix, err)
	}
	return nil
}

// DialRules lists the rules, longest prefix first (the order they are tried in).
func (s *Store) DialRules(ctx context.Context) ([]DialRule, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT prefix, trunk, strip, prepend, class FROM dial_rules ORDER BY length(prefix) DESC, prefix`)
	if err != nil {
		return nil, fmt.Errorf("list dial rules: %w", err)
	}
	defer rows.Close()
	var out []DialRule
	for rows.Next() {
		var r DialRule
		if err := rows.Scan(&r.Prefix, &r.Trunk, &r.Strip, &r.Prepend, &r.Class); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RemoveDialRule deletes the rule for a prefix.
func (s *Store) RemoveDialRule(ctx context.Context, prefix string) error {
	return s.removeRow(ctx, "dial_rules", "prefix", prefix, "dial rule")
}
