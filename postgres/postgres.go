// Package postgres is the PostgreSQL store, through pgx. Several bulkid
// processes can share one database: the one-job rule is a unique index,
// jobs are claimed with FOR UPDATE SKIP LOCKED under leases, and each app's
// rate lives in its row.
//
// The read methods (Job, ListJobs, Company, …) are internal/sqlstore's,
// shared with the sqlite store; this package holds the write path.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/migration"
	"github.com/bulkid/bulkid/internal/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ bulkid.Store = (*DB)(nil)

// Config configures a DB.
type Config struct {
	// URL is a postgres:// connection URL. Parameters PostgreSQL knows, such
	// as search_path, may be given in its query.
	URL string
	// Now is the clock; time.Now if nil. Processes sharing a database
	// compare leases by their clocks, which must agree (NTP).
	Now func() time.Time
	// Logger receives migration messages; slog.Default() if nil.
	Logger *slog.Logger
}

// DB is the PostgreSQL store.
type DB struct {
	*reader // the read side, over pool
	pool    *pgxpool.Pool
	now     func() time.Time
	log     *slog.Logger
	latest  int // the last embedded migration
}

// reader is embedded under a name of this package, so that DB has the
// read methods but no exported field.
type reader = sqlstore.Reader

// dialect is PostgreSQL's for the shared read side.
var dialect = sqlstore.Dialect{Numbered: true, Lateral: true, True: "true", False: "false", NoRows: pgx.ErrNoRows, Err: interpretError}

// querier runs the shared read side's queries on the pool.
type querier struct{ pool *pgxpool.Pool }

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.pool.QueryRow(ctx, query, args...)
}

// Open connects to the database and brings its schema up to date.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres: Config.URL is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: --database-url: %w", err)
	}
	if !strings.Contains(cfg.URL, "pool_max_conns") {
		// pgxpool's default, 4, makes requests queue behind the workers'
		// transactions; pool_max_conns in the URL still decides.
		pc.MaxConns = 24
	}
	if !strings.Contains(cfg.URL, "connect_timeout") {
		// Without one, a connection to a host that drops packets waits for
		// the kernel (minutes) while requests and workers queue behind it;
		// connect_timeout in the URL still decides.
		pc.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if _, set := pc.ConnConfig.RuntimeParams["jit"]; !set {
		// JIT compilation pays off for long analytical queries; here it
		// compiled the refresh of 10,000 companies for 350 ms, a third of
		// the statement, because its cost estimate (a million, on tables
		// never analyzed) passed jit_above_cost. No statement of the store
		// runs long enough to gain from it; the URL may still set jit.
		pc.ConnConfig.RuntimeParams["jit"] = "off"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{reader: sqlstore.NewReader(querier{pool}, dialect), pool: pool, now: cfg.Now, log: cfg.Logger}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
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

// migrate applies the embedded migrations not yet applied, under an
// advisory lock so that processes starting together take turns, and
// refuses a database written by a newer binary.
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: cannot reach the database: %w", err)
	}
	defer conn.Release()
	const lockKey = "hashtextextended('bulkid-migrate:' || current_schema(), 0)"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+lockKey+")"); err != nil {
		return fmt.Errorf("postgres: take the migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+lockKey+")")

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: create schema_migrations: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	steps, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	db.latest = migration.Latest(steps)
	pending, err := migration.Pending(steps, current)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for _, m := range pending {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply %s: %w", m.Name, err)
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", m.Version, db.now())
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		db.log.Info("applied migration", "store", "postgres", "version", m.Version)
	}
	return nil
}

// txAttempts is how many times inTx runs a transaction that PostgreSQL
// aborts as a deadlock victim or a serialization failure.
const txAttempts = 5

// inTx runs fn in a transaction and commits it if fn returns nil. A
// transaction aborted as a deadlock victim (40P01) or a serialization
// failure (40001), or by fn's errRetry, is run again, up to txAttempts
// times, after a short random pause: the writers take their locks in one
// order (see work.go), so this is a safety net, never the rule. fn must
// therefore leave nothing behind outside the transaction that a second
// run would not redo.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, db.pool, fn)
		if attempt == txAttempts || !retryable(err) {
			break
		}
		t := time.NewTimer(time.Duration(attempt) * time.Duration(1+rand.IntN(10)) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return interpretError(err)
		case <-t.C:
		}
	}
	if errors.Is(err, errRetry) {
		return &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "The store is busy; try again later.", Details: err.Error()}
	}
	return interpretError(err)
}

// retryable reports whether err aborted a transaction that may succeed
// if run again at once.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, errRetry) || errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// interpretError turns driver errors into domain errors; it is the one place
// that knows PostgreSQL's error codes.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	var be *bulkid.Error
	if errors.As(err, &be) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &bulkid.Error{Code: bulkid.ENOTFOUND, Message: "Not found."}
	}
	unavailable := &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "The store is unavailable; try again later.", Details: err.Error()}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return &bulkid.Error{Code: bulkid.ECONFLICT, Message: "Conflict.", Details: err.Error()}
		case pe.Code == "53100": // disk_full
			return &bulkid.Error{Code: bulkid.EFULL, Message: "The database's disk is full, so nothing was stored; try again once space has been freed.", Details: err.Error()}
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutting down, cannot connect now
			pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock: try again
			return unavailable
		}
		return fmt.Errorf("postgres: %w", err)
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		// The server went away mid-query (stopped, crashed, a proxy or the
		// network cut the connection): pgx returns the read's EOF as is.
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return unavailable
	}
	return fmt.Errorf("postgres: %w", err)
}

// optTime is a nullable timestamp as the zero time.
func optTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
