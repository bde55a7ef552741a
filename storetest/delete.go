package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

// identify applies records of one type at once, as the real-time
// endpoints do.
func (e *env) identify(app *bulkid.App, typ bulkid.JobType, raws ...string) {
	e.t.Helper()
	recs := e.records(typ, raws...)
	if typ == bulkid.JobUsers {
		e.must("Identify", e.s.Identify(e.ctx, app.ID, nil, recs))
	} else {
		e.must("Identify", e.s.Identify(e.ctx, app.ID, recs, nil))
	}
}

// deleteUsers deletes ids and fails the test unless want were deleted.
func (e *env) deleteUsers(app *bulkid.App, want int, ids ...string) {
	e.t.Helper()
	n, err := e.s.DeleteUsers(e.ctx, app.ID, ids)
	e.must(fmt.Sprintf("DeleteUsers(%q)", ids), err)
	if n != want {
		e.t.Errorf("DeleteUsers(%q) = %d, want %d deleted", ids, n, want)
	}
}

// deleteCompanies deletes ids and fails the test unless want were deleted.
func (e *env) deleteCompanies(app *bulkid.App, want int, ids ...string) {
	e.t.Helper()
	n, err := e.s.DeleteCompanies(e.ctx, app.ID, ids)
	e.must(fmt.Sprintf("DeleteCompanies(%q)", ids), err)
	if n != want {
		e.t.Errorf("DeleteCompanies(%q) = %d, want %d deleted", ids, n, want)
	}
}

// wantNoUser checks that the app has no user id.
func (e *env) wantNoUser(app *bulkid.App, id string) {
	e.t.Helper()
	_, err := e.s.User(e.ctx, app.ID, id)
	wantCode(e.t, fmt.Sprintf("User(%q)", id), err, bulkid.ENOTFOUND)
}

// wantNoCompany checks that the app has no company id.
func (e *env) wantNoCompany(app *bulkid.App, id string) {
	e.t.Helper()
	_, err := e.s.Company(e.ctx, app.ID, id)
	wantCode(e.t, fmt.Sprintf("Company(%q)", id), err, bulkid.ENOTFOUND)
}

// testDeleteUsers: deleting a user takes it off its company's count at once.
func testDeleteUsers(t *testing.T, e *env) {
	a := e.createApp("a")
	e.identify(a, bulkid.JobUsers, `{"user_id":"u1","company_id":"c"}`, `{"user_id":"u2","company_id":"c"}`,
		`{"user_id":"u3","company_id":"d"}`, `{"user_id":"loner"}`)
	wantCount(t, e.company(a, "c"), 2, true)

	e.deleteUsers(a, 1, "u1")
	e.wantNoUser(a, "u1")
	wantCount(t, e.company(a, "c"), 1, true)
	wantCount(t, e.company(a, "d"), 1, true)
	if u := e.user(a, "u2"); u.CompanyID != "c" {
		t.Errorf("u2 after u1's delete: CompanyID %q, want %q", u.CompanyID, "c")
	}

	e.deleteUsers(a, 1, "u2")
	c := e.company(a, "c")
	wantCount(t, c, 0, false)
	cs, err := e.s.ListCompanies(e.ctx, a.ID, bulkid.Page{Limit: 100}, false)
	e.must("ListCompanies", err)
	if got := companyIDs(cs); !slices.Equal(got, []string{"d"}) {
		t.Errorf("visible companies after c's last user went = %q, want [d]", got)
	}

	// Several at once, a user without a company among them, in any order.
	e.deleteUsers(a, 2, "loner", "u3")
	e.wantNoUser(a, "loner")
	wantCount(t, e.company(a, "d"), 0, false)
}

// testDeleteCompanies: deleting a company ends its users' association;
// the users stay.
func testDeleteCompanies(t *testing.T, e *env) {
	a := e.createApp("a")
	e.identify(a, bulkid.JobCompanies, `{"company_id":"c","metadata":{"plan":"pro"}}`, `{"company_id":"d"}`)
	e.identify(a, bulkid.JobUsers, `{"user_id":"u1","company_id":"c","metadata":{"k":1}}`, `{"user_id":"u2","company_id":"c"}`,
		`{"user_id":"u3","company_id":"d"}`)
	ended := e.clock.Advance(time.Minute)

	e.deleteCompanies(a, 1, "c")
	e.wantNoCompany(a, "c")
	for _, id := range []string{"u1", "u2"} {
		u := e.user(a, id)
		if u.CompanyID != "" {
			t.Errorf("user %s of a deleted company: CompanyID %q, want none", id, u.CompanyID)
		}
		wantTime(t, id+" UpdatedAt", u.UpdatedAt, ended)
	}
	wantMetadata(t, "u1 after its company's delete", e.user(a, "u1").Metadata, `{"k":1}`)
	if u := e.user(a, "u3"); u.CompanyID != "d" {
		t.Errorf("u3 of another company: CompanyID %q, want %q", u.CompanyID, "d")
	}
	wantCount(t, e.company(a, "d"), 1, true)

	// A user that names the company again brings it back, empty.
	e.clock.Advance(time.Minute)
	e.identify(a, bulkid.JobUsers, `{"user_id":"u2","company_id":"c"}`)
	c := e.company(a, "c")
	wantMetadata(t, "c named again after its delete", c.Metadata, `{}`)
	wantCount(t, c, 1, true)
}

// testDeleteUnknown: ids the app does not have are skipped and not
// counted; duplicates count once.
func testDeleteUnknown(t *testing.T, e *env) {
	a := e.createApp("a")
	e.identify(a, bulkid.JobUsers, `{"user_id":"u1","company_id":"c"}`)
	e.deleteUsers(a, 0)
	e.deleteUsers(a, 0, "nobody")
	e.deleteUsers(a, 1, "nobody", "u1", "u1", "c")
	e.deleteUsers(a, 0, "u1")
	e.deleteCompanies(a, 0)
	e.deleteCompanies(a, 0, "nothing", "u1")
	e.deleteCompanies(a, 1, "c", "c")
	e.deleteCompanies(a, 0, "c")
}

// testDeleteThenIdentify: an id identified again after its delete starts
// afresh: created now, with only the new record's metadata.
func testDeleteThenIdentify(t *testing.T, e *env) {
	a := e.createApp("a")
	e.identify(a, bulkid.JobCompanies, `{"company_id":"c","metadata":{"old":1,"name":"C"}}`)
	e.identify(a, bulkid.JobUsers, `{"user_id":"u","company_id":"c","metadata":{"old":1,"email":"u@c.test"}}`)
	e.clock.Advance(time.Minute)
	e.deleteUsers(a, 1, "u")
	e.deleteCompanies(a, 1, "c")

	again := e.clock.Advance(time.Minute)
	e.identify(a, bulkid.JobUsers, `{"user_id":"u","metadata":{"new":2}}`)
	u := e.user(a, "u")
	wantMetadata(t, "u identified again", u.Metadata, `{"new":2}`)
	wantTime(t, "u CreatedAt", u.CreatedAt, again)
	if u.CompanyID != "" {
		t.Errorf("u identified again without a company: CompanyID %q, want none", u.CompanyID)
	}
	e.identify(a, bulkid.JobCompanies, `{"company_id":"c","metadata":{"new":2}}`)
	c := e.company(a, "c")
	wantMetadata(t, "c identified again", c.Metadata, `{"new":2}`)
	wantTime(t, "c CreatedAt", c.CreatedAt, again)
	wantCount(t, c, 0, false)

	// The same through a job.
	e.clock.Advance(time.Minute)
	e.deleteUsers(a, 1, "u")
	e.deleteCompanies(a, 1, "c")
	byJob := e.clock.Advance(time.Minute)
	e.run(a, bulkid.JobUsers, `{"user_id":"u","company_id":"c","metadata":{"job":3}}`)
	u = e.user(a, "u")
	wantMetadata(t, "u sent by a job after its delete", u.Metadata, `{"job":3}`)
	wantTime(t, "u CreatedAt", u.CreatedAt, byJob)
	c = e.company(a, "c")
	wantMetadata(t, "c named by a job after its delete", c.Metadata, `{}`)
	wantTime(t, "c CreatedAt", c.CreatedAt, byJob)
	wantCount(t, c, 1, true)
}

// testDeleteTenancy: an app deletes only its own profiles.
func testDeleteTenancy(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	e.identify(a, bulkid.JobUsers, `{"user_id":"shared","company_id":"sc"}`)
	e.identify(b, bulkid.JobUsers, `{"user_id":"shared","company_id":"sc"}`, `{"user_id":"only-b","company_id":"bc"}`)

	e.deleteUsers(a, 0, "only-b")
	e.deleteCompanies(a, 0, "bc")
	e.user(b, "only-b")
	wantCount(t, e.company(b, "bc"), 1, true)

	e.deleteUsers(a, 1, "shared")
	e.user(b, "shared")
	wantCount(t, e.company(b, "sc"), 1, true)
	wantCount(t, e.company(a, "sc"), 0, false)
	e.deleteCompanies(a, 1, "sc")
	if u := e.user(b, "shared"); u.CompanyID != "sc" {
		t.Errorf("app b's user after app a deleted its own sc: CompanyID %q, want %q", u.CompanyID, "sc")
	}
	wantCount(t, e.company(b, "sc"), 1, true)
}

// testDeleteDuringJob: a delete is ordered with a running job's batches as
// they commit. The batch applied before it is deleted; a record applied
// after it creates the profile again, afresh; the job's refresh counts
// what is there at its end.
func testDeleteDuringJob(t *testing.T, e *env) {
	a := e.createApp("a")
	raws := []string{
		`{"user_id":"u1","company_id":"c","metadata":{"first":1}}`,
		`{"user_id":"u2","company_id":"c","metadata":{"first":2}}`,
		`{"user_id":"u3","company_id":"d","metadata":{"first":3}}`,
		// second batch
		`{"user_id":"u1","company_id":"c","metadata":{"second":1}}`,
		`{"user_id":"u4","company_id":"d","metadata":{"second":4}}`,
	}
	recs := e.records(bulkid.JobUsers, raws...)
	job := e.submit(a, bulkid.JobUsers, raws...)
	l := e.startJob("w", job)
	e.must("ApplyBatch 1", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, recs[:3], 0, 3))

	e.clock.Advance(time.Minute)
	e.deleteUsers(a, 1, "u1")
	e.deleteCompanies(a, 1, "d")
	e.wantNoUser(a, "u1")
	wantCount(t, e.company(a, "c"), 1, true) // exact after the delete, before the job's refresh
	if u := e.user(a, "u3"); u.CompanyID != "" {
		t.Errorf("u3 after its company's delete: CompanyID %q, want none", u.CompanyID)
	}

	second := e.clock.Advance(time.Minute)
	e.must("ApplyBatch 2", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, recs[3:], 3, 5))
	e.must("CompleteJob", e.s.CompleteJob(e.ctx, l, a.ID, bulkid.StatusCompleted))

	u1 := e.user(a, "u1")
	wantMetadata(t, "u1 applied after its delete", u1.Metadata, `{"second":1}`)
	wantTime(t, "u1 CreatedAt", u1.CreatedAt, second)
	if u1.CompanyID != "c" {
		t.Errorf("u1: CompanyID %q, want %q", u1.CompanyID, "c")
	}
	wantMetadata(t, "u2", e.user(a, "u2").Metadata, `{"first":2}`)
	d := e.company(a, "d")
	wantTime(t, "d, named again after its delete, CreatedAt", d.CreatedAt, second)
	wantMetadata(t, "d", d.Metadata, `{}`)
	wantCount(t, d, 1, true) // u4; u3 left with the old d
	wantCount(t, e.company(a, "c"), 2, true)
	if j := e.job(a, job.ID); j.CompletedRows != 5 || j.FailedRows != 0 {
		t.Errorf("job: CompletedRows %d, FailedRows %d; want 5, 0", j.CompletedRows, j.FailedRows)
	}
}

// testDeleteUserEvents: a deleted user's events go with it, and off the
// app's totals.
func testDeleteUserEvents(t *testing.T, e *env) {
	es, ok := e.s.(bulkid.EventStore)
	if !ok {
		t.Fatalf("%T does not implement bulkid.EventStore: the events of a deleted user cannot be tested", e.s)
	}
	a, b := e.createApp("a"), e.createApp("b")
	track := func(app *bulkid.App, user, name string) {
		t.Helper()
		ev := &bulkid.Event{UserID: user, Name: name, Metadata: []byte(`{}`), ReceivedAt: e.clock.Advance(time.Second)}
		e.must(fmt.Sprintf("Track(%s, %s)", user, name), es.Track(e.ctx, app.ID, ev))
	}
	e.identify(a, bulkid.JobUsers, `{"user_id":"u1","company_id":"c"}`)
	track(a, "u1", "click")
	track(a, "u1", "click")
	track(a, "u1", "view")
	track(a, "u2", "click")
	track(a, "", "click")
	track(b, "u1", "view")

	e.deleteUsers(a, 1, "u1")
	_, err := es.UserEvents(e.ctx, a.ID, "u1", "", bulkid.Page{Limit: 100})
	wantCode(t, "UserEvents of a deleted user", err, bulkid.ENOTFOUND)
	totals, err := es.EventTotals(e.ctx, a.ID)
	e.must("EventTotals", err)
	var got []string
	for _, tot := range totals {
		got = append(got, fmt.Sprintf("%s:%d", tot.Name, tot.Count))
	}
	if want := []string{"click:2"}; !slices.Equal(got, want) {
		t.Errorf("EventTotals after u1's delete = %q, want %q", got, want)
	}
	evs, err := es.UserEvents(e.ctx, a.ID, "u2", "", bulkid.Page{Limit: 100})
	e.must("UserEvents(u2)", err)
	if len(evs) != 1 {
		t.Errorf("u2 has %d events after u1's delete, want 1", len(evs))
	}
	evs, err = es.UserEvents(e.ctx, b.ID, "u1", "", bulkid.Page{Limit: 100})
	e.must("UserEvents(app b's u1)", err)
	if len(evs) != 1 {
		t.Errorf("app b's u1 has %d events after app a's u1 went, want 1", len(evs))
	}

	// Identified again, the user has no event of before.
	e.identify(a, bulkid.JobUsers, `{"user_id":"u1"}`)
	evs, err = es.UserEvents(e.ctx, a.ID, "u1", "", bulkid.Page{Limit: 100})
	e.must("UserEvents(u1 identified again)", err)
	if len(evs) != 0 {
		t.Errorf("u1 identified again has %d events, want none", len(evs))
	}
}

// testDeleteDuringWrites runs a users job in batches while goroutines
// call Identify, DeleteUsers and DeleteCompanies on the same users and
// companies. No call and no batch may fail (on PostgreSQL, a deadlock
// victim or a retry given up), and at the end every company's count and
// visibility are those of its users, and no user names a company that
// does not exist.
func testDeleteDuringWrites(t *testing.T, e *env) {
	app := e.createApp("a")
	const (
		users     = 2000
		companies = 20
		batch     = 250
		callers   = 8
		minCalls  = 30
	)
	companyOf := func(i int) string { return fmt.Sprintf("c%02d", i%companies) }
	userID := func(i int) string { return fmt.Sprintf("u%04d", i) }
	raws := make([]string, users)
	for i := range raws {
		raws[i] = fmt.Sprintf(`{"user_id":%q,"company_id":%q,"metadata":{"n":%d}}`, userID((i*7919)%users), companyOf(i*31), i)
	}
	recs := e.records(bulkid.JobUsers, raws...)
	job := e.submit(app, bulkid.JobUsers, raws...)
	l := e.startJob("w1", job)

	e.raceJob(l, app, recs, batch, callers, minCalls, 2, func(g, n int, r *rand.Rand, fail func(string, ...any)) {
		switch {
		case g%2 == 0: // identify, moving users between companies
			u, c := userID(r.IntN(users)), companyOf(r.IntN(companies))
			user := e.records(bulkid.JobUsers, fmt.Sprintf(`{"user_id":%q,"company_id":%q,"metadata":{"rt%d":%d}}`, u, c, g, n))
			var company []bulkid.Record
			if n%3 == 0 {
				company = e.records(bulkid.JobCompanies, fmt.Sprintf(`{"company_id":%q,"metadata":{"rt%d":%d}}`, c, g, n))
			}
			if err := e.s.Identify(e.ctx, app.ID, company, user); err != nil {
				fail("caller %d, call %d: Identify(%s, %s): %v", g, n, u, c, err)
			}
		case g%4 == 1 || n%10 != 0: // delete a few users, out of order
			ids := make([]string, 1+r.IntN(8))
			for i := range ids {
				ids[i] = userID(r.IntN(users))
			}
			if _, err := e.s.DeleteUsers(e.ctx, app.ID, ids); err != nil {
				fail("caller %d, call %d: DeleteUsers(%q): %v", g, n, ids, err)
			}
		default: // now and then a company
			c := companyOf(r.IntN(companies))
			if _, err := e.s.DeleteCompanies(e.ctx, app.ID, []string{c}); err != nil {
				fail("caller %d, call %d: DeleteCompanies(%s): %v", g, n, c, err)
			}
		}
	})

	count := map[string]int{}
	for i := range users {
		u, err := e.s.User(e.ctx, app.ID, userID(i))
		if bulkid.ErrorCode(err) == bulkid.ENOTFOUND {
			continue
		}
		e.must(fmt.Sprintf("User(%s)", userID(i)), err)
		count[u.CompanyID]++
	}
	for i := range companies {
		id := companyOf(i)
		c, err := e.s.Company(e.ctx, app.ID, id)
		if bulkid.ErrorCode(err) == bulkid.ENOTFOUND {
			if count[id] != 0 {
				t.Errorf("company %s does not exist, but %d users name it", id, count[id])
			}
			continue
		}
		e.must("Company("+id+")", err)
		if c.UserCount != count[id] || c.Visible != (count[id] > 0) {
			t.Errorf("company %s: UserCount %d, Visible %v; its users number %d", id, c.UserCount, c.Visible, count[id])
		}
	}
}
