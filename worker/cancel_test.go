package worker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/bulkid/bulkid/worker"
)

// TestCancelStopsAtBatchBoundary: a running job canceled by a client stops
// at its next batch boundary, ends canceled with the rows applied counted
// and stored, its companies recounted, and frees the app.
func TestCancelStopsAtBatchBoundary(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	recs := make([]bulkid.RawRecord, 40)
	for i := range recs {
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: fmt.Appendf(nil, `{"user_id":"u%d","company_id":"c"}`, i)}
	}
	job := &bulkid.Job{ID: "job-cancel", AppID: app.ID, Type: bulkid.JobUsers, Source: bulkid.SourceJSON}
	if err := st.CreateJob(context.Background(), job, recordpack.FromRecords(recs)); err != nil {
		t.Fatal(err)
	}
	var applied atomic.Int64
	counting := &countingStore{Store: st, rows: &applied}
	// 600 rows a minute: batches of 10, one a second.
	pool, err := worker.New(worker.Config{Store: counting, RowsPerMinute: 600, PollInterval: 10 * time.Millisecond, LeaseTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pool.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for applied.Load() < 10 {
		time.Sleep(10 * time.Millisecond)
	}
	got, err := st.CancelJob(context.Background(), app.ID, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CancelRequested || got.Status.Final() {
		t.Fatalf("CancelJob of a running job: %s, CancelRequested %v; want it running with the cancel recorded", got.Status, got.CancelRequested)
	}
	var j *bulkid.Job
	for deadline := time.Now().Add(jobTimeout); ; time.Sleep(10 * time.Millisecond) {
		if j, err = st.Job(context.Background(), app.ID, job.ID); err != nil {
			t.Fatal(err)
		}
		if j.Status.Final() || time.Now().After(deadline) {
			break
		}
	}
	if j.Status != bulkid.StatusCanceled || j.CompletedRows != int(applied.Load()) || j.CompletedRows >= 40 {
		t.Fatalf("after the cancel: %s, completed_rows %d, rows applied %d; want canceled with the rows applied before the cancel",
			j.Status, j.CompletedRows, applied.Load())
	}
	c, err := st.Company(context.Background(), app.ID, "c")
	if err != nil {
		t.Fatal(err)
	}
	if c.UserCount != j.CompletedRows {
		t.Errorf("company c counts %d users after the cancel, want the %d applied", c.UserCount, j.CompletedRows)
	}
	// The app is free for its next job, which runs.
	next := submit(t, st, app, 1)
	if j := runUntil(t, worker.Config{Store: st, PollInterval: 10 * time.Millisecond}, st, app, next.ID, jobTimeout); j.Status != bulkid.StatusCompleted {
		t.Errorf("next job: %s, want completed", j.Status)
	}
}
