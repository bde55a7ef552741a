package postgres

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/internal/recordpack"
)

func openInternal(t *testing.T) (*DB, *bulkid.App) {
	t.Helper()
	db, err := Open(t.Context(), Config{URL: pgtest.URL(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	app, err := db.CreateApp(t.Context(), "a", []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	return db, app
}

func record(t *testing.T, typ bulkid.JobType, raw string) bulkid.Record {
	t.Helper()
	rec, rerr := bulkid.ValidateRecord(typ, []byte(raw))
	if rerr != nil {
		t.Fatal(rerr)
	}
	return rec
}

// TestWritersTakeTheAppLock: every writer of an app's profiles waits for
// the app's lock (lockApp), which is what lets them read and write
// profiles without locking each row: while another transaction holds it,
// each one waits, and goes on once it is released.
func TestWritersTakeTheAppLock(t *testing.T) {
	db, app := openInternal(t)
	ctx := t.Context()
	if err := db.Identify(ctx, app.ID, nil, []bulkid.Record{record(t, bulkid.JobUsers, `{"user_id":"u","company_id":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	job := &bulkid.Job{ID: "job-1", AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
	raw := bulkid.RawRecord{Raw: []byte(`{"company_id":"x","metadata":{"a":1}}`)}
	if err := db.CreateJob(ctx, job, recordpack.FromRecords([]bulkid.RawRecord{raw})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ClaimJob(ctx, "w", time.Hour); err != nil {
		t.Fatal(err)
	}
	l := bulkid.Lease{JobID: job.ID, Owner: "w", TTL: time.Hour}
	for _, w := range []struct {
		name string
		run  func() error
	}{
		{"Identify", func() error {
			return db.Identify(ctx, app.ID, []bulkid.Record{record(t, bulkid.JobCompanies, `{"company_id":"y"}`)}, nil)
		}},
		{"ApplyBatch", func() error {
			return db.ApplyBatch(ctx, l, bulkid.JobCompanies, []bulkid.Record{record(t, bulkid.JobCompanies, string(raw.Raw))}, 0, 1)
		}},
		{"CompleteJob", func() error { return db.CompleteJob(ctx, l, app.ID, bulkid.StatusCompleted) }},
		{"DeleteCompanies", func() error { _, err := db.DeleteCompanies(ctx, app.ID, []string{"y"}); return err }},
		{"DeleteUsers", func() error { _, err := db.DeleteUsers(ctx, app.ID, []string{"u"}); return err }},
	} {
		holder, err := db.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback(context.Background())
		if err := lockApp(ctx, holder, app.ID); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- w.run() }()
		waited := false
		for !waited {
			select {
			case err := <-done:
				t.Fatalf("%s returned (%v) while another transaction held the app's lock", w.name, err)
			case <-time.After(time.Millisecond):
			}
			if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
				AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('bulkid-app:' || current_schema() || ':' || $1::bigint::text, 0))`,
				app.ID).Scan(&waited); err != nil {
				t.Fatal(err)
			}
		}
		if err := holder.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Errorf("%s, once the app's lock was released: %v", w.name, err)
		}
	}
}

// TestUserCreatedByTrackMeanwhile: a user that Track creates (without the
// app's lock) after a batch read it as missing is merged into, the
// transaction run again: the record's metadata and company are stored,
// not lost to the row Track made.
func TestUserCreatedByTrackMeanwhile(t *testing.T) {
	db, app := openInternal(t)
	ctx := t.Context()
	runs := 0
	beforeWrite = func() {
		if runs++; runs == 1 {
			// On another connection, which commits at once.
			if err := db.Track(context.Background(), app.ID, &bulkid.Event{UserID: "u", Name: "e", ReceivedAt: time.Now()}); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { beforeWrite = nil }()
	if err := db.Identify(ctx, app.ID, nil, []bulkid.Record{record(t, bulkid.JobUsers, `{"user_id":"u","company_id":"x","metadata":{"a":1}}`)}); err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Errorf("Identify ran %d times, want 2: once more after Track created the user", runs)
	}
	u, err := db.User(ctx, app.ID, "u")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	if err := json.Unmarshal(u.Metadata, &md); err != nil || len(md) != 1 || md["a"] != 1.0 || u.CompanyID != "x" {
		t.Errorf("user u = %s in %q, want {\"a\":1} in x", u.Metadata, u.CompanyID)
	}
	c, err := db.Company(ctx, app.ID, "x")
	if err != nil {
		t.Fatal(err)
	}
	if c.UserCount != 1 || !c.Visible {
		t.Errorf("company x: UserCount %d, Visible %v; want 1, true", c.UserCount, c.Visible)
	}
	var events int
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE app_id = $1 AND user_id = 'u'", app.ID).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Errorf("%d events of u, want 1", events)
	}
}

// TestProfilesOfNoApp: profiles reference their app by no foreign key
// (migration 0015), so the app's lock is the check that the app exists:
// a write for an app that does not exist fails and stores nothing.
func TestProfilesOfNoApp(t *testing.T) {
	db, app := openInternal(t)
	ctx := t.Context()
	var fks int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = 'apps'::regclass
		AND conrelid IN ('companies'::regclass, 'users'::regclass)`).Scan(&fks); err != nil {
		t.Fatal(err)
	}
	if fks != 0 {
		t.Errorf("%d foreign keys from companies or users to apps, want none", fks)
	}
	missing := app.ID + 1000
	err := db.Identify(ctx, missing, []bulkid.Record{record(t, bulkid.JobCompanies, `{"company_id":"c"}`)},
		[]bulkid.Record{record(t, bulkid.JobUsers, `{"user_id":"u","company_id":"c"}`)})
	if bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("Identify for no app = %v, want %s", err, bulkid.ENOTFOUND)
	}
	if _, err := db.DeleteUsers(ctx, missing, []string{"u"}); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("DeleteUsers for no app = %v, want %s", err, bulkid.ENOTFOUND)
	}
	var rows int
	if err := db.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM companies) + (SELECT count(*) FROM users)").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d profiles stored, want none", rows)
	}
}
