package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/wiretest"
)

// mountTmpfs mounts a tmpfs of the given size (e.g. "32m") on a fresh
// directory for the test and unmounts it afterwards. It needs root: without
// it the test skips, unless CI is set, where it fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("mount a %s tmpfs (needs root, or CAP_SYS_ADMIN): %v: %s", size, err, bytes.TrimSpace(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("skipping the full-disk test: " + msg)
	}
	// Registered after t.TempDir and before the server's cleanup: it runs
	// after the server has stopped and before the directory is removed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fillDisk writes path until the file system holding it is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10} {
		buf := make([]byte, size)
		for {
			if _, err = f.Write(buf); err != nil {
				break
			}
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("fill %s: %v, want ENOSPC", path, err)
		}
	}
}

// sqliteExec runs one statement on the server's database file from another
// connection, as the sqlite3 shell or a backup tool would, and returns the
// first column of the first row.
func sqliteExec(t *testing.T, path, stmt string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(stmt)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	for i := range vals {
		vals[i] = new(any)
	}
	var first string
	if rows.Next() {
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		first = fmt.Sprint(*vals[0].(*any))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return first
}

// expectFull checks a 507 insufficient_storage in the documented shape
// that gives away nothing of the store.
func expectFull(t *testing.T, what string, r response) {
	t.Helper()
	expectOpaque(t, what, r, http.StatusInsufficientStorage, "insufficient_storage",
		"sqlite", "sql", "spool", "/tmp", "no space", "database or disk")
}

// TestDiskFullSQLite runs the SQLite store and the upload spool on a small
// tmpfs and fills it while a job runs: submissions, uploads spooled to disk
// and real-time identify answer 507 insufficient_storage, reads go on, and
// the running job pauses. Once space is freed the job completes with every
// row counted once, new jobs are accepted, and after a restart the database
// passes integrity_check with every record committed before readable.
func TestDiskFullSQLite(t *testing.T) {
	t.Parallel()
	disk := mountTmpfs(t, "32m")
	dataDir, spoolDir := filepath.Join(disk, "data"), filepath.Join(disk, "spool")
	dbPath := filepath.Join(dataDir, "bulkid.db")
	// 6000 rows a minute: batches of 100 a second.
	args := []string{"--spool-dir", spoolDir, "--rows-per-minute", "6000", "--lease-duration", "1s",
		"--poll-interval", "100ms", "--log-level", "info"}
	s := startServer(t, dataDir, args...)
	out, err := exec.Command(binary, "apps", "create", "second", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatalf("apps create: %v", err)
	}
	f := strings.Fields(string(out))
	s2 := &server{t: t, Target: wiretest.Target{T: t, URL: s.URL, Key: f[len(f)-1]}}

	// Committed before the disk fills: a job of app 1, and a real-time user.
	pre := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(100, "pre")))
	checkStored(t, s, s.WaitJob(pre.JobID), 100, "pre")
	if r := s.PostJSON("/v1/identify", map[string]any{"user_id": "u1", "company_id": "pre0"}); r.Status != http.StatusAccepted {
		t.Fatalf("identify: %d %s", r.Status, r.Body)
	}
	// A job of app 2, mid-way when the disk fills.
	const runRows = 300
	run := accepted(t, s2.PostJSON("/v1/companies/bulk_identify", companies(runRows, "run")))
	waitProgress(t, s2, run.JobID, 100)

	// Empty the WAL into the database file, as `sqlite3 bulkid.db
	// "PRAGMA wal_checkpoint(TRUNCATE)"` would: every write from here on
	// needs new space, so the full disk is met at the next write rather
	// than after the WAL's spare room is used up.
	if busy := sqliteExec(t, dbPath, "PRAGMA wal_checkpoint(TRUNCATE)"); busy != "0" {
		t.Fatalf("wal_checkpoint(TRUNCATE) could not finish (busy = %s)", busy)
	}
	filler := filepath.Join(disk, "filler")
	fillDisk(t, filler)

	expectFull(t, "POST bulk_identify (JSON, in memory)", s.PostJSON("/v1/companies/bulk_identify", companies(100, "lost")))
	var ndjson bytes.Buffer
	const bigRows = 150
	for i := range bigRows { // 1.2 MB: spooled to disk while it is read
		fmt.Fprintf(&ndjson, `{"company_id":"big%d","metadata":{"pad":"%s"}}`+"\n", i, strings.Repeat("x", 8000))
	}
	expectFull(t, "POST bulk_identify (file, spooled)", s.Upload("/v1/companies/bulk_identify", "big.ndjson", ndjson.Bytes()))
	expectFull(t, "POST bulk_identify (NDJSON body, spooled)", s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/x-ndjson", bytes.NewReader(ndjson.Bytes())))
	bigJSON := []byte(`{"companies":[` + strings.Join(strings.Split(strings.TrimSpace(ndjson.String()), "\n"), ",") + `]}`)
	expectFull(t, "POST bulk_identify (JSON, spooled)", s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/json", bytes.NewReader(bigJSON)))
	expectFull(t, "POST identify", s.PostJSON("/v1/companies/identify", map[string]any{"company_id": "rt", "metadata": map[string]any{"a": 1}}))
	// Reads go on.
	if r := s.Do("GET", "/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Errorf("/healthz with the disk full = %d %s, want 200: reads are served", r.Status, r.Body)
	}
	checkStored(t, s, s.Job(pre.JobID), 100, "pre")
	// The running job pauses: it is neither failed nor finished.
	waitLog(t, s, `job paused" job_id=`+run.JobID)
	if j := s2.Job(run.JobID); j.Status != "processing" || j.CompletedRows >= runRows {
		t.Fatalf("job with the disk full = %s %d/%d, want still processing", j.Status, j.CompletedRows, j.TotalRows)
	}

	// Free the space: the job completes, every row counted once, and new
	// jobs are accepted.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	checkStored(t, s2, s2.WaitJob(run.JobID), runRows, "run")
	post := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(50, "post")))
	checkStored(t, s, s.WaitJob(post.JobID), 50, "post")
	big := accepted(t, s.Upload("/v1/companies/bulk_identify", "big.ndjson", ndjson.Bytes()))
	if j := s.WaitJob(big.JobID); j.Status != "completed" || j.CompletedRows != bigRows {
		t.Fatalf("the spooled upload after the disk was freed = %+v", j)
	}
	if strings.Contains(s.stderr.String(), "job failed") {
		t.Errorf("the full disk failed a job:\n%s", s.stderr.String())
	}
	// The refused requests stored nothing.
	for _, id := range []string{"lost0", "rt"} {
		if r := s.Get("/v1/companies/" + id); r.Status != http.StatusNotFound {
			t.Errorf("company %s of a refused request: %d %s", id, r.Status, r.Body)
		}
	}
	var list []job
	s.Get("/v1/background_jobs").JSON(t, &list)
	if len(list) != 3 {
		t.Errorf("app 1 has %d jobs, want 3 (pre, post, big): %+v", len(list), list)
	}

	// Stop: the file is sound, and a restart serves everything.
	s.Stop()
	if got := sqliteExec(t, dbPath, "PRAGMA integrity_check"); got != "ok" {
		t.Fatalf("integrity_check = %q", got)
	}
	// Started on a full disk, serve exits and says why.
	fillDisk(t, filler)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only a guard against a hang
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	cmd.Env = append(cmd.Environ(), "BULKID_API_KEY="+testKey)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "the disk holding --data-dir "+dataDir+" is full") {
		t.Errorf("serve on a full disk: %v, want exit status 1 naming the full disk:\n%s", err, out)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, dataDir, args...)
	s2.URL = s.URL
	checkStored(t, s, s.Job(pre.JobID), 100, "pre")
	checkStored(t, s2, s2.Job(run.JobID), runRows, "run")
	checkStored(t, s, s.Job(post.JobID), 50, "post")
	if u := getJSON(t, s, "/v1/users/u1"); u["company_id"] != "pre0" {
		t.Errorf("user u1 after the restart = %v", u)
	}
}
