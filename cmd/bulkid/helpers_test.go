package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid/client"
	"github.com/bulkid/bulkid/internal/serverproc"
)

// These are black-box tests: they build the real bulkid binary, start it
// on a loopback port with its own data directory, and speak HTTP to it.

var (
	binary     string
	buildFlags []string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulkid-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "bulkid")
	if err := serverproc.Build(binary, ".", buildFlags...); err != nil {
		fmt.Fprintf(os.Stderr, "build bulkid: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testKey is the first app's key, from BULKID_API_KEY: at least 16
// characters, the shortest serve accepts.
const testKey = "test-key-1-0123456789"

// server is a "bulkid serve" the test started (serverproc.Process), with
// the test's view of it.
type server struct {
	t       *testing.T
	proc    *serverproc.Process
	cmd     *exec.Cmd
	URL     string
	Key     string
	DataDir string
	stderr  *syncBuffer
	exited  <-chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer starts bulkid serve on a fresh port with dataDir ("" for a
// new one) and extra flags, and waits until /healthz answers.
func startServer(t *testing.T, dataDir string, args ...string) *server {
	t.Helper()
	return startServerEnv(t, dataDir, nil, args...)
}

// startServerEnv is startServer with extra environment variables (KEY=VALUE).
func startServerEnv(t *testing.T, dataDir string, env []string, args ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	s := &server{t: t, Key: testKey, DataDir: dataDir, stderr: &syncBuffer{}}
	p, err := serverproc.Start(context.Background(), serverproc.Config{
		Binary: binary,
		Args:   append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"}, args...),
		Env:    append(append(os.Environ(), "BULKID_API_KEY="+testKey), env...),
		Stderr: s.stderr,
	})
	if err != nil {
		t.Fatalf("server: %v:\n%s", err, s.stderr.String())
	}
	s.proc, s.cmd, s.URL, s.exited = p, p.Cmd, p.URL, p.Exited
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr.String())
		}
	})
	return s
}

// Stop ends the server with SIGTERM and waits for it.
func (s *server) Stop() {
	if err := s.proc.Stop(30 * time.Second); err != nil {
		s.t.Errorf("server %v", err)
	}
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *server) Kill() { s.proc.Kill() }

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not the JSON expected: %v\n%s", r.Status, err, r.Body)
	}
}

// apiError is the documented error shape.
type apiError struct {
	Errors []struct {
		Error     string `json:"error"`
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
		Details   string `json:"details"`
		JobID     string `json:"job_id"`
		Links     string `json:"links"`
	} `json:"errors"`
}

// expectError checks that r is an error in the documented shape with the
// given status and code, and returns it.
func expectError(t *testing.T, r response, status int, code string) apiError {
	t.Helper()
	var e apiError
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

// send sends a request with key ("" for none) and returns its answer, or
// the error of a server that is gone (killed, say), without failing the test.
func send(method, url, key, contentType string, body io.Reader) (response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return response{}, err
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
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("read body: %w", err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// do sends a request with the server's key (key "" for none).
func (s *server) do(method, path, key, contentType string, body io.Reader) response {
	s.t.Helper()
	r, err := send(method, s.URL+path, key, contentType, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (s *server) get(path string) response { return s.do("GET", path, s.Key, "", nil) }

func (s *server) postJSON(path string, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.do("POST", path, s.Key, "application/json", bytes.NewReader(b))
}

// upload posts content as the multipart field "file" named filename.
func (s *server) upload(path, filename string, content []byte) response {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		s.t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	return s.do("POST", path, s.Key, mw.FormDataContentType(), &buf)
}

// job is the job object as the tests read it, the one place they decode
// it: the SDK's client.Job, with the times as the strings sent, since the
// tests check their format where client.Job parses them.
type job struct {
	client.Job
	SubmittedAt                                 string
	StartTime, EndTime, EstimatedCompletionTime *string
}

func (j *job) UnmarshalJSON(b []byte) error {
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

// accepted checks that r is a 202 with a queued job and returns it.
func accepted(t *testing.T, r response) job {
	t.Helper()
	if r.Status != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body: %s", r.Status, r.Body)
	}
	var j job
	r.JSON(t, &j)
	if j.Status != "queued" || j.JobID == "" {
		t.Fatalf("202 body = %s, want a queued job with a job_id", r.Body)
	}
	return j
}

func (s *server) job(id string) job {
	s.t.Helper()
	r := s.get("/v1/background_jobs/" + id)
	if r.Status != http.StatusOK {
		s.t.Fatalf("GET job %s: %d %s", id, r.Status, r.Body)
	}
	var j job
	r.JSON(s.t, &j)
	return j
}

// waitJob polls a job until it is final and returns it.
func (s *server) waitJob(id string) job {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		j := s.job(id)
		if j.Status == "completed" || j.Status == "failed" {
			return j
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %s still %s after 2 minutes: %+v", id, j.Status, j)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// companies returns n company records c0..c(n-1) with metadata.
func companies(n int, prefix string) map[string]any {
	recs := make([]any, n)
	for i := range recs {
		recs[i] = map[string]any{"company_id": fmt.Sprintf("%s%d", prefix, i), "metadata": map[string]any{"i": i, "name": fmt.Sprintf("Company %d", i)}}
	}
	return map[string]any{"companies": recs}
}

// getJSON reads path as a JSON object, failing the test on any status but 200.
func getJSON(t *testing.T, s *server, path string) map[string]any {
	t.Helper()
	r := s.get(path)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// listJobs lists the jobs of s's app, query appended to the path.
func listJobs(t *testing.T, s *server, query string) []job {
	t.Helper()
	r := s.get("/v1/background_jobs" + query)
	if r.Status != http.StatusOK {
		t.Fatalf("list jobs: %d %s", r.Status, r.Body)
	}
	var jobs []job
	r.JSON(t, &jobs)
	return jobs
}

// createApp makes another app on s's data directory with the CLI and
// returns a server handle that speaks with its key.
func createApp(t *testing.T, s *server, name string) *server {
	t.Helper()
	out, err := exec.Command(binary, "apps", "create", name, "--data-dir", s.DataDir).Output()
	if err != nil {
		t.Fatalf("apps create %s: %v", name, err)
	}
	fields := strings.Fields(string(out))
	return &server{t: t, URL: s.URL, Key: fields[len(fields)-1], DataDir: s.DataDir}
}
