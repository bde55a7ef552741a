package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/wiretest"
)

// TestValidate: GET /v1/validate, Segment's key test, is 200 with the
// app's name for a valid key (HEAD too), and 401 in the error shape for
// a missing, malformed or unknown key.
func TestValidate(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	r := s.Get("/v1/validate")
	var body map[string]any
	r.JSON(t, &body)
	if r.Status != http.StatusOK || len(body) != 2 || body["valid"] != true || body["app"] != "default" {
		t.Errorf("GET /v1/validate with the key: %d %s, want 200 {\"valid\":true,\"app\":\"default\"}", r.Status, r.Body)
	}
	other := createApp(t, s, "crm-sync")
	if r := other.Get("/v1/validate"); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"app":"crm-sync"`) {
		t.Errorf("another app's key: %d %s, want 200 naming crm-sync", r.Status, r.Body)
	}
	if r := s.Do("HEAD", "/v1/validate", s.Key, "", nil); r.Status != http.StatusOK {
		t.Errorf("HEAD /v1/validate: %d, want 200", r.Status)
	}
	// Segment's headers, as it sends them.
	req, _ := http.NewRequest("GET", s.URL+"/v1/validate", nil)
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("X-API-Version", "2020-09-22")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/validate with Segment's headers: %v %v, want 200", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	for _, auth := range []string{"", s.Key, "Bearer " + s.Key, "Token ", "Token not-a-key"} {
		req, _ := http.NewRequest("GET", s.URL+"/v1/validate", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		expectError(t, wiretest.ReadResponse(t, resp), http.StatusUnauthorized, bulkid.EUNAUTHORIZED)
	}
	expectError(t, s.Do("POST", "/v1/validate", s.Key, "application/json", strings.NewReader("{}")), http.StatusMethodNotAllowed, bulkid.EMETHOD)
}

// rawRequest sends method path exactly as written (no client cleans it)
// with key ("" for none) and body, over a connection of its own.
func rawRequest(t *testing.T, url, method, path, key, contentType, body string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: application/json, text/plain, */*\r\n", method, path)
	if key != "" {
		fmt.Fprintf(&b, "Authorization: Token %s\r\n", key)
	}
	if contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", contentType)
	}
	if body != "" || method == "POST" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: rb}
}

// TestAuthBeforeNotFound: under /v1, a request without a valid key is
// 401 whatever its path and method, so a client never takes a missing
// endpoint for a bad key, and a caller without a key cannot tell which
// endpoints exist; with a valid key, 404 and 405 are as before. /healthz
// and paths outside /v1 need no key.
func TestAuthBeforeNotFound(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	requests := []struct{ method, path string }{
		{"GET", "/v1/nothing"}, {"POST", "/v1/track-me-not"}, {"GET", "/v1"}, {"GET", "/v1/"},
		{"DELETE", "/v1/background_jobs"}, {"PUT", "/v1/identify"}, {"GET", "/v1/identify"}, {"PATCH", "/v1/companies/acme"},
		{"OPTIONS", "/v1/validate"}, {"GET", "/v1/companies/acme/extra"},
		{"GET", "/v1/./companies"}, {"POST", "/v1/companies/../identify"}, {"GET", "/x/../v1/nothing"},
		{"GET", "/v1/companies"}, {"POST", "/v1/identify"}, {"GET", "/v1/validate"},
	}
	for _, key := range []string{"", "not-a-key"} {
		for _, rq := range requests {
			r := rawRequest(t, s.URL, rq.method, rq.path, key, "application/json", "{}")
			e := expectError(t, r, http.StatusUnauthorized, bulkid.EUNAUTHORIZED)
			if strings.Contains(e.Errors[0].Message, "endpoint") || r.Header.Get("Allow") != "" {
				t.Errorf("%s %s with key %q: %s, Allow %q; want a 401 that says nothing of the path", rq.method, rq.path, key, r.Body, r.Header.Get("Allow"))
			}
		}
	}
	// With the key, routing answers as before.
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/v1/nothing", 404, ""}, {"GET", "/v1", 404, ""}, {"DELETE", "/v1/background_jobs", 405, "GET"},
		{"GET", "/v1/identify", 405, "POST"}, {"GET", "/v1/./companies", 404, ""}, {"POST", "/v1/validate", 405, "GET"},
	} {
		r := rawRequest(t, s.URL, tc.method, tc.path, s.Key, "application/json", "{}")
		code := map[int]string{404: bulkid.ENOTFOUND, 405: bulkid.EMETHOD}[tc.status]
		expectError(t, r, tc.status, code)
		if r.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, r.Header.Get("Allow"), tc.allow)
		}
	}
	// Outside /v1 nothing changes: no key is asked for.
	for _, p := range []string{"/", "/ui/", "/favicon.ico", "/v2/identify", "/v1x"} {
		expectError(t, rawRequest(t, s.URL, "GET", p, "", "", ""), http.StatusNotFound, bulkid.ENOTFOUND)
	}
	if r := rawRequest(t, s.URL, "GET", "/healthz", "", "", ""); r.Status != http.StatusOK {
		t.Errorf("GET /healthz without a key: %d %s", r.Status, r.Body)
	}
}

// TestAuthBeforeNotFoundIsThrottled: wrong keys sent to paths that do not
// exist count against the address's failed-auth budget like any others,
// so probing unknown paths is no way around the throttle.
func TestAuthBeforeNotFoundIsThrottled(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--auth-fail-burst", "3", "--auth-fail-refill", "1h")
	if r := s.Get("/v1/validate"); r.Status != http.StatusOK {
		t.Fatalf("the server's key: %d %s", r.Status, r.Body)
	}
	for i, p := range []string{"/v1/nothing", "/v1/./x", "/v1/validate"} {
		expectError(t, s.Do("GET", p, fmt.Sprintf("guess-%d", i), "", nil), http.StatusUnauthorized, bulkid.EUNAUTHORIZED)
	}
	for _, p := range []string{"/v1/nothing", "/v1/validate", "/v1/identify"} {
		r := s.Do("GET", p, "guess-more", "", nil)
		expectError(t, r, http.StatusTooManyRequests, bulkid.ETOOMANYFAILED)
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s over the budget: no Retry-After", p)
		}
	}
	if r := s.Get("/v1/validate"); r.Status != http.StatusOK {
		t.Errorf("the server's key, which has worked from here: %d %s, want 200 while the address is throttled", r.Status, r.Body)
	}
}
