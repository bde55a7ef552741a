package httpapi_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/internal/metrics"
	"github.com/bulkid/bulkid/internal/wiretest"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/webhook"
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
	t               *testing.T
	wiretest.Target // URL, Key and the requests of wiretest
	DataDir         string
	store           bulkid.Store
	stderr          *syncBuffer // the server's log, as serve writes it to stderr
	// metrics is the registry serve serves on --metrics-addr; nil unless
	// the test passes --metrics-addr (any value: it is not listened on).
	metrics *metrics.Registry
	// stopWorkers stops the worker pool, as shutdown does, and waits.
	stopWorkers func()
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
	realtimeRate := fs.Int("realtime-rate", 600, "")
	jobReadRate := fs.Int("job-read-rate", 6000, "")
	spoolDir := fs.String("spool-dir", "", "")
	allowPrivate := fs.Bool("webhook-allow-private", false, "")
	metricsAddr := fs.String("metrics-addr", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		t.Fatalf("startServer %q: %v (flags without a Config field need the binary: test in cmd/bulkid)", args, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, Target: wiretest.Target{T: t, Key: testKey}, DataDir: dataDir, stderr: &syncBuffer{}}
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
	var apiMetrics httpapi.Metrics
	var workerMetrics worker.Metrics
	if *metricsAddr != "" {
		s.metrics = metrics.New()
		apiMetrics, workerMetrics = s.metrics.API(), s.metrics.Worker()
	}
	pool, err := worker.New(worker.Config{Store: s.store, Workers: *workers, RowsPerMinute: *rpm, LeaseTTL: *lease,
		PollInterval: *poll, Logger: log, Metrics: workerMetrics})
	if err != nil {
		t.Fatal(err)
	}
	burst := *authBurst
	if burst == 0 {
		burst = -1 // serve's authFailBurst: 0 turns the throttle off
	}
	rtRate := *realtimeRate
	if rtRate == 0 {
		rtRate = -1 // the same for the real-time rate limit
	}
	readRate := *jobReadRate
	if readRate == 0 {
		readRate = -1 // and for the job-read rate limit
	}
	handler := httpapi.NewServer(httpapi.Config{Store: s.store, Notify: pool.Notify, RowsPerMinute: *rpm, Logger: log,
		MaxUploads: *maxUploads, UploadWait: *uploadWait, SpoolDir: *spoolDir,
		MaxUploadsPerApp: *uploadsPerApp, MinUploadRate: *minUploadRate, UploadRateWindow: *rateWindow, ReadTimeout: *readTimeout,
		AuthFailBurst: burst, AuthFailRefill: *authRefill, RealtimeRate: rtRate, JobReadRate: readRate, Metrics: apiMetrics, Workers: pool,
		CheckWebhookURL: func(ctx context.Context, url string) error {
			return webhook.CheckURL(ctx, url, *allowPrivate, net.DefaultResolver)
		}})
	ts := httptest.NewUnstartedServer(handler)
	ts.Config.ReadHeaderTimeout = *headerTimeout
	ts.Config.ReadTimeout = *readTimeout
	ts.Config.WriteTimeout = *readTimeout
	ts.Config.IdleTimeout = *idleTimeout
	ts.Config.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	wctx, stopWork := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { pool.Run(wctx); close(done) }()
	s.stopWorkers = func() { stopWork(); <-done }
	for !pool.Running() { // as /readyz sees it once serve is up
		time.Sleep(time.Millisecond)
	}
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
	return &server{t: t, Target: wiretest.Target{T: t, URL: s.URL, Key: key}, DataDir: s.DataDir, store: s.store, stderr: s.stderr}
}

// healthy checks that the server still answers.
func (s *server) healthy(t *testing.T) {
	t.Helper()
	if r := s.Do("GET", "/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Fatalf("GET /healthz = %d %s", r.Status, r.Body)
	}
}

func run1(t *testing.T, s *server, path string, body any) job {
	t.Helper()
	return s.WaitJob(accepted(t, s.PostJSON(path, body)).JobID)
}

// The wire helpers are internal/wiretest's, shared with the black-box (cmd/bulkid) tests;
// these are the names the tests here call them by.
type (
	response   = wiretest.Response
	apiError   = wiretest.APIError
	job        = wiretest.Job
	syncBuffer = wiretest.SyncBuffer
)

var (
	expectError = wiretest.ExpectError
	send        = wiretest.Send
	accepted    = wiretest.Accepted
	companies   = wiretest.Companies
)

// target is s as wiretest speaks to it, failing t.
func (s *server) target(t *testing.T) wiretest.Target {
	return wiretest.Target{T: t, URL: s.URL, Key: s.Key}
}

// getJSON reads path as a JSON object, failing the test on any status but 200.
func getJSON(t *testing.T, s *server, path string) map[string]any {
	t.Helper()
	return s.target(t).GetJSON(path)
}

// listJobs lists the jobs of s's app, query appended to the path.
func listJobs(t *testing.T, s *server, query string) []job {
	t.Helper()
	return s.target(t).ListJobs(query)
}
