package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/pgtest"
)

// A delete is applied at once, ordered with a running job's batches as
// they commit (docs/API.md, DELETE /v1/users): a user deleted after its
// batch is gone for good, a user deleted before its batch comes back from
// the job afresh, and a company deleted mid-job loses the users applied
// before and is made again, empty, by the users applied after. Counts and
// visibility are right as soon as the delete answers.
func TestDeleteDuringJobSQLite(t *testing.T) {
	t.Parallel()
	testDeleteDuringJob(t, startServer(t, "", "--rows-per-minute", "1200"))
}

func TestDeleteDuringJobPostgres(t *testing.T) {
	t.Parallel()
	testDeleteDuringJob(t, startServer(t, t.TempDir(), "--database-url", pgtest.URL(t), "--rows-per-minute", "1200"))
}

func testDeleteDuringJob(t *testing.T, s *server) {
	const users = 120 // 20 rows a second: 6 s of processing
	post := func(path, body string) {
		t.Helper()
		if r := s.Do("POST", path, s.Key, "application/json", strings.NewReader(body)); r.Status != http.StatusAccepted {
			t.Fatalf("POST %s %s: %d %s", path, body, r.Status, r.Body)
		}
	}
	del := func(path, body string) (deleted, notFound int) {
		t.Helper()
		r := s.Do("DELETE", path, s.Key, "application/json", strings.NewReader(body))
		var got struct {
			Status   string `json:"status"`
			Deleted  int    `json:"deleted"`
			NotFound int    `json:"not_found"`
		}
		if r.Status != http.StatusAccepted {
			t.Fatalf("DELETE %s %s: %d %s", path, body, r.Status, r.Body)
		}
		r.JSON(t, &got)
		if got.Status != "completed" {
			t.Errorf("DELETE %s: status %q, want completed", path, got.Status)
		}
		return got.Deleted, got.NotFound
	}
	user := func(i int) string { return fmt.Sprintf("u%03d", i) }
	company := func(i int) string { return fmt.Sprintf("c%d", i%3) }

	// Before the job: u115, the job's too, in real time with other
	// metadata and another company, z.
	post("/v1/identify", `{"user_id":"u115","metadata":{"old":true},"company":{"id":"z","tier":"gold"}}`)
	post("/v1/identify", `{"user_id":"keep","company":{"id":"z"}}`)
	if c := getJSON(t, s, "/v1/companies/z"); c["user_count"] != float64(2) {
		t.Fatalf("z before the job: %v, want 2 users", c)
	}
	createdAt := func(u map[string]any) time.Time {
		t.Helper()
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(u["created_at"]))
		if err != nil {
			t.Fatalf("user %v: created_at: %v", u["user_id"], err)
		}
		return at
	}
	firstCreated := createdAt(getJSON(t, s, "/v1/users/u115"))

	var lines []string
	for i := range users {
		lines = append(lines, fmt.Sprintf(`{"user_id":%q,"company_id":%q,"metadata":{"job":%d}}`, user(i), company(i), i))
	}
	j := accepted(t, s.Do("POST", "/v1/users/bulk_identify", s.Key, "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n"))))

	// Mid-job: once its first 20 rows are in, delete ten of them, u115
	// (not reached yet) and the company c0.
	deadline := time.Now().Add(time.Minute)
	var before int
	for {
		got := s.Job(j.JobID)
		if before = got.CompletedRows; before >= 20 {
			break
		}
		if got.Status == "completed" || got.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("job never ran 20 rows: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ids := []string{`"u115"`}
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("%q", user(i)))
	}
	if n, missing := del("/v1/users", `{"users":[`+strings.Join(ids, ",")+`,"never"]}`); n != 11 || missing != 1 {
		t.Errorf("DELETE /v1/users mid-job: deleted %d, not_found %d; want 11, 1", n, missing)
	}
	// z lost u115 at once, the job's refresh not waited for.
	if c := getJSON(t, s, "/v1/companies/z"); c["user_count"] != float64(1) || c["visible"] != true {
		t.Errorf("z after u115's delete: %v, want 1 user, visible", c)
	}
	if n, missing := del("/v1/companies", `{"companies":["c0"]}`); n != 1 || missing != 0 {
		t.Errorf("DELETE /v1/companies c0 mid-job: deleted %d, not_found %d; want 1, 0", n, missing)
	}
	// The batches applied before both deletes are at most these.
	after := s.Job(j.JobID).CompletedRows
	if after >= 115 {
		t.Fatalf("the job reached row %d before the deletes answered, so they prove nothing about u115; the machine is too slow for this test", after)
	}

	t.Logf("the deletes came after row %d and before row %d of %d", before, after, users)

	done := s.WaitJob(j.JobID)
	if done.Status != "completed" || done.CompletedRows != users || done.FailedRows != 0 {
		t.Fatalf("job = %+v, want completed with %d rows", done, users)
	}

	// Applied before the delete: gone, the job does not send them again.
	for i := range 10 {
		expectError(t, s.Get("/v1/users/"+user(i)), http.StatusNotFound, "not_found")
	}
	// Deleted before its batch: made again by the job, with only the
	// job's metadata and company, created after the delete.
	u := getJSON(t, s, "/v1/users/u115")
	if md, _ := json.Marshal(u["metadata"]); string(md) != `{"job":115}` || u["company_id"] != company(115) {
		t.Errorf("u115, deleted before the job reached it = %v, want only the job's metadata and company %s", u, company(115))
	}
	if created := createdAt(u); !created.After(firstCreated) {
		t.Errorf("u115 created_at %v, want it made again after its first creation at %v", created, firstCreated)
	}
	// c0 lost the users applied before its delete; those applied after
	// made it again. Which rows fell on which side is known within
	// [before, after).
	count := map[string]int{}
	for i := 10; i < users; i++ {
		got := getJSON(t, s, "/v1/users/"+user(i))
		cid, _ := got["company_id"].(string)
		count[cid]++
		switch {
		case i%3 != 0 && cid != company(i):
			t.Errorf("%s: company %q, want %s", user(i), cid, company(i))
		case i%3 == 0 && i < before && cid != "":
			t.Errorf("%s, applied before c0's delete: company %q, want none", user(i), cid)
		case i%3 == 0 && i >= after && cid != "c0":
			t.Errorf("%s, applied after c0's delete: company %q, want c0", user(i), cid)
		}
	}
	for _, id := range []string{"c0", "c1", "c2"} {
		c := getJSON(t, s, "/v1/companies/"+id+"?all=true")
		if c["user_count"] != float64(count[id]) || c["visible"] != (count[id] > 0) {
			t.Errorf("company %s after the job: user_count %v, visible %v; its users number %d", id, c["user_count"], c["visible"], count[id])
		}
	}
	if count["c0"] == 0 {
		t.Errorf("no user of c0 after its delete: the job's later rows should have made it again")
	}
	if md, _ := json.Marshal(getJSON(t, s, "/v1/companies/c0")["metadata"]); string(md) != "{}" {
		t.Errorf("c0, made again by users' company_id: metadata %s, want {}", md)
	}

	// The last user of z goes: z stays, invisible.
	if n, _ := del("/v1/users", `{"users":["keep"]}`); n != 1 {
		t.Errorf("DELETE keep: deleted %d, want 1", n)
	}
	if c := getJSON(t, s, "/v1/companies/z?all=true"); c["user_count"] != float64(0) || c["visible"] != false {
		t.Errorf("z after its last user's delete: %v, want 0 users, invisible", c)
	}
	var visible []map[string]any
	s.Get("/v1/companies?limit=100").JSON(t, &visible)
	for _, c := range visible {
		if c["company_id"] == "z" {
			t.Errorf("GET /v1/companies lists z, which has no user")
		}
	}
}
