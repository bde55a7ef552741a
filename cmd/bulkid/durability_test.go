package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRestartMidJob kills the server with SIGKILL in the middle of a job
// and restarts it on the same data: the job completes, nothing is lost and
// every row is counted once.
func TestRestartMidJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"--rows-per-minute", "1200", "--lease-duration", "2s"}
	s := startServer(t, dir, args...)
	const rows = 100
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(rows, "c")))
	waitProgress(t, s, j.JobID, 30)
	s.Kill()

	s = startServer(t, dir, args...)
	done := s.WaitJob(j.JobID)
	checkComplete(t, s, done, rows)
}

// TestGracefulRestart stops the server with SIGTERM mid-job: it gives the
// job back, and a restart resumes it at once.
func TestGracefulRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"--rows-per-minute", "1200"} // default 30s lease: resuming must not wait for it
	s := startServer(t, dir, args...)
	const rows = 100
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(rows, "c")))
	waitProgress(t, s, j.JobID, 20)
	stopped := time.Now()
	s.Stop()

	s = startServer(t, dir, args...)
	done := s.WaitJob(j.JobID)
	checkComplete(t, s, done, rows)
	if d := time.Since(stopped); d > 25*time.Second {
		t.Errorf("the job took %s after a graceful restart: it waited for the lease instead of resuming", d)
	}
}

func waitProgress(t *testing.T, s *server, id string, min int) {
	t.Helper()
	for {
		cur := s.Job(id)
		if cur.CompletedRows >= min {
			if cur.Status == "completed" {
				t.Fatalf("job completed before the restart; the test needs it mid-way")
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkComplete(t *testing.T, s *server, j job, rows int) {
	t.Helper()
	if j.Status != "completed" || j.CompletedRows != rows || j.FailedRows != 0 || j.TotalRows != rows {
		t.Fatalf("job after restart = %s %d+%d/%d, want completed %d+0/%d", j.Status, j.CompletedRows, j.FailedRows, j.TotalRows, rows, rows)
	}
	for i := range rows {
		c := getJSON(t, s, fmt.Sprintf("/v1/companies/c%d", i))
		md, _ := c["metadata"].(map[string]any)
		if md["i"] != float64(i) {
			t.Fatalf("company c%d = %v, want its metadata", i, c)
		}
	}
}

// TestCrashResumesAtOnce: after a SIGKILL mid-job, a restart on the same
// SQLite data directory resumes the job at once, without waiting out the
// dead process's lease (30 s here): holding the directory's lock, the new
// process knows no other runs the job.
func TestCrashResumesAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"--rows-per-minute", "1200", "--lease-duration", "30s", "--log-level", "info"}
	s := startServer(t, dir, args...)
	const rows = 100
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(rows, "c")))
	waitProgress(t, s, j.JobID, 20)
	s.Kill()
	killed := time.Now()

	s = startServer(t, dir, args...)
	done := s.WaitJob(j.JobID)
	checkComplete(t, s, done, rows)
	// 80 rows at 20 a second take 4 s; waiting out the lease would take 30.
	if d := time.Since(killed); d > 25*time.Second {
		t.Errorf("the job finished %s after the crash: it waited for the dead process's lease", d)
	}
	if !strings.Contains(s.stderr.String(), "resuming jobs a previous run left unfinished") {
		t.Errorf("the restart did not say it resumed the job:\n%s", s.stderr.String())
	}
}

// TestOneServerPerDataDir: a second `bulkid serve` on a SQLite data
// directory in use exits at once, saying why; other commands still work.
func TestOneServerPerDataDir(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	out, err := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", s.DataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another bulkid serve is using --data-dir") {
		t.Fatalf("a second serve on the same data directory: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, "apps", "list", "--data-dir", s.DataDir).CombinedOutput(); err != nil || !strings.Contains(string(out), "default") {
		t.Errorf("apps list while the server runs: %v\n%s", err, out)
	}
	if r := s.Get("/v1/background_jobs"); r.Status != 200 {
		t.Errorf("the first server after the refused second: %d", r.Status)
	}
}
