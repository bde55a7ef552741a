package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

// The dashboard's reads (bulkid.DashboardStore): counts, company search
// and its cursors, users by company and by prefix, and a job's record
// errors by code; each also seen from another app, which has none of them.

func (e *env) dash() bulkid.DashboardStore {
	e.t.Helper()
	ds, ok := e.s.(bulkid.DashboardStore)
	if !ok {
		e.t.Fatalf("%T does not implement bulkid.DashboardStore", e.s)
	}
	return ds
}

func userIDs(us []*bulkid.User) []string {
	ids := []string{}
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	return ids
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// searchAll follows Next from the first page of q to the end and returns
// every company listed, in order, and how many pages it took.
func (e *env) searchAll(app *bulkid.App, q bulkid.CompanyQuery) ([]string, int) {
	e.t.Helper()
	var ids []string
	pages := 0
	for {
		page, err := e.dash().SearchCompanies(e.ctx, app.ID, q)
		e.must("SearchCompanies", err)
		pages++
		ids = append(ids, companyIDs(page.Companies)...)
		if page.Next == "" {
			return ids, pages
		}
		if pages > 100 {
			e.t.Fatalf("SearchCompanies(%+v) gave more than 100 pages", q)
		}
		q.After = page.Next
	}
}

func testDashboardCounts(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	ds := e.dash()
	e.run(a, bulkid.JobCompanies, `{"company_id":"c1"}`, `{"company_id":"c2"}`, `{"company_id":"c3"}`)
	e.run(a, bulkid.JobUsers, `{"user_id":"u1","company_id":"c1"}`, `{"user_id":"u2","company_id":"c1"}`, `{"user_id":"u3"}`)
	e.run(b, bulkid.JobCompanies, `{"company_id":"other"}`)
	for _, tc := range []struct {
		app     *bulkid.App
		visible bool
		limit   int64
		want    int64
	}{{a, true, 0, 1}, {a, false, 0, 2}, {b, true, 0, 0}, {b, false, 0, 1}, {a, false, 1, 1}, {a, false, 2, 2}, {a, false, 3, 2}, {a, true, 5, 1}} {
		n, err := ds.CountCompanies(e.ctx, tc.app.ID, tc.visible, tc.limit)
		e.must("CountCompanies", err)
		if n != tc.want {
			t.Errorf("CountCompanies(app %s, visible %v, limit %d) = %d, want %d", tc.app.Name, tc.visible, tc.limit, n, tc.want)
		}
	}
	for app, want := range map[*bulkid.App]int64{a: 3, b: 0} {
		n, err := ds.CountUsers(e.ctx, app.ID)
		e.must("CountUsers", err)
		if n != want {
			t.Errorf("CountUsers(app %s) = %d, want %d", app.Name, n, want)
		}
	}
}

func testSearchCompanies(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	ds := e.dash()
	// Updated in this order, a second apart: beta, ab, abc, "é1", zeta, a.
	for _, raw := range []string{
		`{"company_id":"beta","metadata":{"plan":"pro","seats":10,"active":true}}`,
		`{"company_id":"ab","metadata":{"plan":"free","seats":10.0}}`,
		`{"company_id":"abc","metadata":{"plan":"pro","seats":3,"active":false}}`,
		`{"company_id":"é1","metadata":{"plan":"pro"}}`,
		`{"company_id":"zeta","metadata":{"plan":"Pro"}}`,
		`{"company_id":"a","metadata":{"other":"pro"}}`,
	} {
		e.run(a, bulkid.JobCompanies, raw)
		e.clock.Advance(time.Second)
	}
	e.run(a, bulkid.JobCompanies, `{"company_id":"hidden1"}`, `{"company_id":"hidden2"}`)
	users := []string{}
	for _, c := range []string{"beta", "ab", "abc", "é1", "zeta", "a"} {
		users = append(users, `{"user_id":"u-`+c+`","company_id":"`+c+`"}`)
	}
	e.run(a, bulkid.JobUsers, users...)
	e.run(b, bulkid.JobCompanies, `{"company_id":"abz","metadata":{"plan":"pro"}}`)
	e.run(b, bulkid.JobUsers, `{"user_id":"u","company_id":"abz"}`)

	byID := []string{"a", "ab", "abc", "beta", "zeta", "é1"}
	newest := []string{"a", "zeta", "é1", "abc", "ab", "beta"}
	for _, limit := range []int{1, 2, 4, 100} {
		got, pages := e.searchAll(a, bulkid.CompanyQuery{Limit: limit})
		wantIDs(t, fmt.Sprintf("visible companies by id, limit %d", limit), got, byID)
		if want := (len(byID) + limit - 1) / limit; pages != want {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, want)
		}
	}
	page, err := ds.SearchCompanies(e.ctx, a.ID, bulkid.CompanyQuery{Limit: 2})
	e.must("SearchCompanies", err)
	if page.Next != "ab" || page.Companies[0].UserCount != 1 || !page.Companies[0].Visible {
		t.Errorf("first page of 2: next %q, first %+v; want next \"ab\" and a visible company of 1 user", page.Next, page.Companies[0])
	}

	got, _ := e.searchAll(a, bulkid.CompanyQuery{Hidden: true, Limit: 10})
	wantIDs(t, "hidden companies", got, []string{"hidden1", "hidden2"})

	for prefix, want := range map[string][]string{
		"a": {"a", "ab", "abc"}, "ab": {"ab", "abc"}, "abc": {"abc"}, "abd": nil, "é": {"é1"}, "z": {"zeta"}, "hidden": nil,
	} {
		got, _ := e.searchAll(a, bulkid.CompanyQuery{IDPrefix: prefix, Limit: 1})
		wantIDs(t, "prefix "+prefix+" by id", got, want)
		got, _ = e.searchAll(a, bulkid.CompanyQuery{IDPrefix: prefix, Sort: bulkid.SortByUpdated, Limit: 1})
		var byUpdate []string
		for _, id := range newest {
			if strings.HasPrefix(id, prefix) {
				byUpdate = append(byUpdate, id)
			}
		}
		wantIDs(t, "prefix "+prefix+" by update", got, byUpdate)
	}

	for _, limit := range []int{1, 4, 10} {
		got, _ := e.searchAll(a, bulkid.CompanyQuery{Sort: bulkid.SortByUpdated, Limit: limit})
		wantIDs(t, "visible companies by update", got, newest)
	}

	for _, tc := range []struct{ key, value string }{{"plan", "pro"}, {"seats", "10"}, {"active", "true"}, {"active", "false"}, {"plan", "none"}} {
		want := map[[2]string][]string{
			{"plan", "pro"}: {"abc", "beta", "é1"}, {"seats", "10"}: {"ab", "beta"},
			{"active", "true"}: {"beta"}, {"active", "false"}: {"abc"},
		}[[2]string{tc.key, tc.value}]
		got, _ := e.searchAll(a, bulkid.CompanyQuery{Property: tc.key, Value: tc.value, Limit: 2})
		wantIDs(t, tc.key+"="+tc.value, got, want)
	}
	got, _ = e.searchAll(a, bulkid.CompanyQuery{Property: "plan", Value: "pro", IDPrefix: "ab", Limit: 5})
	wantIDs(t, "plan=pro with prefix ab", got, []string{"abc"})

	got, _ = e.searchAll(b, bulkid.CompanyQuery{IDPrefix: "a", Limit: 10})
	wantIDs(t, "app b's companies with prefix a", got, []string{"abz"})

	_, err = ds.SearchCompanies(e.ctx, a.ID, bulkid.CompanyQuery{Sort: bulkid.SortByUpdated, After: "abc", Limit: 1})
	wantCode(t, "SearchCompanies with an id cursor by update", err, bulkid.EINVALID)
	_, err = ds.SearchCompanies(e.ctx, a.ID, bulkid.CompanyQuery{Sort: "size", Limit: 1})
	wantCode(t, "SearchCompanies in an unknown order", err, bulkid.EINVALID)
}

// testSearchCompaniesScanBound pins that a property search examines at
// most MaxCompanyScan companies a call and goes on from where it stopped.
func testSearchCompaniesScanBound(t *testing.T, e *env) {
	a := e.createApp("a")
	n := bulkid.MaxCompanyScan + 10
	companies := make([]string, 0, n)
	users := make([]string, 0, n)
	for i := range n {
		id := "c" + string(rune('a'+i/1000%26)) + itoa5(i)
		plan := "free"
		if i == n-1 {
			plan = "rare"
		}
		companies = append(companies, `{"company_id":"`+id+`","metadata":{"plan":"`+plan+`"}}`)
		users = append(users, `{"user_id":"u`+itoa5(i)+`","company_id":"`+id+`"}`)
	}
	e.run(a, bulkid.JobCompanies, companies...)
	e.run(a, bulkid.JobUsers, users...)
	page, err := e.dash().SearchCompanies(e.ctx, a.ID, bulkid.CompanyQuery{Property: "plan", Value: "rare", Limit: 10})
	e.must("SearchCompanies", err)
	if len(page.Companies) != 0 || page.Scanned != bulkid.MaxCompanyScan || page.Next == "" {
		t.Fatalf("first page: %d companies, %d scanned, next %q; want none of %d scanned and a next", len(page.Companies), page.Scanned, page.Next, bulkid.MaxCompanyScan)
	}
	page, err = e.dash().SearchCompanies(e.ctx, a.ID, bulkid.CompanyQuery{Property: "plan", Value: "rare", Limit: 10, After: page.Next})
	e.must("SearchCompanies", err)
	if len(page.Companies) != 1 || page.Scanned != 10 || page.Next != "" {
		t.Fatalf("second page: %q, %d scanned, next %q; want the rare one of 10 scanned and no next", companyIDs(page.Companies), page.Scanned, page.Next)
	}
}

func itoa5(i int) string {
	b := []byte("00000")
	for j := 4; j >= 0; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return string(b)
}

func testDashboardUsers(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	ds := e.dash()
	e.run(a, bulkid.JobCompanies, `{"company_id":"c1"}`, `{"company_id":"c2"}`)
	e.run(a, bulkid.JobUsers,
		`{"user_id":"u3","company_id":"c1","metadata":{"n":3}}`, `{"user_id":"u1","company_id":"c1"}`,
		`{"user_id":"u2","company_id":"c2"}`, `{"user_id":"v1"}`, `{"user_id":"u10","company_id":"c1"}`)
	e.run(b, bulkid.JobUsers, `{"user_id":"u4","company_id":"c1"}`)

	var got []string
	p := bulkid.Page{Limit: 2}
	for {
		us, err := ds.CompanyUsers(e.ctx, a.ID, "c1", p)
		e.must("CompanyUsers", err)
		got = append(got, userIDs(us)...)
		if len(us) < p.Limit {
			break
		}
		p.After = us[len(us)-1].ID
	}
	wantIDs(t, "users of c1", got, []string{"u1", "u10", "u3"})
	us, err := ds.CompanyUsers(e.ctx, a.ID, "c1", bulkid.Page{Limit: 10})
	e.must("CompanyUsers", err)
	if us[2].CompanyID != "c1" {
		t.Errorf("user u3 of c1 has company %q", us[2].CompanyID)
	}
	wantMetadata(t, "user u3 of c1", us[2].Metadata, `{"n":3}`)
	us, err = ds.CompanyUsers(e.ctx, b.ID, "c2", bulkid.Page{Limit: 10})
	e.must("CompanyUsers", err)
	wantIDs(t, "app b's users of a's c2", userIDs(us), nil)

	for prefix, want := range map[string][]string{"": {"u1", "u10", "u2", "u3", "v1"}, "u1": {"u1", "u10"}, "v": {"v1"}, "w": nil} {
		us, err := ds.SearchUsers(e.ctx, a.ID, prefix, bulkid.Page{Limit: 10})
		e.must("SearchUsers", err)
		wantIDs(t, "users with prefix "+prefix, userIDs(us), want)
	}
	us, err = ds.SearchUsers(e.ctx, a.ID, "u", bulkid.Page{Limit: 2, After: "u10"})
	e.must("SearchUsers", err)
	wantIDs(t, "users with prefix u after u10", userIDs(us), []string{"u2", "u3"})
	us, err = ds.SearchUsers(e.ctx, b.ID, "u", bulkid.Page{Limit: 10})
	e.must("SearchUsers", err)
	wantIDs(t, "app b's users with prefix u", userIDs(us), []string{"u4"})
}

func testJobErrorCodes(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	ds := e.dash()
	job := e.submit(a, bulkid.JobCompanies, `{}`, `[1]`, `{"company_id":"ok"}`, `{"company_id":""}`)
	l := e.claim("w", job)
	errs := []bulkid.RecordError{
		{Seq: 0, Pos: 1, Code: bulkid.RMissingID, Message: "no id", Raw: []byte(`{}`)},
		{Seq: 1, Pos: 2, Code: bulkid.RNotObject, Message: "not an object", Raw: []byte(`[1]`)},
		{Seq: 3, Pos: 4, Code: bulkid.RMissingID, Message: "empty id", Raw: []byte(`{"company_id":""}`)},
	}
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, errs))

	codes, err := ds.JobErrorCodes(e.ctx, a.ID, job.ID)
	e.must("JobErrorCodes", err)
	want := []bulkid.CodeCount{{Code: bulkid.RMissingID, Count: 2}, {Code: bulkid.RNotObject, Count: 1}}
	if !slices.Equal(codes, want) {
		t.Errorf("JobErrorCodes = %v, want %v", codes, want)
	}
	got, err := ds.JobErrorsByCode(e.ctx, a.ID, job.ID, bulkid.RMissingID, 0, 10)
	e.must("JobErrorsByCode", err)
	wantErrors(t, "missing_id errors", got, []bulkid.RecordError{errs[0], errs[2]})
	got, err = ds.JobErrorsByCode(e.ctx, a.ID, job.ID, bulkid.RMissingID, 1, 10)
	e.must("JobErrorsByCode", err)
	wantErrors(t, "missing_id errors from Seq 1", got, []bulkid.RecordError{errs[2]})
	got, err = ds.JobErrorsByCode(e.ctx, a.ID, job.ID, bulkid.RMissingID, 0, 1)
	e.must("JobErrorsByCode", err)
	wantErrors(t, "missing_id errors, limit 1", got, []bulkid.RecordError{errs[0]})

	_, err = ds.JobErrorCodes(e.ctx, b.ID, job.ID)
	wantCode(t, "JobErrorCodes of another app's job", err, bulkid.ENOTFOUND)
	_, err = ds.JobErrorsByCode(e.ctx, b.ID, job.ID, bulkid.RMissingID, 0, 10)
	wantCode(t, "JobErrorsByCode of another app's job", err, bulkid.ENOTFOUND)
}

func testJobSummaries(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	ds := e.dash()
	first := e.run(a, bulkid.JobCompanies, `{"company_id":"c1"}`)
	job := e.submit(a, bulkid.JobCompanies, `{}`, `{"company_id":"c2"}`)
	l := e.claim("w", job)
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l,
		[]bulkid.RecordError{{Seq: 0, Pos: 1, Code: bulkid.RMissingID, Message: "no id", Raw: []byte(`{}`)}}))

	full := e.job(a, job.ID)
	if len(full.Errors) != 1 {
		t.Fatalf("Job has %d errors, want 1", len(full.Errors))
	}
	got, err := ds.JobSummary(e.ctx, a.ID, job.ID)
	e.must("JobSummary", err)
	want := *full
	want.Errors = nil
	wantJob(t, "JobSummary", got, &want)
	if got.Errors != nil {
		t.Errorf("JobSummary read %d record errors", len(got.Errors))
	}
	_, err = ds.JobSummary(e.ctx, b.ID, job.ID)
	wantCode(t, "JobSummary of another app's job", err, bulkid.ENOTFOUND)

	jobs, err := ds.JobSummaries(e.ctx, a.ID, bulkid.Page{Limit: 10})
	e.must("JobSummaries", err)
	if len(jobs) != 2 || jobs[0].ID != job.ID || jobs[1].ID != first.ID || jobs[0].Errors != nil || jobs[0].FailedRows != 1 {
		t.Errorf("JobSummaries = %+v, want the two jobs newest first, without errors", jobs)
	}
	jobs, err = ds.JobSummaries(e.ctx, a.ID, bulkid.Page{Limit: 1, After: job.ID})
	e.must("JobSummaries after the newest", err)
	if len(jobs) != 1 || jobs[0].ID != first.ID {
		t.Errorf("JobSummaries after %s = %+v, want the first job", job.ID, jobs)
	}
	_, err = ds.JobSummaries(e.ctx, b.ID, bulkid.Page{Limit: 1, After: job.ID})
	wantCode(t, "JobSummaries after another app's job", err, bulkid.EINVALID)
	jobs, err = ds.JobSummaries(e.ctx, b.ID, bulkid.Page{Limit: 10})
	e.must("JobSummaries of app b", err)
	if len(jobs) != 0 {
		t.Errorf("app b lists %d jobs, want none", len(jobs))
	}
}
