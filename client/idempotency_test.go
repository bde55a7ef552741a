package client_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/client"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/sqlite"
)

// TestIdempotencyKeyRetry: a bulk request the server accepted but whose
// answer was lost (the connection closed after the server answered) is
// retried with the same Idempotency-Key, and the retry is answered with
// the first request's job: one job, Replayed set.
func TestIdempotencyKeyRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: t.TempDir() + "/db", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.CreateApp(ctx, "a", bulkid.HashAPIKey("key-of-a")); err != nil {
		t.Fatal(err)
	}
	api := httpapi.NewServer(httpapi.Config{Store: db, Logger: slog.New(slog.DiscardHandler)})
	var mu sync.Mutex
	var keys []string
	var lost atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		if lost.CompareAndSwap(false, true) {
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, r) // accepted...
			if rec.Code != http.StatusAccepted {
				t.Errorf("first attempt: %d %s", rec.Code, rec.Body)
			}
			hijackClose(t, w) // ...and the answer lost
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	c := fast(ts.URL)
	c.Token = "key-of-a"
	job, err := c.BulkIdentifyCompanies(ctx, []client.Company{{CompanyID: "c1"}}, client.WithIdempotencyKey("chunk-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !job.Replayed {
		t.Errorf("the retry's job: Replayed false, want true")
	}
	mu.Lock()
	if len(keys) != 2 || keys[0] != "chunk-1" || keys[1] != "chunk-1" {
		t.Errorf("Idempotency-Key of each attempt = %q, want chunk-1 twice", keys)
	}
	mu.Unlock()
	jobs, _, err := c.ListJobs(ctx, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].JobID != job.JobID {
		t.Errorf("jobs after the retry = %d (want 1, %s)", len(jobs), job.JobID)
	}

	// Without the option no key is sent: the request is a new one, and
	// meets the job (no worker runs here) with a 409.
	c.Retry.RetryConflicts = false
	if _, err := c.Import(ctx, "u.csv", []byte("user_id\nu1\n")); !client.IsCode(err, "job_in_progress") {
		t.Errorf("an import without a key while the job is queued: %v, want job_in_progress", err)
	}
	mu.Lock()
	if last := keys[len(keys)-1]; last != "" {
		t.Errorf("a call without WithIdempotencyKey sent Idempotency-Key %q", last)
	}
	mu.Unlock()
}

// A 409 idempotency_key_in_use is retried even when 409s of a running job
// are not: the key's first request is being answered.
func TestKeyInUseRetried(t *testing.T) {
	t.Parallel()
	ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			writeError(w, 409, "idempotency_key_in_use", "still receiving", "")
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		writeJob(w, 200)
	})
	c := fast(ts.URL)
	c.Retry.RetryConflicts = false
	job, err := c.Upload(context.Background(), client.Users, "u.ndjson", []byte(`{"user_id":"u1"}`), client.WithIdempotencyKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	if h.n.Load() != 2 || !job.Replayed {
		t.Errorf("requests %d, Replayed %v; want 2, true", h.n.Load(), job.Replayed)
	}
}

// A 429 without Retry-After waits for X-RateLimit-Reset: seconds, or a
// Unix time.
func TestRateLimitReset(t *testing.T) {
	t.Parallel()
	for name, reset := range map[string]func() string{
		"seconds":   func() string { return "1" },
		"unix time": func() string { return strconv.FormatInt(time.Now().Add(2*time.Second).Unix(), 10) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					w.Header().Set("X-RateLimit-Limit", "10")
					w.Header().Set("X-RateLimit-Remaining", "0")
					w.Header().Set("X-RateLimit-Reset", reset())
					writeError(w, 429, "rate_limited", "slow down", "")
					return
				}
				writeJob(w, 200)
			})
			c := fast(ts.URL)
			var waited time.Duration
			c.Retry.OnRetry = func(_ int, wait time.Duration, _ error) { waited = wait }
			if _, err := c.Job(context.Background(), "j1"); err != nil {
				t.Fatal(err)
			}
			if waited < 900*time.Millisecond {
				t.Errorf("waited %v before the retry, want the X-RateLimit-Reset, about a second or more", waited)
			}
		})
	}
}

// WaitJob does not poll into a 429: when a poll says the job reads are
// spent (X-RateLimit-Remaining: 0), the next waits for X-RateLimit-Reset.
func TestWaitJobHonoursRateLimit(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var polls []time.Time
	ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		polls = append(polls, time.Now())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", "1")
			w.Write([]byte(`{"job_id":"j1","status":"processing","total_rows":1}`))
			return
		}
		if n > 2 {
			t.Errorf("poll %d: the job was final at poll 2", n)
		}
		w.Write([]byte(`{"job_id":"j1","status":"completed","total_rows":1,"completed_rows":1}`))
	})
	c := fast(ts.URL)
	if _, err := c.WaitJob(context.Background(), "j1", 10*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(polls) != 2 || polls[1].Sub(polls[0]) < 900*time.Millisecond {
		t.Errorf("polls %d, the second %v after the first; want 2, a second or more apart", len(polls), polls[len(polls)-1].Sub(polls[0]))
	}
}
