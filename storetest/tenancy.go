package storetest

import (
	"slices"
	"testing"

	"github.com/bulkid/bulkid"
)

func testTenancy(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	e.run(a, bulkid.JobCompanies, `{"company_id":"shared","metadata":{"owner":"a"}}`, `{"company_id":"only-a"}`)
	ja := e.run(a, bulkid.JobUsers, `{"user_id":"shared-user","company_id":"shared"}`, `{"user_id":"only-a-user","company_id":"only-a"}`)
	e.run(b, bulkid.JobCompanies, `{"company_id":"shared","metadata":{"owner":"b"}}`)
	jb := e.run(b, bulkid.JobUsers, `{"user_id":"shared-user","company_id":"shared","metadata":{"app":"b"}}`,
		`{"user_id":"other-user","company_id":"shared"}`)

	// The same id in two apps is two profiles.
	sa, sb := e.company(a, "shared"), e.company(b, "shared")
	wantMetadata(t, "app a's shared", sa.Metadata, `{"owner":"a"}`)
	wantMetadata(t, "app b's shared", sb.Metadata, `{"owner":"b"}`)
	wantCount(t, sa, 1, true)
	wantCount(t, sb, 2, true)
	wantMetadata(t, "app a's shared-user", e.user(a, "shared-user").Metadata, `{}`)
	wantMetadata(t, "app b's shared-user", e.user(b, "shared-user").Metadata, `{"app":"b"}`)

	_, err := e.s.Company(e.ctx, b.ID, "only-a")
	wantCode(t, "Company of another app's company", err, bulkid.ENOTFOUND)
	_, err = e.s.User(e.ctx, b.ID, "only-a-user")
	wantCode(t, "User of another app's user", err, bulkid.ENOTFOUND)
	_, err = e.s.User(e.ctx, a.ID, "other-user")
	wantCode(t, "User of another app's user", err, bulkid.ENOTFOUND)
	for _, app := range []*bulkid.App{a, b} {
		want := map[int64][]string{a.ID: {"only-a", "shared"}, b.ID: {"shared"}}[app.ID]
		for _, all := range []bool{true, false} {
			cs, err := e.s.ListCompanies(e.ctx, app.ID, bulkid.Page{Limit: 100}, all)
			e.must("ListCompanies", err)
			if got := companyIDs(cs); !slices.Equal(got, want) {
				t.Errorf("ListCompanies(app %s, all %v) = %q, want %q", app.Name, all, got, want)
			}
		}
	}

	_, err = e.s.Job(e.ctx, b.ID, ja.ID)
	wantCode(t, "Job of another app's job", err, bulkid.ENOTFOUND)
	_, err = e.s.JobErrors(e.ctx, b.ID, ja.ID, 0, 10)
	wantCode(t, "JobErrors of another app's job", err, bulkid.ENOTFOUND)
	jobs, err := e.s.ListJobs(e.ctx, b.ID, bulkid.Page{Limit: 100})
	e.must("ListJobs", err)
	if len(jobs) != 2 || jobs[0].ID != jb.ID {
		t.Errorf("ListJobs(b) = %v, want app b's 2 jobs, newest %s", jobIDs(jobs), jb.ID)
	}
	for _, j := range jobs {
		if j.AppID != b.ID {
			t.Errorf("ListJobs(b) listed job %s of app %d", j.ID, j.AppID)
		}
	}

	active := e.submit(a, bulkid.JobCompanies, `{"company_id":"x"}`)
	_, err = e.s.ActiveJob(e.ctx, b.ID)
	wantCode(t, "ActiveJob of an app whose neighbour has one", err, bulkid.ENOTFOUND)
	got, err := e.s.ActiveJob(e.ctx, a.ID)
	e.must("ActiveJob", err)
	if got.ID != active.ID {
		t.Errorf("ActiveJob(a) = %s, want %s", got.ID, active.ID)
	}
}
