package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Schedule is a weekly set of opening hours with holidays, in a time zone.
type Schedule struct {
	Name     string      `json:"name"`
	Timezone string      `json:"timezone"`
	Hours    []OpenHours `json:"hours"`
	Holidays []string    `json:"holidays"` // YYYY-MM-DD
}

// OpenHours is one opening span on one weekday (0 = Sunday), "HH:MM".
type OpenHours struct {
	Weekday int    `json:"weekday"`
	Opens   string `json:"opens"`
	Closes  string `json:"closes"`
}

// SaveSchedule adds or replaces a schedule with its hours and holidays.
func (s *Store) SaveSchedule(ctx context.Context, sc Schedule) error {
	return s.inTx(ctx, "save schedule "+sc.Name, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO schedules(name, timezone) VALUES (?, ?)
			ON CONFLICT(name) DO UPDATE SET timezone = excluded.timezone`, sc.Name, sc.Timezone); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM schedule_hours WHERE schedule = ?`, `DELETE FROM schedule_holidays WHERE schedule = ?`} {
			if _, err := tx.ExecContext(ctx, q, sc.Name); err != nil {
				return err
			}
		}
		for _, h := range sc.Hours {
			if _, err := tx.ExecContext(ctx, `INSERT INTO schedule_hours(schedule, weekday, opens, closes) VALUES (?, ?, ?, ?)`, sc.Name, h.Weekday, h.Opens, h.Closes); err != nil {
				return err
			}
		}
		for _, d := range sc.Holidays {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO schedule_holidays(schedule, day) VALUES (?, ?)`, sc.Name, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// Schedule returns one schedule, or ErrNotFound.
func (s *Store) Schedule(ctx context.Context, name string) (Schedule, error) {
	sc := Schedule{Name: name}
	err := s.read.QueryRowContext(ctx, `SELECT timezone FROM schedules WHERE name = ?`, name).Scan(&sc.Timezone)
	if errors.Is(err, sql.ErrNoRows) {
		return sc, fmt.Errorf("schedule %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return sc, fmt.Errorf("read schedule %s: %w", name, err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT weekday, opens, closes FROM schedule_hours WHERE schedule = ? ORDER BY weekday, opens`, name)
	if err != nil {
		return sc, fmt.Errorf("read schedule %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var h OpenHours
		if err := rows.Scan(&h.Weekday, &h.Opens, &h.Closes); err != nil {
			return sc, err
		}
		sc.Hours = append(sc.Hours, h)
	}
	if err := rows.Err(); err != nil {
		return sc, err
	}
	sc.Holidays, err = s.strings(ctx, "holidays of "+name, `SELECT day FROM schedule_holidays WHERE schedule = ? ORDER BY day`, name)
	return sc, err
}

// Schedules lists the names of every schedule.
func (s *Store) Schedules(ctx context.Context) ([]string, error) {
	return s.strings(ctx, "list schedules", `SELECT name FROM schedules ORDER BY name`)
}

// RemoveSchedule deletes a schedule; attendants and numbers using it fall
// back to always open.
func (s *Store) RemoveSchedule(ctx context.Context, name string) error {
	return s.removeRow(ctx, "schedules", "name", name, "schedule")
}

// Attendant is an auto attendant (virtual receptionist).
type Attendant struct {
	Number             string            `json:"number"`
	Name               string            `json:"name"`
	Greeting           string            `json:"greeting,omitempty"`
	TimeoutDest        string            `json:"timeout_dest,omitempty"`
	InvalidDest        string            `json:"invalid_dest,omitempty"`
	Schedule           string            `json:"schedule,omitempty"`
	AfterHoursDest     string            `json:"after_hours_dest,omitempty"`
	AfterHoursGreeting string            `json:"after_hours_greeting,omitempty"`
	Options            map[string]string `json:"options"` // digit -> destination, "dial-by-extension" or "repeat"
}

// SaveAttendant adds (replace false) or replaces an attendant with its options.
func (s *Store) SaveAttendant(ctx context.Context, a Attendant, replace bool) error {
	return s.inTx(ctx, "save attendant "+a.Number, func(tx *sql.Tx) error {
		var schedule any
		if a.Schedule != "" {
			schedule = a.Schedule
		}
		if replace {
			res, err := tx.ExecContext(ctx, `UPDATE attendants SET name = ?, greeting = ?, timeout_dest = ?, invalid_dest = ?, schedule = ?,
				after_hours_dest = ?, after_hours_greeting = ? WHERE number = ?`,
				a.Name, a.Greeting, a.TimeoutDest, a.InvalidDest, schedule, a.AfterHoursDest, a.AfterHoursGreeting, a.Number)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("auto attendant %s: %w", a.Number, ErrNotFound)
			}
		} else {
			if owner, err := numberOwner(ctx, tx, a.Number); err != nil || owner != "" {
				return errors.Join(err, errTakenIf(a.Number, owner))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO attendants(number, name, greeting, timeout_dest, invalid_dest, schedule, after_hours_dest, after_hours_greeting, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.Number, a.Name, a.Greeting, a.TimeoutDest, a.InvalidDest, schedule,
				a.AfterHoursDest, a.AfterHoursGreeting, time.Now().Unix()); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM attendant_options WHERE attendant = ?`, a.Number); err != nil {
			return err
		}
		for digit, dest := range a.Options {
			if _, err := tx.ExecContext(ctx, `INSERT INTO attendant_options(attendant, digit, dest) VALUES (?, ?, ?)`, a.Number, digit, dest); err != nil {
				return err
			}
		}
		return nil
	})
}

// Attendant returns one attendant, or ErrNotFound.
func (s *Store) Attendant(ctx context.Context, number string) (Attendant, error) {
	a := Attendant{Options: map[string]string{}}
	err := s.read.QueryRowContext(ctx, `SELECT number, name, greeting, timeout_dest, invalid_dest, COALESCE(schedule, ''), after_hours_dest, after_hours_greeting
		FROM attendants WHERE number = ?`, number).Scan(&a.Number, &a.Name, &a.Greeting, &a.TimeoutDest, &a.InvalidDest, &a.Schedule, &a.AfterHoursDest, &a.AfterHoursGreeting)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("auto attendant %s: %w", number, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("read auto attendant %s: %w", number, err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT digit, dest FROM attendant_options WHERE attendant = ?`, number)
	if err != nil {
		return a, err
	}
	defer rows.Close()
	for rows.Next() {
		var d, dest string
		if err := rows.Scan(&d, &dest); err != nil {
			return a, err
		}
		a.Options[d] = dest
	}
	return a, rows.Err()
}

// Attendants lists every attendant.
func (s *Store) Attendants(ctx context.Context) ([]Attendant, error) {
	return listEach(ctx, s, "attendants", s.Attendant)
}

// RemoveAttendant deletes an attendant.
func (s *Store) RemoveAttendant(ctx context.Context, number string) error {
	return s.removeRow(ctx, "attendants", "number", number, "auto attendant")
}
