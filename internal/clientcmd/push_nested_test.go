package clientcmd_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/internal/clientcmd"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/worker"
)

// TestPushNested: push --nested flatten validates locally with the flatten
// rule and sends ?nested=flatten, so nested records are stored flattened;
// without it they fail locally, as the server's default would fail them.
func TestPushNested(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "db"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateApp(ctx, "a", bulkid.HashAPIKey("k")); err != nil {
		t.Fatal(err)
	}
	pool, err := worker.New(worker.Config{Store: db, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { pool.Run(wctx); close(done) }()
	ts := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: db, Notify: pool.Notify, Logger: quiet}))
	t.Cleanup(func() { ts.Close(); cancel(); <-done; db.Close() })

	file := filepath.Join(t.TempDir(), "users.ndjson")
	content := `{"user_id":"u1","metadata":{"tags":["nested","kept"],"address":{"city":"Paris"}}}` + "\n" + `{"user_id":"u2"}` + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	push := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		args = append([]string{"users", "--url", ts.URL, "--token", "k", "--poll-interval", "10ms",
			"--failed-out", filepath.Join(t.TempDir(), "failed.ndjson")}, args...)
		err := clientcmd.Push(ctx, args, func(string) string { return "" }, nil, &out, &errb)
		return out.String() + errb.String(), err
	}

	if out, err := push(file); err == nil || !strings.Contains(out, "nested_metadata") {
		t.Errorf("push without --nested = %v\n%s\nwant the nested record refused locally", err, out)
	}
	if jobs, err := db.ListJobs(ctx, 1, bulkid.Page{Limit: 10}); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs after a refused push: %d, %v; want none sent", len(jobs), err)
	}
	if out, err := push("--nested", "flatten", file); err != nil {
		t.Fatalf("push --nested flatten: %v\n%s", err, out)
	}
	u, err := db.User(ctx, 1, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"address.city":"Paris","tags":"[\"nested\",\"kept\"]"}`; string(u.Metadata) != want {
		t.Errorf("u1 metadata = %s, want %s", u.Metadata, want)
	}
	jobs, err := db.ListJobs(ctx, 1, bulkid.Page{Limit: 10})
	if err != nil || len(jobs) != 1 || jobs[0].Nested != bulkid.NestedFlatten {
		t.Errorf("jobs = %d, %v; want one with Nested flatten", len(jobs), err)
	}
	if _, err := push("--nested", "json", file); err == nil || !strings.Contains(err.Error(), "--nested must be refuse or flatten") {
		t.Errorf("push --nested json = %v, want the flag named", err)
	}
}
