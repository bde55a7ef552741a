package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRefusalsInErrorShape: requests net/http refuses before any handler
// runs, and over-long URLs, are answered in the documented error shape,
// not in plain text.
func TestRefusalsInErrorShape(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	addr := strings.TrimPrefix(s.URL, "http://")
	auth := "Authorization: Token " + s.Key + "\r\n"
	for _, tc := range []struct {
		name, req string
		status    int
		code      string
	}{
		{"NUL in a header", "GET /v1/background_jobs HTTP/1.1\r\nHost: x\r\n" + auth + "X-A: a\x00b\r\n\r\n", 400, "invalid_request"},
		{"NUL in a header name", "GET /v1/background_jobs HTTP/1.1\r\nHost: x\r\n" + auth + "X-\x00: a\r\n\r\n", 400, "invalid_request"},
		{"duplicate Content-Length", "POST /v1/companies/bulk_identify HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/x-ndjson\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\n{}\n", 400, "invalid_request"},
		{"no Host", "GET /v1/background_jobs HTTP/1.1\r\n" + auth + "\r\n", 400, "invalid_request"},
		{"header line without a colon", "GET /healthz HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400, "invalid_request"},
		{"unknown Transfer-Encoding", "POST /v1/companies/bulk_identify HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: rot13\r\n\r\n", 501, "not_implemented"},
		{"HTTP/1.1 URL of 1.1 MB", "GET /v1/companies/" + strings.Repeat("a", 1100<<10) + " HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 431, "request_header_fields_too_large"},
		{"URL of 20 KB", "GET /v1/companies/" + strings.Repeat("a", 20<<10) + " HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 414, "uri_too_long"},
		{"query of 20 KB", "GET /v1/companies?cursor=" + strings.Repeat("a", 20<<10) + " HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 414, "uri_too_long"},
	} {
		resp, body := rawExchange(t, addr, tc.req, false)
		var e apiError
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != tc.status || len(e.Errors) != 1 ||
			e.Errors[0].ErrorCode != tc.code || e.Errors[0].Message == "" || e.Errors[0].Error != http.StatusText(tc.status) {
			t.Errorf("%s: answered %d %q %s, want %d %s in the error shape", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.code)
			continue
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: Content-Type %q, X-Request-Id %q; want JSON with a request id", tc.name, resp.Header.Get("Content-Type"), resp.Header.Get("X-Request-Id"))
		}
		if len(body) > 1000 {
			t.Errorf("%s: a %d-byte answer; the URL is not echoed", tc.name, len(body))
		}
	}
	// The longest URL a client needs is served as usual.
	long := "/v1/companies/" + strings.Repeat("%C3%A9", 256) + "?limit=100&cursor=" + strings.Repeat("%C3%A9", 256)
	if r := s.Get(long); r.Status != http.StatusNotFound {
		t.Errorf("a %d-byte URL of the longest id and cursor: %d %s, want 404", len(long), r.Status, r.Body)
	}
}

// TestReshapeRefusalExact: only net/http's exact plain-text refusals are
// rewritten; any other write, an answer of a handler included, passes as
// it is.
func TestReshapeRefusalExact(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request",
		"HTTP/1.1 400 Bad Request: invalid header value\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: invalid header value",
		"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large",
		"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nUnsupported transfer encoding",
		"HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n505 HTTP Version Not Supported: unsupported protocol version",
	} {
		out, ok := reshapeRefusal([]byte(p))
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(out))), nil)
		if !ok || err != nil {
			t.Fatalf("%q not rewritten (%v)", p, err)
		}
		body, _ := io.ReadAll(resp.Body)
		var e apiError
		if json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 || resp.Close != true || resp.Status[:3] != p[9:12] {
			t.Errorf("%q rewritten as %q", p, out)
		}
		if strings.Contains(p, "invalid header value") && !strings.Contains(e.Errors[0].Message, "(invalid header value)") {
			t.Errorf("%q rewritten without net/http's reason: %s", p, body)
		}
	}
	for _, p := range []string{
		"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nX-Request-Id: a\r\nDate: x\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nsomething else",
		"HTTP/1.1 418 I'm a teapot\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n418 I'm a teapot",
		"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request" + strings.Repeat("x", 600),
		`{"companies":[]}`,
	} {
		if out, ok := reshapeRefusal([]byte(p)); ok {
			t.Errorf("%.80q rewritten as %q", p, out)
		}
	}
}
