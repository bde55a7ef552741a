package storetest

import (
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

// The cases of this file pin the companies' user counts where a store
// keeps them by difference (each write adds what it changes) instead of
// counting a company's users again: the count after the job's refresh, or
// at once after a real-time write, is the number of the company's users,
// whatever moved where and in how many steps.

// counts checks the user count and visibility of each company of want.
func (e *env) counts(app *bulkid.App, what string, want map[string]int) {
	e.t.Helper()
	for id, n := range want {
		c := e.company(app, id)
		if c.UserCount != n || c.Visible != (n > 0) {
			e.t.Errorf("%s: company %q: UserCount %d, Visible %v; want %d, %v", what, id, c.UserCount, c.Visible, n, n > 0)
		}
	}
}

// testCountsMovesInJob: users moving between companies within one batch
// and across the batches of one job, back where they came from among
// them, change the counts by what they did in the end, at the refresh.
func testCountsMovesInJob(t *testing.T, e *env) {
	app := e.createApp("a")
	e.identify(app, bulkid.JobUsers, `{"user_id":"u1","company_id":"a"}`, `{"user_id":"u2","company_id":"a"}`,
		`{"user_id":"u3","company_id":"b"}`, `{"user_id":"u5","company_id":"d"}`)
	e.counts(app, "before the job", map[string]int{"a": 2, "b": 1, "d": 1})

	raws := []string{
		// batch 1: u1 moves twice, u2 once, u5 leaves d empty
		`{"user_id":"u1","company_id":"b"}`,
		`{"user_id":"u1","company_id":"c"}`,
		`{"user_id":"u2","company_id":"b"}`,
		`{"user_id":"u5","company_id":"b"}`,
		// batch 2: u2 comes back to a, u3 follows u1, u4 is new and moves
		`{"user_id":"u2","company_id":"a"}`,
		`{"user_id":"u3","company_id":"c"}`,
		`{"user_id":"u4","company_id":"a"}`,
		`{"user_id":"u4","company_id":"b"}`,
		// batch 3: u5 back to d and out again; metadata alone changes nothing
		`{"user_id":"u5","company_id":"d"}`,
		`{"user_id":"u5","company_id":"b","metadata":{"k":1}}`,
		`{"user_id":"u1","metadata":{"k":2}}`,
	}
	recs := e.records(bulkid.JobUsers, raws...)
	job := e.submit(app, bulkid.JobUsers, raws...)
	l := e.startJob("w1", job)
	for _, b := range [][2]int{{0, 4}, {4, 8}, {8, 11}} {
		e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, recs[b[0]:b[1]], b[0], b[1]))
	}
	e.counts(app, "before the refresh", map[string]int{"a": 2, "b": 1, "c": 0, "d": 1})
	e.must("CompleteJob", e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCompleted))
	// u1 c, u2 a, u3 c, u4 b, u5 b
	e.counts(app, "after the refresh", map[string]int{"a": 1, "b": 2, "c": 2, "d": 0})

	// A second job starts from those counts.
	e.run(app, bulkid.JobUsers, `{"user_id":"u4","company_id":"d"}`, `{"user_id":"u6","company_id":"d"}`, `{"user_id":"u1","company_id":"a"}`)
	e.counts(app, "after a second job", map[string]int{"a": 2, "b": 1, "c": 1, "d": 2})
}

// testCountsRefreshResumed: a job's batches commit what they change with
// them, and its refresh adds it once. The refresh commits with the
// finish (CompleteJob), so a worker lost before that commit, with the job
// processing or pending_refresh (its last batch committed), leaves
// nothing added: its CompleteJob, refused, adds nothing, and the worker
// that takes the job over refreshes what every owner applied, once.
func testCountsRefreshResumed(t *testing.T, e *env) {
	app := e.createApp("a")
	e.identify(app, bulkid.JobUsers, `{"user_id":"u0","company_id":"a"}`)
	raws := []string{
		`{"user_id":"u1","company_id":"a"}`,
		`{"user_id":"u2","company_id":"b"}`,
		`{"user_id":"u0","company_id":"b"}`,
		`{"user_id":"u3","company_id":"a"}`,
	}
	recs := e.records(bulkid.JobUsers, raws...)
	job := e.submit(app, bulkid.JobUsers, raws...)
	l1 := e.startJob("w1", job)
	e.must("ApplyBatch by w1", e.s.ApplyBatch(e.ctx, l1, bulkid.JobUsers, recs[:3], 0, 3))

	// w1 is gone before its last batch; w2 takes the job where it was.
	e.clock.Advance(ttl + time.Second)
	l2 := e.claim("w2", job)
	wantCode(t, "CompleteJob by the lost worker while processing", e.s.CompleteJob(e.ctx, l1, app.ID, bulkid.StatusCompleted), bulkid.ELEASELOST)
	e.counts(app, "after the lost worker's CompleteJob", map[string]int{"a": 1, "b": 0})
	e.must("ApplyBatch by w2", e.s.ApplyBatch(e.ctx, l2, bulkid.JobUsers, recs[3:], 3, 4))
	e.counts(app, "after w2's last batch", map[string]int{"a": 1, "b": 0})

	// w2 is gone after its last batch committed, before its CompleteJob
	// did; w3 resumes the job at pending_refresh.
	e.clock.Advance(ttl + time.Second)
	got, started, err := e.s.ClaimJob(e.ctx, "w3", ttl)
	e.must("ClaimJob(w3)", err)
	if got.ID != job.ID || got.Status != bulkid.StatusPendingRefresh || started {
		t.Fatalf("ClaimJob(w3) = %s, Status %q, started %v; want %s, pending_refresh, false", got.ID, got.Status, started, job.ID)
	}
	l3 := bulkid.Lease{JobID: job.ID, Owner: "w3", TTL: ttl}
	wantCode(t, "CompleteJob by the lost worker while pending_refresh", e.s.CompleteJob(e.ctx, l2, app.ID, bulkid.StatusCompleted), bulkid.ELEASELOST)
	e.counts(app, "after the second lost worker's CompleteJob", map[string]int{"a": 1, "b": 0})
	e.must("CompleteJob by w3", e.s.CompleteJob(e.ctx, l3, app.ID, bulkid.StatusCompleted))
	want := map[string]int{"a": 2, "b": 2} // u1 u3; u2 u0
	e.counts(app, "after the job", want)
	wantCode(t, "CompleteJob by w3 again", e.s.CompleteJob(e.ctx, l3, app.ID, bulkid.StatusCompleted), bulkid.ELEASELOST)
	e.counts(app, "after CompleteJob of the finished job", want)
	if got := e.job(app, job.ID); got.Status != bulkid.StatusCompleted || got.CompletedRows != 4 {
		t.Errorf("job: Status %q, CompletedRows %d; want completed, 4", got.Status, got.CompletedRows)
	}
}

// testCountsRealtimeDuringJob: a real-time identify or delete leaves the
// companies it changes exact at once, counting what the running job's
// batches did to them, and the job's refresh then adds only what it has
// not: the two never count a move twice or miss one.
func testCountsRealtimeDuringJob(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{
		`{"user_id":"u1","company_id":"x"}`,
		`{"user_id":"u2","company_id":"x"}`,
		`{"user_id":"u3","company_id":"y"}`,
		// batch 2
		`{"user_id":"u4","company_id":"x"}`,
		`{"user_id":"u1","company_id":"y"}`,
		`{"user_id":"u5","company_id":"z"}`,
		// batch 3
		`{"user_id":"u6","company_id":"z"}`,
		`{"user_id":"u3","company_id":"x"}`,
	}
	recs := e.records(bulkid.JobUsers, raws...)
	job := e.submit(app, bulkid.JobUsers, raws...)
	l := e.startJob("w1", job)
	e.must("ApplyBatch 1", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, recs[:3], 0, 3))
	e.counts(app, "after batch 1", map[string]int{"x": 0, "y": 0})

	// x has the job's u1 and u2, and now u7.
	e.identify(app, bulkid.JobUsers, `{"user_id":"u7","company_id":"x"}`)
	e.counts(app, "after an identify joining x", map[string]int{"x": 3, "y": 0})

	e.must("ApplyBatch 2", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, recs[3:6], 3, 6))
	// x: u2, u4, u7 once u2 goes (u1 left for y in batch 2).
	e.deleteUsers(app, 1, "u2")
	e.counts(app, "after a delete from x", map[string]int{"x": 2, "y": 0, "z": 0})
	// Identify moves u3 (the job's, in y) to z: y has u1 left, z u5 and u3.
	e.identify(app, bulkid.JobUsers, `{"user_id":"u3","company_id":"z"}`)
	e.counts(app, "after an identify moving u3 from y to z", map[string]int{"x": 2, "y": 1, "z": 2})
	// A company record alone changes no count.
	e.identify(app, bulkid.JobCompanies, `{"company_id":"x","metadata":{"plan":"pro"}}`)
	e.counts(app, "after a company identify", map[string]int{"x": 2})

	e.must("ApplyBatch 3", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, recs[6:], 6, 8))
	e.counts(app, "after batch 3", map[string]int{"x": 2, "y": 1, "z": 2})
	e.must("CompleteJob", e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCompleted))
	// x: u4 u7 u3; y: u1; z: u5 u6.
	e.counts(app, "after the refresh", map[string]int{"x": 3, "y": 1, "z": 2})
}
