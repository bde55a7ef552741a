// Package wiretest speaks the wire API for tests: requests with a key, the
// answer read whole, the documented error shape, the job object as the
// tests read it, and the checks the wire tests share. The in-process wire
// tests (httpapi) and the black-box tests of the binary (cmd/bulkid) both
// use it, so a request or a job is read one way everywhere.
package wiretest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid/client"
)

// Response is an answer, its body read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r Response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not the JSON expected: %v\n%s", r.Status, err, r.Body)
	}
}

// APIError is the documented error shape.
type APIError struct {
	Errors []struct {
		Error     string `json:"error"`
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
		Details   string `json:"details"`
		JobID     string `json:"job_id"`
		Links     string `json:"links"`
	} `json:"errors"`
}

// ExpectError checks that r is an error in the documented shape with the
// given status and code, and returns it.
func ExpectError(t *testing.T, r Response, status int, code string) APIError {
	t.Helper()
	var e APIError
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.Status, status, r.Body)
	}
	r.JSON(t, &e)
	if len(e.Errors) != 1 || e.Errors[0].ErrorCode != code || e.Errors[0].Message == "" || e.Errors[0].Error == "" {
		t.Fatalf("error body = %s, want one error with error_code %q, an error and a message", r.Body, code)
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Errorf("no x-request-id header")
	}
	return e
}

// Send sends a request with key ("" for none) and returns its answer, or
// the error of a server that is gone (killed, say), without failing the
// test. An answer that does not match the OpenAPI document is returned
// with the error saying how (CheckResponse).
func Send(method, url, key, contentType string, body io.Reader) (Response, error) {
	return SendHeader(method, url, key, contentType, nil, body)
}

// SendHeader is Send with the headers in header added.
func SendHeader(method, url, key, contentType string, header http.Header, body io.Reader) (Response, error) {
	r, err := send(method, url, key, contentType, header, body)
	if err != nil {
		return r, err
	}
	return r, CheckResponse(method, url, r)
}

func send(method, url, key, contentType string, header http.Header, body io.Reader) (Response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return Response{}, err
	}
	for name, vs := range header {
		req.Header[name] = append(req.Header[name], vs...)
	}
	if key != "" {
		req.Header.Set("Authorization", "Token "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json, text/plain, */*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("read body: %w", err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Target is a server as a test speaks to it: its URL and the key of the
// app the test acts as.
type Target struct {
	T   *testing.T
	URL string
	Key string
}

// Do sends a request (key "" for none), failing the test if no answer comes.
func (s Target) Do(method, path, key, contentType string, body io.Reader) Response {
	s.T.Helper()
	r, err := send(method, s.URL+path, key, contentType, nil, body)
	if err != nil {
		s.T.Fatalf("%s %s: %v", method, path, err)
	}
	s.check(method, path, r)
	return r
}

// DoHeader sends a request with the target's key and the headers in
// header, failing the test if no answer comes.
func (s Target) DoHeader(method, path, contentType string, header http.Header, body io.Reader) Response {
	s.T.Helper()
	r, err := send(method, s.URL+path, s.Key, contentType, header, body)
	if err != nil {
		s.T.Fatalf("%s %s: %v", method, path, err)
	}
	s.check(method, path, r)
	return r
}

// check fails the test, without stopping it, if r does not match the
// OpenAPI document.
func (s Target) check(method, path string, r Response) {
	s.T.Helper()
	if err := CheckResponse(method, s.URL+path, r); err != nil {
		s.T.Error(err)
	}
}

// Get sends a GET with the target's key.
func (s Target) Get(path string) Response {
	s.T.Helper()
	return s.Do("GET", path, s.Key, "", nil)
}

// PostJSON posts v as JSON with the target's key.
func (s Target) PostJSON(path string, v any) Response {
	s.T.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		s.T.Fatal(err)
	}
	return s.Do("POST", path, s.Key, "application/json", bytes.NewReader(b))
}

// Upload posts content as the multipart field "file" named filename.
func (s Target) Upload(path, filename string, content []byte) Response {
	s.T.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		s.T.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	return s.Do("POST", path, s.Key, mw.FormDataContentType(), &buf)
}

// StreamUpload posts a multipart body whose parts write writes, streamed
// through a pipe so that no large body is held in memory.
func (s Target) StreamUpload(path string, write func(mw *multipart.Writer) error) Response {
	s.T.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := write(mw)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest("POST", s.URL+path, pr)
	if err != nil {
		s.T.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	pr.CloseWithError(io.ErrClosedPipe) // stop the writer if the server answered early
	if err != nil {
		s.T.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.T.Fatalf("POST %s: read body: %v", path, err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	s.check("POST", path, r)
	return r
}

// Job reads one job, failing the test on any status but 200. A 429 of
// the job-read limit is waited out (its Retry-After) and read again, as
// a client does, so that tests that poll fast are not failed by it.
func (s Target) Job(id string) Job {
	s.T.Helper()
	r := s.Get("/v1/background_jobs/" + id)
	for tries := 0; r.Status == http.StatusTooManyRequests && tries < 10; tries++ {
		secs, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		time.Sleep(time.Duration(max(1, secs)) * time.Second)
		r = s.Get("/v1/background_jobs/" + id)
	}
	if r.Status != http.StatusOK {
		s.T.Fatalf("GET job %s: %d %s", id, r.Status, r.Body)
	}
	var j Job
	r.JSON(s.T, &j)
	Strict(s.T, r.Body)
	return j
}

// WaitJob polls a job until it is final and returns it.
func (s Target) WaitJob(id string) Job {
	s.T.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		j := s.Job(id)
		if j.Status == "completed" || j.Status == "failed" || j.Status == "canceled" {
			return j
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("job %s still %s after 2 minutes: %+v", id, j.Status, j)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// GetJSON reads path as a JSON object, failing the test on any status but 200.
func (s Target) GetJSON(path string) map[string]any {
	s.T.Helper()
	r := s.Get(path)
	if r.Status != http.StatusOK {
		s.T.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	var m map[string]any
	r.JSON(s.T, &m)
	return m
}

// ListJobs lists the jobs of the target's app, query appended to the path.
func (s Target) ListJobs(query string) []Job {
	s.T.Helper()
	r := s.Get("/v1/background_jobs" + query)
	if r.Status != http.StatusOK {
		s.T.Fatalf("list jobs: %d %s", r.Status, r.Body)
	}
	var jobs []Job
	r.JSON(s.T, &jobs)
	var raw []json.RawMessage
	r.JSON(s.T, &raw)
	for _, b := range raw {
		Strict(s.T, b)
	}
	return jobs
}

// MetadataOf reads a profile's metadata as raw JSON values, numbers as sent.
func (s Target) MetadataOf(path string) map[string]json.RawMessage {
	s.T.Helper()
	r := s.Get(path)
	if r.Status != http.StatusOK {
		s.T.Fatalf("GET %s = %d %s", path, r.Status, r.Body)
	}
	var p struct {
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	r.JSON(s.T, &p)
	return p.Metadata
}

// Job is the job object as the tests read it, the one place they decode
// it: the SDK's client.Job, with the times as the strings sent, since the
// tests check their format where client.Job parses them.
type Job struct {
	client.Job
	SubmittedAt                                 string
	StartTime, EndTime, EstimatedCompletionTime *string
}

// UnmarshalJSON reads the job as client.Job does and keeps the times' text.
func (j *Job) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &j.Job); err != nil {
		return err
	}
	var times struct {
		SubmittedAt             string  `json:"submitted_at"`
		StartTime               *string `json:"start_time"`
		EndTime                 *string `json:"end_time"`
		EstimatedCompletionTime *string `json:"estimated_completion_time"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return err
	}
	j.SubmittedAt, j.StartTime, j.EndTime, j.EstimatedCompletionTime = times.SubmittedAt, times.StartTime, times.EndTime, times.EstimatedCompletionTime
	return nil
}

// Accepted checks that r is a 202 with a queued job and returns it.
func Accepted(t *testing.T, r Response) Job {
	t.Helper()
	if r.Status != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body: %s", r.Status, r.Body)
	}
	var j Job
	r.JSON(t, &j)
	Strict(t, r.Body)
	if j.Status != "queued" || j.JobID == "" {
		t.Fatalf("202 body = %s, want a queued job with a job_id", r.Body)
	}
	return j
}

// RecordErrors maps each failed record's position (line or index) to its
// error code.
func RecordErrors(j Job) map[int]string {
	m := map[int]string{}
	for _, e := range j.Errors {
		switch {
		case e.Line != nil:
			m[*e.Line] = e.ErrorCode
		case e.Index != nil:
			m[*e.Index] = e.ErrorCode
		}
	}
	return m
}

// Companies returns n company records c0..c(n-1) with metadata.
func Companies(n int, prefix string) map[string]any {
	recs := make([]any, n)
	for i := range recs {
		recs[i] = map[string]any{"company_id": fmt.Sprintf("%s%d", prefix, i), "metadata": map[string]any{"i": i, "name": fmt.Sprintf("Company %d", i)}}
	}
	return map[string]any{"companies": recs}
}

// WriteRepeat writes n bytes of c to w, 64 KiB at a time.
func WriteRepeat(w io.Writer, c byte, n int) error {
	chunk := bytes.Repeat([]byte{c}, 64<<10)
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// SyncBuffer is a buffer that a server's log and a test read at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ReadResponse reads the answer resp of a request a test sent itself
// whole, closes it, and checks it against the OpenAPI document as the
// other requests of this package are (failing t, without stopping it,
// where it does not match).
func ReadResponse(t *testing.T, resp *http.Response) Response {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("%s %s: read body: %v", resp.Request.Method, resp.Request.URL, err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if err := CheckResponse(resp.Request.Method, resp.Request.URL.String(), r); err != nil {
		t.Error(err)
	}
	return r
}
