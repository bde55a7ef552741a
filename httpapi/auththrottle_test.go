package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"
)

// TestWrongKeysAreThrottled (issue 10, item 15; the repro sent 5,000
// wrong keys in 0.64 s and got a verdict on each): past --auth-fail-burst
// wrong keys, an address gets 429 with Retry-After for any key that has
// not worked from it, a valid one included, while the key that has worked
// from it is served as before.
func TestWrongKeysAreThrottled(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0", "--auth-fail-refill", "1h")
	if r := s.Get("/v1/background_jobs"); r.Status != 200 {
		t.Fatalf("the server's key: %d", r.Status)
	}
	other := createApp(t, s, "second") // its key has never been used from here
	count := map[int]int{}
	for i := range 500 {
		r := s.Do("GET", "/v1/background_jobs", fmt.Sprintf("guess-%d", i), "", nil)
		count[r.Status]++
		if r.Status == http.StatusTooManyRequests && count[r.Status] == 1 {
			expectError(t, r, http.StatusTooManyRequests, "too_many_requests")
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("the 429 has no Retry-After")
			}
		}
	}
	if count[401] != 20 || count[429] != 480 {
		t.Errorf("500 wrong keys: statuses %v, want 20 401 and then 480 429", count)
	}
	r := other.Get("/v1/background_jobs")
	expectError(t, r, http.StatusTooManyRequests, "too_many_requests")
	for range 3 {
		if r := s.Get("/v1/background_jobs"); r.Status != 200 {
			t.Errorf("the key that worked from this address, while it is throttled: %d %s, want 200", r.Status, r.Body)
		}
	}
}
