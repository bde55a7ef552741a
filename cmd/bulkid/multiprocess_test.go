package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/internal/wiretest"
)

// TestMultiProcessPostgres runs three bulkid processes on one PostgreSQL
// database: of concurrent submissions for one app sent to all three,
// exactly one is accepted; the process running a job is killed with
// SIGKILL mid-job, and another process finishes it with every row stored
// and counted once.
func TestMultiProcessPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	args := []string{"--database-url", url, "--rows-per-minute", "600", "--lease-duration", "2s",
		"--poll-interval", "100ms", "--log-level", "info"}

	// Start the three together: they migrate and create the first app
	// between them without tripping over each other.
	servers := make([]*server, 3)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() { servers[i] = startServer(t, t.TempDir(), args...) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	keys := []string{testKey}
	for _, name := range []string{"second", "third"} {
		out, err := exec.Command(binary, "apps", "create", name, "--database-url", url).Output()
		if err != nil {
			t.Fatalf("apps create %s: %v", name, err)
		}
		f := strings.Fields(string(out))
		keys = append(keys, f[len(f)-1])
	}
	out, err := exec.Command(binary, "apps", "list", "--database-url", url).Output()
	if err != nil || strings.Count(string(out), "\n") != 4 {
		t.Fatalf("apps list = %q (%v), want a header and 3 apps: one first app although 3 processes started", out, err)
	}

	// Each app sends 9 submissions at once, 3 to each process.
	const rows = 100
	type accepted struct {
		jobID, prefix string
	}
	won := make([]accepted, len(keys))
	for a, key := range keys {
		var mu sync.Mutex
		count := map[int]int{}
		var wg sync.WaitGroup
		for i := range 9 {
			wg.Go(func() {
				s := servers[i%3]
				prefix := fmt.Sprintf("a%d-s%d-", a, i)
				body, _ := json.Marshal(companies(rows, prefix))
				req, _ := http.NewRequest("POST", s.URL+"/v1/companies/bulk_identify", bytes.NewReader(body))
				req.Header.Set("Authorization", "Token "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var j job
				json.Unmarshal(wiretest.ReadResponse(t, resp).Body, &j)
				mu.Lock()
				defer mu.Unlock()
				count[resp.StatusCode]++
				if resp.StatusCode == http.StatusAccepted {
					won[a] = accepted{j.JobID, prefix}
				}
			})
		}
		wg.Wait()
		if count[202] != 1 || count[409] != 8 {
			t.Fatalf("app %d: statuses %v, want one 202 and eight 409", a, count)
		}
	}

	// Find the process that runs app 0's job, let it make progress, kill it.
	target := won[0].jobID
	client := &server{t: t, Target: wiretest.Target{T: t, URL: servers[0].URL, Key: keys[0]}}
	var runner int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		runner = -1
		for i, s := range servers {
			if strings.Contains(s.stderr.String(), `job claimed" job_id=`+target) {
				runner = i
			}
		}
		if runner >= 0 && client.Job(target).CompletedRows >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s made no progress on any process", target)
		}
	}
	servers[runner].Kill()
	// Ask a process that is still alive from here on.
	client.URL = servers[(runner+1)%3].URL
	before := client.Job(target)
	if before.Status == "completed" {
		t.Fatalf("job completed before the kill; the test needs it mid-way")
	}

	// Another process takes it over once the lease runs out and finishes it,
	// and the app's rate holds across the processes: completed_rows never
	// runs ahead of 10 rows a second since the start by more than a batch.
	alive := servers[(runner+1)%3]
	watch := &server{t: t, Target: wiretest.Target{T: t, URL: alive.URL, Key: keys[0]}}
	for {
		j := watch.Job(target)
		start, err := time.Parse(time.RFC3339, *j.StartTime)
		if err != nil {
			t.Fatal(err)
		}
		if allowed := 10*time.Since(start).Seconds() + 10; float64(j.CompletedRows) > allowed+0.5 {
			t.Fatalf("completed_rows = %d %s after the start: ahead of 600 rows a minute", j.CompletedRows, time.Since(start))
		}
		if j.Status == "completed" || j.Status == "failed" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for a, key := range keys {
		s := &server{t: t, Target: wiretest.Target{T: t, URL: alive.URL, Key: key}}
		j := s.WaitJob(won[a].jobID)
		if j.Status != "completed" || j.CompletedRows != rows || j.FailedRows != 0 || j.TotalRows != rows {
			t.Errorf("app %d job = %s %d+%d/%d, want completed %d+0/%d", a, j.Status, j.CompletedRows, j.FailedRows, j.TotalRows, rows, rows)
		}
		var cs []map[string]any
		s.Get("/v1/companies?all=true&limit=100").JSON(t, &cs)
		if len(cs) != rows {
			t.Errorf("app %d has %d companies, want %d", a, len(cs), rows)
		}
		for _, c := range cs {
			if !strings.HasPrefix(c["company_id"].(string), won[a].prefix) {
				t.Errorf("app %d has company %v from a refused submission", a, c["company_id"])
			}
		}
	}
	resumed := false
	for i, s := range servers {
		if i != runner && strings.Contains(s.stderr.String(), `job claimed" job_id=`+target) {
			resumed = true
		}
	}
	if !resumed {
		t.Errorf("no other process claimed job %s after the kill", target)
	}
}

// TestRolesPostgres: a process with --role api accepts jobs that a process
// with --role worker runs; the API process runs none and the worker
// process answers only /healthz.
func TestRolesPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	common := []string{"--database-url", url, "--rows-per-minute", "0", "--poll-interval", "100ms", "--log-level", "info"}
	api := startServer(t, t.TempDir(), append(common, "--role", "api")...)
	wrk := startServer(t, t.TempDir(), append(common, "--role", "worker")...)

	j := accepted(t, api.PostJSON("/v1/companies/bulk_identify", companies(30, "c")))
	if done := api.WaitJob(j.JobID); done.Status != "completed" || done.CompletedRows != 30 {
		t.Fatalf("job = %s %d/30", done.Status, done.CompletedRows)
	}
	if strings.Contains(api.stderr.String(), "job claimed") {
		t.Errorf("the api process ran a job")
	}
	if !strings.Contains(wrk.stderr.String(), `job claimed" job_id=`+j.JobID) {
		t.Errorf("the worker process did not run the job")
	}
	expectError(t, wrk.Get("/v1/background_jobs"), 404, "not_found")
}

// TestMigrateCommand: bulkid migrate brings both stores up to date.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	// The newest migration's number, from the files the binary embeds.
	latest := func(dir string) string {
		files, err := filepath.Glob(filepath.Join("..", "..", dir, "migrations", "[0-9][0-9][0-9][0-9]_*.sql"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no migrations in %s: %v", dir, err)
		}
		sort.Strings(files)
		n, _ := strconv.Atoi(filepath.Base(files[len(files)-1])[:4])
		return fmt.Sprintf("schema is at version %d.", n)
	}
	out, err := exec.Command(binary, "migrate", "--data-dir", t.TempDir()).CombinedOutput()
	if want := latest("sqlite"); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("migrate on SQLite: %v\n%s\nwant %q", err, out, want)
	}
	out, err = exec.Command(binary, "migrate", "--database-url", pgtest.URL(t)).CombinedOutput()
	if want := latest("postgres"); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("migrate on PostgreSQL: %v\n%s\nwant %q", err, out, want)
	}
}
