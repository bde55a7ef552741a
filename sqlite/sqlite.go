// Package sqlite is the embedded store: a single SQLite file that needs no
// set-up, through the pure-Go modernc.org/sqlite driver.
//
// Writes go through one connection (SQLite has one writer at a time; queuing
// in Go is cheaper than spinning on SQLITE_BUSY), reads through a small pool,
// with the database in WAL mode so reads never wait for writes.
//
// The read methods (Job, ListJobs, Company, …) are internal/sqlstore's,
// shared with the postgres store, over the read pool; this package holds
// the write path.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/migration"
	"github.com/bulkid/bulkid/internal/sqlstore"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ bulkid.Store = (*DB)(nil)

// Config configures a DB.
type Config struct {
	// Path of the database file. Its directory is created if missing.
	Path string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Logger receives migration messages; slog.Default() if nil.
	Logger *slog.Logger
}

// DB is the SQLite store.
type DB struct {
	*reader         // the read side, over read
	write   *sql.DB // one connection, transactions BEGIN IMMEDIATE
	read    *sql.DB
	now     func() time.Time
	log     *slog.Logger
	latest  int // the last embedded migration
}

// reader is embedded under a name of this package, so that DB has the
// read methods but no exported field.
type reader = sqlstore.Reader

// dialect is SQLite's for the shared read side.
var dialect = sqlstore.Dialect{True: "1", False: "0", NoRows: sql.ErrNoRows, Err: interpretError}

// querier runs the shared read side's queries on a pool or a transaction.
type querier struct {
	db interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.db.QueryRowContext(ctx, query, args...)
}

// sqlRows is *sql.Rows with a Close that returns nothing.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// Open opens (creating if needed) the database at cfg.Path and brings its
// schema up to date.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: Config.Path is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	// synchronous=FULL: a 202 promises the job survives a power cut, not
	// only a crash of the process.
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	base := "file:" + cfg.Path + "?"
	write, err := sql.Open("sqlite", base+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", base+q.Encode())
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(4)
	db := &DB{reader: sqlstore.NewReader(querier{read}, dialect), write: write, read: read, now: cfg.Now, log: cfg.Logger}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes both connection pools.
func (db *DB) Close() error {
	return errors.Join(db.write.Close(), db.read.Close())
}

// SchemaVersion reads the migration the database is at beside the latest
// this binary embeds.
func (db *DB) SchemaVersion(ctx context.Context) (bulkid.SchemaVersion, error) {
	v, err := db.AppliedMigration(ctx)
	if err != nil {
		return bulkid.SchemaVersion{}, err
	}
	return bulkid.SchemaVersion{Applied: v, Latest: db.latest}, nil
}

// migrate applies the embedded migrations not yet applied, each in its own
// transaction, and refuses a database written by a newer binary.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	var current int
	if err := db.write.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	steps, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	db.latest = migration.Latest(steps)
	pending, err := migration.Pending(steps, current)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	for _, m := range pending {
		if err := db.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply %s: %w", m.Name, err)
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", m.Version, ms(db.now()))
			return err
		}); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		db.log.Info("applied migration", "store", "sqlite", "version", m.Version)
	}
	return nil
}

// inTx runs fn in a write transaction and commits it if fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return interpretError(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return interpretError(err)
	}
	return interpretError(tx.Commit())
}

// interpretError turns driver errors into domain errors; it is the one place
// that knows SQLite's error codes.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	var be *bulkid.Error
	if errors.As(err, &be) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &bulkid.Error{Code: bulkid.ENOTFOUND, Message: "Not found."}
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &bulkid.Error{Code: bulkid.ECONFLICT, Message: "Conflict.", Details: err.Error()}
		}
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_FULL:
			return fullError(err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
			return &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "The store is unavailable; try again later.", Details: err.Error()}
		}
	}
	return fmt.Errorf("sqlite: %w", err)
}

// fullError is a write refused because the disk is full: SQLite rolled it
// back, and what was committed before is intact.
func fullError(err error) error {
	return &bulkid.Error{Code: bulkid.EFULL, Message: "The server's disk is full, so nothing was stored; try again once space has been freed.",
		Details: err.Error()}
}

// ms converts a time to the stored Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }
