// Package store owns Frontdesk's persistent state: the SQLite schema and its
// embedded migrations, and every query the rest of the program runs. No SQL
// lives outside this package.
//
// The database is one SQLite file in WAL mode with foreign keys on and a busy
// timeout, so the server and CLI commands run against the same file at once:
// a change the CLI makes is seen by the running server on its next query.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, keeps CGO_ENABLED=0 builds
)

// FileName is the database file's name inside the data directory.
const FileName = "frontdesk.db"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Common errors callers test for with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Store is a handle on the database. It is safe for concurrent use.
//
// Writes go through one connection: SQLite allows one writer at a time, and
// queueing writers in Go is far cheaper than letting several connections
// wait on SQLite's busy handler, which sleeps and collapses under load.
// Reads use a pool of read-only connections; in WAL mode they never wait
// for the writer.
type Store struct {
	db   *sql.DB // the writer
	read *sql.DB // readers
	path string

	changes changes // live change feed (Subscribe)
}

// Open opens (creating if needed) the database in dataDir and applies any
// pending migrations. Before migrating an existing database it keeps a copy
// next to it, so an upgrade never loses data even if a migration is wrong.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, FileName)
	q := url.Values{}
	for _, p := range []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"foreign_keys(1)",
		// NORMAL in WAL mode survives a process crash (kill -9) without losing a
		// committed transaction; only power loss can drop the newest commits.
		"synchronous(NORMAL)",
	} {
		q.Add("_pragma", p)
	}
	// Writers take the lock when the transaction begins, so two writers wait on
	// the busy timeout instead of failing with SQLITE_BUSY on upgrade.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	q.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	// Keep them open: database/sql keeps 2 idle by default, so with more
	// readers busy at once every query past the second opened a connection
	// (file open, pragmas, parsing the whole schema) and closed it after.
	read.SetMaxIdleConns(8)
	s := &Store{db: db, read: read, path: path}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// The database holds secrets that must be usable (the SMTP password):
	// only its owner reads it.
	if err := os.Chmod(path, 0o600); err != nil {
		s.Close()
		return nil, fmt.Errorf("restrict %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return errors.Join(s.read.Close(), s.db.Close()) }

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		v, err := strconv.Atoi(prefix)
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad version: %w", e.Name(), err)
		}
		body, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Version reports the schema version of the open database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return s.migrateWith(ctx, ms)
}

// migrateWith brings the database up to the newest of ms.
func (s *Store) migrateWith(ctx context.Context, ms []migration) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	current, err := s.Version(ctx)
	if err != nil {
		return err
	}
	newest := ms[len(ms)-1].version
	if current > newest {
		return fmt.Errorf("database %s has schema version %d, newer than this binary's %d: upgrade frontdesk", s.path, current, newest)
	}
	if current > 0 && current < newest {
		backup := fmt.Sprintf("%s.v%d-%s.bak", s.path, current, time.Now().UTC().Format("20060102T150405Z"))
		if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, backup); err != nil {
			return fmt.Errorf("keep a copy of the database before upgrading it: %w", err)
		}
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration and records it in the same transaction, so a
// migration is either wholly applied or not at all.
func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", m.name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().Unix()); err != nil {
		return fmt.Errorf("migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return nil
}

// Setting returns a stored setting, or ErrNotFound.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, nil
}

// SetSetting stores a setting.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO settings(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write setting %s: %w", key, err)
	}
	return nil
}

// isUniqueViolation reports whether err is SQLite's UNIQUE/PRIMARY KEY error.
func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
