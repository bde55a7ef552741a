package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsListener: with --metrics-addr, the metrics are served there
// and count the API's requests, and the API's port does not serve them.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := l.Addr().String()
	l.Close()
	s := startServer(t, "", "--metrics-addr", metricsAddr)

	if r := s.Get("/v1/validate"); r.Status != http.StatusOK {
		t.Fatalf("GET /v1/validate = %d %s", r.Status, r.Body)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `bulkid_http_requests_total{route="GET /v1/validate",status="200"} 1`
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want+"\n") {
		t.Errorf("GET /metrics on --metrics-addr = %d, want 200 with %q in:\n%.2000s", resp.StatusCode, want, body)
	}
	for _, name := range []string{"bulkid_jobs_total", "bulkid_upload_slots_in_use", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("GET /metrics has no %s", name)
		}
	}

	for _, key := range []string{"", s.Key} {
		r := s.Do("GET", "/metrics", key, "", nil)
		if r.Status != http.StatusNotFound || strings.Contains(string(r.Body), "bulkid_") {
			t.Errorf("GET /metrics on the API port (key %q) = %d %s, want 404 without metrics", key, r.Status, r.Body)
		}
	}
	if r := s.Do("GET", "/readyz", "", "", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"status":"ready"`) {
		t.Errorf("GET /readyz = %d %s, want 200 ready", r.Status, r.Body)
	}
}

// TestMetricsAddrNotTheAPIPort: serve refuses to serve metrics on the
// API's address.
func TestMetricsAddrNotTheAPIPort(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:18099", "--metrics-addr", "127.0.0.1:18099", "--data-dir", t.TempDir()},
		func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr must differ from --addr") {
		t.Errorf("serve with --metrics-addr = --addr: %v, want a refusal naming the flags", err)
	}
}
