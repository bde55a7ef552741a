package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkid/bulkid/internal/wiretest"
)

// del sends a DELETE with a JSON body and the target's key.
func (s *server) del(path, body string) response {
	s.t.Helper()
	return s.Do("DELETE", path, s.Key, "application/json", strings.NewReader(body))
}

// wantDeleted checks a delete's 202 answer.
func wantDeleted(t *testing.T, r response, deleted, notFound int) {
	t.Helper()
	if r.Status != http.StatusAccepted {
		t.Fatalf("delete: %d %s, want 202", r.Status, r.Body)
	}
	var got struct {
		Status   string `json:"status"`
		Deleted  *int   `json:"deleted"`
		NotFound *int   `json:"not_found"`
	}
	r.JSON(t, &got)
	if got.Status != "completed" || got.Deleted == nil || *got.Deleted != deleted || got.NotFound == nil || *got.NotFound != notFound {
		t.Errorf("delete answered %s, want status completed, deleted %d, not_found %d", r.Body, deleted, notFound)
	}
}

// identifyUsers identifies users over the wire, each "user:company".
func identifyUsers(t *testing.T, s *server, pairs ...string) {
	t.Helper()
	for _, p := range pairs {
		user, company, _ := strings.Cut(p, ":")
		body := fmt.Sprintf(`{"user_id":%q,"metadata":{"k":1}}`, user)
		if company != "" {
			body = fmt.Sprintf(`{"user_id":%q,"metadata":{"k":1},"company":{"id":%q}}`, user, company)
		}
		if r := s.Do("POST", "/v1/identify", s.Key, "application/json", strings.NewReader(body)); r.Status != 202 {
			t.Fatalf("identify %s: %d %s", p, r.Status, r.Body)
		}
	}
}

// wantCompany checks a company's user_count and visible over the wire.
func wantCompany(t *testing.T, s *server, id string, users int, visible bool) {
	t.Helper()
	c := getJSON(t, s, "/v1/companies/"+id)
	if c["user_count"] != float64(users) || c["visible"] != visible {
		t.Errorf("company %s: user_count %v, visible %v; want %d, %v", id, c["user_count"], c["visible"], users, visible)
	}
}

// TestDeleteUsers: DELETE /v1/users removes users at once and takes them
// off their companies' counts before it answers.
func TestDeleteUsers(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	identifyUsers(t, s, "u1:c", "u2:c", "42:d")
	wantCompany(t, s, "c", 2, true)

	wantDeleted(t, s.del("/v1/users", `{"users":["u1","nobody","u1","c"]}`), 1, 2)
	expectError(t, s.Get("/v1/users/u1"), 404, "not_found")
	wantCompany(t, s, "c", 1, true)

	wantDeleted(t, s.del("/v1/users", `{"users":["u2", 42]}`), 2, 0) // an integer id is its decimal string
	wantCompany(t, s, "c", 0, false)
	wantCompany(t, s, "d", 0, false)
	if r := s.Get("/v1/companies"); r.Status != 200 || strings.TrimSpace(string(r.Body)) != "[]" {
		t.Errorf("visible companies after their users went: %d %s, want none", r.Status, r.Body)
	}
	wantDeleted(t, s.del("/v1/users", `{"users":[]}`), 0, 0)
	wantDeleted(t, s.del("/v1/users", `{"other":1,"users":["u2"]}`), 0, 1)

	// Identified again, a user starts afresh.
	if r := s.Do("POST", "/v1/identify", s.Key, "application/json", strings.NewReader(`{"user_id":"u1","metadata":{"new":true}}`)); r.Status != 202 {
		t.Fatalf("identify again: %d %s", r.Status, r.Body)
	}
	u := getJSON(t, s, "/v1/users/u1")
	if fmt.Sprint(u["metadata"]) != "map[new:true]" || u["company_id"] != nil {
		t.Errorf("u1 identified again = %v, want only the new metadata and no company", u)
	}
}

// TestDeleteCompanies: DELETE /v1/companies removes companies; their users
// stay, with no company.
func TestDeleteCompanies(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	identifyUsers(t, s, "u1:c", "u2:c", "u3:d")
	wantDeleted(t, s.del("/v1/companies", `{"companies":["c","c","e"]}`), 1, 1)
	expectError(t, s.Get("/v1/companies/c?all=true"), 404, "not_found")
	for _, id := range []string{"u1", "u2"} {
		if u := getJSON(t, s, "/v1/users/"+id); u["company_id"] != nil || fmt.Sprint(u["metadata"]) != "map[k:1]" {
			t.Errorf("user %s of a deleted company = %v, want its metadata and no company", id, u)
		}
	}
	wantCompany(t, s, "d", 1, true)
	// Users a company's delete never reached: another app's.
	other := createApp(t, s, "other")
	identifyUsers(t, other, "u3:d")
	wantDeleted(t, s.del("/v1/companies", `{"companies":["d"]}`), 1, 0)
	wantCompany(t, other, "d", 1, true)
	wantDeleted(t, other.del("/v1/users", `{"users":["u1"]}`), 0, 1)
	getJSON(t, s, "/v1/users/u1")
}

// TestDeleteRequests: what a delete body may be, and the answers to what
// it may not.
func TestDeleteRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	identifyUsers(t, s, "u1:c")

	for _, tc := range []struct {
		path, body, code string
		status           int
		message          string // a part of the message
	}{
		{"/v1/users", `{}`, "missing_records", 400, `"users"`},
		{"/v1/users", `{"users":"u1"}`, "missing_records", 400, `"users"`},
		{"/v1/users", `{"companies":["c"]}`, "missing_records", 400, `"users"`},
		{"/v1/companies", `{"users":["u1"]}`, "missing_records", 400, `"companies"`},
		{"/v1/users", `["u1"]`, "missing_records", 400, ""},
		{"/v1/users", ``, "invalid_json", 400, ""},
		{"/v1/users", `{"users":["u1",]}`, "invalid_json", 400, ""},
		{"/v1/users", `{"users":["u1"],"users":["u2"]}`, "invalid_json", 400, "twice"},
		{"/v1/users", `{"users":["u1", true]}`, "invalid_request", 400, "users[1]"},
		{"/v1/users", `{"users":["u1", 1.5]}`, "invalid_request", 400, "users[1]"},
		{"/v1/users", `{"users":[""]}`, "invalid_request", 400, "users[0]"},
		{"/v1/users", `{"users":[null]}`, "invalid_request", 400, "users[0]"},
		{"/v1/companies", `{"companies":["c",{"id":"c"}]}`, "invalid_request", 400, "companies[1]"},
		{"/v1/users", `{"users":["` + strings.Repeat("a", 513) + `"]}`, "invalid_request", 400, "512"},
		{"/v1/users", `{"users":["\ud800"]}`, "invalid_request", 400, "surrogate"},
	} {
		e := expectError(t, s.del(tc.path, tc.body), tc.status, tc.code)
		if !strings.Contains(e.Errors[0].Message, tc.message) {
			t.Errorf("DELETE %s %.60s: message %q, want it to mention %s", tc.path, tc.body, e.Errors[0].Message, tc.message)
		}
	}
	// Nothing of a refused request is deleted, not even the ids before
	// the bad one.
	getJSON(t, s, "/v1/users/u1")

	expectError(t, s.Do("DELETE", "/v1/users", s.Key, "text/plain", strings.NewReader(`{"users":["u1"]}`)), 415, "unsupported_media_type")
	expectError(t, s.Do("DELETE", "/v1/users", s.Key, "", strings.NewReader(`{"users":["u1"]}`)), 415, "unsupported_media_type")
	expectError(t, s.Do("DELETE", "/v1/users", "", "application/json", strings.NewReader(`{"users":["u1"]}`)), 401, "unauthorized")
	expectError(t, s.Do("DELETE", "/v1/users", "wrong-key-0123456789", "application/json", strings.NewReader(`{"users":["u1"]}`)), 401, "unauthorized")

	// The 405 probe knows DELETE.
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/v1/users", "DELETE"},
		{"POST", "/v1/users", "DELETE"},
		{"PUT", "/v1/companies", "GET, DELETE"},
		{"DELETE", "/v1/companies/c", "GET"},
		{"DELETE", "/v1/identify", "POST"},
	} {
		r := s.Do(tc.method, tc.path, s.Key, "application/json", strings.NewReader(`{}`))
		expectError(t, r, 405, "method_not_allowed")
		if got := r.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	getJSON(t, s, "/v1/users/u1")

	// gzip, as the other bodies.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, `{"users":["u1"]}`)
	zw.Close()
	wantDeleted(t, sendWith(t, s, "/v1/users", &gz, "Content-Encoding", "gzip"), 1, 0)
	wantDeleted(t, s.del("/v1/users", `{"users":["u1"]}`), 0, 1)

	// Segment's user deletion, as its destination sends it.
	identifyUsers(t, s, "seg-1:c")
	r := sendWith(t, s, "/v1/users", strings.NewReader(`{"users":["seg-1"]}`),
		"Authorization", "token "+s.Key, "X-API-Version", "2020-09-22", "Content-Type", "application/json; charset=utf-8")
	wantDeleted(t, r, 1, 0)
}

// sendWith sends a DELETE with the target's key, application/json and the
// headers given as name, value pairs (which replace those).
func sendWith(t *testing.T, s *server, path string, body io.Reader, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest("DELETE", s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return wiretest.ReadResponse(t, resp)
}

// TestDeleteLimits: at most 10,000 ids and 6 MiB a request, counted while
// the body streams in.
func TestDeleteLimits(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	ids := func(n int, pad int) string {
		var b strings.Builder
		b.WriteString(`{"users":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%0*d"`, pad, i)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	identifyUsers(t, s, "00007:c")

	// 10,000 of the longest ids fit.
	wantDeleted(t, s.del("/v1/users", ids(10000, 512)), 0, 10000)
	wantDeleted(t, s.del("/v1/users", ids(10000, 5)), 1, 9999)
	expectError(t, s.Get("/v1/users/00007"), 404, "not_found")
	identifyUsers(t, s, "00007:c")

	// The 10,001st id is refused as it arrives, also when the body is
	// streamed without a length and would go on.
	e := expectError(t, s.del("/v1/users", ids(10001, 5)), 413, "too_many_records")
	if !strings.Contains(e.Errors[0].Message, "10000 ids") {
		t.Errorf("too_many_records message %q, want it to name the 10000 ids", e.Errors[0].Message)
	}
	pr, pw := io.Pipe()
	go func(pw *io.PipeWriter) {
		io.WriteString(pw, ids(10001, 5)[:len(ids(10001, 5))-2])
		for range 1000 { // more ids than any limit, unless the server stops reading
			if _, err := io.WriteString(pw, `,"more"`); err != nil {
				return
			}
		}
		pw.Close()
	}(pw)
	r := s.Do("DELETE", "/v1/users", s.Key, "application/json", pr)
	pr.CloseWithError(io.ErrClosedPipe)
	expectError(t, r, 413, "too_many_records")

	// Over 6 MiB: refused from Content-Length, and while streaming.
	big := `{"users":["u"],"pad":"` + strings.Repeat("x", 6<<20) + `"}`
	expectError(t, s.del("/v1/users", big), 413, "payload_too_large")
	pr2, pw2 := io.Pipe()
	go func() { io.WriteString(pw2, big); pw2.Close() }()
	r = s.Do("DELETE", "/v1/users", s.Key, "application/json", pr2)
	pr2.CloseWithError(io.ErrClosedPipe)
	expectError(t, r, 413, "payload_too_large")
	getJSON(t, s, "/v1/users/00007")
}
