package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulkid/bulkid/internal/wiretest"
)

// losingProxy forwards to target, but the answer to the lose-th bulk
// request (from 1) is lost: the server handles it, and the client's
// connection is closed before the answer, as a network failure would.
// It records each bulk request's Idempotency-Key.
func losingProxy(t *testing.T, target string, lose int32) (string, func() []string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var n atomic.Int32
	var mu sync.Mutex
	var keys []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || !strings.HasSuffix(r.URL.Path, "/bulk_identify") {
			rp.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		if n.Add(1) != lose {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		if rec.Code != http.StatusAccepted {
			t.Errorf("the request whose answer is lost: %d %s", rec.Code, rec.Body)
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(ts.Close)
	return ts.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), keys...)
	}
}

// TestPushIdempotent: push sends an Idempotency-Key per job, so a job
// whose answer was lost is retried into the job already made, not a
// second one; the same push run again gets the jobs it made (nothing is
// queued twice), and --idempotency-key off makes new ones.
func TestPushIdempotent(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	file := filepath.Join(t.TempDir(), "companies.ndjson")
	var lines strings.Builder
	for _, id := range []string{"c1", "c2", "c3", "c4", "c5"} {
		lines.WriteString(`{"company_id":"` + id + `"}` + "\n")
	}
	if err := os.WriteFile(file, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	proxyURL, keys := losingProxy(t, s.URL, 2)
	via := &server{t: t, Target: wiretest.Target{T: t, URL: proxyURL, Key: s.Key}}

	out, errOut, code := push(t, via, nil, "companies", "--batch-size", "2", file)
	if code != 0 {
		t.Fatalf("push through a lost answer: exit %d\n%s%s", code, out, errOut)
	}
	jobs := listJobs(t, s, "")
	if len(jobs) != 3 {
		t.Fatalf("push of 5 records in jobs of 2 made %d jobs, want 3 (the lost answer's retry is the same job)", len(jobs))
	}
	k := keys()
	if len(k) != 4 || k[1] == "" || k[1] != k[2] || k[0] == k[1] || k[2] == k[3] {
		t.Errorf("Idempotency-Keys sent = %q, want 4 requests, the 2nd and 3rd (its retry) alike, the others distinct", k)
	}
	for _, j := range jobs {
		if j.Status != "completed" {
			t.Errorf("job %s is %s, want completed", j.JobID, j.Status)
		}
	}

	// Run again: the same keys, the same jobs.
	out, errOut, code = push(t, s, nil, "companies", "--batch-size", "2", "--json", file)
	if code != 0 {
		t.Fatalf("push again: exit %d\n%s%s", code, out, errOut)
	}
	replays := 0
	for _, e := range events(t, out) {
		if e["event"] == "job_submitted" && e["replayed"] == true {
			replays++
		}
	}
	if replays != 3 || len(listJobs(t, s, "")) != 3 {
		t.Errorf("push again: %d replayed jobs, %d jobs in all; want 3 and 3\n%s", replays, len(listJobs(t, s, "")), out)
	}

	if out, errOut, code := push(t, s, nil, "companies", "--batch-size", "2", "--idempotency-key", "off", file); code != 0 {
		t.Fatalf("push --idempotency-key off: exit %d\n%s%s", code, out, errOut)
	}
	if n := len(listJobs(t, s, "")); n != 6 {
		t.Errorf("after push --idempotency-key off: %d jobs, want 6", n)
	}
	if _, errOut, code := push(t, s, nil, "companies", "--idempotency-key", "bad\x01prefix", file); code == 0 || !strings.Contains(errOut, "--idempotency-key") {
		t.Errorf("a prefix with a control character: exit %d, %q; want an error naming --idempotency-key", code, errOut)
	}
}
