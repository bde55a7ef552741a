package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/serverproc"
	"github.com/bulkid/bulkid/internal/wiretest"
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
	t               *testing.T
	proc            *serverproc.Process
	cmd             *exec.Cmd
	wiretest.Target // URL, Key and the requests of wiretest
	DataDir         string
	stderr          *syncBuffer
	exited          <-chan struct{}
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
	s := &server{t: t, Target: wiretest.Target{T: t, Key: testKey}, DataDir: dataDir, stderr: &syncBuffer{}}
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

// createApp makes another app on s's data directory with the CLI and
// returns a server handle that speaks with its key.
func createApp(t *testing.T, s *server, name string) *server {
	t.Helper()
	out, err := exec.Command(binary, "apps", "create", name, "--data-dir", s.DataDir).Output()
	if err != nil {
		t.Fatalf("apps create %s: %v", name, err)
	}
	fields := strings.Fields(string(out))
	return &server{t: t, Target: wiretest.Target{T: t, URL: s.URL, Key: fields[len(fields)-1]}, DataDir: s.DataDir}
}

// The wire helpers are internal/wiretest's, shared with the in-process wire (httpapi) tests;
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

// rawExchange sends req as is on a new connection and returns the answer.
// req is written while the answer is read, since a refusal may come before
// it is all sent; with halfClose the connection is then half-closed (no
// more to send, still reading), as shutdown(SHUT_WR) does.
func rawExchange(t *testing.T, addr, req string, halfClose bool) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	go func() {
		if _, err := io.WriteString(conn, req); err == nil && halfClose {
			conn.(*net.TCPConn).CloseWrite()
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to %.80q: %v", req, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("answer to %.80q cut short: %v", req, err)
	}
	// Checked against the OpenAPI document like every other answer: a
	// request line too broken to name a path is checked as one to "/".
	method, target := "GET", "/"
	line, _, _ := strings.Cut(req, "\r\n")
	if f := strings.Fields(line); len(f) >= 2 {
		method = f[0]
		if u, err := url.ParseRequestURI(f[1]); err == nil && strings.HasPrefix(f[1], "/") {
			target = u.RequestURI()
		}
	}
	if err := wiretest.CheckResponse(method, "http://"+addr+target, response{Status: resp.StatusCode, Header: resp.Header, Body: body}); err != nil {
		t.Error(err)
	}
	return resp, body
}
