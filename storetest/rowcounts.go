package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

// testRowCounts: a job counts what each applied record did, created,
// updated or unchanged, once per record: in the transaction of its batch,
// so a batch retried after a lost lease or a stale cursor adds nothing.
// Values the store wrote back in its own layout (PostgreSQL writes 1E3 as
// 1000) that equal what is sent again are no change.
func testRowCounts(t *testing.T, e *env) {
	app := e.createApp("a")
	e.run(app, bulkid.JobCompanies, `{"company_id":"c1","metadata":{"n":1E3,"s":"a\u0008b","f":1.50}}`, `{"company_id":"c2","metadata":{"x":1}}`)

	raws := []string{
		`{"company_id":"c1","metadata":{"n":1E3,"s":"a\u0008b","f":1.5}}`, // the same values: unchanged
		`{"company_id":"c2","metadata":{"x":2}}`,                          // updated
		`{"company_id":"c2","metadata":{"x":2}}`,                          // unchanged after the one before
		`{"company_id":"c3"}`,                                             // created
		`{"company_id":"c3","metadata":{"gone":null}}`,                    // unchanged
		`{"company_id":"c1","metadata":{"f":null}}`,                       // updated: a key removed
	}
	recs := e.records(bulkid.JobCompanies, raws...)
	job := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.startJob("w1", job)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[:3], 0, 3))
	// The same batch again, as after a crash before the worker saw the
	// commit: refused by the cursor, and counted once.
	wantCode(t, "ApplyBatch of a batch already applied", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[:3], 0, 3), bulkid.ELEASELOST)
	if got := e.job(app, job.ID); got.Rows != (bulkid.RowCounts{Updated: 1, Unchanged: 2}) || got.CompletedRows != 3 {
		t.Errorf("after the first batch: Rows %+v, CompletedRows %d; want {Updated:1 Unchanged:2}, 3", got.Rows, got.CompletedRows)
	}
	// Another worker resumes it after the lease ran out.
	e.clock.Advance(ttl + time.Second)
	l2 := e.claim("w2", job)
	wantCode(t, "ApplyBatch by the former owner", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[3:], 3, 6), bulkid.ELEASELOST)
	e.must("ApplyBatch by the new owner", e.s.ApplyBatch(e.ctx, l2, bulkid.JobCompanies, recs[3:], 3, 6))
	got := e.job(app, job.ID)
	if want := (bulkid.RowCounts{Created: 1, Updated: 2, Unchanged: 3}); got.Rows != want || got.CompletedRows != 6 {
		t.Errorf("after the last batch: Rows %+v, CompletedRows %d; want %+v, 6", got.Rows, got.CompletedRows, want)
	}
	e.must("CompleteJob", e.s.CompleteJob(e.ctx, l2, app.ID, bulkid.StatusCompleted))
	jobs, err := e.s.ListJobs(e.ctx, app.ID, bulkid.Page{Limit: 10})
	e.must("ListJobs", err)
	if len(jobs) == 0 || jobs[0].ID != job.ID || jobs[0].Rows != got.Rows {
		t.Errorf("ListJobs does not carry the job's row counts %+v: %+v", got.Rows, jobs)
	}

	// Users: a company change alone is an update; a record the profile
	// bounds refuse is failed, not counted.
	e.run(app, bulkid.JobUsers, `{"user_id":"u1","company_id":"c1","metadata":{"a":1}}`)
	big := `"` + strings.Repeat("x", 600<<10) + `"`
	uraws := []string{
		`{"user_id":"u1","company_id":"c1","metadata":{"a":1}}`, // unchanged
		`{"user_id":"u1","company_id":"c2"}`,                    // updated
		`{"user_id":"u2","metadata":{"k1":` + big + `}}`,        // created
		`{"user_id":"u2","metadata":{"k2":` + big + `}}`,        // profile_too_large
	}
	ujob := e.run(app, bulkid.JobUsers, uraws...)
	got = e.job(app, ujob.ID)
	if want := (bulkid.RowCounts{Created: 1, Updated: 1, Unchanged: 1}); got.Rows != want || got.CompletedRows != 3 || got.FailedRows != 1 {
		t.Errorf("users job: Rows %+v, CompletedRows %d, FailedRows %d; want %+v, 3, 1", got.Rows, got.CompletedRows, got.FailedRows, want)
	}
}

// testUnchangedNotWritten: a record that changes nothing leaves its
// profile as it was, updated_at included, in a job and in real time; one
// that changes something moves it.
func testUnchangedNotWritten(t *testing.T, e *env) {
	app := e.createApp("a")
	e.run(app, bulkid.JobCompanies, `{"company_id":"c1","metadata":{"n":1E3}}`, `{"company_id":"c2","metadata":{"n":1}}`)
	e.run(app, bulkid.JobUsers, `{"user_id":"u1","company_id":"c1","metadata":{"a":1}}`)
	first := e.clock.Now()
	e.clock.Advance(time.Minute)
	e.run(app, bulkid.JobCompanies, `{"company_id":"c1","metadata":{"n":1000}}`, `{"company_id":"c2","metadata":{"n":2}}`)
	e.run(app, bulkid.JobUsers, `{"user_id":"u1","company_id":"c1","metadata":{"a":1}}`)
	e.must("Identify", e.s.Identify(e.ctx, app.ID, e.records(bulkid.JobCompanies, `{"company_id":"c1"}`),
		e.records(bulkid.JobUsers, `{"user_id":"u1","metadata":{"gone":null}}`)))
	later := e.clock.Now()
	if c := e.company(app, "c1"); !c.UpdatedAt.Equal(first) {
		t.Errorf("c1, sent again unchanged: updated_at %v, want %v (not written)", c.UpdatedAt, first)
	}
	if u := e.user(app, "u1"); !u.UpdatedAt.Equal(first) || u.CompanyID != "c1" {
		t.Errorf("u1, sent again unchanged: updated_at %v, company %q; want %v, c1", u.UpdatedAt, u.CompanyID, first)
	}
	if c := e.company(app, "c2"); !c.UpdatedAt.Equal(later) || string(c.Metadata) != `{"n":2}` && string(c.Metadata) != `{"n": 2}` {
		t.Errorf("c2, changed: updated_at %v, metadata %s; want %v, n 2", c.UpdatedAt, c.Metadata, later)
	}
}
