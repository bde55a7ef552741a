package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/bulkid/bulkid/internal/pgtest"
)

// postKeyed posts body as JSON to s's companies bulk endpoint with the
// Idempotency-Key key.
func postKeyed(t *testing.T, s *server, key string, body []byte) response {
	t.Helper()
	return s.target(t).DoHeader("POST", "/v1/companies/bulk_identify", "application/json",
		http.Header{"Idempotency-Key": {key}}, bytes.NewReader(body))
}

// wantReplay checks that r is the 200 replay of job id.
func wantReplay(t *testing.T, what string, r response, id string) {
	t.Helper()
	var j job
	if r.Status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200; body %s", what, r.Status, r.Body)
	}
	r.JSON(t, &j)
	if j.JobID != id || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("%s: job_id %s, Idempotent-Replayed %q; want the original %s, true", what, j.JobID, r.Header.Get("Idempotent-Replayed"), id)
	}
}

// TestIdempotencyAcrossRestart: a key accepted before a crash (SIGKILL)
// is replayed by the restarted server as its job, and a different body
// under it is still refused.
func TestIdempotencyAcrossRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "60")
	body, _ := json.Marshal(companies(5, "c"))
	id := accepted(t, postKeyed(t, s, "chunk-0", body)).JobID
	s.Kill()

	s = startServer(t, s.DataDir, "--rows-per-minute", "60000")
	wantReplay(t, "replay after a restart", postKeyed(t, s, "chunk-0", body), id)
	other, _ := json.Marshal(companies(6, "c"))
	expectError(t, postKeyed(t, s, "chunk-0", other), http.StatusUnprocessableEntity, "idempotency_key_reused")
	if j := s.WaitJob(id); j.CompletedRows != 5 {
		t.Errorf("job %s completed_rows %d, want 5", id, j.CompletedRows)
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 1 {
		t.Errorf("%d jobs, want 1", len(jobs))
	}
}

// TestIdempotencyTwoPostgres: two servers on one PostgreSQL schema share
// the keys: a key accepted by one is replayed by the other as the same
// job, and the same keyed request sent to both at once makes one job.
func TestIdempotencyTwoPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	args := []string{"--database-url", url, "--rows-per-minute", "60000", "--poll-interval", "100ms"}
	a := startServer(t, t.TempDir(), args...)
	b := startServer(t, t.TempDir(), args...)

	body, _ := json.Marshal(companies(3, "c"))
	id := accepted(t, postKeyed(t, a, "k1", body)).JobID
	wantReplay(t, "replay to the other process", postKeyed(t, b, "k1", body), id)
	a.WaitJob(id)

	// At once, to both: one job, the other answer its replay (or, if it
	// came while the first was received in the same process, 409 in use).
	body2, _ := json.Marshal(companies(4, "d"))
	rs := make([]response, 6)
	var wg sync.WaitGroup
	for i := range rs {
		s := []*server{a, b}[i%2]
		wg.Go(func() { rs[i] = postKeyed(t, s, "k2", body2) })
	}
	wg.Wait()
	var created string
	for i, r := range rs {
		if r.Status == http.StatusAccepted {
			if created != "" {
				t.Fatalf("two requests with one key made jobs %s and %s", created, accepted(t, r).JobID)
			}
			created = accepted(t, r).JobID
		} else if r.Status != http.StatusOK && r.Status != http.StatusConflict && r.Status != http.StatusServiceUnavailable {
			t.Errorf("request %d: %d %s, want 202, 200, or 409/503 to retry", i, r.Status, r.Body)
		}
	}
	if created == "" {
		t.Fatal("no request with k2 made a job")
	}
	for _, r := range rs {
		switch r.Status {
		case http.StatusOK:
			wantReplay(t, "concurrent replay", r, created)
		case http.StatusConflict: // never job_in_progress: the job is the key's own
			expectError(t, r, http.StatusConflict, "idempotency_key_in_use")
		}
	}
	wantReplay(t, "after the race", postKeyed(t, b, "k2", body2), created)
	if jobs := listJobs(t, a, ""); len(jobs) != 2 {
		t.Errorf("%d jobs, want 2", len(jobs))
	}
}
