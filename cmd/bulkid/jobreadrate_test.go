package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestJobReadRateFlag: serve limits job reads to --job-read-rate (or
// BULKID_JOB_READ_RATE) a minute per app, 6000 by default, not at all
// with 0; a negative rate is refused.
func TestJobReadRateFlag(t *testing.T) {
	t.Parallel()
	def := startServer(t, "")
	if r := def.Get("/v1/background_jobs"); r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "6000" {
		t.Errorf("default: %d, X-RateLimit-Limit %q; want 200, 6000", r.Status, r.Header.Get("X-RateLimit-Limit"))
	}
	one := startServerEnv(t, "", []string{"BULKID_JOB_READ_RATE=1"})
	if r := one.Get("/v1/background_jobs"); r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("BULKID_JOB_READ_RATE=1: %d, X-RateLimit-Remaining %q; want 200, 0", r.Status, r.Header.Get("X-RateLimit-Remaining"))
	}
	expectError(t, one.Get("/v1/background_jobs"), http.StatusTooManyRequests, "rate_limited")
	off := startServer(t, "", "--job-read-rate", "0")
	if r := off.Get("/v1/background_jobs"); r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("--job-read-rate 0: %d, X-RateLimit-Limit %q; want 200 and no limit", r.Status, r.Header.Get("X-RateLimit-Limit"))
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "d"), "--job-read-rate", "-1"},
		func(string) string { return "" }, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--job-read-rate") {
		t.Errorf("--job-read-rate -1: %v, want an error naming the flag", err)
	}
}
