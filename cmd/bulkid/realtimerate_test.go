package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRealtimeRateFlag: serve limits the real-time endpoints to 600
// requests a minute per app by default, to --realtime-rate (or
// BULKID_REALTIME_RATE) otherwise, and not at all with 0; a negative
// rate is refused before the store is opened.
func TestRealtimeRateFlag(t *testing.T) {
	t.Parallel()
	identify := func(s *server, id string) response {
		return s.Do("POST", "/v1/identify", s.Key, "application/json", strings.NewReader(`{"user_id":"`+id+`"}`))
	}
	def := startServer(t, "")
	if r := identify(def, "u1"); r.Status != http.StatusAccepted || r.Header.Get("X-RateLimit-Limit") != "600" || r.Header.Get("X-RateLimit-Remaining") != "59" {
		t.Errorf("default: %d, X-RateLimit-Limit %q, Remaining %q; want 202, 600, 59", r.Status, r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"))
	}

	one := startServerEnv(t, "", []string{"BULKID_REALTIME_RATE=1"})
	if r := identify(one, "u1"); r.Status != http.StatusAccepted || r.Header.Get("X-RateLimit-Limit") != "1" || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("BULKID_REALTIME_RATE=1: %d, X-RateLimit-Limit %q, Remaining %q; want 202, 1, 0", r.Status, r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"))
	}
	r := identify(one, "u2")
	expectError(t, r, http.StatusTooManyRequests, "rate_limited")
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
		t.Errorf("the 429 at 1 a minute: Retry-After %q, want 1 to 60 seconds", r.Header.Get("Retry-After"))
	}
	if r := one.PostJSON("/v1/companies/bulk_identify", map[string]any{"companies": []any{map[string]any{"company_id": "c"}}}); r.Status != http.StatusAccepted {
		t.Errorf("a bulk request while over the real-time limit: %d %s, want 202", r.Status, r.Body)
	}

	off := startServer(t, "", "--realtime-rate", "0")
	for i := range 70 {
		if r := identify(off, "u"+strconv.Itoa(i)); r.Status != http.StatusAccepted || r.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("--realtime-rate 0, request %d: %d, X-RateLimit-Limit %q; want 202 and no limit", i+1, r.Status, r.Header.Get("X-RateLimit-Limit"))
		}
	}

	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "d"), "--realtime-rate", "-1"},
		func(string) string { return "" }, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--realtime-rate") {
		t.Errorf("--realtime-rate -1: %v, want an error naming the flag", err)
	}
}
