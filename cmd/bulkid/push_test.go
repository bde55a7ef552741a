package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// push runs "bulkid push" against s and returns its stdout, stderr and
// exit code.
func push(t *testing.T, s *server, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"push"}, args...)...)
	cmd.Env = append(os.Environ(), "BULKID_URL="+s.URL, "BULKID_TOKEN="+s.Key)
	cmd.Dir = t.TempDir()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("push: %v", err)
	}
	return out.String(), errb.String(), code
}

// events parses --json output.
func events(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("--json line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// TestPushCSVInThreeJobs: a 25,000-row CSV becomes three jobs, and every
// row is stored with its typed values.
func TestPushCSVInThreeJobs(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	var csv bytes.Buffer
	csv.WriteString("company_id,name,seats,active\n")
	for i := range 25000 {
		fmt.Fprintf(&csv, "c%05d,Company %d,%d,%v\n", i, i, i, i%2 == 0)
	}
	file := filepath.Join(t.TempDir(), "accounts.csv")
	os.WriteFile(file, csv.Bytes(), 0o600)

	out, stderr, code := push(t, s, nil, "companies", "--json", file)
	if code != 0 {
		t.Fatalf("push exited %d\nstdout: %s\nstderr: %s", code, out, stderr)
	}
	var submitted []float64
	var summary map[string]any
	for _, e := range events(t, out) {
		switch e["event"] {
		case "job_submitted":
			submitted = append(submitted, e["records"].(float64))
		case "summary":
			summary = e
		}
	}
	if fmt.Sprint(submitted) != "[10000 10000 5000]" {
		t.Errorf("jobs submitted with %v records, want [10000 10000 5000]", submitted)
	}
	if summary == nil || summary["applied"] != float64(25000) || summary["failed"] != float64(0) || summary["jobs"] != float64(3) {
		t.Errorf("summary = %v", summary)
	}
	jobs := listJobs(t, s, "")
	if len(jobs) != 3 {
		t.Fatalf("%d jobs on the server, want 3", len(jobs))
	}
	for _, j := range jobs {
		if j.Status != "completed" || j.FailedRows != 0 || j.CompletedRows != j.TotalRows {
			t.Errorf("job %s: %s %d/%d", j.JobID, j.Status, j.CompletedRows, j.TotalRows)
		}
	}
	// Every row is there: page through all companies.
	n, next := 0, "/v1/companies?all=true&limit=100"
	for next != "" {
		r := s.Get(next)
		var page []map[string]any
		r.JSON(t, &page)
		n += len(page)
		next = ""
		if link := r.Header.Get("Link"); link != "" {
			next = strings.TrimPrefix(strings.Split(link, ">")[0], "<")
		}
	}
	if n != 25000 {
		t.Errorf("%d companies stored, want 25000", n)
	}
	c := getJSON(t, s, "/v1/companies/c12345")
	if fmt.Sprint(c["metadata"]) != "map[active:false name:Company 12345 seats:12345]" {
		t.Errorf("c12345 = %v, want typed CSV values", c["metadata"])
	}
}

// TestPushReportsInvalidRecords: bad lines are reported with file and line
// before anything is sent; --skip-invalid sends the rest and writes the
// failures, with reasons, to --failed-out.
func TestPushReportsInvalidRecords(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	file, _ := filepath.Abs("../../examples/users-with-errors.ndjson")

	_, stderr, code := push(t, s, nil, "users", file)
	if code == 0 {
		t.Fatalf("push of invalid records exited 0")
	}
	for _, want := range []string{
		"users-with-errors.ndjson:2: missing_id:",
		"users-with-errors.ndjson:3: nested_metadata: metadata key \"tags\"",
		"users-with-errors.ndjson:4: malformed_json:",
		"nothing was sent",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Fatalf("%d jobs were sent despite invalid records", len(jobs))
	}

	failedOut := filepath.Join(t.TempDir(), "failed.ndjson")
	out, stderr, code := push(t, s, nil, "users", "--skip-invalid", "--failed-out", failedOut, file)
	if code == 0 {
		t.Errorf("push with failures exited 0")
	}
	if !strings.Contains(out, "2 applied, 3 failed") {
		t.Errorf("summary = %q (stderr %s)", out, stderr)
	}
	for _, id := range []string{"u-5001", "u-5005"} {
		if r := s.Get("/v1/users/" + id); r.Status != 200 {
			t.Errorf("user %s not stored", id)
		}
	}
	b, err := os.ReadFile(failedOut)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		lines = append(lines, m)
	}
	if len(lines) != 3 || lines[0]["line"] != float64(2) || lines[1]["error_code"] != "nested_metadata" ||
		lines[2]["raw"] != `{"user_id":"u-5004", oops}` || !strings.HasSuffix(lines[0]["file"].(string), "users-with-errors.ndjson") {
		t.Errorf("failed-out = %s", b)
	}
}

// TestPushWaitsForRunningJob: a push that meets a running job waits it out
// and then succeeds.
func TestPushWaitsForRunningJob(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "120") // 2 rows a second
	running := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(6, "r")))
	file, _ := filepath.Abs("../../examples/companies.csv")
	start := time.Now()
	out, stderr, code := push(t, s, nil, "companies", file)
	if code != 0 {
		t.Fatalf("push exited %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "another job ("+running.JobID+") is running") {
		t.Errorf("push did not say it waited for %s:\n%s", running.JobID, stderr)
	}
	if j := s.Job(running.JobID); j.Status != "completed" {
		t.Errorf("the running job is %s", j.Status)
	}
	if !strings.Contains(out, "5 applied, 0 failed") {
		t.Errorf("summary = %q", out)
	}
	if time.Since(start) < time.Second {
		t.Errorf("push finished in %s: it cannot have waited for the running job", time.Since(start))
	}
	if c := getJSON(t, s, "/v1/companies/acme"); fmt.Sprint(c["metadata"]) == "map[]" {
		t.Errorf("acme not stored from the CSV: %v", c)
	}
}

// TestPushStdinGzip: "-" reads standard input, gzipped or not, and JSON
// documents work too.
func TestPushStdinGzip(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(`{"users":[{"user_id":"a","company_id":"x"},{"user_id":"b","company_id":"x"}]}`))
	w.Close()
	out, stderr, code := push(t, s, gz.Bytes(), "users", "-")
	if code != 0 || !strings.Contains(out, "2 applied, 0 failed") {
		t.Fatalf("push - exited %d: %s %s", code, out, stderr)
	}
	if c := getJSON(t, s, "/v1/companies/x"); c["user_count"] != float64(2) {
		t.Errorf("company x = %v, want 2 users", c)
	}
}
