package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestHalfClosedClient: a client that half-closes its connection
// (shutdown(SHUT_WR)) after a complete request still reads the answer,
// and gets the normal one, on every kind of endpoint; the server logs no
// error for it.
func TestHalfClosedClient(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	addr := strings.TrimPrefix(s.URL, "http://")
	if r := s.PostJSON("/v1/companies/identify", map[string]any{"company_id": "hc", "metadata": map[string]any{"n": 1}}); r.Status != http.StatusAccepted {
		t.Fatalf("identify: %d %s", r.Status, r.Body)
	}
	auth := "Host: x\r\nAuthorization: Token " + s.Key + "\r\n"
	post := func(path, contentType, body string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\n%sContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", path, auth, contentType, len(body), body)
	}
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"GET job list", "GET /v1/background_jobs HTTP/1.1\r\n" + auth + "\r\n", http.StatusOK},
		{"GET company", "GET /v1/companies/hc HTTP/1.1\r\n" + auth + "\r\n", http.StatusOK},
		{"GET company list", "GET /v1/companies HTTP/1.1\r\n" + auth + "\r\n", http.StatusOK},
		{"GET unknown company", "GET /v1/companies/nope HTTP/1.1\r\n" + auth + "\r\n", http.StatusNotFound},
		{"POST identify", post("/v1/identify", "application/json", `{"user_id":"u1","company":{"id":"hc"}}`), http.StatusAccepted},
		{"POST company identify", post("/v1/companies/identify", "application/json", `{"company_id":"hc2"}`), http.StatusAccepted},
		{"POST bulk", post("/v1/users/bulk_identify", "application/x-ndjson", `{"user_id":"u2","metadata":{"a":1}}`+"\n"), http.StatusAccepted},
		{"GET healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusOK},
	} {
		// The store call races net/http's read that sees the EOF: repeat.
		for range 3 {
			resp, body := rawExchange(t, addr, tc.req, true)
			if resp.StatusCode != tc.status {
				t.Errorf("%s, half-closed: %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
			}
			if tc.name == "POST bulk" && resp.StatusCode == http.StatusAccepted {
				var j job
				response{Status: resp.StatusCode, Body: body}.JSON(t, &j)
				if got := s.WaitJob(j.JobID); got.Status != "completed" || got.CompletedRows != 1 {
					t.Errorf("the half-closed client's job ended %s with %d rows", got.Status, got.CompletedRows)
				}
			}
		}
	}
	if r := s.Get("/v1/users/u1"); r.Status != http.StatusOK {
		t.Errorf("the half-closed client's identify was not stored: %d %s", r.Status, r.Body)
	}
	s.Stop()
	if log := s.stderr.String(); strings.Contains(log, "level=ERROR") {
		t.Errorf("the server logged errors for half-closed clients:\n%s", log)
	}
}
