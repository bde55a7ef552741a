package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/worker"
)

// The wire tests run the server as `bulkid serve` wires it, in this
// process: a real SQLite store in a temporary directory, a real worker
// pool and httpapi.NewServer behind an http.Server with serve's timeouts,
// on a loopback port. Tests that need a process of their own (signals,
// several processes, outages, a full disk, RSS, TLS, serve's header
// timeout, the listener that reshapes net/http's refusals, the CLI) stay
// black-box in cmd/bulkid.

// testKey is the first app's key, as serve's BULKID_API_KEY would set it.
const testKey = "test-key-1-0123456789"

type server struct {
	t       *testing.T
	URL     string
	Key     string
	DataDir string
	store   bulkid.Store
	stderr  *syncBuffer // the server's log, as serve writes it to stderr
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

// startServer starts the server with dataDir ("" for a new one) and the
// serve flags in args, each mapped to the httpapi.Config or worker.Config
// field that serve sets from it, with serve's defaults. A flag that has
// no such field fails the test: its test belongs in cmd/bulkid.
func startServer(t *testing.T, dataDir string, args ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rpm := fs.Int("rows-per-minute", 1800, "")
	workers := fs.Int("workers", 16, "")
	lease := fs.Duration("lease-duration", 30*time.Second, "")
	poll := fs.Duration("poll-interval", time.Second, "")
	logLevel := fs.String("log-level", "warn", "") // startServer in cmd/bulkid passes warn
	headerTimeout := fs.Duration("read-header-timeout", 10*time.Second, "")
	readTimeout := fs.Duration("read-timeout", 10*time.Minute, "")
	idleTimeout := fs.Duration("idle-timeout", 2*time.Minute, "")
	maxUploads := fs.Int("max-uploads", 4, "")
	uploadWait := fs.Duration("upload-wait", 30*time.Second, "")
	uploadsPerApp := fs.Int("max-uploads-per-app", 1, "")
	minUploadRate := fs.Int64("min-upload-rate", 10240, "")
	rateWindow := fs.Duration("upload-rate-window", 10*time.Second, "")
	authBurst := fs.Int("auth-fail-burst", 20, "")
	authRefill := fs.Duration("auth-fail-refill", time.Second, "")
	spoolDir := fs.String("spool-dir", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		t.Fatalf("startServer %q: %v (flags without a Config field need the binary: test in cmd/bulkid)", args, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, Key: testKey, DataDir: dataDir, stderr: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(s.stderr, &slog.HandlerOptions{Level: level}))

	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dataDir, "bulkid.db"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s.store = db
	if _, _, err := s.store.CreateFirstApp(ctx, "default", bulkid.HashAPIKey(testKey)); err != nil {
		t.Fatal(err)
	}
	pool, err := worker.New(worker.Config{Store: s.store, Workers: *workers, RowsPerMinute: *rpm, LeaseTTL: *lease,
		PollInterval: *poll, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	burst := *authBurst
	if burst == 0 {
		burst = -1 // serve's authFailBurst: 0 turns the throttle off
	}
	handler := httpapi.NewServer(httpapi.Config{Store: s.store, Notify: pool.Notify, RowsPerMinute: *rpm, Logger: log,
		MaxUploads: *maxUploads, UploadWait: *uploadWait, SpoolDir: *spoolDir,
		MaxUploadsPerApp: *uploadsPerApp, MinUploadRate: *minUploadRate, UploadRateWindow: *rateWindow, ReadTimeout: *readTimeout,
		AuthFailBurst: burst, AuthFailRefill: *authRefill})
	ts := httptest.NewUnstartedServer(handler)
	ts.Config.ReadHeaderTimeout = *headerTimeout
	ts.Config.ReadTimeout = *readTimeout
	ts.Config.WriteTimeout = *readTimeout
	ts.Config.IdleTimeout = *idleTimeout
	ts.Config.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	wctx, stopWork := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { pool.Run(wctx); close(done) }()
	ts.Start()
	s.URL = ts.URL
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		stopWork()
		<-done
		s.store.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", s.stderr.String())
		}
	})
	return s
}

// createApp makes another app in s's store, as `bulkid apps create` does,
// and returns a server handle that speaks with its key.
func createApp(t *testing.T, s *server, name string) *server {
	t.Helper()
	key := bulkid.NewAPIKey()
	if _, err := s.store.CreateApp(context.Background(), name, bulkid.HashAPIKey(key)); err != nil {
		t.Fatalf("apps create %s: %v", name, err)
	}
	return &server{t: t, URL: s.URL, Key: key, DataDir: s.DataDir, store: s.store, stderr: s.stderr}
}

// healthy checks that the server still answers.
func (s *server) healthy(t *testing.T) {
	t.Helper()
	if r := s.do("GET", "/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("GET /healthz = %d %s", r.Status, r.Body)
	}
}

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

// send sends a request with key ("" for none) and returns its answer.
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

// job is the job object as the tests read it.
type job struct {
	JobID                   string  `json:"job_id"`
	Type                    string  `json:"type"`
	Status                  string  `json:"status"`
	SubmittedAt             string  `json:"submitted_at"`
	StartTime               *string `json:"start_time"`
	EndTime                 *string `json:"end_time"`
	ElapsedTime             int64   `json:"elapsed_time"`
	Filename                *string `json:"filename"`
	FileSize                *int64  `json:"file_size"`
	TotalRows               int     `json:"total_rows"`
	CompletedRows           int     `json:"completed_rows"`
	FailedRows              int     `json:"failed_rows"`
	Links                   string  `json:"links"`
	EstimatedCompletionTime *string `json:"estimated_completion_time"`
	FailureReason           *string `json:"failure_reason"`
	Errors                  []struct {
		Index     *int   `json:"index"`
		Line      *int   `json:"line"`
		CompanyID string `json:"company_id"`
		UserID    string `json:"user_id"`
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	} `json:"errors"`
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

func run1(t *testing.T, s *server, path string, body any) job {
	t.Helper()
	return s.waitJob(accepted(t, s.postJSON(path, body)).JobID)
}

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
