package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/wiretest"
)

// TestCancelJob: POST /v1/background_jobs/{id}/cancel answers 202 with the
// job as GET shows it and cancel_requested true; the running job ends
// canceled at a batch boundary with the rows applied before it counted;
// a second cancel is 202 again; a completed job is 409 job_finished; an
// unknown one 404; GET on the path 405.
func TestCancelJob(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "60") // one row a second
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(30, "c")))
	var raw map[string]json.RawMessage
	s.Get("/v1/background_jobs/"+j.JobID).JSON(t, &raw)
	if string(raw["cancel_requested"]) != "false" {
		t.Errorf("GET job: cancel_requested = %s, want false", raw["cancel_requested"])
	}
	for deadline := time.Now().Add(time.Minute); s.Job(j.JobID).CompletedRows == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}

	r := s.Do(http.MethodPost, "/v1/background_jobs/"+j.JobID+"/cancel", s.Key, "", nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s, want 202", r.Status, r.Body)
	}
	wiretest.Strict(t, r.Body)
	var got job
	r.JSON(t, &got)
	if got.JobID != j.JobID || !got.CancelRequested || got.Status == "canceled" || got.Links != "/v1/background_jobs/"+j.JobID {
		t.Errorf("cancel of a running job = %s", r.Body)
	}
	final := s.WaitJob(j.JobID)
	if final.Status != "canceled" || !final.CancelRequested || final.CompletedRows == 0 || final.CompletedRows >= 30 || final.EndTime == nil {
		t.Errorf("job after the cancel = %+v, want canceled part way, with an end_time", final)
	}
	// Applied in order: the rows counted are stored, the next is not.
	s.GetJSON(fmt.Sprintf("/v1/companies/c%d", final.CompletedRows-1))
	expectError(t, s.Get(fmt.Sprintf("/v1/companies/c%d", final.CompletedRows)), http.StatusNotFound, "not_found")
	r = s.Do(http.MethodPost, "/v1/background_jobs/"+j.JobID+"/cancel", s.Key, "", nil)
	var again job
	r.JSON(t, &again)
	if r.Status != http.StatusAccepted || again.Status != "canceled" || again.CompletedRows != final.CompletedRows {
		t.Errorf("second cancel: %d %s, want 202 with the canceled job", r.Status, r.Body)
	}
	// The app is free for its next job at once.
	next := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(1, "n")))
	if done := s.WaitJob(next.JobID); done.Status != "completed" {
		t.Fatalf("next job = %s", done.Status)
	}
	e := expectError(t, s.Do(http.MethodPost, "/v1/background_jobs/"+next.JobID+"/cancel", s.Key, "", nil), http.StatusConflict, "job_finished")
	if e.Errors[0].JobID != next.JobID {
		t.Errorf("job_finished names job %q, want %q", e.Errors[0].JobID, next.JobID)
	}
	expectError(t, s.Do(http.MethodPost, "/v1/background_jobs/3cd1a326-812c-432c-bbf2-e5dba4477e31/cancel", s.Key, "", nil), http.StatusNotFound, "not_found")
	expectError(t, s.Do(http.MethodPost, "/v1/background_jobs/"+j.JobID+"/cancel", "wrong-key", "", nil), http.StatusUnauthorized, "unauthorized")
	expectError(t, s.Do(http.MethodGet, "/v1/background_jobs/"+j.JobID+"/cancel", s.Key, "", nil), http.StatusMethodNotAllowed, "method_not_allowed")
	// A body, if any, is ignored.
	r = s.Do(http.MethodPost, "/v1/background_jobs/"+j.JobID+"/cancel", s.Key, "application/json", bytes.NewReader([]byte(`{}`)))
	if r.Status != http.StatusAccepted {
		t.Errorf("cancel with a body: %d %s", r.Status, r.Body)
	}
}
