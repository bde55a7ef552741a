package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/google/uuid"
)

// testCancelQueued: a queued job is canceled at once: final, its input
// dropped, the app free for its next job, and a worker that had just
// claimed it loses its lease. Canceling it again answers the same.
func testCancelQueued(t *testing.T, e *env) {
	app, other := e.createApp("a"), e.createApp("b")
	job := e.submit(app, bulkid.JobCompanies, `{"company_id":"c1"}`, `{"company_id":"c2"}`)
	_, err := e.s.CancelJob(e.ctx, other.ID, job.ID)
	wantCode(t, "CancelJob of another app's job", err, bulkid.ENOTFOUND)
	_, err = e.s.CancelJob(e.ctx, app.ID, uuid.NewString())
	wantCode(t, "CancelJob of an unknown job", err, bulkid.ENOTFOUND)
	if got := e.job(app, job.ID); got.Status != bulkid.StatusQueued || got.CancelRequested {
		t.Fatalf("after refused cancels: Status %q, CancelRequested %v; want queued, false", got.Status, got.CancelRequested)
	}

	at := e.clock.Advance(time.Minute)
	got, err := e.s.CancelJob(e.ctx, app.ID, job.ID)
	e.must("CancelJob", err)
	want := &bulkid.Job{ID: job.ID, AppID: app.ID, Type: bulkid.JobCompanies, Status: bulkid.StatusCanceled,
		Source: bulkid.SourceNDJSON, SubmittedAt: start, EndTime: at, TotalRows: 2, CancelRequested: true}
	wantJob(t, "CancelJob's job", got, want)
	wantJob(t, "Job after CancelJob", e.job(app, job.ID), want)
	_, err = e.s.ActiveJob(e.ctx, app.ID)
	wantCode(t, "ActiveJob after canceling the queued job", err, bulkid.ENOTFOUND)
	recs, err := e.s.JobRecords(e.ctx, job.ID, 0, 10)
	e.must("JobRecords", err)
	if len(recs) != 0 {
		t.Errorf("JobRecords of a canceled job: %d records, want its input dropped", len(recs))
	}
	_, _, err = e.s.ClaimJob(e.ctx, "w1", ttl)
	wantCode(t, "ClaimJob with only a canceled job", err, bulkid.ENOTFOUND)

	e.clock.Advance(time.Minute)
	again, err := e.s.CancelJob(e.ctx, app.ID, job.ID)
	e.must("CancelJob again", err)
	wantJob(t, "CancelJob of a canceled job", again, want)

	// The app's next job can start at once. Its claim starts it, so a
	// cancel after the claim is a running job's: recorded, the worker's
	// next write refused with ECANCELED, and the job ended canceled by it.
	next := e.submit(app, bulkid.JobCompanies, `{"company_id":"c3"}`)
	l := e.claim("w1", next)
	got, err = e.s.CancelJob(e.ctx, app.ID, next.ID)
	e.must("CancelJob of a claimed job", err)
	if got.Status != bulkid.StatusValidating || !got.CancelRequested {
		t.Errorf("CancelJob of a claimed job: Status %q, CancelRequested %v; want validating, true", got.Status, got.CancelRequested)
	}
	wantCode(t, "FinishValidation of a job canceled after its claim", e.s.FinishValidation(e.ctx, l, nil), bulkid.ECANCELED)
	e.must("CompleteJob(canceled)", e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCanceled))
	if got := e.job(app, next.ID); got.Status != bulkid.StatusCanceled {
		t.Errorf("claimed job after CancelJob: Status %q, want canceled", got.Status)
	}
	_, err = e.s.Company(e.ctx, app.ID, "c3")
	wantCode(t, "Company of a job canceled before its first batch", err, bulkid.ENOTFOUND)
	e.submit(app, bulkid.JobCompanies, `{"company_id":"c4"}`)
}

// testCancelRunning: a running job's cancel is recorded; its worker's next
// batch, renewal or end of validation is refused with ECANCELED and writes
// nothing; it then refreshes and finishes the job canceled (CompleteJob),
// with the rows applied before counted and stored.
func testCancelRunning(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{`{"user_id":"u1","company_id":"c1"}`, `{"user_id":"u2","company_id":"c1"}`,
		`{"user_id":"u3","company_id":"c1"}`, `{"user_id":"u4","company_id":"c1"}`}
	recs := e.records(bulkid.JobUsers, raws...)
	job := e.submit(app, bulkid.JobUsers, raws...)
	started := e.clock.Advance(time.Second)
	l := e.startJob("w1", job)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, recs[:2], 0, 2))

	got, err := e.s.CancelJob(e.ctx, app.ID, job.ID)
	e.must("CancelJob", err)
	running := &bulkid.Job{ID: job.ID, AppID: app.ID, Type: bulkid.JobUsers, Status: bulkid.StatusProcessing,
		Source: bulkid.SourceNDJSON, SubmittedAt: start, StartTime: started, TotalRows: 4, CompletedRows: 2,
		Cursor: 2, Rows: bulkid.RowCounts{Created: 2}, CancelRequested: true}
	wantJob(t, "CancelJob of a running job", got, running)
	active, err := e.s.ActiveJob(e.ctx, app.ID)
	e.must("ActiveJob while the cancel waits for the worker", err)
	if active.ID != job.ID {
		t.Errorf("ActiveJob = %s, want the job being canceled", active.ID)
	}

	wantCode(t, "ApplyBatch after CancelJob", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, recs[2:], 2, 4), bulkid.ECANCELED)
	wantCode(t, "RenewLease after CancelJob", e.s.RenewLease(e.ctx, l), bulkid.ECANCELED)
	wantCode(t, "FinishValidation after CancelJob", e.s.FinishValidation(e.ctx, l, nil), bulkid.ECANCELED)
	wantJob(t, "Job after refused writes", e.job(app, job.ID), running)
	_, err = e.s.User(e.ctx, app.ID, "u3")
	wantCode(t, "User of a batch refused after the cancel", err, bulkid.ENOTFOUND)
	// Another worker's writes are still ELEASELOST, not ECANCELED.
	thief := bulkid.Lease{JobID: job.ID, Owner: "w2", TTL: ttl}
	wantCode(t, "ApplyBatch of another owner after CancelJob", e.s.ApplyBatch(e.ctx, thief, bulkid.JobUsers, recs[2:], 2, 4), bulkid.ELEASELOST)

	wantCount(t, e.company(app, "c1"), 0, false) // until the refresh
	ended := e.clock.Advance(time.Second)
	e.must("CompleteJob(canceled)", e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCanceled))
	done := *running
	done.Status, done.EndTime = bulkid.StatusCanceled, ended
	wantJob(t, "Job after the worker finished it canceled", e.job(app, job.ID), &done)
	wantCount(t, e.company(app, "c1"), 2, true)
	e.user(app, "u1")
	e.user(app, "u2")
	_, err = e.s.ActiveJob(e.ctx, app.ID)
	wantCode(t, "ActiveJob after the cancel", err, bulkid.ENOTFOUND)
	_, err = e.s.CancelJob(e.ctx, app.ID, job.ID)
	e.must("CancelJob of the canceled job", err)

	// A job canceled after its last batch, while it refreshes, ends
	// canceled even though its worker finishes it as completed.
	late := e.submit(app, bulkid.JobCompanies, `{"company_id":"c9"}`)
	l = e.startJob("w1", late)
	e.must("last ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, e.records(bulkid.JobCompanies, `{"company_id":"c9"}`), 0, 1))
	_, err = e.s.CancelJob(e.ctx, app.ID, late.ID)
	e.must("CancelJob while pending_refresh", err)
	e.must("CompleteJob(completed)", e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCompleted))
	if got := e.job(app, late.ID); got.Status != bulkid.StatusCanceled || got.CompletedRows != 1 {
		t.Errorf("job canceled while refreshing: Status %q, CompletedRows %d; want canceled, 1", got.Status, got.CompletedRows)
	}
}

// testCancelInEachStatus: a job canceled while it stands at validating,
// processing or pending_refresh (its last batch committed) keeps its
// status with the cancel recorded; every write its worker would make next
// that a cancel stops (the renewal, the end of validation, a batch) is
// refused with ECANCELED and writes nothing, and CompleteJob, whichever
// status the worker asks for, ends it canceled with what its batches
// applied counted in its companies.
func testCancelInEachStatus(t *testing.T, e *env) {
	for _, st := range []bulkid.JobStatus{bulkid.StatusValidating, bulkid.StatusProcessing, bulkid.StatusPendingRefresh} {
		app := e.createApp(string(st))
		raws := []string{`{"user_id":"u1","company_id":"c1"}`, `{"user_id":"u2","company_id":"c1"}`}
		recs := e.records(bulkid.JobUsers, raws...)
		job := e.submit(app, bulkid.JobUsers, raws...)
		l := e.jobAt("w1", job, recs, st)
		got, err := e.s.CancelJob(e.ctx, app.ID, job.ID)
		e.must("CancelJob", err)
		if got.Status != st || !got.CancelRequested || !got.EndTime.IsZero() {
			t.Errorf("CancelJob at %s: Status %q, CancelRequested %v, EndTime %v; want %s, true, zero", st, got.Status, got.CancelRequested, got.EndTime, st)
		}
		before := e.job(app, job.ID)
		wantCode(t, fmt.Sprintf("RenewLease after CancelJob at %s", st), e.s.RenewLease(e.ctx, l), bulkid.ECANCELED)
		wantCode(t, fmt.Sprintf("FinishValidation after CancelJob at %s", st), e.s.FinishValidation(e.ctx, l, nil), bulkid.ECANCELED)
		wantCode(t, fmt.Sprintf("ApplyBatch after CancelJob at %s", st),
			e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, e.records(bulkid.JobUsers, `{"user_id":"late"}`), before.Cursor, before.Cursor+1), bulkid.ECANCELED)
		wantJob(t, fmt.Sprintf("Job after the refused writes at %s", st), e.job(app, job.ID), before)
		if _, err := e.s.User(e.ctx, app.ID, "late"); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
			t.Errorf("User of a batch refused after CancelJob at %s: %v, want %s", st, err, bulkid.ENOTFOUND)
		}

		// The worker finishes it as it would: canceled once it sees the
		// cancel, completed if it was refreshing; canceled either way.
		finish := bulkid.StatusCanceled
		if st == bulkid.StatusPendingRefresh {
			finish = bulkid.StatusCompleted
		}
		e.must("CompleteJob", e.s.CompleteJob(e.ctx, l, app.ID, finish))
		applied := 0
		if st == bulkid.StatusPendingRefresh {
			applied = 2
			e.counts(app, fmt.Sprintf("after CompleteJob of the job canceled at %s", st), map[string]int{"c1": 2})
		}
		if got := e.job(app, job.ID); got.Status != bulkid.StatusCanceled || got.CompletedRows != applied || got.EndTime.IsZero() {
			t.Errorf("job canceled at %s, finished: Status %q, CompletedRows %d, EndTime %v; want canceled, %d, set", st, got.Status, got.CompletedRows, got.EndTime, applied)
		}
		if _, err := e.s.ActiveJob(e.ctx, app.ID); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
			t.Errorf("ActiveJob after the job canceled at %s finished: %v, want %s", st, err, bulkid.ENOTFOUND)
		}
	}
}

// testCancelReleased: a job canceled while no worker runs it (released at
// a shutdown) is claimed with CancelRequested set, so that the next worker
// finishes it canceled; the same holds once a dead worker's lease expires.
func testCancelReleased(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{`{"company_id":"c1"}`, `{"company_id":"c2"}`}
	job := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.startJob("w1", job)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, e.records(bulkid.JobCompanies, raws[0]), 0, 1))
	e.must("ReleaseJob", e.s.ReleaseJob(e.ctx, l))
	_, err := e.s.CancelJob(e.ctx, app.ID, job.ID)
	e.must("CancelJob", err)
	got, _, err := e.s.ClaimJob(e.ctx, "w2", ttl)
	e.must("ClaimJob of a canceled released job", err)
	if got.ID != job.ID || !got.CancelRequested || got.Status != bulkid.StatusProcessing {
		t.Fatalf("ClaimJob: %s, CancelRequested %v, Status %q; want %s, true, processing", got.ID, got.CancelRequested, got.Status, job.ID)
	}
	l2 := bulkid.Lease{JobID: job.ID, Owner: "w2", TTL: ttl}
	wantCode(t, "ApplyBatch of the new owner", e.s.ApplyBatch(e.ctx, l2, bulkid.JobCompanies, e.records(bulkid.JobCompanies, raws[1]), 1, 2), bulkid.ECANCELED)
	// The new owner dies; the lease runs out and a third worker takes it.
	e.clock.Advance(2 * ttl)
	got, _, err = e.s.ClaimJob(e.ctx, "w3", ttl)
	e.must("ClaimJob after the lease ran out", err)
	if got.ID != job.ID || !got.CancelRequested {
		t.Fatalf("ClaimJob after expiry: %s, CancelRequested %v; want %s, true", got.ID, got.CancelRequested, job.ID)
	}
	l3 := bulkid.Lease{JobID: job.ID, Owner: "w3", TTL: ttl}
	e.must("CompleteJob(canceled)", e.s.CompleteJob(e.ctx, l3, app.ID, bulkid.StatusCanceled))
	if got := e.job(app, job.ID); got.Status != bulkid.StatusCanceled || got.CompletedRows != 1 || got.Cursor != 1 {
		t.Errorf("after CompleteJob: Status %q, CompletedRows %d, Cursor %d; want canceled, 1, 1", got.Status, got.CompletedRows, got.Cursor)
	}
}

// testCancelFinished: a completed or failed job cannot be canceled:
// EJOBFINISHED, naming the job, and the job is left as it was.
func testCancelFinished(t *testing.T, e *env) {
	app := e.createApp("a")
	done := e.run(app, bulkid.JobCompanies, `{"company_id":"c1"}`)
	before := e.job(app, done.ID)
	_, err := e.s.CancelJob(e.ctx, app.ID, done.ID)
	wantCode(t, "CancelJob of a completed job", err, bulkid.EJOBFINISHED)
	var be *bulkid.Error
	if !errors.As(err, &be) || be.Job == nil || be.Job.ID != done.ID || be.Job.Status != bulkid.StatusCompleted {
		t.Errorf("CancelJob of a completed job: error %v does not name the completed job", err)
	}
	wantJob(t, "completed job after CancelJob", e.job(app, done.ID), before)

	bad := e.submit(app, bulkid.JobUsers, `{"user_id":null}`)
	l := e.startJob("w1", bad)
	e.must("FinishJob(failed)", e.s.FinishJob(e.ctx, l, bulkid.StatusFailed, "every record is invalid"))
	_, err = e.s.CancelJob(e.ctx, app.ID, bad.ID)
	wantCode(t, "CancelJob of a failed job", err, bulkid.EJOBFINISHED)
	if got := e.job(app, bad.ID); got.Status != bulkid.StatusFailed || got.CancelRequested {
		t.Errorf("failed job after CancelJob: Status %q, CancelRequested %v; want failed, false", got.Status, got.CancelRequested)
	}
}

// pruneAll calls prune until it removes fewer than limit rows, and returns
// how many calls and rows it took.
func pruneAll(t *testing.T, what string, limit int, prune func(limit int) (int, error)) (calls, rows int) {
	t.Helper()
	for {
		n, err := prune(limit)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n > limit {
			t.Fatalf("%s(limit %d) removed %d rows", what, limit, n)
		}
		calls++
		rows += n
		if n < limit {
			return calls, rows
		}
		if calls > 1000 {
			t.Fatalf("%s does not end", what)
		}
	}
}

// testPruneJobs: finished jobs older than the age go, with their errors
// and input, in calls of at most limit rows; newer and unfinished jobs
// and every profile stay.
func testPruneJobs(t *testing.T, e *env) {
	app, other := e.createApp("a"), e.createApp("b")
	// old: completed with 5 record errors, an hour and a half ago.
	raws := []string{`{"company_id":"c0"}`}
	var recErrs []bulkid.RecordError
	for i := 1; i <= 5; i++ {
		raws = append(raws, fmt.Sprintf(`{"company_id":"x%d","metadata":{"a":{}}}`, i))
		recErrs = append(recErrs, bulkid.RecordError{Seq: i, Pos: i + 1, ID: fmt.Sprintf("x%d", i), Code: bulkid.RNestedMetadata,
			Message: "nested", Raw: []byte(raws[i])})
	}
	old := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.startJob("w1", old)
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, recErrs))
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, e.records(bulkid.JobCompanies, raws[0]), 0, 6))
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	canceled := e.submit(other, bulkid.JobUsers, `{"user_id":"u1"}`)
	_, err := e.s.CancelJob(e.ctx, other.ID, canceled.ID)
	e.must("CancelJob", err)
	e.clock.Advance(30 * time.Minute)
	recent := e.run(app, bulkid.JobCompanies, `{"company_id":"c1"}`)
	e.clock.Advance(time.Hour)
	running := e.submit(app, bulkid.JobCompanies, `{"company_id":"c2"}`) // old enough, but unfinished
	e.clock.Advance(time.Hour)

	// Now old and canceled ended 2.5 h ago, recent 2 h ago (not more
	// than the age), running never.
	if n, err := e.s.PruneJobs(e.ctx, 2*time.Hour, 0); err != nil || n != 0 {
		t.Errorf("PruneJobs(limit 0) = %d, %v; want 0, nil", n, err)
	}
	n, err := e.s.PruneJobs(e.ctx, 2*time.Hour, 3)
	e.must("PruneJobs", err)
	if n != 3 {
		t.Errorf("first PruneJobs(limit 3) removed %d rows, want 3 (of the old job's errors)", n)
	}
	if got := e.job(app, old.ID); got.Status != bulkid.StatusCompleted {
		t.Errorf("old job after a partial prune: Status %q", got.Status)
	}
	// The rest: 2 errors and the old job, the canceled job.
	calls, rows := pruneAll(t, "PruneJobs", 3, func(limit int) (int, error) { return e.s.PruneJobs(e.ctx, 2*time.Hour, limit) })
	if rows != 4 || calls != 2 {
		t.Errorf("the rest of the prune: %d rows in %d calls, want 4 in 2", rows, calls)
	}
	for _, j := range []struct {
		app *bulkid.App
		id  string
	}{{app, old.ID}, {other, canceled.ID}} {
		_, err := e.s.Job(e.ctx, j.app.ID, j.id)
		wantCode(t, "Job of a pruned job", err, bulkid.ENOTFOUND)
		_, err = e.s.JobErrors(e.ctx, j.app.ID, j.id, 0, 10)
		wantCode(t, "JobErrors of a pruned job", err, bulkid.ENOTFOUND)
	}
	e.job(app, recent.ID)
	e.job(app, running.ID)
	jobs, err := e.s.ListJobs(e.ctx, app.ID, bulkid.Page{Limit: 10})
	e.must("ListJobs", err)
	if got := jobIDs(jobs); len(got) != 2 || got[0] != running.ID || got[1] != recent.ID {
		t.Errorf("ListJobs after the prune = %q, want the running and the recent job", got)
	}
	e.company(app, "c0") // profiles are never pruned
	e.company(app, "c1")

	// Later the recent job goes too; the unfinished one never does.
	e.clock.Advance(time.Minute)
	_, rows = pruneAll(t, "PruneJobs", 100, func(limit int) (int, error) { return e.s.PruneJobs(e.ctx, 2*time.Hour, limit) })
	if rows != 1 {
		t.Errorf("PruneJobs a minute later removed %d rows, want 1 (the recent job)", rows)
	}
	e.clock.Advance(100 * time.Hour)
	if n, err := e.s.PruneJobs(e.ctx, 0, 100); err != nil || n != 0 {
		t.Errorf("PruneJobs with only an unfinished job = %d, %v; want 0, nil", n, err)
	}
	e.job(app, running.ID)
	e.company(app, "c1")
}

// testPruneEvents: events older than the age go, oldest first, in calls
// of at most limit, and leave the totals and listings as if they had
// never been tracked.
func testPruneEvents(t *testing.T, e *env) {
	app, other := e.createApp("a"), e.createApp("b")
	e.track(app, "u1", "view", "")
	e.track(app, "u1", "gone", "")
	e.track(other, "u9", "view", "")
	e.clock.Advance(time.Hour)
	e.track(app, "u1", "view", "")
	e.track(app, "", "view", "")
	e.clock.Advance(time.Hour)
	keep := e.track(app, "u1", "view", "")
	e.clock.Advance(time.Hour)
	// Now: 3 events 3 h old, 2 events 2 h old, 1 event 1 h old.

	n, err := e.s.PruneEvents(e.ctx, 90*time.Minute, 2)
	e.must("PruneEvents", err)
	if n != 2 {
		t.Errorf("PruneEvents(limit 2) removed %d, want 2", n)
	}
	_, rows := pruneAll(t, "PruneEvents", 2, func(limit int) (int, error) { return e.s.PruneEvents(e.ctx, 90*time.Minute, limit) })
	if rows != 3 {
		t.Errorf("the rest of the prune removed %d, want 3", rows)
	}
	totals, err := e.s.EventTotals(e.ctx, app.ID)
	e.must("EventTotals", err)
	if len(totals) != 1 || totals[0].Name != "view" || totals[0].Count != 1 || !totals[0].LastAt.Equal(keep.ReceivedAt) {
		t.Errorf("EventTotals after the prune = %+v, want only view: 1 at %v", totals, keep.ReceivedAt)
	}
	totals, err = e.s.EventTotals(e.ctx, other.ID)
	e.must("EventTotals of the other app", err)
	if len(totals) != 0 {
		t.Errorf("EventTotals of the other app after the prune = %+v, want none", totals)
	}
	if got := eventSeqs(e.allEvents(app, "u1", "", 10)); len(got) != 1 || got[0] != keep.Seq {
		t.Errorf("u1's events after the prune = %v, want [%d]", got, keep.Seq)
	}
	e.user(app, "u1") // users are never pruned
	e.user(other, "u9")
	if n, err := e.s.PruneEvents(e.ctx, 90*time.Minute, 10); err != nil || n != 0 {
		t.Errorf("PruneEvents again = %d, %v; want 0, nil", n, err)
	}
}

// testPruneConcurrent: callers pruning at once (processes sharing a
// PostgreSQL database each run a pruner) remove each row once, never
// fail, and leave the totals right, while events are tracked meanwhile.
func testPruneConcurrent(t *testing.T, e *env) {
	app := e.createApp("a")
	const jobs, errsPerJob = 12, 3
	for i := range jobs {
		raws := []string{fmt.Sprintf(`{"company_id":"c%d"}`, i)}
		var recErrs []bulkid.RecordError
		for k := 1; k <= errsPerJob; k++ {
			raws = append(raws, `{"company_id":"x","metadata":{"a":{}}}`)
			recErrs = append(recErrs, bulkid.RecordError{Seq: k, Pos: k + 1, ID: "x", Code: bulkid.RNestedMetadata, Message: "nested", Raw: []byte(raws[k])})
		}
		job := e.submit(app, bulkid.JobCompanies, raws...)
		l := e.startJob("w1", job)
		e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, recErrs))
		e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, e.records(bulkid.JobCompanies, raws[0]), 0, len(raws)))
		e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	}
	const events = 60
	for i := range events {
		e.track(app, fmt.Sprintf("u%d", i%5), fmt.Sprintf("n%d", i%4), "")
	}
	e.clock.Advance(time.Hour)

	const callers = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	jobRows, eventRows := 0, 0
	for c := range callers {
		wg.Go(func() {
			for {
				j, err := e.s.PruneJobs(e.ctx, time.Minute, 5)
				if err != nil {
					t.Errorf("PruneJobs: %v", err)
					return
				}
				ev, err := e.s.PruneEvents(e.ctx, time.Minute, 7)
				if err != nil {
					t.Errorf("PruneEvents: %v", err)
					return
				}
				mu.Lock()
				jobRows, eventRows = jobRows+j, eventRows+ev
				mu.Unlock()
				if j == 0 && ev == 0 {
					return
				}
			}
		})
		wg.Go(func() { // events tracked meanwhile are not pruned
			ev := &bulkid.Event{UserID: fmt.Sprintf("new%d", c), Name: "n0", ReceivedAt: e.clock.Now()}
			if err := e.s.Track(e.ctx, app.ID, ev); err != nil {
				t.Errorf("Track during the prune: %v", err)
			}
		})
	}
	wg.Wait()
	// Both loops stop only on a call that found nothing, but another
	// caller may have had rows in flight: prune once more to be sure.
	if n, err := e.s.PruneJobs(e.ctx, time.Minute, 100); err != nil || n != 0 {
		t.Errorf("PruneJobs after the callers: %d, %v; want 0", n, err)
	}
	if n, err := e.s.PruneEvents(e.ctx, time.Minute, 100); err != nil || n != 0 {
		t.Errorf("PruneEvents after the callers: %d, %v; want 0", n, err)
	}
	if want := jobs * (errsPerJob + 1); jobRows != want {
		t.Errorf("the callers removed %d job rows, want %d (each once)", jobRows, want)
	}
	if eventRows != events {
		t.Errorf("the callers removed %d events, want %d (each once)", eventRows, events)
	}
	list, err := e.s.ListJobs(e.ctx, app.ID, bulkid.Page{Limit: 100})
	e.must("ListJobs", err)
	if len(list) != 0 {
		t.Errorf("ListJobs after the prune: %d jobs", len(list))
	}
	totals, err := e.s.EventTotals(e.ctx, app.ID)
	e.must("EventTotals", err)
	if len(totals) != 1 || totals[0].Name != "n0" || totals[0].Count != callers {
		t.Errorf("EventTotals after the prune = %+v, want n0: %d (the events tracked meanwhile)", totals, callers)
	}
}

// testPruneKeepsKeyedJobs: a finished job that a live Idempotency-Key
// names is kept until the key expires, however short the job retention,
// so that a replay of the key always finds its job; then it is pruned.
func testPruneKeepsKeyedJobs(t *testing.T, e *env) {
	app := e.createApp("a")
	keyed, _, err := e.submitWithKey(app, "k1", "fp")
	e.must("CreateJobWithKey", err)
	l := e.claim("w1", keyed)
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	plain := e.run(app, bulkid.JobCompanies, `{"company_id":"c1"}`)

	e.clock.Advance(time.Hour)
	_, rows := pruneAll(t, "PruneJobs", 100, func(limit int) (int, error) { return e.s.PruneJobs(e.ctx, time.Minute, limit) })
	if rows != 1 {
		t.Errorf("PruneJobs an hour on, with a minute's retention: %d rows, want 1 (the job without a key)", rows)
	}
	if _, err := e.s.Job(e.ctx, app.ID, plain.ID); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("the job without a key after the prune: %v, want %s", err, bulkid.ENOTFOUND)
	}
	if got := e.job(app, keyed.ID); got.Status != bulkid.StatusCompleted {
		t.Errorf("the keyed job after the prune: status %q, want it kept, completed", got.Status)
	}

	e.clock.Advance(bulkid.IdempotencyKeyTTL)
	_, rows = pruneAll(t, "PruneJobs", 100, func(limit int) (int, error) { return e.s.PruneJobs(e.ctx, time.Minute, limit) })
	if rows != 1 {
		t.Errorf("PruneJobs once the key expired: %d rows, want 1 (the keyed job)", rows)
	}
	if _, err := e.s.Job(e.ctx, app.ID, keyed.ID); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("the keyed job once its key expired: %v, want %s", err, bulkid.ENOTFOUND)
	}
}
