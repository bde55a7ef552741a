// Package storetest is the conformance suite that every bulkid.Store runs,
// so that the SQLite store and the stores to come behave alike. It uses the
// bulkid.Store interface only; a backend's test is a call to RunTests.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/google/uuid"
)

// NewStore returns an empty store for one subtest. The store must read the
// time only from now, so that the suite moves the clock instead of sleeping
// (leases expire when the suite says so). The suite closes the store.
type NewStore func(t *testing.T, now func() time.Time) bulkid.Store

// RunTests runs the suite against the stores newStore opens: each subtest
// gets a store of its own and runs in parallel with the others.
func RunTests(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"Apps", testApps},
		{"CreateJob", testCreateJob},
		{"OneJobPerApp", testOneJobPerApp},
		{"OneJobPerAppConcurrent", testOneJobPerAppConcurrent},
		{"ListJobs", testListJobs},
		{"ClaimJob", testClaimJob},
		{"LeaseExpiry", testLeaseExpiry},
		{"WritesRenewLease", testWritesRenewLease},
		{"ReleaseJob", testReleaseJob},
		{"JobRecords", testJobRecords},
		{"SetJobStatus", testSetJobStatus},
		{"FinishValidation", testFinishValidation},
		{"ApplyBatch", testApplyBatch},
		{"FinishJob", testFinishJob},
		{"MergeCompanies", testMergeCompanies},
		{"Users", testUsers},
		{"RefreshCompanies", testRefreshCompanies},
		{"ListCompanies", testListCompanies},
		{"Identify", testIdentify},
		{"IdentifyDuringJob", testIdentifyDuringJob},
		{"ProfileBounds", testProfileBounds},
		{"UserProfileBounds", testUserProfileBounds},
		{"Tenancy", testTenancy},
		{"ReserveRows", testReserveRows},
		{"CreateFirstApp", testCreateFirstApp},
		{"SetAppKey", testSetAppKey},
		{"ValidatedText", testValidatedText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, setup(t, newStore))
		})
	}
}

// start is where every subtest's clock begins. The suite moves it in whole
// seconds, so that a store keeping milliseconds reads back what it stored.
var start = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// ttl is the lease duration the suite's workers ask for.
const ttl = 30 * time.Second

// clock is a clock that moves only when told to.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d and returns the new time.
func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// env is one subtest's store and clock, with helpers that fail the test
// when a step that is not under test fails.
type env struct {
	t     *testing.T
	ctx   context.Context
	s     bulkid.Store
	clock *clock
}

func setup(t *testing.T, newStore NewStore) *env {
	t.Helper()
	c := &clock{now: start}
	s := newStore(t, c.Now)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return &env{t: t, ctx: t.Context(), s: s, clock: c}
}

// must fails the test if err, the result of the step what, is not nil.
func (e *env) must(what string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// keyHash is the hash of the API key of the app named name.
func keyHash(name string) []byte {
	h := sha256.Sum256([]byte("key of " + name))
	return h[:]
}

func (e *env) createApp(name string) *bulkid.App {
	e.t.Helper()
	app, err := e.s.CreateApp(e.ctx, name, keyHash(name))
	e.must(fmt.Sprintf("CreateApp(%q)", name), err)
	return app
}

func newJob(app *bulkid.App, typ bulkid.JobType) *bulkid.Job {
	return &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Type: typ, Source: bulkid.SourceNDJSON}
}

// rawRecords numbers raws as the lines of an NDJSON file.
func rawRecords(raws ...string) []bulkid.RawRecord {
	recs := make([]bulkid.RawRecord, len(raws))
	for i, raw := range raws {
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i + 1, Raw: []byte(raw)}
	}
	return recs
}

// submit stores a new job of app with raws as its records.
func (e *env) submit(app *bulkid.App, typ bulkid.JobType, raws ...string) *bulkid.Job {
	e.t.Helper()
	job := newJob(app, typ)
	e.must("CreateJob", e.s.CreateJob(e.ctx, job, recordpack.FromRecords(rawRecords(raws...))))
	return job
}

// claim claims a job as owner and fails the test unless it is want.
func (e *env) claim(owner string, want *bulkid.Job) bulkid.Lease {
	e.t.Helper()
	got, err := e.s.ClaimJob(e.ctx, owner, ttl)
	e.must(fmt.Sprintf("ClaimJob(%q)", owner), err)
	if got.ID != want.ID {
		e.t.Fatalf("ClaimJob(%q) claimed job %s, want %s", owner, got.ID, want.ID)
	}
	return bulkid.Lease{JobID: got.ID, Owner: owner, TTL: ttl}
}

// records validates raws with the validation the worker uses; every one of
// them must be valid.
func (e *env) records(typ bulkid.JobType, raws ...string) []bulkid.Record {
	e.t.Helper()
	recs := make([]bulkid.Record, len(raws))
	for i, raw := range raws {
		rec, rerr := bulkid.ValidateRecord(typ, []byte(raw))
		if rerr != nil {
			e.t.Fatalf("ValidateRecord(%s): %s: %s", raw, rerr.Code, rerr.Message)
		}
		recs[i] = rec
	}
	return recs
}

// run takes a new job of app through every step a worker takes: claim,
// validate, apply in one batch, refresh the companies and finish.
func (e *env) run(app *bulkid.App, typ bulkid.JobType, raws ...string) *bulkid.Job {
	e.t.Helper()
	recs := e.records(typ, raws...)
	job := e.submit(app, typ, raws...)
	l := e.claim("runner", job)
	e.must("SetJobStatus(validating)", e.s.SetJobStatus(e.ctx, l, bulkid.StatusValidating))
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, nil))
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, typ, recs, 0, len(raws)))
	e.must("SetJobStatus(pending_refresh)", e.s.SetJobStatus(e.ctx, l, bulkid.StatusPendingRefresh))
	e.must("RefreshCompanies", e.s.RefreshCompanies(e.ctx, l, app.ID))
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	return job
}

// startJob claims job as owner and moves it to processing with no record
// errors, ready for ApplyBatch.
func (e *env) startJob(owner string, job *bulkid.Job) bulkid.Lease {
	e.t.Helper()
	l := e.claim(owner, job)
	e.must("SetJobStatus(validating)", e.s.SetJobStatus(e.ctx, l, bulkid.StatusValidating))
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, nil))
	return l
}

func (e *env) job(app *bulkid.App, jobID string) *bulkid.Job {
	e.t.Helper()
	j, err := e.s.Job(e.ctx, app.ID, jobID)
	e.must(fmt.Sprintf("Job(%s)", jobID), err)
	return j
}

func (e *env) company(app *bulkid.App, id string) *bulkid.Company {
	e.t.Helper()
	c, err := e.s.Company(e.ctx, app.ID, id)
	e.must(fmt.Sprintf("Company(%q)", id), err)
	return c
}

func (e *env) user(app *bulkid.App, id string) *bulkid.User {
	e.t.Helper()
	u, err := e.s.User(e.ctx, app.ID, id)
	e.must(fmt.Sprintf("User(%q)", id), err)
	return u
}

// wantCode checks that err, the result of what, has the code want ("" for
// no error).
func wantCode(t *testing.T, what string, err error, want string) {
	t.Helper()
	if got := bulkid.ErrorCode(err); got != want {
		t.Errorf("%s: error code %q (err %v), want %q", what, got, err, want)
	}
}

// wantConflict checks that err is an ECONFLICT naming the job activeID.
func wantConflict(t *testing.T, what string, err error, activeID string) {
	t.Helper()
	if got := bulkid.ErrorCode(err); got != bulkid.ECONFLICT {
		t.Errorf("%s: error code %q (err %v), want %q", what, got, err, bulkid.ECONFLICT)
		return
	}
	var be *bulkid.Error
	if !errors.As(err, &be) || be.Job == nil {
		t.Errorf("%s: Error.Job is nil, want job %s", what, activeID)
		return
	}
	if be.Job.ID != activeID {
		t.Errorf("%s: Error.Job.ID = %s, want %s", what, be.Job.ID, activeID)
	}
}

// jobView is the comparable part of a Job, times in UTC.
type jobView struct {
	ID                                   string
	AppID                                int64
	Type                                 bulkid.JobType
	Status                               bulkid.JobStatus
	Source                               bulkid.Source
	Filename                             string
	FileSize                             int64
	SubmittedAt, StartTime, EndTime      string
	TotalRows, CompletedRows, FailedRows int
	Cursor                               int
	Error                                string
}

func viewJob(j *bulkid.Job) jobView {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	return jobView{
		ID: j.ID, AppID: j.AppID, Type: j.Type, Status: j.Status, Source: j.Source,
		Filename: j.Filename, FileSize: j.FileSize,
		SubmittedAt: ts(j.SubmittedAt), StartTime: ts(j.StartTime), EndTime: ts(j.EndTime),
		TotalRows: j.TotalRows, CompletedRows: j.CompletedRows, FailedRows: j.FailedRows,
		Cursor: j.Cursor, Error: j.Error,
	}
}

// wantJob compares every field of a job but its Errors.
func wantJob(t *testing.T, what string, got, want *bulkid.Job) {
	t.Helper()
	if g, w := viewJob(got), viewJob(want); g != w {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// jobIDs returns the IDs of jobs.
func jobIDs(jobs []*bulkid.Job) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

func companyIDs(cs []*bulkid.Company) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// decodeObject decodes a JSON object keeping numbers as written.
func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null is not an object")
	}
	if d.More() {
		return nil, errors.New("data after the object")
	}
	return m, nil
}

// wantMetadata checks that got is the JSON object want, numbers compared
// digit for digit and key order ignored.
func wantMetadata(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	w, err := decodeObject([]byte(want))
	if err != nil {
		panic(fmt.Sprintf("storetest: bad want %s: %v", want, err))
	}
	g, err := decodeObject(got)
	if err != nil {
		t.Errorf("%s metadata = %s, not a JSON object (%v); want %s", what, got, err, want)
		return
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s metadata = %s, want %s", what, got, want)
	}
}

// wantSameNumbers checks that got holds the keys of want, each a number of
// exactly the same value, whatever its notation.
func wantSameNumbers(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	w, err := decodeObject([]byte(want))
	if err != nil {
		panic(fmt.Sprintf("storetest: bad want %s: %v", want, err))
	}
	g, err := decodeObject(got)
	if err != nil || len(g) != len(w) {
		t.Errorf("%s metadata = %s, want %s", what, got, want)
		return
	}
	for k, wv := range w {
		gn, ok := g[k].(json.Number)
		gr, ok1 := new(big.Rat).SetString(string(gn))
		wr, ok2 := new(big.Rat).SetString(string(wv.(json.Number)))
		if !ok || !ok1 || !ok2 || gr.Cmp(wr) != 0 {
			t.Errorf("%s metadata %q = %v, want the number %v exactly", what, k, g[k], wv)
		}
	}
}

// wantCount checks a company's user count and visibility.
func wantCount(t *testing.T, c *bulkid.Company, users int, visible bool) {
	t.Helper()
	if c.UserCount != users || c.Visible != visible {
		t.Errorf("company %q: UserCount %d, Visible %v; want %d, %v", c.ID, c.UserCount, c.Visible, users, visible)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// rawView shows input records as comparable strings.
func rawView(recs []bulkid.RawRecord) []string {
	v := make([]string, len(recs))
	for i, r := range recs {
		v[i] = fmt.Sprintf("{Seq:%d Pos:%d Raw:%q}", r.Seq, r.Pos, r.Raw)
	}
	return v
}

// errorView is a RecordError as one comparable string.
func errorView(e bulkid.RecordError) string {
	return fmt.Sprintf("{Seq:%d Pos:%d ID:%q Code:%q Message:%q Raw:%q}", e.Seq, e.Pos, e.ID, e.Code, e.Message, e.Raw)
}

func wantErrors(t *testing.T, what string, got, want []bulkid.RecordError) {
	t.Helper()
	g, w := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		g[i] = errorView(got[i])
	}
	for i := range want {
		w[i] = errorView(want[i])
	}
	if !slices.Equal(g, w) {
		t.Errorf("%s: got %d errors, want %d\n got %v\nwant %v", what, len(g), len(w), g, w)
	}
}

// pages lists every item through list, limit at a time, each page starting
// after the key of the previous page's last item, until a page is empty.
func pages[T any](t *testing.T, what string, limit int, list func(bulkid.Page) ([]T, error), key func(T) string) []T {
	t.Helper()
	var all []T
	p := bulkid.Page{Limit: limit}
	for range 100 {
		page, err := list(p)
		if err != nil {
			t.Fatalf("%s after %q: %v", what, p.After, err)
		}
		if len(page) > limit {
			t.Fatalf("%s after %q: got %d items, want at most Limit %d", what, p.After, len(page), limit)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		p.After = key(page[len(page)-1])
	}
	t.Fatalf("%s: more than 100 pages of %d", what, limit)
	return nil
}

func testApps(t *testing.T, e *env) {
	apps, err := e.s.ListApps(e.ctx)
	e.must("ListApps", err)
	if len(apps) != 0 {
		t.Errorf("ListApps of an empty store: got %d apps, want 0", len(apps))
	}

	first := e.createApp("first")
	if first.ID == 0 || first.Name != "first" || !first.CreatedAt.Equal(start) {
		t.Errorf("CreateApp = %+v, want a non-zero ID, Name %q, CreatedAt %v", first, "first", start)
	}
	e.clock.Advance(time.Second)
	second := e.createApp("second")
	if second.ID == first.ID {
		t.Errorf("two apps got the same ID %d", first.ID)
	}

	wantApp := func(what string, got, want *bulkid.App) {
		t.Helper()
		if got.ID != want.ID || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("%s = %+v, want %+v", what, got, want)
		}
	}
	got, err := e.s.AppByKeyHash(e.ctx, keyHash("second"))
	e.must("AppByKeyHash", err)
	wantApp("AppByKeyHash", got, second)
	got, err = e.s.AppByKeyHash(e.ctx, keyHash("first"))
	e.must("AppByKeyHash", err)
	wantApp("AppByKeyHash", got, first)

	_, err = e.s.AppByKeyHash(e.ctx, keyHash("nobody"))
	wantCode(t, "AppByKeyHash of an unknown key", err, bulkid.ENOTFOUND)

	_, err = e.s.CreateApp(e.ctx, "copycat", keyHash("first"))
	wantCode(t, "CreateApp with a key hash in use", err, bulkid.ECONFLICT)

	// Names are unique: an app is chosen by its name (bulkid apps), so a
	// second app of the name would make the choice a guess.
	_, err = e.s.CreateApp(e.ctx, "first", keyHash("another first"))
	wantCode(t, "CreateApp with a name in use", err, bulkid.ECONFLICT)
	if msg := bulkid.ErrorMessage(err); !strings.Contains(msg, `"first"`) {
		t.Errorf("CreateApp with a name in use: message %q does not name it", msg)
	}
	if _, err := e.s.AppByKeyHash(e.ctx, keyHash("another first")); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("the key of a refused app works: %v", err)
	}

	apps, err = e.s.ListApps(e.ctx)
	e.must("ListApps", err)
	if len(apps) != 2 {
		t.Fatalf("ListApps: got %d apps, want 2", len(apps))
	}
	wantApp("ListApps[0]", apps[0], first)
	wantApp("ListApps[1]", apps[1], second)
}

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

func testClaimJob(t *testing.T, e *env) {
	_, err := e.s.ClaimJob(e.ctx, "w1", ttl)
	wantCode(t, "ClaimJob of an empty store", err, bulkid.ENOTFOUND)

	a, b := e.createApp("a"), e.createApp("b")
	ja := e.submit(a, bulkid.JobCompanies, `{"company_id":"c1"}`, `{"company_id":"c2"}`)
	e.clock.Advance(time.Second)
	jb := e.submit(b, bulkid.JobUsers, `{"user_id":"u1"}`)

	got, err := e.s.ClaimJob(e.ctx, "w1", ttl)
	e.must("ClaimJob", err)
	wantJob(t, "ClaimJob claimed", got, &bulkid.Job{ID: ja.ID, AppID: a.ID, Type: bulkid.JobCompanies,
		Status: bulkid.StatusQueued, Source: bulkid.SourceNDJSON, SubmittedAt: start, TotalRows: 2})

	got, err = e.s.ClaimJob(e.ctx, "w2", ttl)
	e.must("ClaimJob", err)
	if got.ID != jb.ID {
		t.Errorf("second ClaimJob claimed %s, want the unleased job %s", got.ID, jb.ID)
	}
	_, err = e.s.ClaimJob(e.ctx, "w3", ttl)
	wantCode(t, "ClaimJob with every job leased", err, bulkid.ENOTFOUND)
}

func testLeaseExpiry(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	ja := e.submit(a, bulkid.JobCompanies, `{"company_id":"c1"}`)
	jb := e.submit(b, bulkid.JobCompanies, `{"company_id":"c1"}`)
	la := e.claim("w1", ja)
	lb := e.claim("w2", jb)

	e.clock.Advance(ttl / 2)
	e.must("RenewLease", e.s.RenewLease(e.ctx, lb))
	_, err := e.s.ClaimJob(e.ctx, "w3", ttl)
	wantCode(t, "ClaimJob before any lease expired", err, bulkid.ENOTFOUND)

	// ja's lease has expired, jb's renewal still holds.
	e.clock.Advance(ttl/2 + time.Second)
	e.claim("w3", ja)
	_, err = e.s.ClaimJob(e.ctx, "w4", ttl)
	wantCode(t, "ClaimJob with a renewed lease live", err, bulkid.ENOTFOUND)

	// The first owner has lost the job: every write is refused.
	recs := e.records(bulkid.JobCompanies, `{"company_id":"c1","metadata":{"by":"w1"}}`)
	wantCode(t, "RenewLease of a lost lease", e.s.RenewLease(e.ctx, la), bulkid.ELEASELOST)
	wantCode(t, "SetJobStatus of a lost lease", e.s.SetJobStatus(e.ctx, la, bulkid.StatusValidating), bulkid.ELEASELOST)
	wantCode(t, "FinishValidation of a lost lease", e.s.FinishValidation(e.ctx, la,
		[]bulkid.RecordError{{Seq: 0, Pos: 1, Code: bulkid.RMissingID, Message: "x", Raw: []byte("{}")}}), bulkid.ELEASELOST)
	wantCode(t, "ApplyBatch of a lost lease", e.s.ApplyBatch(e.ctx, la, bulkid.JobCompanies, recs, 0, 1), bulkid.ELEASELOST)
	wantCode(t, "RefreshCompanies of a lost lease", e.s.RefreshCompanies(e.ctx, la, a.ID), bulkid.ELEASELOST)
	wantCode(t, "ReleaseJob of a lost lease", e.s.ReleaseJob(e.ctx, la), bulkid.ELEASELOST)
	wantCode(t, "FinishJob of a lost lease", e.s.FinishJob(e.ctx, la, bulkid.StatusCompleted, ""), bulkid.ELEASELOST)

	wantJob(t, "Job after refused writes", e.job(a, ja.ID), &bulkid.Job{ID: ja.ID, AppID: a.ID, Type: bulkid.JobCompanies,
		Status: bulkid.StatusQueued, Source: bulkid.SourceNDJSON, SubmittedAt: start, TotalRows: 1})
	errs, err := e.s.JobErrors(e.ctx, a.ID, ja.ID, 0, 10)
	e.must("JobErrors", err)
	wantErrors(t, "JobErrors after a refused FinishValidation", errs, nil)
	_, err = e.s.Company(e.ctx, a.ID, "c1")
	wantCode(t, "Company written by a refused ApplyBatch", err, bulkid.ENOTFOUND)

	// The new owner holds it.
	l3 := bulkid.Lease{JobID: ja.ID, Owner: "w3", TTL: ttl}
	e.must("SetJobStatus by the new owner", e.s.SetJobStatus(e.ctx, l3, bulkid.StatusValidating))
	if got := e.job(a, ja.ID).Status; got != bulkid.StatusValidating {
		t.Errorf("Status after the new owner's SetJobStatus = %q, want %q", got, bulkid.StatusValidating)
	}
}

func testWritesRenewLease(t *testing.T, e *env) {
	app := e.createApp("a")
	job := e.submit(app, bulkid.JobCompanies, `{"company_id":"c1"}`)
	l := e.claim("w1", job)
	recs := e.records(bulkid.JobCompanies, `{"company_id":"c1"}`)
	writes := []struct {
		name string
		do   func() error
	}{
		{"SetJobStatus", func() error { return e.s.SetJobStatus(e.ctx, l, bulkid.StatusValidating) }},
		{"FinishValidation", func() error { return e.s.FinishValidation(e.ctx, l, nil) }},
		{"ApplyBatch", func() error { return e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs, 0, 1) }},
		{"SetJobStatus", func() error { return e.s.SetJobStatus(e.ctx, l, bulkid.StatusPendingRefresh) }},
		{"RefreshCompanies", func() error { return e.s.RefreshCompanies(e.ctx, l, app.ID) }},
		{"RenewLease", func() error { return e.s.RenewLease(e.ctx, l) }},
	}
	// Each step comes ttl-1s after the one before: later than the previous
	// lease would have lasted, had the step before not renewed it.
	prev := "ClaimJob"
	for _, w := range writes {
		e.clock.Advance(ttl - time.Second)
		if got, err := e.s.ClaimJob(e.ctx, "thief", ttl); err == nil {
			t.Fatalf("ClaimJob %v after %s claimed job %s; %s did not renew the lease", ttl-time.Second, prev, got.ID, prev)
		} else {
			wantCode(t, "ClaimJob", err, bulkid.ENOTFOUND)
		}
		e.must(w.name, w.do())
		prev = w.name
	}
	e.clock.Advance(ttl - time.Second)
	_, err := e.s.ClaimJob(e.ctx, "thief", ttl)
	wantCode(t, "ClaimJob before the renewed lease expired", err, bulkid.ENOTFOUND)
	e.clock.Advance(2 * time.Second)
	e.claim("thief", job)
}

func testReleaseJob(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{`{"company_id":"c1"}`, `{"company_id":"c2"}`, `{"company_id":"c3"}`}
	recs := e.records(bulkid.JobCompanies, raws...)
	job := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.startJob("w1", job)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[:2], 0, 2))
	e.must("ReleaseJob", e.s.ReleaseJob(e.ctx, l))

	// Another worker claims it at once, where the first left off.
	got, err := e.s.ClaimJob(e.ctx, "w2", ttl)
	e.must("ClaimJob after ReleaseJob", err)
	wantJob(t, "ClaimJob after ReleaseJob", got, &bulkid.Job{ID: job.ID, AppID: app.ID, Type: bulkid.JobCompanies,
		Status: bulkid.StatusProcessing, Source: bulkid.SourceNDJSON, SubmittedAt: start, StartTime: start,
		TotalRows: 3, CompletedRows: 2, Cursor: 2})

	wantCode(t, "ReleaseJob by the former owner", e.s.ReleaseJob(e.ctx, l), bulkid.ELEASELOST)
	wantCode(t, "ApplyBatch by the former owner", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[2:], 2, 3), bulkid.ELEASELOST)
	l2 := bulkid.Lease{JobID: job.ID, Owner: "w2", TTL: ttl}
	e.must("ApplyBatch by the new owner", e.s.ApplyBatch(e.ctx, l2, bulkid.JobCompanies, recs[2:], 2, 3))
	if got := e.job(app, job.ID); got.CompletedRows != 3 || got.Cursor != 3 {
		t.Errorf("after the last batch: CompletedRows %d, Cursor %d; want 3, 3", got.CompletedRows, got.Cursor)
	}
}

func testJobRecords(t *testing.T, e *env) {
	app := e.createApp("a")
	// Raw is kept byte for byte: spaces, escapes, non-ASCII, invalid
	// UTF-8 and records that are not JSON at all.
	want := []bulkid.RawRecord{
		{Seq: 0, Pos: 1, Raw: []byte(`{"company_id":"c0"}`)},
		{Seq: 1, Pos: 3, Raw: []byte(`  { "company_id" : "c1", "metadata": {"name": "Zürich ✓", "q": "a\"b\\c\u0000"} }  `)},
		{Seq: 2, Pos: 4, Raw: []byte("not json at all\t")},
		{Seq: 3, Pos: 7, Raw: []byte("{\"company_id\":\"\xff\xfe\"}")},
		{Seq: 4, Pos: 8, Raw: []byte(`[1,2]`)},
	}
	job := newJob(app, bulkid.JobCompanies)
	e.must("CreateJob", e.s.CreateJob(e.ctx, job, recordpack.FromRecords(want)))

	check := func(fromSeq, limit int, want []bulkid.RawRecord) {
		t.Helper()
		got, err := e.s.JobRecords(e.ctx, job.ID, fromSeq, limit)
		e.must("JobRecords", err)
		if g, w := rawView(got), rawView(want); !slices.Equal(g, w) {
			t.Errorf("JobRecords(from %d, limit %d):\n got %q\nwant %q", fromSeq, limit, g, w)
		}
	}
	check(0, 100, want)
	check(0, 2, want[0:2])
	check(2, 2, want[2:4])
	check(4, 2, want[4:])
	check(3, 100, want[3:])
	check(5, 2, nil)
}

func testSetJobStatus(t *testing.T, e *env) {
	app := e.createApp("a")
	job := e.submit(app, bulkid.JobUsers, `{"user_id":"u1"}`)
	l := e.claim("w1", job)
	started := e.clock.Advance(time.Minute)
	e.must("SetJobStatus", e.s.SetJobStatus(e.ctx, l, bulkid.StatusValidating))
	got := e.job(app, job.ID)
	if got.Status != bulkid.StatusValidating {
		t.Errorf("Status = %q, want %q", got.Status, bulkid.StatusValidating)
	}
	wantTime(t, "StartTime", got.StartTime, started)

	e.clock.Advance(time.Minute)
	e.must("SetJobStatus", e.s.SetJobStatus(e.ctx, l, bulkid.StatusProcessing))
	got = e.job(app, job.ID)
	if got.Status != bulkid.StatusProcessing {
		t.Errorf("Status = %q, want %q", got.Status, bulkid.StatusProcessing)
	}
	wantTime(t, "StartTime after a second SetJobStatus", got.StartTime, started)
	if !got.EndTime.IsZero() {
		t.Errorf("EndTime of a running job = %v, want zero", got.EndTime)
	}
}

func testFinishValidation(t *testing.T, e *env) {
	app, other := e.createApp("a"), e.createApp("b")
	raws := make([]string, 300)
	for i := range raws {
		raws[i] = fmt.Sprintf(`{"company_id":"c%d"}`, i)
	}
	job := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.claim("w1", job)
	e.must("SetJobStatus", e.s.SetJobStatus(e.ctx, l, bulkid.StatusValidating))

	// An earlier validation's errors, which the next one replaces.
	old := []bulkid.RecordError{
		{Seq: 0, Pos: 1, ID: "c0", Code: bulkid.RInvalidMetadata, Message: "old", Raw: []byte(raws[0])},
		{Seq: 2, Pos: 3, ID: "c2", Code: bulkid.RInvalidMetadata, Message: "old", Raw: []byte(raws[2])},
	}
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, old))

	var want []bulkid.RecordError // the odd records, 150 of them, in Seq order
	for i := 1; i < len(raws); i += 2 {
		re := bulkid.RecordError{Seq: i, Pos: i + 1, ID: fmt.Sprintf("c%d", i), Code: bulkid.RNestedMetadata,
			Message: fmt.Sprintf("metadata key \"k%d\" is an object", i), Raw: []byte(raws[i])}
		if i%3 == 0 {
			re.ID, re.Code, re.Message, re.Raw = "", bulkid.RMalformedJSON, "the record is not valid JSON", []byte("{\xff")
		}
		want = append(want, re)
	}
	given := slices.Clone(want)
	slices.Reverse(given) // input order is Seq order, not the order given
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, given))

	got := e.job(app, job.ID)
	if got.Status != bulkid.StatusProcessing || got.FailedRows != len(want) {
		t.Errorf("after FinishValidation: Status %q, FailedRows %d; want %q, %d", got.Status, got.FailedRows, bulkid.StatusProcessing, len(want))
	}
	wantErrors(t, "Job().Errors", got.Errors, want[:bulkid.MaxJobErrors])
	jobs, err := e.s.ListJobs(e.ctx, app.ID, bulkid.Page{Limit: 10})
	e.must("ListJobs", err)
	if len(jobs) != 1 {
		t.Fatalf("ListJobs: got %d jobs, want 1", len(jobs))
	}
	wantErrors(t, "ListJobs()[0].Errors", jobs[0].Errors, want[:bulkid.MaxJobErrors])

	check := func(fromSeq, limit int, want []bulkid.RecordError) {
		t.Helper()
		got, err := e.s.JobErrors(e.ctx, app.ID, job.ID, fromSeq, limit)
		e.must("JobErrors", err)
		wantErrors(t, fmt.Sprintf("JobErrors(from %d, limit %d)", fromSeq, limit), got, want)
	}
	check(0, 1000, want)
	check(0, 10, want[:10])
	check(100, 10, want[50:60]) // Seq 101 is the first at or after 100
	check(101, 2, want[50:52])
	check(299, 10, want[149:])
	check(300, 10, nil)
	var all []bulkid.RecordError
	for from := 0; ; {
		page, err := e.s.JobErrors(e.ctx, app.ID, job.ID, from, 40)
		e.must("JobErrors", err)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		from = page[len(page)-1].Seq + 1
	}
	wantErrors(t, "JobErrors in pages of 40", all, want)

	_, err = e.s.JobErrors(e.ctx, other.ID, job.ID, 0, 10)
	wantCode(t, "JobErrors of another app's job", err, bulkid.ENOTFOUND)
	_, err = e.s.JobErrors(e.ctx, app.ID, uuid.NewString(), 0, 10)
	wantCode(t, "JobErrors of an unknown job", err, bulkid.ENOTFOUND)
}

func testApplyBatch(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{
		`{"company_id":"c0","metadata":{"plan":"free"}}`,
		`{"company_id":"c1"}`,
		`{"company_id":"c2"}`,
		`{"company_id":"c3"}`,
		`{"metadata":{"plan":"free"}}`, // invalid: no company_id
	}
	job := e.submit(app, bulkid.JobCompanies, raws...)
	recs := e.records(bulkid.JobCompanies, raws[:4]...)
	l := e.claim("w1", job)
	e.must("SetJobStatus", e.s.SetJobStatus(e.ctx, l, bulkid.StatusValidating))
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, []bulkid.RecordError{
		{Seq: 4, Pos: 5, Code: bulkid.RMissingID, Message: "company_id is required", Raw: []byte(raws[4])}}))

	progress := func(what string, completed, cursor int) {
		t.Helper()
		got := e.job(app, job.ID)
		if got.CompletedRows != completed || got.Cursor != cursor || got.FailedRows != 1 || got.TotalRows != 5 {
			t.Errorf("%s: CompletedRows %d, Cursor %d, FailedRows %d, TotalRows %d; want %d, %d, 1, 5",
				what, got.CompletedRows, got.Cursor, got.FailedRows, got.TotalRows, completed, cursor)
		}
	}
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[:2], 0, 2))
	progress("after the first batch", 2, 2)

	// A batch from a cursor the job has left is refused whole.
	e.clock.Advance(time.Second)
	stale := e.records(bulkid.JobCompanies, `{"company_id":"c0","metadata":{"plan":"stale"}}`, `{"company_id":"stale"}`)
	wantCode(t, "ApplyBatch from a stale cursor", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, stale, 0, 2), bulkid.ELEASELOST)
	progress("after a stale batch", 2, 2)
	wantMetadata(t, "c0 after a stale batch", e.company(app, "c0").Metadata, `{"plan":"free"}`)
	_, err := e.s.Company(e.ctx, app.ID, "stale")
	wantCode(t, "Company of a stale batch", err, bulkid.ENOTFOUND)

	// The cursor also moves over the invalid record at the end.
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[2:], 2, 5))
	progress("after the last batch", 4, 5)
	for _, id := range []string{"c0", "c1", "c2", "c3"} {
		e.company(app, id)
	}
}

func testFinishJob(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{`{"company_id":"c1"}`}
	job := e.submit(app, bulkid.JobCompanies, raws...)
	started := e.clock.Advance(time.Minute)
	l := e.startJob("w1", job)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, e.records(bulkid.JobCompanies, raws...), 0, 1))
	e.must("SetJobStatus", e.s.SetJobStatus(e.ctx, l, bulkid.StatusPendingRefresh))
	e.must("RefreshCompanies", e.s.RefreshCompanies(e.ctx, l, app.ID))
	ended := e.clock.Advance(time.Minute)
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))

	want := &bulkid.Job{ID: job.ID, AppID: app.ID, Type: bulkid.JobCompanies, Status: bulkid.StatusCompleted,
		Source: bulkid.SourceNDJSON, SubmittedAt: start, StartTime: started, EndTime: ended,
		TotalRows: 1, CompletedRows: 1, Cursor: 1}
	wantJob(t, "Job after FinishJob", e.job(app, job.ID), want)

	_, err := e.s.ActiveJob(e.ctx, app.ID)
	wantCode(t, "ActiveJob after FinishJob", err, bulkid.ENOTFOUND)
	_, err = e.s.ClaimJob(e.ctx, "w2", ttl)
	wantCode(t, "ClaimJob of a finished job", err, bulkid.ENOTFOUND)
	e.clock.Advance(2 * ttl)
	_, err = e.s.ClaimJob(e.ctx, "w2", ttl)
	wantCode(t, "ClaimJob of a finished job after its lease would have expired", err, bulkid.ENOTFOUND)

	wantCode(t, "RenewLease of a finished job", e.s.RenewLease(e.ctx, l), bulkid.ELEASELOST)
	wantCode(t, "SetJobStatus of a finished job", e.s.SetJobStatus(e.ctx, l, bulkid.StatusProcessing), bulkid.ELEASELOST)
	wantCode(t, "FinishJob of a finished job", e.s.FinishJob(e.ctx, l, bulkid.StatusFailed, "again"), bulkid.ELEASELOST)
	wantJob(t, "Job after writes to a finished job", e.job(app, job.ID), want)

	recs, err := e.s.JobRecords(e.ctx, job.ID, 0, 10)
	e.must("JobRecords", err)
	if len(recs) != 0 {
		t.Errorf("JobRecords of a finished job: got %d records, want its input dropped", len(recs))
	}

	// A failed job keeps its reason and its record errors, and also frees the app.
	bad := e.submit(app, bulkid.JobUsers, `{"user_id":null}`)
	l = e.claim("w3", bad)
	e.must("SetJobStatus", e.s.SetJobStatus(e.ctx, l, bulkid.StatusValidating))
	recErrs := []bulkid.RecordError{{Seq: 0, Pos: 1, Code: bulkid.RMissingID, Message: "user_id is required", Raw: []byte(`{"user_id":null}`)}}
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, recErrs))
	failedAt := e.clock.Advance(time.Second)
	const reason = "Every record of the job is invalid; see its errors."
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusFailed, reason))
	got := e.job(app, bad.ID)
	if got.Status != bulkid.StatusFailed || got.Error != reason {
		t.Errorf("failed job: Status %q, Error %q; want %q, %q", got.Status, got.Error, bulkid.StatusFailed, reason)
	}
	wantTime(t, "EndTime of the failed job", got.EndTime, failedAt)
	wantErrors(t, "Job().Errors of the failed job", got.Errors, recErrs)
	errs, err := e.s.JobErrors(e.ctx, app.ID, bad.ID, 0, 10)
	e.must("JobErrors", err)
	wantErrors(t, "JobErrors of the failed job", errs, recErrs)

	e.submit(app, bulkid.JobCompanies, `{"company_id":"c2"}`)
}

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

func testRefreshCompanies(t *testing.T, e *env) {
	app := e.createApp("a")
	visible := func(want ...string) {
		t.Helper()
		cs, err := e.s.ListCompanies(e.ctx, app.ID, bulkid.Page{Limit: 100}, false)
		e.must("ListCompanies", err)
		if got := companyIDs(cs); !slices.Equal(got, want) {
			t.Errorf("visible companies = %q, want %q", got, want)
		}
	}
	// apply runs a user job up to its refresh, which it leaves to the caller.
	apply := func(raws ...string) (refresh func()) {
		t.Helper()
		job := e.submit(app, bulkid.JobUsers, raws...)
		l := e.startJob("w1", job)
		e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, e.records(bulkid.JobUsers, raws...), 0, len(raws)))
		e.must("SetJobStatus", e.s.SetJobStatus(e.ctx, l, bulkid.StatusPendingRefresh))
		return func() {
			t.Helper()
			e.must("RefreshCompanies", e.s.RefreshCompanies(e.ctx, l, app.ID))
			e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
		}
	}

	refresh := apply(`{"user_id":"u1","company_id":"old"}`, `{"user_id":"u2","company_id":"old"}`)
	wantCount(t, e.company(app, "old"), 0, false) // stale until the refresh
	visible()
	refresh()
	wantCount(t, e.company(app, "old"), 2, true)
	visible("old")

	refresh = apply(`{"user_id":"u1","company_id":"new"}`)
	wantCount(t, e.company(app, "old"), 2, true)
	wantCount(t, e.company(app, "new"), 0, false)
	refresh()
	wantCount(t, e.company(app, "old"), 1, true)
	wantCount(t, e.company(app, "new"), 1, true)
	visible("new", "old")

	refresh = apply(`{"user_id":"u2","company_id":"new"}`)
	wantCount(t, e.company(app, "old"), 1, true)
	refresh()
	wantCount(t, e.company(app, "old"), 0, false)
	wantCount(t, e.company(app, "new"), 2, true)
	visible("new")

	// A company job leaves the counts as they are.
	e.run(app, bulkid.JobCompanies, `{"company_id":"new","metadata":{"name":"New"}}`, `{"company_id":"old","metadata":{"name":"Old"}}`)
	wantCount(t, e.company(app, "new"), 2, true)
	wantCount(t, e.company(app, "old"), 0, false)
	visible("new")
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

// testReserveRows: an app's rate lives in the store, per app, and holds
// across calls as bulkid.ReserveRows says.
func testReserveRows(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	reserve := func(app *bulkid.App, n int) time.Duration {
		t.Helper()
		wait, err := e.s.ReserveRows(e.ctx, app.ID, n, 600, 10) // 10 rows a second
		e.must("ReserveRows", err)
		return wait
	}
	if w := reserve(a, 10); w != 0 {
		t.Fatalf("first batch of a fresh app waits %v, want 0", w)
	}
	if w := reserve(a, 10); w != time.Second {
		t.Fatalf("second batch at once waits %v, want 1s", w)
	}
	// A refused reservation takes nothing: asking again says the same.
	if w := reserve(a, 10); w != time.Second {
		t.Fatalf("asking again waits %v, want 1s still", w)
	}
	// Another app has a rate of its own.
	if w := reserve(b, 10); w != 0 {
		t.Fatalf("app b's first batch waits %v, want 0", w)
	}
	e.clock.Advance(time.Second)
	if w := reserve(a, 10); w != 0 {
		t.Fatalf("a second later, a's batch waits %v, want 0", w)
	}
	if w := reserve(a, 5); w != 500*time.Millisecond {
		t.Fatalf("then 5 rows wait %v, want 500ms", w)
	}
	if _, err := e.s.ReserveRows(e.ctx, 1<<40, 1, 600, 10); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("ReserveRows of an unknown app: %v, want ENOTFOUND", err)
	}
}

// testCreateFirstApp: of many processes starting at once on an empty
// store, exactly one creates the first app.
func testCreateFirstApp(t *testing.T, e *env) {
	const n = 10
	var wg sync.WaitGroup
	created := make(chan int64, n)
	for i := range n {
		wg.Go(func() {
			app, ok, err := e.s.CreateFirstApp(e.ctx, "default", []byte(fmt.Sprintf("key-%d", i)))
			if err != nil {
				t.Errorf("CreateFirstApp: %v", err)
				return
			}
			if ok {
				created <- app.ID
			} else if app != nil {
				t.Errorf("CreateFirstApp returned an app without creating it")
			}
		})
	}
	wg.Wait()
	close(created)
	if got := len(created); got != 1 {
		t.Fatalf("%d calls created the first app, want exactly 1", got)
	}
	apps, err := e.s.ListApps(e.ctx)
	e.must("ListApps", err)
	if len(apps) != 1 {
		t.Fatalf("%d apps after the race, want 1", len(apps))
	}
	if _, ok, err := e.s.CreateFirstApp(e.ctx, "again", []byte("another")); ok || err != nil {
		t.Errorf("CreateFirstApp on a store with an app: created %v, err %v; want false, nil", ok, err)
	}
}

// testSetAppKey: replacing a key makes the old one unknown at once.
func testSetAppKey(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	e.must("SetAppKey", e.s.SetAppKey(e.ctx, a.ID, keyHash("a2")))
	_, err := e.s.AppByKeyHash(e.ctx, keyHash("a"))
	wantCode(t, "AppByKeyHash of the replaced key", err, bulkid.ENOTFOUND)
	got, err := e.s.AppByKeyHash(e.ctx, keyHash("a2"))
	e.must("AppByKeyHash of the new key", err)
	if got.ID != a.ID {
		t.Errorf("the new key opens app %d, want %d", got.ID, a.ID)
	}
	wantCode(t, "SetAppKey to another app's key", e.s.SetAppKey(e.ctx, b.ID, keyHash("a2")), bulkid.ECONFLICT)
	wantCode(t, "SetAppKey of an unknown app", e.s.SetAppKey(e.ctx, 1<<40, keyHash("x")), bulkid.ENOTFOUND)
	if got, err := e.s.AppByKeyHash(e.ctx, keyHash("b")); err != nil || got.ID != b.ID {
		t.Errorf("app b's key after the refused change: %v, %v", got, err)
	}
}
