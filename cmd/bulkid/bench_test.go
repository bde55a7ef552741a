package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/pgtest"
)

// TestBenchCommand runs a short "bulkid bench" on SQLite and checks that it
// works: it exits 0 and prints a result with a median for each scenario.
// It says nothing about speed; benchmarks are not tests.
func TestBenchCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "bench", "--runs", "1", "--scenarios", "accept-json,job-new,repeat", "--repeat-jobs", "2")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BULKID_") { // SQLite whatever the environment says
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bulkid bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, name := range []string{"accept-json", "job-new", "repeat"} {
		re := regexp.MustCompile(`(?m)^` + name + `: median [0-9.]+ ms, min [0-9.]+ ms, max [0-9.]+ ms \(1 run\)$`)
		if !re.MatchString(out) {
			t.Errorf("no result line with a median for %s in:\n%s\nstderr:\n%s", name, out, stderr.String())
		}
	}
	for _, want := range []string{"machine: ", "store: kind=sqlite", "| accept-json |", "| job-new |", "| repeat |", "| … last ÷ first |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchPeerCommand runs "bulkid bench" on PostgreSQL with job-new and
// the peer scenario against a fake peer in this process that checks what
// it gets (NDJSON lines of company_id and the 14 metadata keys, the
// Bearer token) and answers 200 as Bulker does. It checks that every case
// has a result with the peer's time, the ratio and PostgreSQL's CPU per
// row, and that job-new reports PostgreSQL's CPU beside its floor's.
func TestBenchPeerCommand(t *testing.T) {
	pgtest.URL(t) // skips without BULKID_TEST_DATABASE_URL, as every PostgreSQL test
	base := os.Getenv(pgtest.EnvVar)
	var mu sync.Mutex
	ids := map[string]bool{}
	requests := 0
	var peerErr error
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		fail := func(format string, args ...any) {
			if peerErr == nil {
				peerErr = fmt.Errorf(format, args...)
			}
			http.Error(w, "bad request", http.StatusBadRequest)
		}
		if r.Method != "POST" || r.Header.Get("Authorization") != "Bearer tok" || r.URL.Query().Get("pk") != "company_id" {
			fail("request %s %s, Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
			return
		}
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			var obj map[string]any
			if err := json.Unmarshal(sc.Bytes(), &obj); err != nil || len(obj) != 15 {
				fail("line %q: %v, %d keys", sc.Text(), err, len(obj))
				return
			}
			id, _ := obj["company_id"].(string)
			if _, ok := obj["name"].(string); !ok || id == "" {
				fail("line %q lacks company_id or name", sc.Text())
				return
			}
			ids[id] = true
			n++
		}
		fmt.Fprintf(w, `{"message":"ok","state":{"successfulRows":%d}}`, n)
	}))
	defer peer.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "bench", "--runs", "1", "--scenarios", "job-new,peer", "--database-url", base,
		"--peer-url", peer.URL+"/bulk/pg?tableName=companies&mode=batch&pk=company_id", "--peer-token", "tok",
		"--peer-pid", strconv.Itoa(os.Getpid()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BULKID_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bulkid bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if peerErr != nil {
		t.Errorf("the peer got: %v", peerErr)
	}
	// The merge setup, one new set, one merge, ten new sets.
	if requests != 13 || len(ids) != 120_000 {
		t.Errorf("the peer got %d requests with %d distinct ids, want 13 and 120,000", requests, len(ids))
	}
	out := stdout.String()
	for _, want := range []string{
		"peer-new: median ", "peer-merge: median ", "peer-100k: median ",
		"| … peer: request → 200 |", "| … peer ÷ bulkid (time, in the same run) |", "| … peer server peak RSS |",
		"| … PostgreSQL CPU per row during bulkid |", "| … PostgreSQL CPU per row during the peer |",
		"| … PostgreSQL CPU per row ÷ the floor's |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
