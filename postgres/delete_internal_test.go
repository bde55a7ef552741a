package postgres

import (
	"log/slog"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
)

// TestDeleteUsersUserMoved: a user moved to another company between
// DeleteUsers' read of its company and its lock of the user runs the
// delete again, so that the user is taken off the count of the company it
// joined, not of the one it left. Without that, the one it joined kept
// counting it.
func TestDeleteUsersUserMoved(t *testing.T) {
	db, err := Open(t.Context(), Config{URL: pgtest.URL(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	app, err := db.CreateApp(ctx, "a", []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	identify := func(raw string) {
		t.Helper()
		rec, rerr := bulkid.ValidateRecord(bulkid.JobUsers, []byte(raw))
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err := db.Identify(ctx, app.ID, nil, []bulkid.Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	identify(`{"user_id":"u","company_id":"x"}`)
	identify(`{"user_id":"other","company_id":"y"}`)
	runs := 0
	afterPreRead = func() {
		if runs++; runs == 1 {
			identify(`{"user_id":"u","company_id":"y"}`) // commits on another connection
		}
	}
	defer func() { afterPreRead = nil }()
	if n, err := db.DeleteUsers(ctx, app.ID, []string{"u"}); err != nil || n != 1 {
		t.Fatalf("DeleteUsers(u) = %d, %v; want 1", n, err)
	}
	if runs != 2 {
		t.Errorf("DeleteUsers ran %d times, want 2: once more after the user moved", runs)
	}
	for id, want := range map[string]int{"x": 0, "y": 1} {
		c, err := db.Company(ctx, app.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.UserCount != want || c.Visible != (want > 0) {
			t.Errorf("company %s: UserCount %d, Visible %v; want %d", id, c.UserCount, c.Visible, want)
		}
	}
}
