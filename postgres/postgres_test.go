package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/postgres"
	"github.com/bulkid/bulkid/storetest"
	"github.com/jackc/pgx/v5"
)

func open(t *testing.T, url string, now func() time.Time) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), postgres.Config{URL: url, Now: now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	t.Parallel()
	newStore := func(t *testing.T, now func() time.Time) bulkid.Store {
		return open(t, pgtest.URL(t), now)
	}
	storetest.RunTests(t, newStore)
}

// TestMigrationsAreIdempotent: opening again applies nothing and keeps data;
// a schema newer than the binary is refused.
func TestMigrations(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	db := open(t, url, nil)
	app, err := db.CreateApp(t.Context(), "a", []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.SchemaVersion(t.Context())
	if err != nil || v.Applied < 2 {
		t.Fatalf("SchemaVersion = %+v, %v; want at least 2", v, err)
	}
	db.Close()

	db = open(t, url, nil)
	if got, err := db.AppByKeyHash(t.Context(), []byte("k")); err != nil || got.ID != app.ID {
		t.Fatalf("after reopening: %v, %v; want app %d", got, err, app.ID)
	}
	db.Close()

	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, now())"); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(t.Context(), postgres.Config{URL: url, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "run a newer bulkid") {
		t.Fatalf("Open of a newer schema: %v, want a refusal naming version 9999", err)
	}
}

// TestConcurrentOpen: processes starting together migrate one at a time.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	errs := make(chan error, 5)
	for range 5 {
		go func() {
			db, err := postgres.Open(t.Context(), postgres.Config{URL: url, Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), postgres.Config{URL: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("Open of an unreachable database succeeded")
	}
}

// TestMigrationRenamesDuplicateNames: a schema of version 2 whose apps
// share names opens with the oldest app of each name keeping it and each
// later one renamed "NAME #ID"; from then on names are unique, and a taken
// name is refused naming it.
func TestMigrationRenamesDuplicateNames(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)"}
	for _, f := range []string{"migrations/0001_init.sql", "migrations/0002_app_rate.sql"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b))
	}
	stmts = append(stmts, "INSERT INTO schema_migrations VALUES (1, now()), (2, now())",
		`INSERT INTO apps (id, name, key_hash, created_at) VALUES
			(1, 'acme', '\x01', now()), (2, 'acme', '\x02', now()), (3, 'other', '\x03', now()), (4, 'acme', '\x04', now()), (5, 'other', '\x05', now())`,
		"SELECT setval(pg_get_serial_sequence('apps', 'id'), 5)")
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	conn.Close(context.Background())

	db := open(t, url, nil)
	defer db.Close()
	apps, err := db.ListApps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, fmt.Sprintf("%d:%s", a.ID, a.Name))
	}
	if got, want := strings.Join(names, ","), "1:acme,2:acme #2,3:other,4:acme #4,5:other #5"; got != want {
		t.Errorf("apps after the migration = %s, want %s", got, want)
	}
	_, err = db.CreateApp(t.Context(), "acme", []byte("k"))
	if bulkid.ErrorCode(err) != bulkid.ECONFLICT || !strings.Contains(bulkid.ErrorMessage(err), `"acme"`) {
		t.Errorf("CreateApp(acme) after the migration: %v, want ECONFLICT naming acme", err)
	}
}

// TestMigrationRecountsListedCompanies: migration 14, which keeps counts by
// difference, recounts once the companies that a job's batches had listed
// for a recount (a job cut off before its refresh) and empties the list,
// so that the resumed job's refresh has nothing left to add to them.
func TestMigrationRecountsListedCompanies(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)"}
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name() >= "0014" {
			break
		}
		b, err := os.ReadFile("migrations/" + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b))
	}
	stmts = append(stmts, "INSERT INTO schema_migrations SELECT v, now() FROM generate_series(1, 13) AS v",
		`INSERT INTO apps (id, name, key_hash, created_at) VALUES (1, 'acme', '\x01', now())`,
		"SELECT setval(pg_get_serial_sequence('apps', 'id'), 1)",
		// listed: stale (2 users, counted 0), and exact; not listed: stale, left alone
		`INSERT INTO companies (app_id, company_id, user_count, visible, created_at, updated_at) VALUES
			(1, 'listed', 0, false, now(), now()), (1, 'exact', 1, true, now(), now()), (1, 'unlisted', 5, true, now(), now())`,
		`INSERT INTO users (app_id, user_id, company_id, created_at, updated_at) VALUES
			(1, 'u1', 'listed', now(), now()), (1, 'u2', 'listed', now(), now()), (1, 'u3', 'exact', now(), now())`,
		"INSERT INTO company_refresh (app_id, company_id) VALUES (1, 'listed'), (1, 'exact')")
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%.80s: %v", s, err)
		}
	}
	conn.Close(context.Background())

	db := open(t, url, nil)
	defer db.Close()
	for id, want := range map[string]int{"listed": 2, "exact": 1, "unlisted": 5} {
		c, err := db.Company(t.Context(), 1, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.UserCount != want || c.Visible != (want > 0) {
			t.Errorf("company %s after the migration: UserCount %d, Visible %v; want %d", id, c.UserCount, c.Visible, want)
		}
	}
	conn, err = pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM company_refresh").Scan(&left); err != nil || left != 0 {
		t.Errorf("company_refresh after the migration: %d rows (%v), want none", left, err)
	}
}

// TestSchemaVersionChangedUnderOpenStore: a schema rolled back under a
// running store reads as behind, one migrated past it by a newer bulkid
// sharing the database as ahead; /readyz reports either.
func TestSchemaVersionChangedUnderOpenStore(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	db := open(t, url, nil)
	defer db.Close()
	before, err := db.SchemaVersion(t.Context())
	if err != nil || !before.Current() {
		t.Fatalf("SchemaVersion = %+v, %v; want current", before, err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, c := range []struct {
		stmt    string
		applied int
	}{
		{fmt.Sprintf("DELETE FROM schema_migrations WHERE version = %d", before.Latest), before.Latest - 1},
		{"INSERT INTO schema_migrations (version, applied_at) VALUES (9999, now())", 9999},
	} {
		if _, err := conn.Exec(context.Background(), c.stmt); err != nil {
			t.Fatal(err)
		}
		got, err := db.SchemaVersion(t.Context())
		want := bulkid.SchemaVersion{Applied: c.applied, Latest: before.Latest}
		if err != nil || got != want || got.Current() {
			t.Errorf("after %s: SchemaVersion = %+v, %v; want %+v, not current", c.stmt, got, err, want)
		}
	}
}
