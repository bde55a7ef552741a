package postgres_test

import (
	"context"
	"log/slog"
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
	storetest.RunTests(t, func(t *testing.T, now func() time.Time) bulkid.Store {
		return open(t, pgtest.URL(t), now)
	})
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
	if err != nil || v < 2 {
		t.Fatalf("SchemaVersion = %d, %v; want at least 2", v, err)
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
