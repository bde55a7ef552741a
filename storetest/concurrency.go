package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulkid/bulkid"
)

// testIdentifyDuringJob runs a users job of thousands of users spread over
// companies, in batches as the worker applies them, while many goroutines
// call real-time Identify on the same users and companies: moving users
// between companies, with and without a company record. No call and no
// batch may fail (PostgreSQL used to abort some as deadlock victims), and
// the end state must add up: every user stored with what the job sent,
// and every company's user count and visibility those of its users.
func testIdentifyDuringJob(t *testing.T, e *env) {
	app := e.createApp("a")
	const (
		users     = 4000
		companies = 40
		batch     = 500
		callers   = 12
		minCalls  = 40 // each caller's, also once the job is done
	)
	companyOf := func(i int) string { return fmt.Sprintf("c%02d", i%companies) }
	raws := make([]string, users)
	for i := range raws {
		// Neighbours in the input are in different companies, so each
		// batch touches every company, in no particular order.
		raws[i] = fmt.Sprintf(`{"user_id":"u%04d","company_id":%q,"metadata":{"n":%d}}`, (i*7919)%users, companyOf(i*31), i)
	}
	recs := e.records(bulkid.JobUsers, raws...)
	job := e.submit(app, bulkid.JobUsers, raws...)
	l := e.startJob("w1", job)

	extra := map[int]bool{} // callers' users that the job does not have
	for g := range callers {
		extra[users+g] = true
	}
	e.raceJob(l, app, recs, batch, callers, minCalls, 1, func(g, n int, r *rand.Rand, fail func(string, ...any)) {
		u := r.IntN(users)
		if n%5 == 0 {
			u = users + g
		}
		c := companyOf(r.IntN(companies))
		user := e.records(bulkid.JobUsers, fmt.Sprintf(`{"user_id":"u%04d","company_id":%q,"metadata":{"rt%d":%d}}`, u, c, g, n))
		var company []bulkid.Record
		if n%3 == 0 {
			company = e.records(bulkid.JobCompanies, fmt.Sprintf(`{"company_id":%q,"metadata":{"rt%d":%d}}`, c, g, n))
		}
		if err := e.s.Identify(e.ctx, app.ID, company, user); err != nil {
			fail("caller %d, call %d: Identify(user u%04d, company %s): %v", g, n, u, c, err)
		}
	})

	if got := e.job(app, job.ID); got.CompletedRows != users || got.FailedRows != 0 {
		t.Errorf("job: CompletedRows %d, FailedRows %d; want %d, 0", got.CompletedRows, got.FailedRows, users)
	}
	count := map[string]int{}
	for i := range users + callers {
		u, err := e.s.User(e.ctx, app.ID, fmt.Sprintf("u%04d", i))
		if err != nil {
			t.Errorf("User(u%04d): %v", i, err)
			continue
		}
		count[u.CompanyID]++
		if extra[i] {
			continue
		}
		md, err := decodeObject(u.Metadata)
		if err != nil || md["n"] == nil {
			t.Errorf("user u%04d metadata = %s, want the job's key n kept", i, u.Metadata)
		}
	}
	if count[""] != 0 {
		t.Errorf("%d users without a company, want none", count[""])
	}
	for i := range companies {
		id := companyOf(i)
		c := e.company(app, id)
		if c.UserCount != count[id] || c.Visible != (count[id] > 0) {
			t.Errorf("company %s: UserCount %d, Visible %v; its users number %d", id, c.UserCount, c.Visible, count[id])
		}
	}
}

// raceJob applies recs, the records of the job of lease l, in batches of
// batch as the worker does, then refreshes and finishes the job, while
// callers goroutines call call(g, n, r, fail) with their own random
// source (seeded by seed and g), each at least minCalls times and until
// the job is done. Whatever fails, a batch, a step or a call, fails the
// test, once all have stopped.
func (e *env) raceJob(l bulkid.Lease, app *bulkid.App, recs []bulkid.Record, batch, callers, minCalls int, seed uint64,
	call func(g, n int, r *rand.Rand, fail func(format string, args ...any))) {
	e.t.Helper()
	var done atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	for g := range callers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), seed))
			for n := 0; n < minCalls || !done.Load(); n++ {
				call(g, n, r, fail)
			}
		})
	}
	for from := 0; from < len(recs); from += batch {
		to := min(from+batch, len(recs))
		if err := e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, recs[from:to], from, to); err != nil {
			fail("ApplyBatch(%d, %d): %v", from, to, err)
			break
		}
	}
	if err := e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCompleted); err != nil {
		fail("CompleteJob: %v", err)
	}
	done.Store(true)
	wg.Wait()
	for _, f := range failures {
		e.t.Error(f)
	}
	if len(failures) > 0 {
		e.t.FailNow()
	}
}
