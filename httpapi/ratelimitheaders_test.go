package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// wantRate checks an answer's X-RateLimit-* headers: limit and remaining
// exactly, reset a whole number of seconds at most maxReset.
func wantRate(t *testing.T, what string, r response, limit, remaining, maxReset int) {
	t.Helper()
	l, rem, reset := r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"), r.Header.Get("X-RateLimit-Reset")
	secs, err := strconv.Atoi(reset)
	if l != strconv.Itoa(limit) || rem != strconv.Itoa(remaining) || err != nil || secs < 0 || secs > maxReset {
		t.Errorf("%s: X-RateLimit-Limit %q, Remaining %q, Reset %q; want %d, %d, 0 to %d seconds", what, l, rem, reset, limit, remaining, maxReset)
	}
}

// The endpoints that make jobs count the app's one job at a time: the
// slot is free (Remaining 1) or held until the job is estimated done.
func TestJobSlotHeaders(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "600")
	bad := s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/json", strings.NewReader(`{"companies":`))
	if bad.Status != http.StatusBadRequest {
		t.Fatalf("a cut-off body: %d %s, want 400", bad.Status, bad.Body)
	}
	wantRate(t, "400 with no job", bad, 1, 1, 0)

	r := s.PostJSON("/v1/companies/bulk_identify", companies(20, "c"))
	id := accepted(t, r).JobID
	wantRate(t, "202", r, 1, 0, 3600)

	busy := s.PostJSON("/v1/users/bulk_identify", map[string]any{"users": []any{map[string]any{"user_id": "u"}}})
	expectError(t, busy, http.StatusConflict, "job_in_progress")
	wantRate(t, "409 job_in_progress", busy, 1, 0, 3600)
	if busy.Header.Get("Retry-After") == "" {
		t.Error("409 job_in_progress without Retry-After")
	}

	s.WaitJob(id)
	free := s.Upload("/v1/imports", "users.csv", []byte("user_id\nu1\n"))
	if free.Status != http.StatusOK {
		t.Fatalf("import: %d %s", free.Status, free.Body)
	}
	wantRate(t, "200 import", free, 1, 0, 3600)
}

// Job reads are limited per app by --job-read-rate, with the headers on
// every answer and 429 rate_limited with Retry-After over it; other apps
// and the other endpoints keep their own budgets.
func TestJobReadRateLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--job-read-rate", "2")
	other := createApp(t, s, "other")
	id := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(1, "c"))).JobID

	r := s.Get("/v1/background_jobs/" + id)
	if r.Status != http.StatusOK {
		t.Fatalf("GET job: %d %s", r.Status, r.Body)
	}
	wantRate(t, "first read", r, 2, 1, 60)
	r = s.Get("/v1/background_jobs")
	if r.Status != http.StatusOK {
		t.Fatalf("GET jobs: %d %s", r.Status, r.Body)
	}
	wantRate(t, "second read", r, 2, 0, 60)
	r = s.Get("/v1/background_jobs/" + id + "/errors")
	expectError(t, r, http.StatusTooManyRequests, "rate_limited")
	wantRate(t, "429", r, 2, 0, 60)
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 30 {
		t.Errorf("429: Retry-After %q, want 1 to 30 seconds", r.Header.Get("Retry-After"))
	}

	if r := other.Get("/v1/background_jobs"); r.Status != http.StatusOK {
		t.Errorf("another app's read: %d %s, want 200", r.Status, r.Body)
	}
	if r := s.Get("/v1/companies"); r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("a profile read while over the job-read limit: %d, X-RateLimit-Limit %q; want 200 and none", r.Status, r.Header.Get("X-RateLimit-Limit"))
	}
	rt := s.Do("POST", "/v1/identify", s.Key, "application/json", strings.NewReader(`{"user_id":"u1"}`))
	if rt.Status != http.StatusAccepted {
		t.Errorf("a real-time request while over the job-read limit: %d %s", rt.Status, rt.Body)
	}
	wantRate(t, "real-time", rt, 600, 59, 60)
}
