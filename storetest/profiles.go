package storetest

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

func testMergeCompanies(t *testing.T, e *env) {
	app := e.createApp("a")
	created := e.clock.Now()
	e.run(app, bulkid.JobCompanies,
		`{"company_id":"acme","metadata":{"name":"Acme","plan":"free","seats":5,"active":true}}`,
		`{"company_id":"globex","metadata":{"name":"Globex","city":"Zürich ✓","quote":"a \"b\" \\ c"}}`,
		`{"company_id":"initech"}`,
		`{"company_id":"hooli","metadata":{"gone":null,"kept":false}}`,
		`{"company_id":42,"metadata":{"numeric":"id"}}`,
	)
	acme := e.company(app, "acme")
	wantMetadata(t, "new company acme", acme.Metadata, `{"name":"Acme","plan":"free","seats":5,"active":true}`)
	wantTime(t, "acme CreatedAt", acme.CreatedAt, created)
	wantTime(t, "acme UpdatedAt", acme.UpdatedAt, created)
	wantCount(t, acme, 0, false)
	wantMetadata(t, "new company globex", e.company(app, "globex").Metadata, `{"name":"Globex","city":"Zürich ✓","quote":"a \"b\" \\ c"}`)
	wantMetadata(t, "new company initech without metadata", e.company(app, "initech").Metadata, `{}`)
	wantMetadata(t, "new company hooli with a null value", e.company(app, "hooli").Metadata, `{"kept":false}`)
	wantMetadata(t, "company with an integer id", e.company(app, "42").Metadata, `{"numeric":"id"}`)

	updated := e.clock.Advance(time.Hour)
	e.run(app, bulkid.JobCompanies,
		// Given keys merged, keys not sent kept, null removes.
		`{"company_id":"acme","metadata":{"plan":"pro","seats":null,"region":"eu","active":false}}`,
		// Metadata absent or null leaves the stored metadata as it is.
		`{"company_id":"globex"}`,
		`{"company_id":"globex","metadata":null}`,
		`{"company_id":"globex","metadata":{}}`,
		// Within one batch, records apply in order.
		`{"company_id":"initech","metadata":{"n":1,"a":"x"}}`,
		`{"company_id":"initech","metadata":{"n":2}}`,
		`{"company_id":"initech","metadata":{"a":null}}`,
		`{"company_id":"fresh","metadata":{"v":"first"}}`,
		`{"company_id":"fresh","metadata":{"v":"second"}}`,
		// Numbers keep their digits.
		`{"company_id":"numbers","metadata":{"big":12345678901234567890123,"pi":3.14159265358979323846264338,"price":1.50,"neg":-7,"zero":0}}`,
		// At the ends of a float64's range, and in exponent notation:
		// the value is kept exactly, though PostgreSQL writes it out in
		// plain decimals.
		`{"company_id":"extremes","metadata":{"max":1.7976931348623157e308,"min":5e-324,"exp":1E3,"neg":-12345678901234567890123.5e-3,"zero":0e-999}}`,
	)
	acme = e.company(app, "acme")
	wantMetadata(t, "merged acme", acme.Metadata, `{"name":"Acme","plan":"pro","region":"eu","active":false}`)
	wantTime(t, "acme CreatedAt after a merge", acme.CreatedAt, created)
	wantTime(t, "acme UpdatedAt after a merge", acme.UpdatedAt, updated)
	wantMetadata(t, "globex sent without metadata", e.company(app, "globex").Metadata, `{"name":"Globex","city":"Zürich ✓","quote":"a \"b\" \\ c"}`)
	wantMetadata(t, "initech after three records in one batch", e.company(app, "initech").Metadata, `{"n":2}`)
	wantMetadata(t, "fresh, sent twice in one batch", e.company(app, "fresh").Metadata, `{"v":"second"}`)
	numbers := e.company(app, "numbers")
	wantMetadata(t, "numbers", numbers.Metadata, `{"big":12345678901234567890123,"pi":3.14159265358979323846264338,"price":1.50,"neg":-7,"zero":0}`)
	wantTime(t, "numbers CreatedAt", numbers.CreatedAt, updated)
	wantSameNumbers(t, "extremes", e.company(app, "extremes").Metadata,
		`{"max":1.7976931348623157e308,"min":5e-324,"exp":1E3,"neg":-12345678901234567890123.5e-3,"zero":0e-999}`)
	wantMetadata(t, "hooli, not sent again", e.company(app, "hooli").Metadata, `{"kept":false}`)

	_, err := e.s.Company(e.ctx, app.ID, "nobody")
	wantCode(t, "Company of an unknown id", err, bulkid.ENOTFOUND)
}

func testUsers(t *testing.T, e *env) {
	app := e.createApp("a")
	e.run(app, bulkid.JobCompanies, `{"company_id":"acme","metadata":{"name":"Acme"}}`)

	t1 := e.clock.Advance(time.Minute)
	e.run(app, bulkid.JobUsers,
		`{"user_id":"u1","company_id":"acme","metadata":{"email":"u1@acme.test"}}`,
		`{"user_id":"u2","company_id":"newco"}`, // a company that does not exist yet
		`{"user_id":"u3","metadata":{"email":"u3@example.test"}}`,
		`{"user_id":7,"company_id":8}`,
	)
	u1 := e.user(app, "u1")
	if u1.CompanyID != "acme" {
		t.Errorf("u1 CompanyID = %q, want %q", u1.CompanyID, "acme")
	}
	wantMetadata(t, "new user u1", u1.Metadata, `{"email":"u1@acme.test"}`)
	wantTime(t, "u1 CreatedAt", u1.CreatedAt, t1)
	wantTime(t, "u1 UpdatedAt", u1.UpdatedAt, t1)
	wantMetadata(t, "new user u2 without metadata", e.user(app, "u2").Metadata, `{}`)
	if got := e.user(app, "u3").CompanyID; got != "" {
		t.Errorf("u3 sent without company_id: CompanyID = %q, want none", got)
	}
	if got := e.user(app, "7").CompanyID; got != "8" {
		t.Errorf("user 7 CompanyID = %q, want %q", got, "8")
	}
	acme := e.company(app, "acme")
	wantMetadata(t, "acme after a user job", acme.Metadata, `{"name":"Acme"}`)
	wantCount(t, acme, 1, true)
	newco := e.company(app, "newco")
	wantMetadata(t, "newco, created by a user's company_id", newco.Metadata, `{}`)
	wantTime(t, "newco CreatedAt", newco.CreatedAt, t1)
	wantCount(t, newco, 1, true)
	wantCount(t, e.company(app, "8"), 1, true)

	t2 := e.clock.Advance(time.Minute)
	e.run(app, bulkid.JobUsers,
		`{"user_id":"u1","metadata":{"plan":"pro"}}`, // no company_id: association kept
		`{"user_id":"u2","company_id":"acme"}`,       // moves from newco
		`{"user_id":"u3","company_id":"newco"}`,
		`{"user_id":"u3","company_id":"acme"}`, // the latest association wins
		`{"user_id":"7","company_id":null}`,
	)
	u1 = e.user(app, "u1")
	if u1.CompanyID != "acme" {
		t.Errorf("u1 sent without company_id: CompanyID = %q, want %q kept", u1.CompanyID, "acme")
	}
	wantMetadata(t, "merged u1", u1.Metadata, `{"email":"u1@acme.test","plan":"pro"}`)
	wantTime(t, "u1 CreatedAt after a merge", u1.CreatedAt, t1)
	wantTime(t, "u1 UpdatedAt after a merge", u1.UpdatedAt, t2)
	for id, want := range map[string]string{"u2": "acme", "u3": "acme", "7": "8"} {
		if got := e.user(app, id).CompanyID; got != want {
			t.Errorf("user %s CompanyID = %q, want %q", id, got, want)
		}
	}
	wantCount(t, e.company(app, "acme"), 3, true)
	wantCount(t, e.company(app, "newco"), 0, false)
	wantCount(t, e.company(app, "8"), 1, true)

	_, err := e.s.User(e.ctx, app.ID, "nobody")
	wantCode(t, "User of an unknown id", err, bulkid.ENOTFOUND)
}

func testListCompanies(t *testing.T, e *env) {
	app := e.createApp("a")
	// Byte order, as Go's sort.Strings: digits before capitals before
	// lower case, and non-ASCII last.
	ids := []string{"b", "a", "B", "10", "9", "a-1", "a 1", "Z", "é", "ab", "A"}
	var companies, users []string
	for _, id := range ids {
		companies = append(companies, fmt.Sprintf(`{"company_id":%q}`, id))
	}
	all := slices.Clone(ids)
	sort.Strings(all)
	var shown []string
	for i, id := range all {
		if i%2 == 0 {
			shown = append(shown, id)
			users = append(users, fmt.Sprintf(`{"user_id":"user of %s","company_id":%q}`, id, id))
		}
	}
	e.run(app, bulkid.JobCompanies, companies...)
	e.run(app, bulkid.JobUsers, users...)

	list := func(all bool) func(bulkid.Page) ([]*bulkid.Company, error) {
		return func(p bulkid.Page) ([]*bulkid.Company, error) { return e.s.ListCompanies(e.ctx, app.ID, p, all) }
	}
	key := func(c *bulkid.Company) string { return c.ID }
	for _, limit := range []int{100, 3, 1} {
		got := companyIDs(pages(t, "ListCompanies(all)", limit, list(true), key))
		if !slices.Equal(got, all) {
			t.Errorf("ListCompanies(all) in pages of %d:\n got %q\nwant %q", limit, got, all)
		}
		got = companyIDs(pages(t, "ListCompanies(visible)", limit, list(false), key))
		if !slices.Equal(got, shown) {
			t.Errorf("ListCompanies(visible) in pages of %d:\n got %q\nwant %q", limit, got, shown)
		}
	}

	// After need not name a company.
	cs, err := e.s.ListCompanies(e.ctx, app.ID, bulkid.Page{Limit: 100, After: "a0"}, true)
	e.must("ListCompanies", err)
	want := []string{"ab", "b", "é"}
	if got := companyIDs(cs); !slices.Equal(got, want) {
		t.Errorf("ListCompanies(all, After %q) = %q, want %q", "a0", got, want)
	}
	for _, c := range cs {
		if c.Metadata == nil || c.CreatedAt.IsZero() {
			t.Errorf("listed company %q lacks metadata or CreatedAt: %+v", c.ID, c)
		}
	}
}

func testIdentify(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	identify := func(app *bulkid.App, typ bulkid.JobType, raws ...string) {
		t.Helper()
		recs := e.records(typ, raws...)
		if typ == bulkid.JobUsers {
			e.must("Identify", e.s.Identify(e.ctx, app.ID, nil, recs))
		} else {
			e.must("Identify", e.s.Identify(e.ctx, app.ID, recs, nil))
		}
	}
	// A bulk job in progress does not hold real-time identify up.
	queued := e.submit(a, bulkid.JobUsers, `{"user_id":"u1","company_id":"other"}`)

	created := e.clock.Advance(time.Minute)
	identify(a, bulkid.JobCompanies,
		`{"company_id":"acme","metadata":{"name":"Acme","plan":"free","seats":5}}`,
		`{"company_id":"acme","metadata":{"plan":"pro","seats":null,"big":12345678901234567890123}}`)
	acme := e.company(a, "acme")
	wantMetadata(t, "acme", acme.Metadata, `{"name":"Acme","plan":"pro","big":12345678901234567890123}`)
	wantTime(t, "acme CreatedAt", acme.CreatedAt, created)
	wantCount(t, acme, 0, false)

	// User counts are right as soon as Identify returns.
	identify(a, bulkid.JobUsers,
		`{"user_id":"u1","company_id":"acme","metadata":{"email":"u1@acme.test"}}`,
		`{"user_id":"u2","company_id":"newco"}`)
	wantCount(t, e.company(a, "acme"), 1, true)
	newco := e.company(a, "newco")
	wantMetadata(t, "newco, created by a user's company_id", newco.Metadata, `{}`)
	wantCount(t, newco, 1, true)

	updated := e.clock.Advance(time.Minute)
	identify(a, bulkid.JobUsers, `{"user_id":"u2","company_id":"acme"}`)
	wantCount(t, e.company(a, "acme"), 2, true)
	wantCount(t, e.company(a, "newco"), 0, false)
	identify(a, bulkid.JobUsers, `{"user_id":"u1","metadata":{"plan":"pro"}}`)
	u1 := e.user(a, "u1")
	if u1.CompanyID != "acme" {
		t.Errorf("u1 sent without company_id: CompanyID = %q, want %q kept", u1.CompanyID, "acme")
	}
	wantMetadata(t, "u1", u1.Metadata, `{"email":"u1@acme.test","plan":"pro"}`)
	wantTime(t, "u1 CreatedAt", u1.CreatedAt, created)
	wantTime(t, "u1 UpdatedAt", u1.UpdatedAt, updated)
	cs, err := e.s.ListCompanies(e.ctx, a.ID, bulkid.Page{Limit: 100}, false)
	e.must("ListCompanies", err)
	if got := companyIDs(cs); !slices.Equal(got, []string{"acme"}) {
		t.Errorf("visible companies = %q, want %q", got, []string{"acme"})
	}

	// Another app's profiles are its own.
	_, err = e.s.Company(e.ctx, b.ID, "acme")
	wantCode(t, "Company of another app's company", err, bulkid.ENOTFOUND)
	_, err = e.s.User(e.ctx, b.ID, "u1")
	wantCode(t, "User of another app's user", err, bulkid.ENOTFOUND)
	identify(b, bulkid.JobCompanies, `{"company_id":"acme","metadata":{"name":"B's Acme"}}`)
	identify(b, bulkid.JobUsers, `{"user_id":"u1","company_id":"acme"}`)
	wantMetadata(t, "app b's acme", e.company(b, "acme").Metadata, `{"name":"B's Acme"}`)
	wantCount(t, e.company(b, "acme"), 1, true)
	wantMetadata(t, "app a's acme", e.company(a, "acme").Metadata, `{"name":"Acme","plan":"pro","big":12345678901234567890123}`)
	wantCount(t, e.company(a, "acme"), 2, true)

	// The queued job is as it was.
	got := e.job(a, queued.ID)
	if got.Status != bulkid.StatusQueued || got.CompletedRows != 0 || got.Cursor != 0 {
		t.Errorf("queued job after Identify: Status %q, CompletedRows %d, Cursor %d; want queued, 0, 0",
			got.Status, got.CompletedRows, got.Cursor)
	}
	active, err := e.s.ActiveJob(e.ctx, a.ID)
	e.must("ActiveJob", err)
	if active.ID != queued.ID {
		t.Errorf("ActiveJob after Identify = %s, want %s", active.ID, queued.ID)
	}
}
