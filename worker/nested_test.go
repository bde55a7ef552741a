package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/bulkid/bulkid/worker"
)

// submitNested submits n companies whose metadata nests an object and an
// array, in a job with the rule nested.
func submitNested(t *testing.T, st bulkid.Store, app *bulkid.App, n int, nested bulkid.NestedRule) *bulkid.Job {
	t.Helper()
	recs := make([]bulkid.RawRecord, n)
	for i := range recs {
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: []byte(fmt.Sprintf(
			`{"company_id":"c%d","metadata":{"i":%d,"address":{"city":"Paris","geo":{"lat":48.85}},"tags":["a", "b"]}}`, i, i))}
	}
	job := &bulkid.Job{ID: fmt.Sprintf("job-%d", time.Now().UnixNano()), AppID: app.ID, Type: bulkid.JobCompanies,
		Source: bulkid.SourceJSON, Nested: nested}
	if err := st.CreateJob(context.Background(), job, recordpack.FromRecords(recs)); err != nil {
		t.Fatal(err)
	}
	return job
}

func wantFlattened(t *testing.T, st bulkid.Store, app *bulkid.App, id string, i int) {
	t.Helper()
	c, err := st.Company(context.Background(), app.ID, id)
	want := fmt.Sprintf(`{"address.city":"Paris","address.geo.lat":48.85,"i":%d,"tags":"[\"a\",\"b\"]"}`, i)
	if err != nil || string(c.Metadata) != want {
		t.Errorf("company %s = %+v, %v; want metadata %s", id, c, err, want)
	}
}

// TestJobNestedRule: the worker validates a job's records with the job's
// own rule: flatten stores the flattened profiles, the default fails each
// nested record alone.
func TestJobNestedRule(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submitNested(t, st, app, 30, bulkid.NestedFlatten)
	cfg := worker.Config{Store: st, UnthrottledBatch: 10, PollInterval: 10 * time.Millisecond}
	j := runUntil(t, cfg, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 30 || j.FailedRows != 0 {
		t.Fatalf("flatten job = %s %d/%d, want completed 30/0", j.Status, j.CompletedRows, j.FailedRows)
	}
	wantFlattened(t, st, app, "c29", 29)

	job = submitNested(t, st, app, 30, bulkid.NestedRefuse)
	j = runUntil(t, cfg, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusFailed || j.FailedRows != 30 || len(j.Errors) != 30 || j.Errors[0].Code != bulkid.RNestedMetadata {
		t.Fatalf("default job = %s %d/%d, %d errors; want failed 0/30 with nested_metadata", j.Status, j.CompletedRows, j.FailedRows, len(j.Errors))
	}
}

// TestJobNestedRuleResumed: a flatten job validated by one run and
// resumed at processing by another, which parses its input again, still
// flattens: the rule comes with the job from the store.
func TestJobNestedRuleResumed(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submitNested(t, st, app, 1200, bulkid.NestedFlatten)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := worker.New(worker.Config{Store: &readCounter{Store: st, stopping: cancel}, Workers: 1, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pool.Run(ctx) // returns once validation is stored and the job released
	j, err := st.Job(context.Background(), app.ID, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != bulkid.StatusProcessing || j.FailedRows != 0 {
		t.Fatalf("after the first run: %s, %d failed; want processing, none failed", j.Status, j.FailedRows)
	}
	second := &readCounter{Store: st}
	j = runUntil(t, worker.Config{Store: second, UnthrottledBatch: 500, PollInterval: 10 * time.Millisecond}, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 1200 || j.FailedRows != 0 {
		t.Fatalf("after resume: %s %d/%d; want completed 1200/0", j.Status, j.CompletedRows, j.FailedRows)
	}
	if n := second.read.Load(); n != 1200 {
		t.Errorf("the resumed run read %d records, want the 1200 it parses again", n)
	}
	wantFlattened(t, st, app, "c0", 0)
	wantFlattened(t, st, app, "c1199", 1199)
}
