package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/google/uuid"
)

func testCreateJob(t *testing.T, e *env) {
	app, other := e.createApp("acme"), e.createApp("other")
	submitted := e.clock.Advance(time.Minute)
	job := &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Type: bulkid.JobUsers,
		Source: bulkid.SourceNDJSON, Filename: "users.ndjson", FileSize: 4096}
	e.must("CreateJob", e.s.CreateJob(e.ctx, job, recordpack.FromRecords(rawRecords(`{"user_id":"u1"}`, `{"user_id":"u2"}`, `{"user_id":"u3"}`))))
	if job.Status != bulkid.StatusQueued {
		t.Errorf("CreateJob set Status %q, want %q", job.Status, bulkid.StatusQueued)
	}
	wantTime(t, "CreateJob set SubmittedAt", job.SubmittedAt, submitted)

	want := &bulkid.Job{ID: job.ID, AppID: app.ID, Type: bulkid.JobUsers, Status: bulkid.StatusQueued,
		Source: bulkid.SourceNDJSON, Filename: "users.ndjson", FileSize: 4096, SubmittedAt: submitted, TotalRows: 3}
	got := e.job(app, job.ID)
	wantJob(t, "Job", got, want)
	if len(got.Errors) != 0 {
		t.Errorf("Job of a new job: got %d errors, want 0", len(got.Errors))
	}

	active, err := e.s.ActiveJob(e.ctx, app.ID)
	e.must("ActiveJob", err)
	wantJob(t, "ActiveJob", active, want)

	_, err = e.s.Job(e.ctx, other.ID, job.ID)
	wantCode(t, "Job of another app's job", err, bulkid.ENOTFOUND)
	_, err = e.s.Job(e.ctx, app.ID, uuid.NewString())
	wantCode(t, "Job of an unknown job", err, bulkid.ENOTFOUND)
	_, err = e.s.ActiveJob(e.ctx, other.ID)
	wantCode(t, "ActiveJob of an app without jobs", err, bulkid.ENOTFOUND)
}

func testOneJobPerApp(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	first := e.submit(a, bulkid.JobCompanies, `{"company_id":"c1"}`)

	second := func(what string) {
		t.Helper()
		for _, typ := range []bulkid.JobType{bulkid.JobCompanies, bulkid.JobUsers} {
			job := newJob(a, typ)
			err := e.s.CreateJob(e.ctx, job, recordpack.FromRecords(rawRecords(fmt.Sprintf(`{%q:"x"}`, typ.IDField()))))
			wantConflict(t, fmt.Sprintf("CreateJob of a %s job %s", typ, what), err, first.ID)
			_, err = e.s.Job(e.ctx, a.ID, job.ID)
			wantCode(t, "Job of the refused job", err, bulkid.ENOTFOUND)
		}
	}
	second("while the first is queued")

	l := e.startJob("w1", first)
	second("while the first is processing")

	// Another app is not blocked.
	e.submit(b, bulkid.JobUsers, `{"user_id":"u1"}`)

	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	again := e.submit(a, bulkid.JobUsers, `{"user_id":"u1"}`)
	active, err := e.s.ActiveJob(e.ctx, a.ID)
	e.must("ActiveJob", err)
	if active.ID != again.ID {
		t.Errorf("ActiveJob after a second submission = %s, want %s", active.ID, again.ID)
	}
}

func testOneJobPerAppConcurrent(t *testing.T, e *env) {
	app := e.createApp("a")
	const n = 20
	ids, errs := make([]string, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		typ := bulkid.JobCompanies
		if i%2 == 1 {
			typ = bulkid.JobUsers
		}
		job := newJob(app, typ)
		ids[i] = job.ID
		wg.Go(func() {
			errs[i] = e.s.CreateJob(e.ctx, job, recordpack.FromRecords(rawRecords(fmt.Sprintf(`{%q:"%d"}`, typ.IDField(), i))))
		})
	}
	wg.Wait()

	winner, created := -1, 0
	for i, err := range errs {
		switch bulkid.ErrorCode(err) {
		case "":
			winner, created = i, created+1
		case bulkid.ECONFLICT:
		default:
			t.Errorf("CreateJob %d: %v, want nil or %s", i, err, bulkid.ECONFLICT)
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent CreateJob calls for one app succeeded, want 1", created, n)
	}
	for i, err := range errs {
		if i != winner {
			wantConflict(t, fmt.Sprintf("CreateJob %d", i), err, ids[winner])
		}
	}
	jobs, err := e.s.ListJobs(e.ctx, app.ID, bulkid.Page{Limit: 100})
	e.must("ListJobs", err)
	if got := jobIDs(jobs); !slices.Equal(got, []string{ids[winner]}) {
		t.Errorf("ListJobs = %v, want only the job that was created, %s", got, ids[winner])
	}
}

func testListJobs(t *testing.T, e *env) {
	a, b, c := e.createApp("a"), e.createApp("b"), e.createApp("c")
	var want, wantB []string // newest first
	for i := range 5 {
		e.clock.Advance(time.Second)
		want = slices.Insert(want, 0, e.run(a, bulkid.JobCompanies, fmt.Sprintf(`{"company_id":"a%d"}`, i)).ID)
		e.clock.Advance(time.Second)
		wantB = slices.Insert(wantB, 0, e.run(b, bulkid.JobCompanies, fmt.Sprintf(`{"company_id":"b%d"}`, i)).ID)
	}
	e.clock.Advance(time.Second)
	want = slices.Insert(want, 0, e.submit(a, bulkid.JobUsers, `{"user_id":"u"}`).ID) // unfinished jobs are listed too

	list := func(app *bulkid.App) func(bulkid.Page) ([]*bulkid.Job, error) {
		return func(p bulkid.Page) ([]*bulkid.Job, error) { return e.s.ListJobs(e.ctx, app.ID, p) }
	}
	key := func(j *bulkid.Job) string { return j.ID }
	for _, limit := range []int{100, 6, 4, 2, 1} {
		got := pages(t, fmt.Sprintf("ListJobs(a, Limit %d)", limit), limit, list(a), key)
		if ids := jobIDs(got); !slices.Equal(ids, want) {
			t.Errorf("ListJobs(a) in pages of %d:\n got %v\nwant %v", limit, ids, want)
		}
		for _, j := range got {
			if j.AppID != a.ID {
				t.Errorf("ListJobs(a) listed job %s of app %d", j.ID, j.AppID)
			}
		}
	}
	page, err := e.s.ListJobs(e.ctx, a.ID, bulkid.Page{Limit: 2, After: want[1]})
	e.must("ListJobs", err)
	if ids := jobIDs(page); !slices.Equal(ids, want[2:4]) {
		t.Errorf("ListJobs(a, Limit 2, After the second job) = %v, want %v", ids, want[2:4])
	}
	if got := jobIDs(pages(t, "ListJobs(b)", 3, list(b), key)); !slices.Equal(got, wantB) {
		t.Errorf("ListJobs(b):\n got %v\nwant %v", got, wantB)
	}
	if got := pages(t, "ListJobs(c)", 10, list(c), key); len(got) != 0 {
		t.Errorf("ListJobs of an app without jobs = %v, want none", jobIDs(got))
	}

	_, err = e.s.ListJobs(e.ctx, a.ID, bulkid.Page{Limit: 10, After: uuid.NewString()})
	wantCode(t, "ListJobs after an unknown job", err, bulkid.EINVALID)
	_, err = e.s.ListJobs(e.ctx, a.ID, bulkid.Page{Limit: 10, After: wantB[0]})
	wantCode(t, "ListJobs after another app's job", err, bulkid.EINVALID)
}
