package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/jackc/pgx/v5"
)

// TestStagedInputReclaimed: the space a finished job's staged input took
// (its chunks in job_input's TOAST table) is given back without VACUUM
// once no job has input left; never while another job's input is staged,
// which stays whole; and a session holding job_input does not make
// FinishJob wait (issue 14).
func TestStagedInputReclaimed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	db := open(t, url, nil)
	defer db.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// The bytes job_input takes on disk, its TOAST table included.
	size := func() int64 {
		t.Helper()
		var n int64
		if err := conn.QueryRow(ctx, "SELECT pg_table_size('job_input')").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const records = 300
	pad := bytes.Repeat([]byte("x"), 8000)
	start := func(name string) (*bulkid.Job, bulkid.Lease) {
		t.Helper()
		app, err := db.CreateApp(ctx, name, []byte(name))
		if err != nil {
			t.Fatal(err)
		}
		raws := make([]bulkid.RawRecord, records)
		for i := range raws {
			raws[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: fmt.Appendf(nil, `{"company_id":"%d","pad":"%s"}`, i, pad)}
		}
		job := &bulkid.Job{ID: "job-" + name, AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
		if err := db.CreateJob(ctx, job, recordpack.FromRecords(raws)); err != nil {
			t.Fatal(err)
		}
		claimed, _, err := db.ClaimJob(ctx, "w", time.Hour)
		if err != nil || claimed.ID != job.ID {
			t.Fatalf("ClaimJob = %v, %v; want %s", claimed, err, job.ID)
		}
		return job, bulkid.Lease{JobID: job.ID, Owner: "w", TTL: time.Hour}
	}
	finish := func(l bulkid.Lease) {
		t.Helper()
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := db.FinishJob(fctx, l, bulkid.StatusCompleted, ""); err != nil {
			t.Fatalf("FinishJob %s: %v", l.JobID, err)
		}
	}

	_, la := start("a")
	b, lb := start("b")
	staged := size()
	if staged < records*8000 {
		t.Fatalf("job_input takes %d bytes with two jobs of %d 8 kB records staged", staged, records)
	}
	finish(la)
	recs, err := db.JobRecords(ctx, b.ID, 0, records+1)
	if err != nil || len(recs) != records {
		t.Fatalf("JobRecords of the job still running = %d records, %v; want %d", len(recs), err, records)
	}
	if got := size(); got < staged {
		t.Errorf("job_input shrank to %d bytes from %d while a job's input is staged", got, staged)
	}

	// Another session reads job_input: finishing b neither waits for it
	// nor takes the table from under it.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM job_input LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	finish(lb)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := size(); got < staged {
		t.Errorf("job_input shrank to %d bytes from %d while another session held it", got, staged)
	}

	// The next job to finish with no other input staged gives it all back.
	_, lc := start("c")
	finish(lc)
	// Empty, it is a page or two: the TOAST index's metapage.
	if got := size(); got > 64<<10 {
		t.Errorf("job_input takes %d bytes after the last staged job finished, want at most 64 kB", got)
	}
}

// TestCountChangesReclaimed: the rows a users job's batches write to
// company_refresh, which its refresh deletes, are given back without
// VACUUM when the job finishes and no count change is left pending; never
// while another app's running job has some, which stay and are added to
// its companies' counts at its refresh; and a session holding
// company_refresh does not make the finish wait, job_input being emptied
// all the same (issue 14).
func TestCountChangesReclaimed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	db := open(t, url, nil)
	defer db.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// The table's file and its size: TRUNCATE gives it a new, empty file.
	file := func(table string) (node uint32, size int64) {
		t.Helper()
		if err := conn.QueryRow(ctx, "SELECT pg_relation_filenode($1), pg_relation_size($1)", table).Scan(&node, &size); err != nil {
			t.Fatal(err)
		}
		return node, size
	}
	record := func(raw string) bulkid.Record {
		t.Helper()
		rec, rerr := bulkid.ValidateRecord(bulkid.JobUsers, []byte(raw))
		if rerr != nil {
			t.Fatal(rerr)
		}
		return rec
	}
	// Each job: users users, two in each company, all applied: the job is
	// left pending_refresh with users/2 count changes in company_refresh.
	const users = 2000
	start := func(name string) (int64, bulkid.Lease) {
		t.Helper()
		app, err := db.CreateApp(ctx, name, []byte(name))
		if err != nil {
			t.Fatal(err)
		}
		raws := make([]bulkid.RawRecord, users)
		recs := make([]bulkid.Record, users)
		for i := range raws {
			raws[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: fmt.Appendf(nil, `{"user_id":"u%05d","company_id":"c%05d"}`, i, i/2)}
			recs[i] = record(string(raws[i].Raw))
			recs[i].Seq, recs[i].Pos = i, i
		}
		job := &bulkid.Job{ID: "job-" + name, AppID: app.ID, Type: bulkid.JobUsers, Source: bulkid.SourceJSON}
		if err := db.CreateJob(ctx, job, recordpack.FromRecords(raws)); err != nil {
			t.Fatal(err)
		}
		claimed, _, err := db.ClaimJob(ctx, "w", time.Hour)
		if err != nil || claimed.ID != job.ID {
			t.Fatalf("ClaimJob = %v, %v; want %s", claimed, err, job.ID)
		}
		l := bulkid.Lease{JobID: job.ID, Owner: "w", TTL: time.Hour}
		if err := db.FinishValidation(ctx, l, nil); err != nil {
			t.Fatal(err)
		}
		for from := 0; from < users; from += 1000 {
			if err := db.ApplyBatch(ctx, l, bulkid.JobUsers, recs[from:from+1000], from, from+1000); err != nil {
				t.Fatal(err)
			}
		}
		return app.ID, l
	}
	complete := func(appID int64, l bulkid.Lease) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := db.CompleteJob(cctx, l, appID, bulkid.StatusCompleted); err != nil {
			t.Fatalf("CompleteJob %s: %v", l.JobID, err)
		}
	}
	counts := func(appID int64, want map[string]int) {
		t.Helper()
		for id, n := range want {
			c, err := db.Company(ctx, appID, id)
			if err != nil {
				t.Fatalf("company %s of app %d: %v", id, appID, err)
			}
			if c.UserCount != n || !c.Visible {
				t.Errorf("company %s of app %d: UserCount %d, Visible %v; want %d, true", id, appID, c.UserCount, c.Visible, n)
			}
		}
	}
	last := fmt.Sprintf("c%05d", users/2-1)

	// Another session reads company_refresh while a's job completes: the
	// finish does not wait for it, leaves company_refresh to it and still
	// empties job_input, which no one holds.
	a, la := start("a")
	inputNode, _ := file("job_input")
	refreshNode, pending := file("company_refresh")
	if pending == 0 {
		t.Fatalf("company_refresh is empty with %d count changes pending", users/2)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT FROM company_refresh LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	complete(a, la)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if node, _ := file("job_input"); node == inputNode {
		t.Errorf("job_input was not truncated after the only job finished, company_refresh being held by another session")
	}
	if node, size := file("company_refresh"); node != refreshNode || size < pending {
		t.Errorf("company_refresh was truncated while another session held it (file %d → %d, %d → %d bytes)", refreshNode, node, pending, size)
	}
	counts(a, map[string]int{"c00000": 2, last: 2})

	// b's job has its count changes pending, one of them taken out and
	// added at once by a real-time identify, when c's job completes:
	// company_refresh keeps b's and its dead rows.
	b, lb := start("b")
	if err := db.Identify(ctx, b, nil, []bulkid.Record{record(`{"user_id":"rt","company_id":"c00000"}`)}); err != nil {
		t.Fatal(err)
	}
	counts(b, map[string]int{"c00000": 3})
	c, lc := start("c")
	refreshNode, _ = file("company_refresh")
	complete(c, lc)
	if node, _ := file("company_refresh"); node != refreshNode {
		t.Errorf("company_refresh was truncated while app b's job had count changes pending")
	}
	var left int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM company_refresh WHERE app_id = $1", b).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != users/2-1 {
		t.Errorf("company_refresh holds %d rows of app b's running job after app c's job completed, want %d", left, users/2-1)
	}
	counts(c, map[string]int{"c00000": 2, last: 2})

	// b's refresh adds them, and with none left pending anywhere the table
	// is emptied whole, dead rows and all.
	complete(b, lb)
	counts(b, map[string]int{"c00000": 3, "c00001": 2, last: 2})
	if node, size := file("company_refresh"); node == refreshNode || size != 0 {
		t.Errorf("company_refresh takes %d bytes (file %d, was %d) after the last users job completed, want a new empty file", size, node, refreshNode)
	}
}
