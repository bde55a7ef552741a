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
