package postgres

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
)

// TestTrackLocksUser: Track locks its user's row even when the user
// exists, so that a writer holding it (a deletion of the user, which locks
// the users before it deletes their events) is waited for, and no event
// is committed for a user deleted meanwhile. INSERT … ON CONFLICT DO
// NOTHING would not wait.
func TestTrackLocksUser(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := Open(ctx, Config{URL: pgtest.URL(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	app, err := db.CreateApp(ctx, "a", []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Track(ctx, app.ID, &bulkid.Event{UserID: "u", Name: "first", ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	holder, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(context.Background())
	if _, err := holder.Exec(ctx, "SELECT 1 FROM users WHERE app_id = $1 AND user_id = 'u' FOR UPDATE", app.ID); err != nil {
		t.Fatal(err)
	}
	var holderPID int32
	if err := holder.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&holderPID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- db.Track(ctx, app.ID, &bulkid.Event{UserID: "u", Name: "second", ReceivedAt: time.Now()})
	}()
	// Wait until Track's insert of the user waits for the holder; if
	// Track returns first, it did not lock the row.
	for waiting := false; !waiting; {
		select {
		case err := <-done:
			t.Fatalf("Track returned (%v) while another transaction held its user's row: it does not lock the user", err)
		case <-time.After(10 * time.Millisecond):
		}
		err := db.pool.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_activity
			WHERE query = $1 AND $2 = ANY(pg_blocking_pids(pid))`, trackUser, holderPID).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Track after the lock was released: %v", err)
	}
	evs, err := db.UserEvents(ctx, app.ID, "u", "", bulkid.Page{Limit: 10})
	if err != nil || len(evs) != 2 {
		t.Fatalf("UserEvents = %d events, %v; want 2", len(evs), err)
	}
}
