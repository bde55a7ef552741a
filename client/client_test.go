package client_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/client"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/worker"
)

// ---- Against test servers: the protocol, retries and errors. ----

// fast returns a client of url whose backoff is a few milliseconds, so
// retries without a Retry-After take no real time.
func fast(url string) *client.Client {
	c := client.New(url, "KEY")
	c.Retry.BaseDelay = time.Millisecond
	c.Retry.MaxDelay = 5 * time.Millisecond
	return c
}

// writeError answers in the documented error shape.
func writeError(w http.ResponseWriter, status int, code, message, details string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"error": http.StatusText(status), "error_code": code, "message": message, "details": details}}})
}

const jobBody = `{"job_id":"j1","type":"bulk_identify_companies","status":"queued","submitted_at":"2026-11-28T15:35:20.781Z",
 "start_time":null,"end_time":null,"elapsed_time":0,"filename":null,"file_size":null,"total_rows":2,"completed_rows":0,
 "failed_rows":0,"links":"/v1/background_jobs/j1","errors":[],"estimated_completion_time":null,
 "errors_url":"/v1/background_jobs/j1/errors","failure_reason":null}`

func writeJob(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, jobBody)
}

// counter is a handler that answers the n-th request (from 1) with fn.
type counter struct {
	n  atomic.Int32
	fn func(n int, w http.ResponseWriter, r *http.Request)
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.fn(int(c.n.Add(1)), w, r)
}

func serve(t *testing.T, fn func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *counter) {
	t.Helper()
	h := &counter{fn: fn}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts, h
}

func asError(t *testing.T, err error) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *client.Error", err, err)
	}
	return e
}

func TestRetry503ThenSuccess(t *testing.T) {
	t.Parallel()
	ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			writeError(w, 503, "service_unavailable", "busy", "")
			return
		}
		writeJob(w, 202)
	})
	c := fast(ts.URL)
	var retries []int
	c.Retry.OnRetry = func(attempt int, wait time.Duration, err error) {
		retries = append(retries, attempt)
		if e := asError(t, err); e.StatusCode != 503 || e.Code != "service_unavailable" {
			t.Errorf("OnRetry err = %v", err)
		}
	}
	job, err := c.BulkIdentifyCompanies(context.Background(), []client.Company{{CompanyID: "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if job.JobID != "j1" || job.Status != "queued" || job.TotalRows != 2 || job.ErrorsURL != "/v1/background_jobs/j1/errors" {
		t.Errorf("job = %+v", job)
	}
	if got := h.n.Load(); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
	if fmt.Sprint(retries) != "[1 2]" {
		t.Errorf("OnRetry attempts = %v, want [1 2]", retries)
	}
}

// TestRetryAfter checks that 429 and 409 are retried no sooner than the
// server's Retry-After, given as seconds or as an HTTP date.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		code   string
		date   bool
	}{
		{"429", 429, "too_many_requests", false},
		{"409", 409, "job_in_progress", false},
		{"429 http-date", 429, "too_many_requests", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var first, second, notBefore time.Time
			ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if n == 1 {
					first = time.Now()
					notBefore = first.Add(time.Second)
					if tc.date {
						// An HTTP date has whole seconds: two seconds ahead,
						// truncated, is at least one second ahead.
						d := first.Add(2 * time.Second).UTC().Truncate(time.Second)
						notBefore = d
						w.Header().Set("Retry-After", d.Format(http.TimeFormat))
					} else {
						w.Header().Set("Retry-After", "1")
					}
					writeError(w, tc.status, tc.code, "later", "")
					return
				}
				second = time.Now()
				writeJob(w, 202)
			})
			c := fast(ts.URL) // backoff alone would retry within 5ms
			if _, err := c.BulkIdentifyUsers(context.Background(), []client.User{{UserID: "u1"}}); err != nil {
				t.Fatal(err)
			}
			if got := h.n.Load(); got != 2 {
				t.Fatalf("requests = %d, want 2", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if second.Before(notBefore) {
				t.Errorf("second attempt %v after the first, want no sooner than %v", second.Sub(first), notBefore.Sub(first))
			}
		})
	}
}

// TestNoRetryOn4xx checks that an answer retrying cannot fix is returned
// after exactly one request, even with a Retry-After.
func TestNoRetryOn4xx(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		code   string
	}{
		{400, "invalid_json"}, {401, "unauthorized"}, {403, "forbidden"}, {404, "not_found"},
		{405, "method_not_allowed"}, {413, "payload_too_large"}, {415, "unsupported_media_type"}, {422, "unprocessable"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "1")
				writeError(w, tc.status, tc.code, "no", "")
			})
			c := fast(ts.URL)
			_, err := c.Upload(context.Background(), client.Users, "u.ndjson", []byte(`{"user_id":"u1"}`))
			if e := asError(t, err); e.StatusCode != tc.status || e.Code != tc.code {
				t.Errorf("error = %+v", e)
			}
			_, err = c.Job(context.Background(), "j1")
			if e := asError(t, err); e.StatusCode != tc.status || !client.IsCode(err, tc.code) {
				t.Errorf("error = %+v", e)
			}
			if got := h.n.Load(); got != 2 {
				t.Errorf("requests = %d, want 2 (one per call)", got)
			}
		})
	}
}

func TestConflictNotRetried(t *testing.T) {
	t.Parallel()
	ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Retry-After", "7")
		w.Header().Set("X-Request-Id", "req-409")
		w.WriteHeader(409)
		io.WriteString(w, `{"errors":[{"error":"Conflict","error_code":"job_in_progress","message":"Another bulk job is in progress.",
			"details":"job e865 is processing; poll /v1/background_jobs/e865","job_id":"e865","job_status":"processing",
			"links":"/v1/background_jobs/e865"}]}`)
	})
	c := fast(ts.URL)
	c.Retry.RetryConflicts = false
	start := time.Now()
	_, err := c.BulkIdentifyCompanies(context.Background(), []client.Company{{CompanyID: "acme"}})
	e := asError(t, err)
	if e.StatusCode != 409 || e.Code != "job_in_progress" || e.JobID != "e865" || e.RetryAfter != 7*time.Second ||
		e.RequestID != "req-409" || e.Message != "Another bulk job is in progress." || !strings.Contains(e.Details, "e865") {
		t.Errorf("error = %+v", e)
	}
	if got := h.n.Load(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %v: waited for the Retry-After it should have returned", time.Since(start))
	}
}

// hijackClose drops the connection without an answer.
func hijackClose(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

func TestNetworkErrorRetried(t *testing.T) {
	t.Parallel()
	ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			hijackClose(t, w)
			return
		}
		writeJob(w, 200)
	})
	c := fast(ts.URL)
	var seen []error
	c.Retry.OnRetry = func(_ int, _ time.Duration, err error) { seen = append(seen, err) }
	job, err := c.Job(context.Background(), "j1")
	if err != nil {
		t.Fatal(err)
	}
	if job.JobID != "j1" {
		t.Errorf("job = %+v", job)
	}
	if got := h.n.Load(); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
	if len(seen) != 2 {
		t.Fatalf("retries = %d, want 2", len(seen))
	}
	for _, err := range seen {
		var e *client.Error
		if errors.As(err, &e) {
			t.Errorf("retried error = %v, want a network error", err)
		}
	}

	// A connection refused (nothing listens) is retried too, and in the
	// end reported as the network error it is.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c = fast(dead.URL)
	c.Retry.MaxAttempts = 3
	n := 0
	c.Retry.OnRetry = func(int, time.Duration, error) { n++ }
	if _, err := c.Job(context.Background(), "j1"); err == nil || n != 2 {
		t.Errorf("against a closed port: err = %v after %d retries, want an error after 2", err, n)
	} else if e := (*client.Error)(nil); errors.As(err, &e) {
		t.Errorf("against a closed port: err = %v, want a network error", err)
	}
}

func TestBadBaseURLNotRetried(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"127.0.0.1:8080", "ftp://example.test", "http://%zz"} {
		c := fast(u)
		n := 0
		c.Retry.OnRetry = func(int, time.Duration, error) { n++ }
		if _, err := c.Job(context.Background(), "j1"); err == nil || n != 0 {
			t.Errorf("base URL %q: err = %v after %d retries, want an error and none", u, err, n)
		}
	}
}

func TestMaxAttempts(t *testing.T) {
	t.Parallel()
	for _, max := range []int{1, 3} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			t.Parallel()
			ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
				writeError(w, 500, "internal_error", "oops", "")
			})
			c := fast(ts.URL)
			c.Retry.MaxAttempts = max
			err := c.IdentifyCompany(context.Background(), client.Company{CompanyID: "acme"})
			if e := asError(t, err); e.StatusCode != 500 || e.Code != "internal_error" {
				t.Errorf("error = %+v", e)
			}
			if got := h.n.Load(); int(got) != max {
				t.Errorf("requests = %d, want %d", got, max)
			}
		})
	}
}

// TestContextCancel checks that cancelling stops a call promptly, whether
// it waits out a Retry-After or waits for an answer.
func TestContextCancel(t *testing.T) {
	t.Parallel()
	t.Run("waiting to retry", func(t *testing.T) {
		t.Parallel()
		ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "60")
			writeError(w, 409, "job_in_progress", "busy", "")
		})
		ctx, cancel := context.WithCancel(context.Background())
		c := fast(ts.URL)
		c.Retry.OnRetry = func(int, time.Duration, error) { cancel() }
		start := time.Now()
		_, err := c.BulkIdentifyCompanies(ctx, []client.Company{{CompanyID: "acme"}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v, want at once", d)
		}
		if got := h.n.Load(); got != 1 {
			t.Errorf("requests = %d, want 1", got)
		}
	})
	t.Run("waiting for the answer", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := fast(ts.URL).Job(ctx, "j1")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v, want soon after the 200ms deadline", d)
		}
	})
	t.Run("waiting for a job", func(t *testing.T) {
		t.Parallel()
		ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJob(w, 200) }) // never final
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := fast(ts.URL).WaitJob(ctx, "j1", time.Hour, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v", d)
		}
	})
}

func TestErrorFields(t *testing.T) {
	t.Parallel()
	ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-"+r.URL.Query().Get("case"))
		switch r.URL.Query().Get("case") {
		case "shape":
			writeError(w, 400, "invalid_record", "metadata key \"a\" is an object", "nested_metadata")
		case "details-object":
			w.WriteHeader(400)
			io.WriteString(w, `{"errors":[{"error":"Bad Request","error_code":"x","message":"m","details":{"k":1}}]}`)
		case "html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html>Bad gateway</html>\n")
		case "empty":
			w.WriteHeader(404)
		case "other-json":
			w.WriteHeader(403)
			io.WriteString(w, `{"message":"Forbidden"}`)
		}
	})
	do := func(name string) *client.Error {
		t.Helper()
		cc := client.New(ts.URL, "KEY")
		cc.Retry.MaxAttempts = 1
		cc.HTTPClient = &http.Client{Transport: addQuery{"case", name}}
		_, err := cc.Job(context.Background(), "j1")
		return asError(t, err)
	}

	e := do("shape")
	if e.StatusCode != 400 || e.Code != "invalid_record" || e.Message != `metadata key "a" is an object` ||
		e.Details != "nested_metadata" || e.RequestID != "req-shape" || e.JobID != "" || e.RetryAfter != 0 {
		t.Errorf("documented shape: %+v", e)
	}
	if s := e.Error(); !strings.Contains(s, "400") || !strings.Contains(s, "invalid_record") || !strings.Contains(s, "is an object") || !strings.Contains(s, "nested_metadata") {
		t.Errorf("Error() = %q, want status, code, message and details", s)
	}
	if e := do("details-object"); e.Details != `{"k":1}` || e.Code != "x" {
		t.Errorf("details object: %+v", e)
	}
	if e := do("html"); e.StatusCode != 502 || e.Code != "bad_gateway" || e.Message != "<html>Bad gateway</html>" || e.RequestID != "req-html" {
		t.Errorf("HTML body: %+v", e)
	}
	if e := do("empty"); e.StatusCode != 404 || e.Code != "not_found" || e.Message != "Not Found" {
		t.Errorf("empty body: %+v", e)
	}
	if e := do("other-json"); e.StatusCode != 403 || e.Code != "forbidden" || e.Message != `{"message":"Forbidden"}` {
		t.Errorf("JSON not in the error shape: %+v", e)
	}
}

// addQuery is a transport that adds a query parameter to each request.
type addQuery struct{ k, v string }

func (a addQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	q := r.URL.Query()
	q.Set(a.k, a.v)
	r.URL.RawQuery = q.Encode()
	return http.DefaultTransport.RoundTrip(r)
}

// TestHeaders checks the headers every call sends, as the public docs
// require them.
func TestHeaders(t *testing.T) {
	t.Parallel()
	type seen struct{ method, path, auth, accept, ctype string }
	var mu sync.Mutex
	var got []seen
	ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Accept"), r.Header.Get("Content-Type")})
		mu.Unlock()
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/bulk_identify"):
			writeJob(w, 202)
		case r.Method == "POST":
			w.WriteHeader(202)
			io.WriteString(w, `{"status":"accepted"}`)
		case r.URL.Path == "/v1/background_jobs" || r.URL.Path == "/v1/companies":
			io.WriteString(w, `[]`)
		case strings.HasPrefix(r.URL.Path, "/v1/background_jobs/"):
			writeJob(w, 200)
		default:
			io.WriteString(w, `{}`)
		}
	})
	ctx := context.Background()
	c := client.New(ts.URL+"/", "s3cr3t") // a trailing slash is dropped
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.BulkIdentifyCompanies(ctx, []client.Company{{CompanyID: "a"}})
	must(err)
	_, err = c.BulkIdentifyUsers(ctx, []client.User{{UserID: "u"}})
	must(err)
	_, err = c.BulkIdentifyRaw(ctx, client.Companies, []json.RawMessage{json.RawMessage(`{"company_id":"a"}`)})
	must(err)
	_, err = c.Upload(ctx, client.Companies, "c.ndjson", []byte("{}\n"))
	must(err)
	must(c.IdentifyCompany(ctx, client.Company{CompanyID: "a"}))
	must(c.IdentifyUser(ctx, client.User{UserID: "u"}, nil))
	_, err = c.Job(ctx, "j1")
	must(err)
	_, _, err = c.ListJobs(ctx, client.ListOptions{})
	must(err)
	_, _, err = c.ListCompanies(ctx, client.ListOptions{}, true)
	must(err)
	_, err = c.Company(ctx, "a")
	must(err)
	_, err = c.User(ctx, "u")
	must(err)

	want := map[string]string{
		"POST /v1/companies/bulk_identify": "application/json", "POST /v1/users/bulk_identify": "application/json",
		"POST /v1/companies/identify": "application/json", "POST /v1/identify": "application/json",
	}
	if len(got) != 11 {
		t.Fatalf("requests = %d, want 11: %v", len(got), got)
	}
	for i, s := range got {
		if s.auth != "Token s3cr3t" {
			t.Errorf("%s %s: Authorization = %q, want %q", s.method, s.path, s.auth, "Token s3cr3t")
		}
		if s.accept != "application/json, text/plain, */*" {
			t.Errorf("%s %s: Accept = %q", s.method, s.path, s.accept)
		}
		if strings.HasPrefix(s.path, "//") {
			t.Errorf("path %q has a double slash", s.path)
		}
		switch {
		case i == 3: // the upload
			if mt, _, _ := mime.ParseMediaType(s.ctype); mt != "multipart/form-data" {
				t.Errorf("upload Content-Type = %q", s.ctype)
			}
		case s.method == "POST":
			if s.ctype != want[s.method+" "+s.path] {
				t.Errorf("%s %s: Content-Type = %q", s.method, s.path, s.ctype)
			}
		}
	}
}

// readUpload checks that r is a multipart body with one part "file" and
// returns the part's filename and content.
func readUpload(r *http.Request) (filename string, content []byte, err error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return "", nil, fmt.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	parts := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, err
		}
		parts++
		if p.FormName() != "file" {
			return "", nil, fmt.Errorf("part %q, want file", p.FormName())
		}
		filename = p.FileName()
		if content, err = io.ReadAll(p); err != nil {
			return "", nil, err
		}
	}
	if parts != 1 {
		return "", nil, fmt.Errorf("%d parts, want 1", parts)
	}
	return filename, content, nil
}

// TestUpload checks the multipart body, and that each retry, after a 503
// or a dropped connection, sends the whole file again.
func TestUpload(t *testing.T) {
	t.Parallel()
	content := []byte(strings.Repeat(`{"company_id":"c","metadata":{"n":"`+strings.Repeat("x", 100)+`"}}`+"\n", 2000) + `{"company_id":"last"}`)
	var mu sync.Mutex
	var problems []string
	ts, h := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 2 {
			hijackClose(t, w) // before reading any of the body
			return
		}
		name, got, err := readUpload(r)
		mu.Lock()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("attempt %d: %v", n, err))
		case name != "companies.ndjson" || string(got) != string(content):
			problems = append(problems, fmt.Sprintf("attempt %d: file %q of %d bytes, want companies.ndjson of %d", n, name, len(got), len(content)))
		case r.ContentLength <= int64(len(content)):
			problems = append(problems, fmt.Sprintf("attempt %d: Content-Length %d, want the body's length", n, r.ContentLength))
		}
		mu.Unlock()
		if n == 1 {
			writeError(w, 503, "service_unavailable", "busy", "")
			return
		}
		writeJob(w, 202)
	})
	job, err := fast(ts.URL).Upload(context.Background(), client.Companies, "companies.ndjson", content)
	if err != nil {
		t.Fatal(err)
	}
	if job.JobID != "j1" {
		t.Errorf("job = %+v", job)
	}
	if got := h.n.Load(); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}

// TestListCursor checks that the next page's cursor is read from the
// Link header and sent back, and that the last page has none.
func TestListCursor(t *testing.T) {
	t.Parallel()
	const cursor = "a b/c,d;e&f" // needs escaping in a URL and in a Link header
	var mu sync.Mutex
	var queries []string
	ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		q := r.URL.Query()
		if q.Get("cursor") == "" {
			next := q
			next.Set("cursor", cursor)
			w.Header().Set("Link", "<"+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
		}
		if r.URL.Path == "/v1/companies" {
			io.WriteString(w, `[{"company_id":"acme","metadata":{"a":1},"user_count":2,"visible":true,
				"created_at":"2026-11-28T15:35:20.786Z","updated_at":"2026-11-28T15:36:06.525Z"}]`)
			return
		}
		fmt.Fprintf(w, "[%s]", jobBody)
	})
	ctx := context.Background()
	c := fast(ts.URL)

	jobs, next, err := c.ListJobs(ctx, client.ListOptions{Limit: 1})
	if err != nil || len(jobs) != 1 || jobs[0].JobID != "j1" || next != cursor {
		t.Fatalf("first jobs page: %v, next %q, %v", jobs, next, err)
	}
	jobs, next, err = c.ListJobs(ctx, client.ListOptions{Limit: 1, Cursor: next})
	if err != nil || len(jobs) != 1 || next != "" {
		t.Fatalf("last jobs page: %v, next %q, %v", jobs, next, err)
	}
	cs, next, err := c.ListCompanies(ctx, client.ListOptions{Limit: 5}, true)
	if err != nil || len(cs) != 1 || cs[0].CompanyID != "acme" || cs[0].UserCount != 2 || !cs[0].Visible || string(cs[0].Metadata) != `{"a":1}` || next != cursor {
		t.Fatalf("first companies page: %+v, next %q, %v", cs, next, err)
	}
	if cs[0].CreatedAt.IsZero() || !cs[0].UpdatedAt.After(cs[0].CreatedAt) {
		t.Errorf("company times = %v, %v", cs[0].CreatedAt, cs[0].UpdatedAt)
	}
	if _, next, err = c.ListCompanies(ctx, client.ListOptions{Cursor: cursor}, false); err != nil || next != "" {
		t.Fatalf("last companies page: next %q, %v", next, err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		path string
		q    map[string]string
	}{
		{"/v1/background_jobs", map[string]string{"limit": "1"}},
		{"/v1/background_jobs", map[string]string{"limit": "1", "cursor": cursor}},
		{"/v1/companies", map[string]string{"limit": "5", "all": "true"}},
		{"/v1/companies", map[string]string{"cursor": cursor}},
	}
	for i, w := range want {
		path, raw, _ := strings.Cut(queries[i], "?")
		q, err := url.ParseQuery(raw)
		if err != nil || path != w.path || len(q) != len(w.q) {
			t.Errorf("request %d = %s, want %s with %v", i, queries[i], w.path, w.q)
			continue
		}
		for k, v := range w.q {
			if q.Get(k) != v {
				t.Errorf("request %d = %s: %s = %q, want %q", i, queries[i], k, q.Get(k), v)
			}
		}
	}
}

// TestLinkHeaderForms checks the forms RFC 8288 allows for rel=next.
func TestLinkHeaderForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ link, want string }{
		{`</v1/background_jobs?cursor=abc&limit=2>; rel="next"`, "abc"},
		{`</v1/background_jobs?cursor=abc>; rel=next`, "abc"},
		{`<https://h.test/v1/background_jobs?cursor=abc>; rel="prev", <https://h.test/v1/background_jobs?cursor=def>; rel="next"`, "def"},
		{`</x?cursor=abc>; rel="next last"`, "abc"},
		{`</x?cursor=abc>; rel="prev"`, ""},
		{`garbage`, ""},
	} {
		ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", tc.link)
			io.WriteString(w, "[]")
		})
		_, next, err := fast(ts.URL).ListJobs(context.Background(), client.ListOptions{})
		if err != nil || next != tc.want {
			t.Errorf("Link %s: next = %q, %v; want %q", tc.link, next, err, tc.want)
		}
	}
}

// TestHostedJobShape checks that a job as the public docs show it (fewer
// members, times in a form they do not fix) decodes.
func TestHostedJobShape(t *testing.T) {
	t.Parallel()
	ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"job_id":"bulk:jobs:NX-ac54070e:c6f9","status":"completed","type":"users",
			"start_time":"2025-02-02 12:35:10","end_time":1738499730,"submitted_at":"2025-02-02T12:35:10Z",
			"elapsed_time":5,"file_size":123,"filename":"u.ndjson","total_rows":7,"completed_rows":7,"links":"x",
			"estimated_completion_time":"soon"}`)
	})
	job, err := fast(ts.URL).Job(context.Background(), "bulk:jobs:NX-ac54070e:c6f9")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2025, 2, 2, 12, 35, 10, 0, time.UTC)
	if !job.Done() || job.TotalRows != 7 || job.CompletedRows != 7 || *job.Filename != "u.ndjson" || *job.FileSize != 123 {
		t.Errorf("job = %+v", job)
	}
	for name, got := range map[string]*time.Time{"submitted_at": job.SubmittedAt, "start_time": job.StartTime, "end_time": job.EndTime} {
		if got == nil || !got.Equal(want.Add(map[string]time.Duration{"end_time": 20 * time.Second}[name])) {
			t.Errorf("%s = %v", name, got)
		}
	}
	if job.EstimatedCompletionTime != nil {
		t.Errorf("estimated_completion_time %q decoded as %v, want nil", "soon", job.EstimatedCompletionTime)
	}
}

// TestIdentifyUserBody checks the body of a real-time user identify.
func TestIdentifyUserBody(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	ts, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(202)
		io.WriteString(w, `{"status":"accepted"}`)
	})
	c := fast(ts.URL)
	ctx := context.Background()
	if err := c.IdentifyUser(ctx, client.User{UserID: "u1", CompanyID: "acme", Metadata: map[string]any{"email": "a@acme.test"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.IdentifyUser(ctx, client.User{UserID: "u2"}, &client.Company{CompanyID: "globex", Metadata: map[string]any{"id": "not-the-id", "tier": "gold"}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		`{"company_id":"acme","metadata":{"email":"a@acme.test"},"user_id":"u1"}`,
		`{"company":{"id":"globex","tier":"gold"},"user_id":"u2"}`,
	}
	for i := range want {
		if bodies[i] != want[i] {
			t.Errorf("body %d = %s, want %s", i, bodies[i], want[i])
		}
	}
}

// ---- Against the real server, in process. ----

type realServer struct {
	URL, Key string
}

// startReal serves the API on a fresh SQLite store with one app and a
// worker pool of rowsPerMinute (0: unthrottled).
func startReal(t *testing.T, rowsPerMinute int) realServer {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, sqlite.Config{Path: t.TempDir() + "/db", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	key := "key-" + t.Name()
	if _, err := db.CreateApp(ctx, "a", bulkid.HashAPIKey(key)); err != nil {
		t.Fatal(err)
	}
	pool, err := worker.New(worker.Config{Store: db, RowsPerMinute: rowsPerMinute, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { pool.Run(wctx); close(done) }()
	ts := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: db, Notify: pool.Notify, RowsPerMinute: rowsPerMinute, Logger: quiet}))
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
		db.Close()
	})
	return realServer{URL: ts.URL, Key: key}
}

func (s realServer) client() *client.Client {
	c := client.New(s.URL, s.Key)
	c.Retry.BaseDelay = 10 * time.Millisecond
	return c
}

func compact(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonEq reports whether got and want are the same JSON value.
func jsonEq(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	return compact(t, g) == compact(t, w)
}

// TestAgainstServer exercises every method of the SDK end to end.
func TestAgainstServer(t *testing.T) {
	t.Parallel()
	s := startReal(t, 0)
	c := s.client()
	ctx := context.Background()
	wait := func(j *client.Job, err error) *client.Job {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		// Queued: not started, though the server sends submitted_at as start_time.
		if j.Status != "queued" || j.JobID == "" || j.Links != "/v1/background_jobs/"+j.JobID || j.SubmittedAt == nil || j.StartTime != nil {
			t.Fatalf("submitted job = %+v", j)
		}
		polls := 0
		final, err := c.WaitJob(ctx, j.JobID, 10*time.Millisecond, func(p *client.Job) {
			polls++
			if p.JobID != j.JobID {
				t.Errorf("progress of job %s, want %s", p.JobID, j.JobID)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if polls == 0 || !final.Done() || final.EndTime == nil || final.StartTime == nil || final.EndTime.Before(*final.StartTime) {
			t.Fatalf("after %d polls, final job = %+v", polls, final)
		}
		return final
	}
	var ids []string

	// Companies as JSON.
	j := wait(c.BulkIdentifyCompanies(ctx, []client.Company{
		{CompanyID: "acme", Metadata: map[string]any{"plan": "pro", "seats": 40}},
		{CompanyID: "globex"},
	}))
	ids = append(ids, j.JobID)
	if j.Status != "completed" || j.Type != "bulk_identify_companies" || j.TotalRows != 2 || j.CompletedRows != 2 || j.FailedRows != 0 ||
		j.Filename != nil || j.FileSize == nil || *j.FileSize <= 0 || len(j.Errors) != 0 || j.ErrorsURL != "/v1/background_jobs/"+j.JobID+"/errors" {
		t.Errorf("companies job = %+v", j)
	}

	// Users as JSON, two of them in acme.
	j = wait(c.BulkIdentifyUsers(ctx, []client.User{
		{UserID: "u1", CompanyID: "acme", Metadata: map[string]any{"email": "ann@acme.test"}},
		{UserID: "u2", CompanyID: "acme"},
		{UserID: "u3"},
	}))
	ids = append(ids, j.JobID)
	if j.Status != "completed" || j.Type != "bulk_identify_users" || j.CompletedRows != 3 {
		t.Errorf("users job = %+v", j)
	}

	// Raw records, two of them invalid.
	j = wait(c.BulkIdentifyRaw(ctx, client.Companies, []json.RawMessage{
		json.RawMessage(`{"company_id":"raw1","metadata":{"n":1}}`),
		json.RawMessage(`5`),
		json.RawMessage(`{"company_id": "bad", "metadata": {"t": [1, 2]}}`),
	}))
	ids = append(ids, j.JobID)
	if j.Status != "completed" || j.CompletedRows != 1 || j.FailedRows != 2 || len(j.Errors) != 2 {
		t.Fatalf("raw job = %+v", j)
	}
	if e := j.Errors[1]; e.Index == nil || *e.Index != 2 || e.CompanyID != "bad" || e.ErrorCode != "nested_metadata" || e.Record != nil {
		t.Errorf("job's error = %+v, want index 2, bad, nested_metadata, without the record", e)
	}
	var errs []client.RecordError
	collect := func(e client.RecordError) error { errs = append(errs, e); return nil }
	if err := c.JobErrors(ctx, j.JobID, collect); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 {
		t.Fatalf("errors = %+v", errs)
	}
	if e := errs[0]; e.Index == nil || *e.Index != 1 || e.Line != nil || e.ErrorCode != "not_an_object" || string(e.Record) != "5" {
		t.Errorf("errors[0] = %+v", e)
	}
	if e := errs[1]; e.Index == nil || *e.Index != 2 || e.CompanyID != "bad" || e.ErrorCode != "nested_metadata" ||
		string(e.Record) != `{"company_id":"bad","metadata":{"t":[1,2]}}` || e.Message == "" {
		t.Errorf("errors[1] = %+v", e)
	}
	// fn's error stops the stream and is returned.
	stop := errors.New("stop")
	n := 0
	if err := c.JobErrors(ctx, j.JobID, func(client.RecordError) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("JobErrors with a failing fn = %v after %d calls", err, n)
	}

	// An NDJSON file of users: one good line, a malformed one, a blank one
	// and one without an id.
	file := "{\"user_id\":\"u4\",\"company_id\":\"globex\"}\n{oops\n\n{\"metadata\":{}}\n"
	j = wait(c.Upload(ctx, client.Users, "users.ndjson", []byte(file)))
	ids = append(ids, j.JobID)
	if j.Status != "completed" || j.Filename == nil || *j.Filename != "users.ndjson" || j.FileSize == nil || *j.FileSize != int64(len(file)) ||
		j.TotalRows != 3 || j.CompletedRows != 1 || j.FailedRows != 2 {
		t.Errorf("upload job = %+v", j)
	}
	errs = nil
	if err := c.JobErrors(ctx, j.JobID, collect); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 || errs[0].Line == nil || *errs[0].Line != 2 || errs[0].ErrorCode != "malformed_json" || errs[0].Raw == nil || *errs[0].Raw != "{oops" ||
		errs[1].Line == nil || *errs[1].Line != 4 || errs[1].ErrorCode != "missing_id" || string(errs[1].Record) != `{"metadata":{}}` {
		t.Errorf("upload errors = %s", compact(t, errs))
	}
	// A job with no failed records has an empty stream.
	errs = nil
	if err := c.JobErrors(ctx, ids[0], collect); err != nil || len(errs) != 0 {
		t.Errorf("errors of a clean job = %v, %v", errs, err)
	}

	// Every job, newest first, three to a page.
	var pages [][]string
	cursor := ""
	for {
		page, next, err := c.ListJobs(ctx, client.ListOptions{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range page {
			got = append(got, j.JobID)
		}
		pages = append(pages, got)
		if next == "" {
			break
		}
		cursor = next
		if len(pages) > 5 {
			t.Fatalf("pages never end: %v", pages)
		}
	}
	wantPages := [][]string{{ids[3], ids[2], ids[1]}, {ids[0]}}
	if fmt.Sprint(pages) != fmt.Sprint(wantPages) {
		t.Errorf("job pages = %v, want %v", pages, wantPages)
	}
	if _, err := c.Job(ctx, "no-such-job"); !client.IsCode(err, "not_found") {
		t.Errorf("unknown job: err = %v, want not_found", err)
	} else if e := asError(t, err); e.StatusCode != 404 || e.RequestID == "" || e.Message == "" {
		t.Errorf("unknown job: %+v", e)
	}
	if err := c.JobErrors(ctx, "no-such-job", collect); !client.IsCode(err, "not_found") {
		t.Errorf("errors of an unknown job: err = %v, want not_found", err)
	}

	// Real-time identify: a company, then a user that joins it and sets
	// its metadata, then a user joining globex by company_id alone.
	if err := c.IdentifyCompany(ctx, client.Company{CompanyID: "initech", Metadata: map[string]any{"tier": "gold"}}); err != nil {
		t.Fatal(err)
	}
	p, err := c.Company(ctx, "initech")
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEq(t, p.Metadata, `{"tier":"gold"}`) || p.Visible || p.UserCount != 0 {
		t.Errorf("initech before its user = %+v", p)
	}
	if err := c.IdentifyUser(ctx, client.User{UserID: "u9", Metadata: map[string]any{"email": "x@initech.test"}},
		&client.Company{CompanyID: "initech", Metadata: map[string]any{"seats": 3}}); err != nil {
		t.Fatal(err)
	}
	if err := c.IdentifyUser(ctx, client.User{UserID: "u10", CompanyID: "globex"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.IdentifyCompany(ctx, client.Company{CompanyID: "a/b?c"}); err != nil {
		t.Fatal(err)
	}
	// Real-time identify flattens nested metadata (API.md, Nested metadata).
	if err := c.IdentifyCompany(ctx, client.Company{CompanyID: "x", Metadata: map[string]any{"a": map[string]any{"b": 1}}}); err != nil {
		t.Errorf("nested metadata: err = %v, want it flattened", err)
	}
	if err := c.IdentifyCompany(ctx, client.Company{CompanyID: "y", Metadata: map[string]any{"": 1}}); !client.IsCode(err, "invalid_record") {
		t.Errorf("empty metadata key: err = %v, want invalid_record", err)
	} else if e := asError(t, err); e.Details != "invalid_metadata" {
		t.Errorf("empty metadata key: details = %q", e.Details)
	}

	for _, tc := range []struct {
		id, metadata string
		users        int
	}{
		{"initech", `{"seats":3,"tier":"gold"}`, 1},
		{"acme", `{"plan":"pro","seats":40}`, 2},
		{"globex", `{}`, 2},
		{"raw1", `{"n":1}`, 0},
		{"a/b?c", `{}`, 0},
		{"x", `{"a.b":1}`, 0},
	} {
		p, err := c.Company(ctx, tc.id)
		if err != nil {
			t.Errorf("company %q: %v", tc.id, err)
			continue
		}
		if p.CompanyID != tc.id || !jsonEq(t, p.Metadata, tc.metadata) || p.UserCount != tc.users || p.Visible != (tc.users > 0) || p.CreatedAt.IsZero() || p.UpdatedAt.Before(p.CreatedAt) {
			t.Errorf("company %q = %+v, want metadata %s and %d users", tc.id, p, tc.metadata, tc.users)
		}
	}
	if _, err := c.Company(ctx, "nope"); !client.IsCode(err, "not_found") {
		t.Errorf("unknown company: err = %v", err)
	}

	listAll := func(all bool, limit int) []string {
		t.Helper()
		var ids []string
		cursor := ""
		for range 10 {
			page, next, err := c.ListCompanies(ctx, client.ListOptions{Limit: limit, Cursor: cursor}, all)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page {
				ids = append(ids, p.CompanyID)
			}
			if next == "" {
				return ids
			}
			cursor = next
		}
		t.Fatalf("pages never end: %v", ids)
		return nil
	}
	if got := fmt.Sprint(listAll(false, 2)); got != "[acme globex initech]" {
		t.Errorf("visible companies = %s", got)
	}
	if got := fmt.Sprint(listAll(true, 2)); got != "[a/b?c acme globex initech raw1 x]" {
		t.Errorf("all companies = %s", got)
	}
	if got := fmt.Sprint(listAll(true, 0)); got != "[a/b?c acme globex initech raw1 x]" {
		t.Errorf("all companies, default page = %s", got)
	}

	for _, tc := range []struct{ id, company, metadata string }{
		{"u1", "acme", `{"email":"ann@acme.test"}`},
		{"u3", "", `{}`},
		{"u4", "globex", `{}`},
		{"u9", "initech", `{"email":"x@initech.test"}`},
		{"u10", "globex", `{}`},
	} {
		u, err := c.User(ctx, tc.id)
		if err != nil {
			t.Errorf("user %q: %v", tc.id, err)
			continue
		}
		company := ""
		if u.CompanyID != nil {
			company = *u.CompanyID
		}
		if u.UserID != tc.id || company != tc.company || !jsonEq(t, u.Metadata, tc.metadata) || u.CreatedAt.IsZero() {
			t.Errorf("user %q = %+v, want company %q, metadata %s", tc.id, u, tc.company, tc.metadata)
		}
	}
	if _, err := c.User(ctx, "nope"); !client.IsCode(err, "not_found") {
		t.Errorf("unknown user: err = %v", err)
	}

	// A wrong key is 401, not retried.
	bad := client.New(s.URL, "wrong")
	n = 0
	bad.Retry.OnRetry = func(int, time.Duration, error) { n++ }
	if _, _, err := bad.ListJobs(ctx, client.ListOptions{}); !client.IsCode(err, "unauthorized") || n != 0 {
		t.Errorf("wrong key: err = %v after %d retries", err, n)
	}
	// A request the server refuses is not retried either.
	n = 0
	c.Retry.OnRetry = func(int, time.Duration, error) { n++ }
	if _, err := c.BulkIdentifyCompanies(ctx, nil); !client.IsCode(err, "empty_payload") || n != 0 {
		t.Errorf("empty payload: err = %v after %d retries", err, n)
	}
}

// TestServerConflict runs a slow job and submits another meanwhile: with
// RetryConflicts off the 409 comes back naming the running job; with it on
// (the default) the submission waits it out and succeeds.
func TestServerConflict(t *testing.T) {
	t.Parallel()
	s := startReal(t, 60) // one row a second
	ctx := context.Background()
	c := s.client()
	first, err := c.BulkIdentifyCompanies(ctx, []client.Company{{CompanyID: "c1"}, {CompanyID: "c2"}, {CompanyID: "c3"}})
	if err != nil {
		t.Fatal(err)
	}

	strict := s.client()
	strict.Retry.RetryConflicts = false
	_, err = strict.BulkIdentifyUsers(ctx, []client.User{{UserID: "u1"}})
	e := asError(t, err)
	if e.StatusCode != 409 || e.Code != "job_in_progress" || e.JobID != first.JobID || e.RetryAfter < time.Second || e.RequestID == "" {
		t.Fatalf("409 = %+v, want job_in_progress naming %s with a Retry-After", e, first.JobID)
	}

	retries := 0
	c.Retry.OnRetry = func(_ int, _ time.Duration, err error) {
		if client.IsCode(err, "job_in_progress") {
			retries++
		}
	}
	second, err := c.BulkIdentifyUsers(ctx, []client.User{{UserID: "u1", CompanyID: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	if retries == 0 {
		t.Errorf("the second job was accepted without a retry on 409")
	}
	if j, err := c.Job(ctx, first.JobID); err != nil || j.Status != "completed" || j.CompletedRows != 3 {
		t.Errorf("first job when the second was accepted = %+v, %v; want completed", j, err)
	}
	if j, err := c.WaitJob(ctx, second.JobID, 20*time.Millisecond, nil); err != nil || j.Status != "completed" {
		t.Errorf("second job = %+v, %v", j, err)
	}
}

// TestIDsRoundTripThroughURLs: every id the server accepts reads back
// through its URL as the SDK escapes it (url.PathEscape), "/", "." and ".."
// included, for companies, users and their job's errors; an unclean path
// that names no id route is answered 404 in the error shape, never
// redirected.
func TestIDsRoundTripThroughURLs(t *testing.T) {
	t.Parallel()
	s := startReal(t, 0)
	c := s.client()
	ctx := context.Background()
	ids := []string{"/", ".", "..", "...", "//", "/a", "a/", "a/b", "a/../b", "./", "../..", "%", "%2F", "%2e%2e",
		"?", "#", "a b", "a+b", "~", ";", "é", "\\", "errors"}
	for _, id := range ids {
		if err := c.IdentifyCompany(ctx, client.Company{CompanyID: id, Metadata: map[string]any{"id": id}}); err != nil {
			t.Fatalf("identify company %q: %v", id, err)
		}
		if err := c.IdentifyUser(ctx, client.User{UserID: id, CompanyID: id, Metadata: map[string]any{"id": id}}, nil); err != nil {
			t.Fatalf("identify user %q: %v", id, err)
		}
	}
	for _, id := range ids {
		co, err := c.Company(ctx, id)
		if err != nil {
			t.Errorf("company %q: %v", id, err)
			continue
		}
		if co.CompanyID != id || !jsonEq(t, co.Metadata, compact(t, map[string]string{"id": id})) || co.UserCount != 1 {
			t.Errorf("company %q read back as %+v", id, co)
		}
		u, err := c.User(ctx, id)
		if err != nil {
			t.Errorf("user %q: %v", id, err)
			continue
		}
		if u.UserID != id || !jsonEq(t, u.Metadata, compact(t, map[string]string{"id": id})) || u.CompanyID == nil || *u.CompanyID != id {
			t.Errorf("user %q read back as %+v", id, u)
		}
	}
	// An id that does not exist is a 404 naming it, whatever it is.
	for _, id := range []string{"/", "..", "nope/.."} {
		_, err := c.Company(ctx, id+"-missing")
		var e *client.Error
		if !errors.As(err, &e) || e.StatusCode != 404 || e.Code != "not_found" || !strings.Contains(e.Message, "-missing") {
			t.Errorf("company %q-missing: %v, want 404 not_found naming it", id, err)
		}
	}

	// Paths with "." or ".." segments that name no id route: 404 in the
	// error shape, no redirect. (Empty segments are dropped: "//v1/companies"
	// is the companies, tested in httpapi's TestPathsWithEmptySegments.)
	for _, p := range []string{"//v1/./companies", "/v1/./companies", "/v1/companies/../users/x", "/v1//../background_jobs",
		"/v1/background_jobs/x/../../errors/", "/v1/companies/a/../b/c"} {
		for _, method := range []string{"GET", "POST"} {
			// Sent over a connection of its own, exactly as written.
			conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Token %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", method, p, s.Key)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Errors []struct {
					ErrorCode string `json:"error_code"`
					Message   string `json:"message"`
				} `json:"errors"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			conn.Close()
			if resp.StatusCode != 404 || err != nil || len(body.Errors) != 1 || body.Errors[0].ErrorCode != "not_found" ||
				resp.Header.Get("Location") != "" || !strings.Contains(body.Errors[0].Message, "did you mean") {
				t.Errorf("%s %s: %d %+v (decode: %v), Location %q; want 404 not_found in the error shape", method, p, resp.StatusCode, body, err, resp.Header.Get("Location"))
			}
		}
	}
}
