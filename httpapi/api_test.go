package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bulkid/bulkid/internal/wiretest"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	r := s.Do("GET", "/healthz", "", "", nil)
	if r.Status != http.StatusOK || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("GET /healthz = %d (x-request-id %q), want 200 with an x-request-id", r.Status, r.Header.Get("X-Request-Id"))
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	body := `{"companies":[{"company_id":"a"}]}`
	for _, tc := range []struct {
		name, header string
	}{
		{"missing", ""},
		{"no scheme", testKey},
		{"bearer scheme", "Bearer " + testKey},
		{"unknown key", "Token nope"},
		{"empty key", "Token "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/v1/companies/bulk_identify", "/v1/users/bulk_identify", "/v1/background_jobs", "/v1/companies", "/v1/companies/a", "/v1/users/u"} {
				method := "GET"
				if strings.HasSuffix(path, "bulk_identify") {
					method = "POST"
				}
				req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				expectError(t, wiretest.ReadResponse(t, resp), http.StatusUnauthorized, "unauthorized")
			}
		})
	}
	// The scheme word is case-insensitive, as the docs use both.
	for _, scheme := range []string{"token", "TOKEN", "Token"} {
		req, _ := http.NewRequest("GET", s.URL+"/v1/background_jobs", nil)
		req.Header.Set("Authorization", scheme+" "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wiretest.ReadResponse(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("scheme %q: status %d, want 200", scheme, resp.StatusCode)
		}
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Errorf("unauthenticated requests created %d jobs", len(jobs))
	}
}

// TestWholeRequestChecks covers every answer given before anything is
// stored, and checks that nothing was.
func TestWholeRequestChecks(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	multipartNoFile := func() (string, io.Reader) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("note", "no file here")
		mw.Close()
		return mw.FormDataContentType(), &buf
	}
	ct, noFile := multipartNoFile()
	for _, tc := range []struct {
		name, path, contentType string
		body                    io.Reader
		status                  int
		code                    string
	}{
		{"text/plain", "/v1/companies/bulk_identify", "text/plain", strings.NewReader(`{"companies":[]}`), 415, "unsupported_media_type"},
		{"no content type", "/v1/users/bulk_identify", "", strings.NewReader(`{"users":[]}`), 415, "unsupported_media_type"},
		{"form urlencoded", "/v1/users/bulk_identify", "application/x-www-form-urlencoded", strings.NewReader(`a=b`), 415, "unsupported_media_type"},
		{"not json", "/v1/companies/bulk_identify", "application/json", strings.NewReader(`{"companies": [`), 400, "invalid_json"},
		{"garbage", "/v1/companies/bulk_identify", "application/json", strings.NewReader(`hello`), 400, "invalid_json"},
		{"bad element", "/v1/companies/bulk_identify", "application/json", strings.NewReader(`{"companies":[{"company_id":"a"}, {oops}]}`), 400, "invalid_json"},
		{"no array", "/v1/companies/bulk_identify", "application/json", strings.NewReader(`{"data":[{"company_id":"a"}]}`), 400, "missing_records"},
		{"wrong array for users", "/v1/users/bulk_identify", "application/json", strings.NewReader(`{"companies":[{"company_id":"a"}]}`), 400, "missing_records"},
		{"array not object", "/v1/companies/bulk_identify", "application/json", strings.NewReader(`[{"company_id":"a"}]`), 400, "missing_records"},
		{"companies not array", "/v1/companies/bulk_identify", "application/json", strings.NewReader(`{"companies":{"company_id":"a"}}`), 400, "missing_records"},
		{"empty array", "/v1/companies/bulk_identify", "application/json", strings.NewReader(`{"companies":[]}`), 400, "empty_payload"},
		{"multipart without file", "/v1/companies/bulk_identify", ct, noFile, 400, "missing_file"},
		{"multipart without boundary", "/v1/companies/bulk_identify", "multipart/form-data", strings.NewReader("x"), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, s.Do("POST", tc.path, s.Key, tc.contentType, tc.body), tc.status, tc.code)
		})
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Errorf("rejected requests created %d jobs", len(jobs))
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	expectError(t, s.Get("/v1/nothing"), 404, "not_found")
	expectError(t, s.Get("/v1/background_jobs/00000000-0000-0000-0000-000000000000"), 404, "not_found")
	expectError(t, s.Get("/v1/companies/none"), 404, "not_found")
	expectError(t, s.Get("/v1/users/none"), 404, "not_found")
	r := s.Do("DELETE", "/v1/background_jobs", s.Key, "", nil)
	expectError(t, r, 405, "method_not_allowed")
	if r.Header.Get("Allow") != "GET" {
		t.Errorf("Allow = %q, want GET", r.Header.Get("Allow"))
	}
	expectError(t, s.Get("/v1/companies/bulk_identify"), 404, "not_found") // a company with that id does not exist
	expectError(t, s.Get("/v1/background_jobs?limit=abc"), 400, "invalid_request")
	expectError(t, s.Get("/v1/background_jobs?cursor=nope"), 400, "invalid_request")
}

func TestLimits(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")

	// 10,001 records in a JSON body.
	expectError(t, s.PostJSON("/v1/companies/bulk_identify", companies(10001, "c")), 413, "too_many_records")
	// 10,001 lines in an NDJSON file.
	var nd bytes.Buffer
	for i := range 10001 {
		fmt.Fprintf(&nd, `{"user_id":"u%d"}`+"\n", i)
	}
	expectError(t, s.Upload("/v1/users/bulk_identify", "users.ndjson", nd.Bytes()), 413, "too_many_records")
	// A file of exactly 50 MiB is accepted; one byte more is not. Fifty
	// records, each a line of exactly 1 MiB.
	line := func(i int) []byte {
		head := fmt.Sprintf(`{"company_id":"big%d","metadata":{"pad":"`, i)
		tail := `"}}` + "\n"
		return []byte(head + strings.Repeat("p", 1<<20-len(head)-len(tail)) + tail)
	}
	var exact bytes.Buffer
	for i := range 50 {
		exact.Write(line(i))
	}
	if exact.Len() != 50<<20 {
		t.Fatalf("test file is %d bytes, want %d", exact.Len(), 50<<20)
	}
	over := append(bytes.Clone(exact.Bytes()), '\n')
	expectError(t, s.Upload("/v1/companies/bulk_identify", "over.ndjson", over), 413, "payload_too_large")
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Fatalf("oversized requests created %d jobs", len(jobs))
	}

	big := accepted(t, s.Upload("/v1/companies/bulk_identify", "exact.ndjson", exact.Bytes()))
	if *big.FileSize != 50<<20 || big.TotalRows != 50 {
		t.Errorf("50 MiB file: file_size %d, total_rows %d", *big.FileSize, big.TotalRows)
	}
	if done := s.WaitJob(big.JobID); done.CompletedRows != 50 {
		t.Errorf("50 MiB file: completed_rows = %d, want 50", done.CompletedRows)
	}

	// Exactly 10,000 records is within the limit.
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(10000, "c")))
	if j.TotalRows != 10000 {
		t.Errorf("total_rows = %d, want 10000", j.TotalRows)
	}
	done := s.WaitJob(j.JobID)
	if done.Status != "completed" || done.CompletedRows != 10000 || done.FailedRows != 0 {
		t.Errorf("job = %s %d/%d, want completed 10000/0", done.Status, done.CompletedRows, done.FailedRows)
	}
}

// TestOversizedBodyNotReadWhole streams a body far over the limit and
// checks the 413 arrives without the server reading it all.
func TestOversizedBodyNotReadWhole(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	pr, pw := io.Pipe()
	var mu sync.Mutex
	written := 0
	go func() {
		chunk := []byte(`{"company_id":"x","metadata":{"pad":"` + strings.Repeat("p", 1<<16) + `"}}` + "\n")
		for written < 200_000_000 {
			n, err := pw.Write(chunk)
			mu.Lock()
			written += n
			mu.Unlock()
			if err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", s.URL+"/v1/companies/bulk_identify", pr)
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	expectError(t, wiretest.ReadResponse(t, resp), 413, "payload_too_large")
	mu.Lock()
	defer mu.Unlock()
	if written >= 200_000_000 {
		t.Errorf("the client sent all %d bytes before the 413", written)
	}
}

func TestRetryAfterAndConflict(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "60") // one row a second: the job stays running
	first := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(30, "c")))
	for _, path := range []string{"/v1/companies/bulk_identify", "/v1/users/bulk_identify"} {
		var r response
		if strings.HasPrefix(path, "/v1/users") {
			r = s.PostJSON(path, map[string]any{"users": []any{map[string]any{"user_id": "u"}}})
		} else {
			r = s.PostJSON(path, companies(1, "d"))
		}
		e := expectError(t, r, 409, "job_in_progress")
		if e.Errors[0].JobID != first.JobID || e.Errors[0].Links != "/v1/background_jobs/"+first.JobID {
			t.Errorf("409 names job %q at %q, want %q", e.Errors[0].JobID, e.Errors[0].Links, first.JobID)
		}
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60 {
			t.Errorf("Retry-After = %q, want seconds in [1, 60] for 30 rows at 60/min", r.Header.Get("Retry-After"))
		}
	}
	if n := len(listJobs(t, s, "")); n != 1 {
		t.Errorf("%d jobs stored, want 1", n)
	}
}

// TestConcurrentSubmissions: of many simultaneous submissions for one app,
// exactly one is accepted.
func TestConcurrentSubmissions(t *testing.T) {
	t.Parallel()
	// Four of one app's uploads are read at once, so that their inserts
	// race on the unique index, not on the per-app upload slot.
	s := startServer(t, "", "--rows-per-minute", "60", "--max-uploads-per-app", "4")
	const n = 20
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body, _ := json.Marshal(companies(50, fmt.Sprintf("g%d-", i)))
			req, _ := http.NewRequest("POST", s.URL+"/v1/companies/bulk_identify", bytes.NewReader(body))
			req.Header.Set("Authorization", "Token "+s.Key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			wiretest.ReadResponse(t, resp)
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[202] != 1 || count[409] != n-1 {
		t.Fatalf("statuses = %v, want one 202 and %d 409", count, n-1)
	}
}
