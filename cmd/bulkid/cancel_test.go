package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCancelAcrossRestart: a throttled job canceled with bulkid jobs
// cancel, the server stopped at once and started again, ends canceled
// with completed_rows the rows it applied, and exactly those profiles
// stored (records apply in order: c0 … c(n-1), not c(n)). bulkid jobs
// wait then exits non-zero saying so, and the app's next job runs.
func TestCancelAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"--rows-per-minute", "60"} // batches of one row, one a second
	s := startServer(t, dir, args...)
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(40, "c")))
	for deadline := time.Now().Add(time.Minute); s.Job(j.JobID).CompletedRows < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	var got job
	errOut := cliOK(t, s, &got, "jobs", "cancel", j.JobID)
	if got.JobID != j.JobID || !got.CancelRequested || got.Status == "completed" || !strings.Contains(errOut, "cancel accepted") && !strings.Contains(errOut, "is canceled") {
		t.Fatalf("jobs cancel: %+v\nstderr: %s", got, errOut)
	}
	s.Stop()

	s = startServer(t, dir, args...)
	final := s.WaitJob(j.JobID)
	if final.Status != "canceled" || !final.CancelRequested || final.CompletedRows < 2 || final.CompletedRows >= 40 || final.EndTime == nil {
		t.Fatalf("after the restart: %+v, want canceled part way", final)
	}
	s.GetJSON(fmt.Sprintf("/v1/companies/c%d", final.CompletedRows-1))
	expectError(t, s.Get(fmt.Sprintf("/v1/companies/c%d", final.CompletedRows)), http.StatusNotFound, "not_found")
	// Later polls say the same: the canceled job stays as it ended.
	time.Sleep(1500 * time.Millisecond) // longer than a batch at this rate
	if again := s.Job(j.JobID); again.CompletedRows != final.CompletedRows || again.Status != "canceled" {
		t.Errorf("the canceled job moved on: %+v, was %+v", again, final)
	}
	out, errOut := cliFails(t, s, "jobs", "wait", j.JobID)
	if json.Unmarshal([]byte(out), &got) != nil || got.Status != "canceled" ||
		!strings.Contains(errOut, fmt.Sprintf("was canceled with %d of 40 rows applied", final.CompletedRows)) {
		t.Errorf("jobs wait of the canceled job: stdout %s\nstderr: %s", out, errOut)
	}
	next := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(1, "n")))
	if done := s.WaitJob(next.JobID); done.Status != "completed" {
		t.Errorf("next job: %s", done.Status)
	}
}

// TestRetention: the server prunes finished jobs past --job-retention and
// events past --event-retention in the background, keeps the profiles
// they wrote, and refuses retention flags that make no sense.
func TestRetention(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0", "--job-retention", "1s", "--event-retention", "1s", "--prune-interval", "100ms")
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(3, "c")))
	s.WaitJob(j.JobID)
	if r := s.PostJSON("/v1/track", map[string]any{"user_id": "u1", "event_name": "seen"}); r.Status/100 != 2 {
		t.Fatalf("track: %d %s", r.Status, r.Body)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		r := s.Get("/v1/background_jobs/" + j.JobID)
		totals := s.GetJSON("/v1/events/totals")
		if r.Status == http.StatusNotFound && fmt.Sprint(totals["events"]) == "[]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute on, the job answers %d and the totals are %v; want both pruned", r.Status, totals)
		}
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Errorf("jobs listed after the prune: %v", jobIDs(jobs))
	}
	s.GetJSON("/v1/companies/c2") // profiles are never pruned
	s.GetJSON("/v1/users/u1")

	for _, bad := range [][]string{{"--job-retention", "-1h"}, {"--event-retention", "-1s"}, {"--prune-interval", "0s"}} {
		_, errOut, code := cli(t, nil, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, bad...)...)
		if code == 0 || !strings.Contains(errOut, bad[0]) {
			t.Errorf("serve %v: exit %d, stderr %q; want a refusal naming the flag", bad, code, errOut)
		}
	}
}
