package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// volatile removes what legitimately differs between two answers to the
// same request: the request id, times, and the id that was asked for.
var volatile = regexp.MustCompile(`"(request_id|submitted_at|start_time|end_time|elapsed_time)":("[^"]*"|[0-9]+)`)

func sameAnswer(t *testing.T, what string, got, want response, gotID, wantID string) {
	t.Helper()
	norm := func(r response, id string) string {
		b := volatile.ReplaceAll(r.Body, nil)
		if id != "" {
			b = bytes.ReplaceAll(b, []byte(id), []byte("ID"))
		}
		return fmt.Sprintf("%d %s", r.Status, b)
	}
	if g, w := norm(got, gotID), norm(want, wantID); g != w {
		t.Errorf("%s: another app's id answers\n  %s\nbut an id that exists nowhere answers\n  %s\nthe difference tells the other app's data exists", what, g, w)
	}
}

// TestTenantIsolation sends every endpoint the ids of another app's data
// with a second app's key: the answers are those for ids that exist
// nowhere, the listings are empty, and the second app's writes to the same
// ids leave the first app's data and counts as they were.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	a := startServer(t, "", "--rows-per-minute", "0")
	// App A: companies, users linked to them, a job with a failed record.
	a.WaitJob(accepted(t, a.PostJSON("/v1/companies/bulk_identify", companies(3, "c"))).JobID)
	uj := a.WaitJob(accepted(t, a.PostJSON("/v1/users/bulk_identify", map[string]any{"users": []any{
		map[string]any{"user_id": "u1", "company_id": "c0", "metadata": map[string]any{"app": "A"}},
		map[string]any{"user_id": "u2", "company_id": "c0"},
		map[string]any{"metadata": map[string]any{"no": "id"}},
	}})).JobID)
	if uj.FailedRows != 1 {
		t.Fatalf("A's users job failed_rows = %d, want 1", uj.FailedRows)
	}
	if r := a.Do("POST", "/v1/companies/identify", a.Key, "application/json", strings.NewReader(`{"company_id":"rt","metadata":{"app":"A"}}`)); r.Status != 202 {
		t.Fatalf("A companies/identify: %d %s", r.Status, r.Body)
	}
	if r := a.Do("POST", "/v1/identify", a.Key, "application/json", strings.NewReader(`{"user_id":"rtu","company":{"id":"rt"}}`)); r.Status != 202 {
		t.Fatalf("A identify: %d %s", r.Status, r.Body)
	}
	snapshot := func() map[string]string {
		m := map[string]string{}
		for _, p := range []string{"/v1/companies/c0", "/v1/companies/rt", "/v1/users/u1", "/v1/users/rtu",
			"/v1/background_jobs", "/v1/background_jobs/" + uj.JobID + "/errors", "/v1/companies", "/v1/companies?all=true"} {
			r := a.Get(p)
			if r.Status != 200 {
				t.Fatalf("A GET %s: %d %s", p, r.Status, r.Body)
			}
			m[p] = string(volatile.ReplaceAll(r.Body, nil))
		}
		return m
	}
	before := snapshot()

	b := createApp(t, a, "tenant-b")
	const noJob = "00000000-0000-4000-8000-000000000000" // a job id of the same form
	// Reads of A's ids answer as ids that exist nowhere.
	for _, tc := range []struct{ path, aID, noneID string }{
		{"/v1/background_jobs/%s", uj.JobID, noJob},
		{"/v1/background_jobs/%s/errors", uj.JobID, noJob},
		{"/v1/companies/%s", "c0", "zz"},
		{"/v1/companies/%s", "rt", "zz"},
		{"/v1/users/%s", "u1", "zz"},
		{"/v1/users/%s", "rtu", "zzz"},
	} {
		got := b.Get(fmt.Sprintf(tc.path, tc.aID))
		expectError(t, got, 404, "not_found")
		sameAnswer(t, fmt.Sprintf(tc.path, tc.aID), got, b.Get(fmt.Sprintf(tc.path, tc.noneID)), tc.aID, tc.noneID)
	}
	// Listings and counts show nothing of A.
	for _, p := range []string{"/v1/background_jobs", "/v1/background_jobs?status=completed", "/v1/companies", "/v1/companies?all=true"} {
		var list []json.RawMessage
		b.Get(p).JSON(t, &list)
		if len(list) != 0 {
			t.Errorf("B's GET %s lists %d items of A's", p, len(list))
		}
	}

	// B writes the same ids, in bulk and in real time. A user of B linked
	// to "c0" links to B's c0, never A's.
	bj := b.WaitJob(accepted(t, b.PostJSON("/v1/companies/bulk_identify", map[string]any{"companies": []any{
		map[string]any{"company_id": "c0", "metadata": map[string]any{"app": "B"}},
	}})).JobID)
	b.WaitJob(accepted(t, b.PostJSON("/v1/users/bulk_identify", map[string]any{"users": []any{
		map[string]any{"user_id": "u1", "company_id": "c0", "metadata": map[string]any{"app": "B"}},
		map[string]any{"user_id": "u3", "company_id": "c1"},
	}})).JobID)
	for path, body := range map[string]string{
		"/v1/companies/identify": `{"company_id":"rt","metadata":{"app":"B"}}`,
		"/v1/identify":           `{"user_id":"rtu","metadata":{"app":"B"},"company":{"id":"c1"}}`,
	} {
		if r := b.Do("POST", path, b.Key, "application/json", strings.NewReader(body)); r.Status != 202 {
			t.Fatalf("B POST %s: %d %s", path, r.Status, r.Body)
		}
	}
	// A sees exactly what it saw before.
	after := snapshot()
	for p, v := range before {
		if after[p] != v {
			t.Errorf("A's GET %s changed after B's writes:\n  before %s\n  after  %s", p, v, after[p])
		}
	}
	// B sees only its own.
	if c := getJSON(t, b, "/v1/companies/c0"); fmt.Sprint(c["metadata"]) != "map[app:B]" || c["user_count"] != float64(1) {
		t.Errorf("B's c0 = %v, want B's metadata and its one user", c)
	}
	if c := getJSON(t, b, "/v1/companies/c1"); c["user_count"] != float64(2) {
		t.Errorf("B's c1 = %v, want B's two users (A's c1 has none)", c)
	}
	if jobs := listJobs(t, b, ""); len(jobs) != 2 {
		t.Errorf("B lists %d jobs, want its 2", len(jobs))
	}
	// A's job ids, used by B, stay 404 even once B has jobs; B's are 404 to A.
	expectError(t, a.Get("/v1/background_jobs/"+bj.JobID), 404, "not_found")
	expectError(t, a.Get("/v1/background_jobs/"+bj.JobID+"/errors"), 404, "not_found")
}

// TestConflictNamesOnlyOwnJob: the 409 of one job at a time per app names
// the app's own job, and another app's running job never causes it.
func TestConflictNamesOnlyOwnJob(t *testing.T) {
	t.Parallel()
	a := startServer(t, "", "--rows-per-minute", "60")
	ja := accepted(t, a.PostJSON("/v1/companies/bulk_identify", companies(20, "c")))
	b := createApp(t, a, "tenant-b")
	jb := accepted(t, b.PostJSON("/v1/companies/bulk_identify", companies(20, "c")))
	e := expectError(t, b.PostJSON("/v1/companies/bulk_identify", companies(1, "d")), 409, "job_in_progress")
	if e.Errors[0].JobID != jb.JobID {
		t.Errorf("B's 409 names job %q, want B's own %q", e.Errors[0].JobID, jb.JobID)
	}
	r := b.PostJSON("/v1/companies/bulk_identify", companies(1, "d"))
	if bytes.Contains(r.Body, []byte(ja.JobID)) {
		t.Errorf("B's 409 mentions A's job: %s", r.Body)
	}
}

// TestLogsNeverContainKeys: with debug logging, the server's log holds no
// API key: not the valid one, not a wrong one, not one rotated in.
func TestLogsNeverContainKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--log-level", "debug", "--rows-per-minute", "0")
	wrong := "bk_thisisnotakeybutlookslikeoneabcdefghijklmnop"
	s.WaitJob(accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(2, "c"))).JobID)
	s.Upload("/v1/users/bulk_identify", "u.ndjson", []byte(`{"user_id":"u1"}`+"\n"))
	s.Get("/v1/companies/nope")
	s.Do("GET", "/v1/background_jobs", wrong, "", nil)
	s.Do("GET", "/v1/background_jobs?api_key="+wrong, wrong, "", nil)
	s.Do("POST", "/v1/identify", s.Key, "application/json", strings.NewReader(`{"user_id":`))
	rotated := createApp(t, s, "second")
	rotated.Get("/v1/background_jobs")
	rotated.Do("GET", "/v1/background_jobs", "Bearer "+rotated.Key, "", nil)

	log := s.stderr.String()
	if !strings.Contains(log, "request") {
		t.Fatalf("the debug log shows no requests; the test would prove nothing:\n%s", log)
	}
	for _, k := range []string{s.Key, rotated.Key, wrong} {
		if strings.Contains(log, k) {
			t.Errorf("the server's log contains the key %q", k)
		}
	}
}
