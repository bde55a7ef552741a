package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/bulkid/bulkid/client"
)

// TestCancelJob: CancelJob of a running job returns it with
// CancelRequested, WaitJob ends at canceled with the rows applied before
// it, a second cancel succeeds, and a finished job's cancel is a 409
// job_finished.
func TestCancelJob(t *testing.T) {
	t.Parallel()
	s := startReal(t, 60) // one row a second
	c := s.client()
	ctx := context.Background()
	var cs []client.Company
	for i := range 30 {
		cs = append(cs, client.Company{CompanyID: fmt.Sprintf("c%d", i)})
	}
	job, err := c.BulkIdentifyCompanies(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		j, err := c.Job(ctx, job.JobID)
		if err != nil {
			t.Fatal(err)
		}
		if j.CompletedRows > 0 || time.Now().After(deadline) {
			break
		}
	}
	got, err := c.CancelJob(ctx, job.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if got.JobID != job.JobID || !got.CancelRequested || got.Done() {
		t.Errorf("CancelJob = %+v, want the running job with cancel_requested", got)
	}
	final, err := c.WaitJob(ctx, job.JobID, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != "canceled" || !final.Done() || final.CompletedRows == 0 || final.CompletedRows >= 30 || final.EndTime == nil {
		t.Errorf("WaitJob after the cancel = %s with %d rows, end %v; want canceled part way", final.Status, final.CompletedRows, final.EndTime)
	}
	if _, err := c.CancelJob(ctx, job.JobID); err != nil {
		t.Errorf("CancelJob of a canceled job: %v, want it accepted again", err)
	}

	done, err := c.BulkIdentifyCompanies(ctx, cs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitJob(ctx, done.JobID, 50*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.CancelJob(ctx, done.JobID)
	if e := asError(t, err); e.StatusCode != http.StatusConflict || e.Code != "job_finished" || e.JobID != done.JobID {
		t.Errorf("CancelJob of a completed job: %+v, want 409 job_finished naming it", e)
	}
	_, err = c.CancelJob(ctx, "no-such-job")
	if e := asError(t, err); e.StatusCode != http.StatusNotFound {
		t.Errorf("CancelJob of an unknown job: %+v, want 404", e)
	}
}

// TestCancelFinishedNotRetried: job_finished is a 409 that waiting cannot
// fix, so it is not retried even with RetryConflicts.
func TestCancelFinishedNotRetried(t *testing.T) {
	t.Parallel()
	ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/background_jobs/j1/cancel" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(409)
		io.WriteString(w, `{"errors":[{"error":"Conflict","error_code":"job_finished","message":"The job is completed.","details":"","job_id":"j1"}]}`)
	})
	c := fast(ts.URL)
	c.Retry.RetryConflicts = true
	_, err := c.CancelJob(context.Background(), "j1")
	if e := asError(t, err); e.Code != "job_finished" {
		t.Errorf("error = %+v", e)
	}
	if got := h.n.Load(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}
