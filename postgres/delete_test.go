package postgres_test

import (
	"slices"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestDeleteUsersTakesEvents checks the events half of DeleteUsers on the
// tables themselves, with events inserted as rows: the rows of events and
// event_totals, beside the conformance suite's DeleteUserEvents, which
// sees them through Track and the reads.
func TestDeleteUsersTakesEvents(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	db := open(t, url, func() time.Time { return time.Unix(1_700_000_000, 0) })
	defer db.Close()
	ctx := t.Context()
	a, err := db.CreateApp(ctx, "a", []byte("key a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.CreateApp(ctx, "b", []byte("key b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []*bulkid.App{a, b} {
		rec, rerr := bulkid.ValidateRecord(bulkid.JobUsers, []byte(`{"user_id":"u1"}`))
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err := db.Identify(ctx, app.ID, nil, []bulkid.Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	events := []struct {
		app        int64
		user, name string
	}{{a.ID, "u1", "click"}, {a.ID, "u1", "click"}, {a.ID, "u1", "view"}, {a.ID, "u2", "click"}, {b.ID, "u1", "view"}}
	type key struct {
		app  int64
		name string
	}
	totals := map[key]int{}
	for _, ev := range events {
		if _, err := conn.Exec(ctx, "INSERT INTO events (app_id, user_id, name, received_at) VALUES ($1, $2, $3, now())", ev.app, ev.user, ev.name); err != nil {
			t.Fatal(err)
		}
		totals[key{ev.app, ev.name}]++
	}
	for k, n := range totals {
		if _, err := conn.Exec(ctx, "INSERT INTO event_totals (app_id, name, count, last_at) VALUES ($1, $2, $3, now())", k.app, k.name, n); err != nil {
			t.Fatal(err)
		}
	}

	if n, err := db.DeleteUsers(ctx, a.ID, []string{"u1"}); err != nil || n != 1 {
		t.Fatalf("DeleteUsers(u1) = %d, %v; want 1", n, err)
	}
	rows := func(q string, args ...any) []string {
		t.Helper()
		rs, err := conn.Query(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rs, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := rows("SELECT user_id || ':' || name FROM events WHERE app_id = $1 ORDER BY seq", a.ID), []string{"u2:click"}; !slices.Equal(got, want) {
		t.Errorf("app a's events after u1's delete = %q, want %q", got, want)
	}
	if got, want := rows("SELECT name || ':' || count FROM event_totals WHERE app_id = $1 ORDER BY name", a.ID), []string{"click:1"}; !slices.Equal(got, want) {
		t.Errorf("app a's totals after u1's delete = %q, want %q", got, want)
	}
	if got, want := rows("SELECT user_id || ':' || name FROM events WHERE app_id = $1", b.ID), []string{"u1:view"}; !slices.Equal(got, want) {
		t.Errorf("app b's events after app a's u1 went = %q, want %q", got, want)
	}
	if got, want := rows("SELECT name || ':' || count FROM event_totals WHERE app_id = $1", b.ID), []string{"view:1"}; !slices.Equal(got, want) {
		t.Errorf("app b's totals after app a's u1 went = %q, want %q", got, want)
	}
}
