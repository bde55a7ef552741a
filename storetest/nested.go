package storetest

import (
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/google/uuid"
)

// testJobNestedRule: a job keeps the rule its request chose for nested
// metadata (Job.Nested) in every read, and in the job a worker claims,
// also when another worker resumes it after the first lost its lease. A
// worker that validates with it stores the flattened profile of a flatten
// job; in a job without it the nested record fails alone, as always.
func testJobNestedRule(t *testing.T, e *env) {
	app := e.createApp("a")
	nested := `{"company_id":"c1","metadata":{"address":{"city":"Paris","geo":{"lat":48.85}},"tags":["a","b"],"plan":"pro"}}`
	flat := `{"company_id":"c2","metadata":{"plan":"free"}}`

	job := &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON, Nested: bulkid.NestedFlatten}
	e.must("CreateJob", e.s.CreateJob(e.ctx, job, recordpack.FromRecords(rawRecords(nested, flat))))
	want := &bulkid.Job{ID: job.ID, AppID: app.ID, Type: bulkid.JobCompanies, Status: bulkid.StatusQueued,
		Source: bulkid.SourceJSON, SubmittedAt: start, TotalRows: 2, Nested: bulkid.NestedFlatten}
	wantJob(t, "Job", e.job(app, job.ID), want)
	active, err := e.s.ActiveJob(e.ctx, app.ID)
	e.must("ActiveJob", err)
	wantJob(t, "ActiveJob", active, want)
	jobs, err := e.s.ListJobs(e.ctx, app.ID, bulkid.Page{Limit: 10})
	e.must("ListJobs", err)
	if len(jobs) != 1 {
		t.Fatalf("ListJobs: %d jobs, want 1", len(jobs))
	}
	wantJob(t, "ListJobs()[0]", jobs[0], want)

	// The first worker stops before it validates; the next one claims the
	// job with its rule.
	if got, _, err := e.s.ClaimJob(e.ctx, "w1", ttl); err != nil || got.Nested != bulkid.NestedFlatten {
		t.Fatalf("ClaimJob(w1) = %+v, %v; want the job with Nested %q", got, err, bulkid.NestedFlatten)
	}
	e.clock.Advance(ttl + time.Second)
	resumed, _, err := e.s.ClaimJob(e.ctx, "w2", ttl)
	e.must("ClaimJob(w2)", err)
	if resumed.ID != job.ID || resumed.Nested != bulkid.NestedFlatten {
		t.Fatalf("ClaimJob(w2) after w1's lease expired = job %s, Nested %q; want %s, %q", resumed.ID, resumed.Nested, job.ID, bulkid.NestedFlatten)
	}
	e.work(bulkid.Lease{JobID: job.ID, Owner: "w2", TTL: ttl}, resumed)
	got := e.job(app, job.ID)
	if got.CompletedRows != 2 || got.FailedRows != 0 || got.Nested != bulkid.NestedFlatten {
		t.Errorf("flatten job: completed %d, failed %d, Nested %q; want 2, 0, %q", got.CompletedRows, got.FailedRows, got.Nested, bulkid.NestedFlatten)
	}
	wantMetadata(t, "company c1", e.company(app, "c1").Metadata,
		`{"address.city":"Paris","address.geo.lat":48.85,"tags":"[\"a\",\"b\"]","plan":"pro"}`)
	wantMetadata(t, "company c2", e.company(app, "c2").Metadata, `{"plan":"free"}`)

	// Without the rule (the default), the nested record fails alone.
	job2 := &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
	nested3 := `{"company_id":"c3","metadata":{"address":{"city":"Lyon"}}}`
	e.must("CreateJob", e.s.CreateJob(e.ctx, job2, recordpack.FromRecords(rawRecords(nested3, `{"company_id":"c4","metadata":{"plan":"pro"}}`))))
	claimed, _, err := e.s.ClaimJob(e.ctx, "w3", ttl)
	e.must("ClaimJob(w3)", err)
	if claimed.ID != job2.ID || claimed.Nested != bulkid.NestedRefuse {
		t.Fatalf("ClaimJob(w3) = job %s, Nested %q; want %s, %q", claimed.ID, claimed.Nested, job2.ID, bulkid.NestedRefuse)
	}
	e.work(bulkid.Lease{JobID: job2.ID, Owner: "w3", TTL: ttl}, claimed)
	got = e.job(app, job2.ID)
	if got.CompletedRows != 1 || got.FailedRows != 1 || len(got.Errors) != 1 || got.Errors[0].Code != bulkid.RNestedMetadata || got.Errors[0].ID != "c3" {
		t.Errorf("refuse job: completed %d, failed %d, errors %+v; want 1, 1 and c3's %s", got.CompletedRows, got.FailedRows, got.Errors, bulkid.RNestedMetadata)
	}
	if _, err := e.s.Company(e.ctx, app.ID, "c3"); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("Company(c3) of the refused record: err %v, want %s", err, bulkid.ENOTFOUND)
	}
	wantMetadata(t, "company c4", e.company(app, "c4").Metadata, `{"plan":"pro"}`)
}

// work runs the claimed job under l as the worker does: it validates every
// record with the job's own rule, applies the valid ones in one batch and
// finishes the job.
func (e *env) work(l bulkid.Lease, job *bulkid.Job) {
	e.t.Helper()
	raws, err := e.s.JobRecords(e.ctx, job.ID, 0, job.TotalRows)
	e.must("JobRecords", err)
	var recs []bulkid.Record
	var errs []bulkid.RecordError
	for _, r := range raws {
		rec, rerr := bulkid.ValidateRecordOpts(job.Type, r.Raw, bulkid.ValidateOptions{Nested: job.Nested})
		if rerr != nil {
			rerr.Seq, rerr.Pos, rerr.Raw = r.Seq, r.Pos, r.Raw
			errs = append(errs, *rerr)
			continue
		}
		recs = append(recs, rec)
	}
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, errs))
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, job.Type, recs, 0, job.TotalRows))
	e.must("CompleteJob", e.s.CompleteJob(e.ctx, l, job.AppID, bulkid.StatusCompleted))
}
