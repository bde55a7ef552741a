package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// cli runs the bulkid binary with args and extra environment variables
// (any BULKID_ variable of the test's own environment is left out) and
// returns its stdout, stderr and exit code.
func cli(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BULKID_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if os.Getenv("GORACE") == "" {
		// A -race binary otherwise sleeps a second at exit.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("bulkid %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// cliOK runs the binary against s (--url, --token), expects exit code 0 and
// decodes stdout into v (unless v is nil); it returns stderr.
func cliOK(t *testing.T, s *server, v any, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, nil, append(args, "--url", s.URL, "--token", s.Key)...)
	if code != 0 {
		t.Fatalf("bulkid %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("bulkid %v: stdout is not the JSON expected: %v\n%s", args, err, out)
		}
	}
	return errOut
}

// cliFails runs the binary against s, expects a non-zero exit code and
// returns stdout and stderr.
func cliFails(t *testing.T, s *server, args ...string) (string, string) {
	t.Helper()
	out, errOut, code := cli(t, nil, append(args, "--url", s.URL, "--token", s.Key)...)
	if code == 0 {
		t.Fatalf("bulkid %v: exit 0, want a failure\nstdout: %s\nstderr: %s", args, out, errOut)
	}
	return out, errOut
}

func jobIDs(jobs []job) []string {
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.JobID)
	}
	return ids
}

// TestCLIJobs covers bulkid jobs list, get, wait, errors and cancel.
func TestCLIJobs(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	j1 := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(3, "c")))
	s.WaitJob(j1.JobID)
	nd := "{\"user_id\":\"u1\",\"company_id\":\"c0\"}\n{oops <b>\n{\"user_id\":\"u2\"}\n"
	j2 := accepted(t, s.Upload("/v1/users/bulk_identify", "users.ndjson", []byte(nd)))
	s.WaitJob(j2.JobID)
	j3 := accepted(t, s.PostJSON("/v1/companies/bulk_identify", map[string]any{"companies": []any{5, "x"}}))
	s.WaitJob(j3.JobID)

	// get: the job object, flags before or after the id.
	var got job
	cliOK(t, s, &got, "jobs", "get", j1.JobID)
	if got.JobID != j1.JobID || got.Status != "completed" || got.Type != "bulk_identify_companies" || got.TotalRows != 3 || got.CompletedRows != 3 || got.EndTime == nil {
		t.Errorf("jobs get = %+v", got)
	}
	out, errOut, code := cli(t, nil, "jobs", "get", "--url", s.URL, "--token", s.Key, j2.JobID)
	if code != 0 || !strings.Contains(out, `"job_id": "`+j2.JobID+`"`) || !strings.Contains(out, `"filename": "users.ndjson"`) || !strings.Contains(out, "\n  ") {
		t.Errorf("jobs get, flags first: exit %d\n%s%s", code, out, errOut)
	}

	// list: one page, every page, and the cursor of the next.
	var jobs []job
	errOut = cliOK(t, s, &jobs, "jobs", "list")
	if strings.Join(jobIDs(jobs), " ") != j3.JobID+" "+j2.JobID+" "+j1.JobID || errOut != "" {
		t.Errorf("jobs list = %v, stderr %q; want the three jobs, newest first", jobIDs(jobs), errOut)
	}
	errOut = cliOK(t, s, &jobs, "jobs", "list", "--limit", "2")
	if strings.Join(jobIDs(jobs), " ") != j3.JobID+" "+j2.JobID || !strings.Contains(errOut, "--cursor "+j2.JobID) {
		t.Errorf("jobs list --limit 2 = %v, stderr %q", jobIDs(jobs), errOut)
	}
	cliOK(t, s, &jobs, "jobs", "list", "--limit", "2", "--cursor", j2.JobID)
	if strings.Join(jobIDs(jobs), " ") != j1.JobID {
		t.Errorf("jobs list --cursor = %v", jobIDs(jobs))
	}
	errOut = cliOK(t, s, &jobs, "jobs", "list", "--limit", "1", "--all-pages")
	if strings.Join(jobIDs(jobs), " ") != j3.JobID+" "+j2.JobID+" "+j1.JobID || errOut != "" {
		t.Errorf("jobs list --limit 1 --all-pages = %v, stderr %q", jobIDs(jobs), errOut)
	}

	// The server and key from the environment.
	out, errOut, code = cli(t, []string{"BULKID_URL=" + s.URL, "BULKID_TOKEN=" + s.Key}, "jobs", "list", "--limit", "1")
	if code != 0 || json.Unmarshal([]byte(out), &jobs) != nil || len(jobs) != 1 || jobs[0].JobID != j3.JobID {
		t.Errorf("jobs list from BULKID_URL/BULKID_TOKEN: exit %d\n%s%s", code, out, errOut)
	}

	// wait: the final job on stdout, progress on stderr; the exit code
	// says whether every row was applied.
	errOut = cliOK(t, s, &got, "jobs", "wait", j1.JobID, "--interval", "50ms")
	if got.Status != "completed" || !strings.Contains(errOut, "job "+j1.JobID+": completed, 3 of 3 rows applied, 0 failed") {
		t.Errorf("jobs wait (clean job): %+v\nstderr: %s", got, errOut)
	}
	out, errOut = cliFails(t, s, "jobs", "wait", j2.JobID)
	if json.Unmarshal([]byte(out), &got) != nil || got.JobID != j2.JobID || got.FailedRows != 1 ||
		!strings.Contains(errOut, "1 of 3 rows failed") || !strings.Contains(errOut, "bulkid jobs errors "+j2.JobID) {
		t.Errorf("jobs wait (a failed row): stdout %s\nstderr: %s", out, errOut)
	}
	out, errOut = cliFails(t, s, "jobs", "wait", j3.JobID)
	if json.Unmarshal([]byte(out), &got) != nil || got.Status != "failed" || !strings.Contains(errOut, "job "+j3.JobID+" failed: Every record of the job is invalid") {
		t.Errorf("jobs wait (failed job): stdout %s\nstderr: %s", out, errOut)
	}

	// errors: NDJSON on stdout, the record as sent, no HTML escaping.
	out, errOut, code = cli(t, nil, "jobs", "errors", j2.JobID, "--url", s.URL, "--token", s.Key)
	if code != 0 || out != `{"line":2,"error_code":"malformed_json","message":`+jsonField(t, out, "message")+`,"raw":"{oops <b>"}`+"\n" {
		t.Errorf("jobs errors: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	out, errOut, code = cli(t, nil, "jobs", "errors", j3.JobID, "--url", s.URL, "--token", s.Key)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], `{"index":0,"error_code":"not_an_object"`) || !strings.HasSuffix(lines[1], `"record":"x"}`) {
		t.Errorf("jobs errors (two records): exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if out, errOut, code := cli(t, nil, "jobs", "errors", j1.JobID, "--url", s.URL, "--token", s.Key); code != 0 || out != "" {
		t.Errorf("jobs errors (none): exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// cancel of a finished job: 409 job_finished, and said so (the
	// cancel of a running job is in TestCancelAcrossRestart).
	out, errOut = cliFails(t, s, "jobs", "cancel", j1.JobID)
	if out != "" || !strings.Contains(errOut, "409 job_finished") || !strings.Contains(errOut, "nothing to cancel") {
		t.Errorf("jobs cancel of a completed job: stdout %q, stderr %q", out, errOut)
	}

	// Errors of the server, with their error_code, and of the command line.
	for _, args := range [][]string{{"jobs", "get", "no-such-job"}, {"jobs", "wait", "no-such-job"}, {"jobs", "errors", "no-such-job"}, {"jobs", "cancel", "no-such-job"}} {
		out, errOut := cliFails(t, s, args...)
		if out != "" || !strings.Contains(errOut, "404 not_found") || !strings.Contains(errOut, `"no-such-job"`) {
			t.Errorf("%v: stdout %q, stderr %q; want 404 not_found", args, out, errOut)
		}
	}
	if _, errOut, code := cli(t, nil, "jobs", "get", j1.JobID, "--url", s.URL, "--token", "wrong"); code == 0 || !strings.Contains(errOut, "401 unauthorized") {
		t.Errorf("wrong key: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := cli(t, nil, "jobs", "get", j1.JobID, "--url", s.URL); code == 0 || !strings.Contains(errOut, "BULKID_TOKEN") {
		t.Errorf("no key: exit %d, stderr %q", code, errOut)
	}
	if _, errOut := cliFails(t, s, "jobs", "get"); !strings.Contains(errOut, "JOB_ID") || !strings.Contains(errOut, "Example:") {
		t.Errorf("jobs get without an id: stderr %q", errOut)
	}
	if _, errOut := cliFails(t, s, "jobs", "list", "--limit", "0x"); !strings.Contains(errOut, "limit") {
		t.Errorf("bad --limit: stderr %q", errOut)
	}
	if _, errOut := cliFails(t, s, "jobs", "list", "--limit", "-1"); !strings.Contains(errOut, "--limit") {
		t.Errorf("negative --limit: stderr %q", errOut)
	}
}

// jsonField returns the JSON text of a string member of the object in s,
// so that a test can compare a line whole without restating a message.
func jsonField(t *testing.T, s, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return "<not JSON>"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(m[name])
	return strings.TrimSuffix(b.String(), "\n")
}

// TestCLIJobsWaitProgress follows a job that takes a few seconds.
func TestCLIJobsWaitProgress(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "120") // two rows a second
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(5, "c")))
	var got job
	errOut := cliOK(t, s, &got, "jobs", "wait", j.JobID, "--interval", "100ms")
	if got.Status != "completed" || got.CompletedRows != 5 {
		t.Errorf("final job = %+v", got)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[len(lines)-1], "job "+j.JobID+": completed, 5 of 5 rows applied, 0 failed") {
		t.Fatalf("progress lines:\n%s\nwant several, the last completed", errOut)
	}
	sawPartial := false
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "job "+j.JobID+": ") || strings.Contains(l, "completed") {
			t.Errorf("progress line %q", l)
		}
		for n := 1; n < 5; n++ {
			sawPartial = sawPartial || strings.Contains(l, fmt.Sprintf(", %d of 5 rows applied", n))
		}
	}
	if !sawPartial {
		t.Errorf("no progress line shows part of the rows applied:\n%s", errOut)
	}
}

// TestCLIProfiles covers bulkid companies get/list and users get.
func TestCLIProfiles(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	s.WaitJob(accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(3, "c"))).JobID)
	for path, body := range map[string]string{
		"/v1/identify":           `{"user_id":"u1","metadata":{"email":"ann@c0.test"},"company":{"id":"c0","tier":"gold"}}`,
		"/v1/companies/identify": `{"company_id":"a/b","metadata":{"k":"<v>"}}`,
	} {
		if r := s.Do("POST", path, s.Key, "application/json", strings.NewReader(body)); r.Status != 202 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}

	type company struct {
		CompanyID string         `json:"company_id"`
		Metadata  map[string]any `json:"metadata"`
		UserCount int            `json:"user_count"`
		Visible   bool           `json:"visible"`
		CreatedAt string         `json:"created_at"`
	}
	var c company
	cliOK(t, s, &c, "companies", "get", "c0")
	if c.CompanyID != "c0" || c.UserCount != 1 || !c.Visible || c.Metadata["tier"] != "gold" || c.Metadata["name"] != "Company 0" || c.CreatedAt == "" {
		t.Errorf("companies get c0 = %+v", c)
	}
	cliOK(t, s, &c, "companies", "get", "a/b")
	if c.CompanyID != "a/b" || c.Visible || c.Metadata["k"] != "<v>" {
		t.Errorf("companies get a/b = %+v", c)
	}
	ids := func(cs []company) string {
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.CompanyID)
		}
		return strings.Join(ids, " ")
	}
	var cs []company
	if errOut := cliOK(t, s, &cs, "companies", "list"); ids(cs) != "c0" || errOut != "" {
		t.Errorf("companies list = %q, stderr %q; want the one with a user", ids(cs), errOut)
	}
	if cliOK(t, s, &cs, "companies", "list", "--all"); ids(cs) != "a/b c0 c1 c2" {
		t.Errorf("companies list --all = %q", ids(cs))
	}
	if errOut := cliOK(t, s, &cs, "companies", "list", "--all", "--limit", "2"); ids(cs) != "a/b c0" || !strings.Contains(errOut, `--all --cursor "c0"`) {
		t.Errorf("companies list --all --limit 2 = %q, stderr %q", ids(cs), errOut)
	}
	if cliOK(t, s, &cs, "companies", "list", "--all", "--limit", "2", "--cursor", "c0"); ids(cs) != "c1 c2" {
		t.Errorf("companies list --cursor c0 = %q", ids(cs))
	}
	if cliOK(t, s, &cs, "companies", "list", "--all", "--limit", "1", "--all-pages"); ids(cs) != "a/b c0 c1 c2" {
		t.Errorf("companies list --all-pages = %q", ids(cs))
	}
	if cliOK(t, s, &cs, "companies", "list", "--cursor", "c0"); len(cs) != 0 {
		t.Errorf("companies list after the last = %q, want []", ids(cs))
	}

	var u struct {
		UserID    string         `json:"user_id"`
		CompanyID *string        `json:"company_id"`
		Metadata  map[string]any `json:"metadata"`
	}
	out, errOut, code := cli(t, []string{"BULKID_URL=" + s.URL, "BULKID_TOKEN=" + s.Key}, "users", "get", "u1")
	if code != 0 || json.Unmarshal([]byte(out), &u) != nil || u.UserID != "u1" || u.CompanyID == nil || *u.CompanyID != "c0" || u.Metadata["email"] != "ann@c0.test" {
		t.Errorf("users get u1 (from the environment): exit %d\n%s%s", code, out, errOut)
	}

	// Ids a path would clean away read back as themselves.
	for _, id := range []string{"..", ".", "/"} {
		body := fmt.Sprintf(`{"company_id":%q,"metadata":{"k":%q}}`, id, id)
		if r := s.Do("POST", "/v1/companies/identify", s.Key, "application/json", strings.NewReader(body)); r.Status != 202 {
			t.Fatalf("identify %q: %d %s", id, r.Status, r.Body)
		}
		c = company{}
		cliOK(t, s, &c, "companies", "get", id)
		if c.CompanyID != id || c.Metadata["k"] != id {
			t.Errorf("companies get %q = %+v", id, c)
		}
	}
	for _, args := range [][]string{{"companies", "get", "nope"}, {"users", "get", "nope"}} {
		out, errOut := cliFails(t, s, args...)
		if out != "" || !strings.Contains(errOut, "404 not_found") || !strings.Contains(errOut, `"nope"`) {
			t.Errorf("%v: stdout %q, stderr %q", args, out, errOut)
		}
	}
	if _, errOut := cliFails(t, s, "companies", "list", "x"); !strings.Contains(errOut, "no arguments") {
		t.Errorf("companies list x: stderr %q", errOut)
	}
	if _, errOut := cliFails(t, s, "users", "list"); !strings.Contains(errOut, `unknown subcommand "list"`) {
		t.Errorf("users list: stderr %q", errOut)
	}
}

// TestCLIHelp checks that every command's --help shows an example and the
// client flags, and exits 0, and that the groups list their commands.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"jobs", "list"}, {"jobs", "get"}, {"jobs", "wait"}, {"jobs", "errors"}, {"jobs", "cancel"},
		{"companies", "get"}, {"companies", "list"}, {"users", "get"},
	} {
		out, errOut, code := cli(t, nil, append(args, "--help")...)
		cmd := "bulkid " + strings.Join(args, " ")
		if code != 0 || out != "" || !strings.Contains(errOut, "Usage: "+cmd) || !strings.Contains(errOut, "Example:\n  "+cmd+" ") ||
			!strings.Contains(errOut, "-url") || !strings.Contains(errOut, "-token") || !strings.Contains(errOut, "http://127.0.0.1:8080") {
			t.Errorf("%s --help: exit %d\nstdout: %s\nstderr: %s", cmd, code, out, errOut)
		}
	}
	for group, subs := range map[string][]string{"jobs": {"list", "get", "wait", "errors", "cancel"}, "companies": {"get", "list"}, "users": {"get"}} {
		out, _, code := cli(t, nil, group, "--help")
		if code != 0 || !strings.Contains(out, "Example:") {
			t.Errorf("%s --help: exit %d\n%s", group, code, out)
		}
		for _, sub := range subs {
			if !strings.Contains(out, "bulkid "+group+" "+sub) {
				t.Errorf("%s --help does not list %s:\n%s", group, sub, out)
			}
		}
		if _, errOut, code := cli(t, nil, group); code == 0 || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%s alone: exit %d, stderr %q; want the usage and a failure", group, code, errOut)
		}
	}
	out, _, code := cli(t, nil, "help")
	for _, want := range []string{"bulkid jobs", "bulkid companies", "bulkid users"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("bulkid help does not list %q:\n%s", want, out)
		}
	}
}
