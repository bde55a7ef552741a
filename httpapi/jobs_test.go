package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var lifecycle = map[string]int{"queued": 0, "validating": 1, "processing": 2, "pending_refresh": 3, "completed": 4, "failed": 4, "canceled": 4}

// TestJobLifecycle follows jobs of both endpoints and both content types
// from 202 to completed, checking every field of the job object.
func TestJobLifecycle(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "1200") // 20 rows a second
	var nd bytes.Buffer
	for i := range 60 {
		fmt.Fprintf(&nd, `{"user_id":"u%d","company_id":"c%d","metadata":{"n":%d}}`+"\n", i, i%3, i)
	}
	for _, tc := range []struct {
		name, wantType string
		submit         func() response
		rows           int
		file           bool
	}{
		{"companies json", "bulk_identify_companies", func() response { return s.PostJSON("/v1/companies/bulk_identify", companies(60, "c")) }, 60, false},
		{"users ndjson", "bulk_identify_users", func() response { return s.Upload("/v1/users/bulk_identify", "users.ndjson", nd.Bytes()) }, 60, true},
		{"companies ndjson", "bulk_identify_companies", func() response {
			return s.Upload("/v1/companies/bulk_identify", "companies.ndjson", []byte(`{"company_id":"z1"}`+"\n"+`{"company_id":"z2"}`))
		}, 2, true},
		{"users json", "bulk_identify_users", func() response {
			return s.PostJSON("/v1/users/bulk_identify", map[string]any{"users": []any{map[string]any{"user_id": "u1", "metadata": map[string]any{"plan": "pro"}}}})
		}, 1, false},
	} {
		j := accepted(t, tc.submit())
		// Not started: start_time is submitted_at (the published schema has
		// no null for it), which the SDK reads as not started.
		if j.Type != tc.wantType || j.TotalRows != tc.rows || j.StartTime == nil || *j.StartTime != j.SubmittedAt ||
			j.Job.StartTime != nil || j.EndTime != nil || j.SubmittedAt == "" || j.ElapsedTime != 0 {
			t.Errorf("%s: 202 job = %+v", tc.name, j)
		}
		if j.Links != "/v1/background_jobs/"+j.JobID {
			t.Errorf("%s: links = %q", tc.name, j.Links)
		}
		if tc.file {
			if j.Filename == nil || !strings.HasSuffix(*j.Filename, ".ndjson") || j.FileSize == nil || *j.FileSize <= 0 {
				t.Errorf("%s: filename/file_size = %v/%v, want the upload's", tc.name, j.Filename, j.FileSize)
			}
			if tc.name == "users ndjson" && *j.FileSize != int64(nd.Len()) {
				t.Errorf("file_size = %d, want %d", *j.FileSize, nd.Len())
			}
		} else if j.Filename != nil || j.FileSize == nil || *j.FileSize <= 0 {
			// The SDK reads the filename "" as none; file_size is the
			// body's (checked to the byte in TestJobFieldsNeverNull).
			t.Errorf("%s: JSON body job has filename/file_size %v/%v, want none and the body's size", tc.name, j.Filename, j.FileSize)
		}

		seen := []string{}
		sawProgress, sawETA := false, false
		for {
			cur := s.Job(j.JobID)
			if len(seen) == 0 || seen[len(seen)-1] != cur.Status {
				seen = append(seen, cur.Status)
			}
			if cur.CompletedRows > 0 && cur.CompletedRows < cur.TotalRows {
				sawProgress = true
			}
			if cur.Status == "processing" && cur.EstimatedCompletionTime != nil {
				sawETA = true
			}
			if cur.Status == "completed" || cur.Status == "failed" {
				j = cur
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for i := 1; i < len(seen); i++ {
			if lifecycle[seen[i]] < lifecycle[seen[i-1]] {
				t.Errorf("%s: status went %v: backwards", tc.name, seen)
			}
		}
		if j.Status != "completed" || j.CompletedRows != tc.rows || j.FailedRows != 0 {
			t.Errorf("%s: final job %s %d/%d, want completed %d/0", tc.name, j.Status, j.CompletedRows, j.FailedRows, tc.rows)
		}
		if j.StartTime == nil || j.EndTime == nil || j.EstimatedCompletionTime != nil {
			t.Errorf("%s: final start/end/eta = %v/%v/%v", tc.name, j.StartTime, j.EndTime, j.EstimatedCompletionTime)
		}
		start, _ := time.Parse(time.RFC3339, *j.StartTime)
		end, _ := time.Parse(time.RFC3339, *j.EndTime)
		if got := end.Sub(start).Milliseconds(); j.ElapsedTime != got {
			t.Errorf("%s: elapsed_time = %d, want end-start = %d", tc.name, j.ElapsedTime, got)
		}
		if tc.rows == 60 {
			if !sawProgress || !sawETA {
				t.Errorf("%s: saw progress %v, estimate %v while processing (statuses %v)", tc.name, sawProgress, sawETA, seen)
			}
			if !contains(seen, "processing") {
				t.Errorf("%s: statuses seen %v, want processing among them", tc.name, seen)
			}
		}
	}

	// The list is newest first and pages with a Link header.
	jobs := listJobs(t, s, "")
	if len(jobs) != 4 || jobs[0].Type != "bulk_identify_users" || jobs[3].TotalRows != 60 || jobs[3].Type != "bulk_identify_companies" {
		t.Fatalf("list = %+v, want 4 jobs newest first", jobs)
	}
	var paged []string
	next := "/v1/background_jobs?limit=3"
	for next != "" {
		r := s.Get(next)
		var page []job
		r.JSON(t, &page)
		for _, j := range page {
			paged = append(paged, j.JobID)
		}
		next = ""
		if link := r.Header.Get("Link"); link != "" {
			next = strings.TrimPrefix(strings.Split(link, ">")[0], "<")
		}
	}
	if len(paged) != 4 || paged[0] != jobs[0].JobID || paged[3] != jobs[3].JobID {
		t.Errorf("paging with limit=3 gave %v, want the 4 jobs in order", paged)
	}
	// An over-large limit is clamped, not refused.
	if got := listJobs(t, s, "?limit=100000"); len(got) != 4 {
		t.Errorf("limit=100000 gave %d jobs", len(got))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestMergeSemantics(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	run1(t, s, "/v1/companies/bulk_identify", map[string]any{"companies": []any{
		map[string]any{"company_id": "acme", "metadata": map[string]any{"name": "Acme", "plan": "free", "seats": 5}},
		map[string]any{"company_id": 42, "metadata": map[string]any{"big": json.Number("12345678901234567890")}},
	}})
	first := getJSON(t, s, "/v1/companies/acme")
	time.Sleep(5 * time.Millisecond)
	// Keys sent are merged, keys not sent kept, null removes; within one
	// job the last record for an id wins.
	run1(t, s, "/v1/companies/bulk_identify", map[string]any{"companies": []any{
		map[string]any{"company_id": "acme", "metadata": map[string]any{"plan": "pro", "seats": nil}},
		map[string]any{"company_id": "acme", "metadata": map[string]any{"plan": "enterprise", "region": "eu"}},
		map[string]any{"company_id": "acme"},
	}})
	got := getJSON(t, s, "/v1/companies/acme")
	want := map[string]any{"name": "Acme", "plan": "enterprise", "region": "eu"}
	if fmt.Sprint(got["metadata"]) != fmt.Sprint(want) {
		t.Errorf("metadata = %v, want %v", got["metadata"], want)
	}
	if got["created_at"] != first["created_at"] || got["updated_at"] == first["updated_at"] {
		t.Errorf("created_at %v→%v, updated_at %v→%v: want created kept, updated moved", first["created_at"], got["created_at"], first["updated_at"], got["updated_at"])
	}
	// An integer id is stored as its decimal string; big numbers keep every digit.
	r := s.Get("/v1/companies/42")
	if r.Status != 200 || !bytes.Contains(r.Body, []byte(`12345678901234567890`)) {
		t.Errorf("GET /v1/companies/42 = %d %s, want the big number digit for digit", r.Status, r.Body)
	}
	// Users merge the same way.
	run1(t, s, "/v1/users/bulk_identify", map[string]any{"users": []any{map[string]any{"user_id": "u1", "metadata": map[string]any{"a": 1, "b": true}}}})
	run1(t, s, "/v1/users/bulk_identify", map[string]any{"users": []any{map[string]any{"user_id": "u1", "metadata": map[string]any{"a": nil, "c": "x"}}}})
	u := getJSON(t, s, "/v1/users/u1")
	if fmt.Sprint(u["metadata"]) != fmt.Sprint(map[string]any{"b": true, "c": "x"}) || u["company_id"] != nil {
		t.Errorf("user = %v", u)
	}
}

// TestRecordErrors: bad records fail alone, with their position, id,
// reason and the record as sent.
func TestRecordErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	body := `{"companies":[{"company_id":"ok1"},{"metadata":{"a":1}},{"company_id":"bad","metadata":{"tags":["x"]}},{"company_id":"ok2","metadata":{"n":1}},"just a string",{"company_id":true}]}`
	j := s.WaitJob(accepted(t, s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/json", strings.NewReader(body))).JobID)
	if j.Status != "completed" || j.CompletedRows != 2 || j.FailedRows != 4 || j.TotalRows != 6 {
		t.Fatalf("job = %s %d+%d/%d, want completed 2+4/6", j.Status, j.CompletedRows, j.FailedRows, j.TotalRows)
	}
	wantIdx := []int{1, 2, 4, 5}
	wantCode := []string{"missing_id", "nested_metadata", "not_an_object", "invalid_id"}
	if len(j.Errors) != 4 {
		t.Fatalf("job errors = %+v", j.Errors)
	}
	for i, e := range j.Errors {
		if e.Index == nil || *e.Index != wantIdx[i] || e.ErrorCode != wantCode[i] || e.Line != nil {
			t.Errorf("error %d = %+v, want index %d code %s", i, e, wantIdx[i], wantCode[i])
		}
	}
	if j.Errors[1].CompanyID != "bad" || !strings.Contains(j.Errors[1].Message, `"tags"`) {
		t.Errorf("nested metadata error = %+v, want the id and the key named", j.Errors[1])
	}

	r := s.Get("/v1/background_jobs/" + j.JobID + "/errors")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("errors endpoint: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(string(r.Body)), "\n")
	if len(lines) != 4 {
		t.Fatalf("errors endpoint gave %d lines, want 4:\n%s", len(lines), r.Body)
	}
	var e struct {
		Index  int             `json:"index"`
		Record json.RawMessage `json:"record"`
	}
	json.Unmarshal([]byte(lines[1]), &e)
	if e.Index != 2 || string(e.Record) != `{"company_id":"bad","metadata":{"tags":["x"]}}` {
		t.Errorf("error line = %s, want index 2 and the record as sent", lines[1])
	}

	// NDJSON: a malformed line fails alone, with its line number; blank
	// lines count as lines.
	file := "{\"user_id\":\"a\"}\n\n{\"user_id\": \"b\", oops}\n{\"user_id\":\"c\",\"company_id\":{\"x\":1}}\r\n{\"user_id\":\"d\"}"
	j = s.WaitJob(accepted(t, s.Upload("/v1/users/bulk_identify", "u.ndjson", []byte(file))).JobID)
	if j.CompletedRows != 2 || j.FailedRows != 2 || j.TotalRows != 4 {
		t.Fatalf("ndjson job = %d+%d/%d, want 2+2/4", j.CompletedRows, j.FailedRows, j.TotalRows)
	}
	r = s.Get("/v1/background_jobs/" + j.JobID + "/errors")
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	var got []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("errors line %q: %v", sc.Text(), err)
		}
		got = append(got, m)
	}
	if len(got) != 2 || got[0]["line"] != float64(3) || got[0]["error_code"] != "malformed_json" || got[0]["raw"] != `{"user_id": "b", oops}` ||
		got[1]["line"] != float64(4) || got[1]["error_code"] != "invalid_company_id" || got[1]["user_id"] != "c" {
		t.Errorf("ndjson errors = %v", got)
	}
	for _, id := range []string{"a", "d"} {
		if r := s.Get("/v1/users/" + id); r.Status != 200 {
			t.Errorf("user %s not stored: %d", id, r.Status)
		}
	}

	// Every record invalid: the job fails as a whole.
	j = s.WaitJob(accepted(t, s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/json",
		strings.NewReader(`{"companies":[{"metadata":{}},{"company_id":""}]}`))).JobID)
	if j.Status != "failed" || j.FailedRows != 2 || j.FailureReason == nil || j.EndTime == nil {
		t.Errorf("all-invalid job = %+v, want failed with a reason", j)
	}
}

// TestDashboardRule: a company is listed once a user is associated with it,
// and counts follow users that move.
func TestDashboardRule(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	run1(t, s, "/v1/companies/bulk_identify", companies(3, "c")) // c0 c1 c2
	listed := func(query string) []string {
		var cs []struct {
			CompanyID string `json:"company_id"`
		}
		s.Get("/v1/companies"+query).JSON(t, &cs)
		ids := []string{}
		for _, c := range cs {
			ids = append(ids, c.CompanyID)
		}
		return ids
	}
	if got := listed(""); len(got) != 0 {
		t.Errorf("companies without users listed: %v", got)
	}
	if got := listed("?all=true"); fmt.Sprint(got) != "[c0 c1 c2]" {
		t.Errorf("?all=true lists %v", got)
	}
	run1(t, s, "/v1/users/bulk_identify", map[string]any{"users": []any{
		map[string]any{"user_id": "u1", "company_id": "c1"},
		map[string]any{"user_id": "u2", "company_id": "c1"},
		map[string]any{"user_id": "u3", "company_id": "new-co"},
	}})
	if got := listed(""); fmt.Sprint(got) != "[c1 new-co]" {
		t.Errorf("visible companies = %v, want [c1 new-co]", got)
	}
	c1 := getJSON(t, s, "/v1/companies/c1")
	if c1["user_count"] != float64(2) || c1["visible"] != true {
		t.Errorf("c1 = %v, want 2 users, visible", c1)
	}
	if nc := getJSON(t, s, "/v1/companies/new-co"); fmt.Sprint(nc["metadata"]) != "map[]" {
		t.Errorf("company created by association = %v, want empty metadata", nc)
	}
	// u3 moves to c2; the latest association wins. A record without
	// company_id keeps the user where it is.
	run1(t, s, "/v1/users/bulk_identify", map[string]any{"users": []any{
		map[string]any{"user_id": "u3", "company_id": "c2"},
		map[string]any{"user_id": "u1", "metadata": map[string]any{"x": 1}},
	}})
	if got := listed(""); fmt.Sprint(got) != "[c1 c2]" {
		t.Errorf("visible companies after the move = %v, want [c1 c2]", got)
	}
	if u := getJSON(t, s, "/v1/users/u1"); u["company_id"] != "c1" {
		t.Errorf("u1 company = %v, want c1 kept", u["company_id"])
	}
	if nc := getJSON(t, s, "/v1/companies/new-co"); nc["user_count"] != float64(0) || nc["visible"] != false {
		t.Errorf("new-co after its only user left = %v", nc)
	}
	// Paging the companies list.
	if got := listed("?all=true&limit=2"); fmt.Sprint(got) != "[c0 c1]" {
		t.Errorf("limit=2 lists %v", got)
	}
	r := s.Get("/v1/companies?all=true&limit=2")
	link := r.Header.Get("Link")
	next := strings.TrimPrefix(strings.Split(link, ">")[0], "<")
	var page []map[string]any
	s.Get(next).JSON(t, &page)
	if len(page) != 2 || page[0]["company_id"] != "c2" || page[1]["company_id"] != "new-co" {
		t.Errorf("second page via %q = %v", link, page)
	}
}
