// Package storetest is the conformance suite that every bulkid.Store runs,
// so that the SQLite store and the PostgreSQL store behave alike. It uses
// the bulkid.Store interface only; a backend's test is a call to RunTests.
//
// This file holds RunTests and the fixtures every case shares (the clock,
// env and its steps); checks.go the want* checks. The cases are filed by
// the interface they pin: apps.go (AppStore), jobs.go (JobStore), work.go
// (WorkStore), idempotency.go (IdempotencyStore), profiles.go (ProfileStore), events.go (EventStore); and by
// what crosses them: tenancy.go (no app sees another's data), bounds.go (profile bounds),
// text.go (validated text every store can hold), concurrency.go
// (real-time identify during a job), counts.go (companies' user counts
// through moves, resumed refreshes and real-time writes during a job); region.go (RegionStore); delete.go holds DeleteStore's cases,
// its own race with identify and a job among them; retention.go the cancel
// of a job and RetentionStore's pruning; webhooks.go WebhookStore's, with
// the deliveries FinishJob creates. bench.go holds the benchmarks.
package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
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
		// AppStore (apps.go)
		{"Apps", testApps},
		{"SchemaVersion", testSchemaVersion}, // schema.go
		{"CreateFirstApp", testCreateFirstApp},
		{"SetAppKey", testSetAppKey},
		{"Region", testRegion}, // region.go
		{"RegionConcurrent", testRegionConcurrent},
		// JobStore (jobs.go)
		{"CreateJob", testCreateJob},
		{"OneJobPerApp", testOneJobPerApp},
		{"OneJobPerAppConcurrent", testOneJobPerAppConcurrent},
		{"ListJobs", testListJobs},
		{"ListJobsErrors", testListJobsErrors}, // listjobs.go
		// IdempotencyStore (idempotency.go)
		{"IdempotencyKey", testIdempotencyKey},
		{"IdempotencyKeyAtomic", testIdempotencyKeyAtomic},
		{"IdempotencyKeyExpiry", testIdempotencyKeyExpiry},
		{"IdempotencyKeyPrune", testIdempotencyKeyPrune},
		{"IdempotencyKeyConcurrent", testIdempotencyKeyConcurrent},
		// WorkStore (work.go)
		{"ClaimJob", testClaimJob},
		{"ClaimStartsJob", testClaimStartsJob},
		{"ClaimNotBeforeSubmit", testClaimNotBeforeSubmit},
		{"LastBatchPendingRefresh", testLastBatchPendingRefresh},
		{"CompleteJob", testCompleteJob},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseLostInEachStatus", testLeaseLostInEachStatus},
		{"WritesRenewLease", testWritesRenewLease},
		{"ReleaseJob", testReleaseJob},
		{"JobRecords", testJobRecords},
		{"FinishValidation", testFinishValidation},
		{"ApplyBatch", testApplyBatch},
		{"FinishJob", testFinishJob},
		{"CompanyRefresh", testCompanyRefresh},
		{"ReserveRows", testReserveRows},
		{"RowCounts", testRowCounts}, // rowcounts.go
		{"UnchangedNotWritten", testUnchangedNotWritten},
		// ProfileStore (profiles.go)
		{"MergeCompanies", testMergeCompanies},
		{"Users", testUsers},
		{"ListCompanies", testListCompanies},
		{"Identify", testIdentify},
		// EventStore (events.go)
		{"Track", testTrack},
		{"UserEvents", testUserEvents},
		{"EventTotals", testEventTotals},
		{"EventTenancy", testEventTenancy},
		{"TrackConcurrent", testTrackConcurrent},
		// Across the interfaces: tenancy.go, bounds.go, text.go, concurrency.go
		{"Tenancy", testTenancy},
		{"ProfileBounds", testProfileBounds},
		{"UserProfileBounds", testUserProfileBounds},
		{"ValidatedText", testValidatedText},
		{"IdentifyDuringJob", testIdentifyDuringJob},
		// User counts kept by difference (counts.go)
		{"CountsMovesInJob", testCountsMovesInJob},
		{"CountsRefreshResumed", testCountsRefreshResumed},
		{"CountsRealtimeDuringJob", testCountsRealtimeDuringJob},
		// DeleteStore (delete.go)
		{"DeleteUsers", testDeleteUsers},
		{"DeleteCompanies", testDeleteCompanies},
		{"DeleteUnknown", testDeleteUnknown},
		{"DeleteThenIdentify", testDeleteThenIdentify},
		{"DeleteTenancy", testDeleteTenancy},
		{"DeleteDuringJob", testDeleteDuringJob},
		{"DeleteUserEvents", testDeleteUserEvents},
		{"DeleteDuringWrites", testDeleteDuringWrites},
		{"JobNestedRule", testJobNestedRule}, // nested.go
		// DashboardStore (dashboard.go)
		{"DashboardCounts", testDashboardCounts},
		{"SearchCompanies", testSearchCompanies},
		{"SearchCompaniesScanBound", testSearchCompaniesScanBound},
		{"DashboardUsers", testDashboardUsers},
		{"JobErrorCodes", testJobErrorCodes},
		{"JobSummaries", testJobSummaries},
		// Cancel and retention (retention.go)
		{"CancelQueued", testCancelQueued},
		{"CancelRunning", testCancelRunning},
		{"CancelInEachStatus", testCancelInEachStatus},
		{"CancelReleased", testCancelReleased},
		{"CancelFinished", testCancelFinished},
		{"PruneJobs", testPruneJobs},
		{"PruneKeepsKeyedJobs", testPruneKeepsKeyedJobs},
		{"PruneEvents", testPruneEvents},
		{"PruneConcurrent", testPruneConcurrent},
		// WebhookStore (webhooks.go)
		{"Webhooks", testWebhooks},
		{"FinishJobDelivers", testFinishJobDelivers},
		{"CancelQueuedDelivers", testCancelQueuedDelivers},
		{"DeliveryLifecycle", testDeliveryLifecycle},
		{"DeliveriesPaging", testDeliveriesPaging},
		{"DeleteWebhookStopsDeliveries", testDeleteWebhookStopsDeliveries},
		{"ClaimDeliveriesConcurrent", testClaimDeliveriesConcurrent},
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
	got, _, err := e.s.ClaimJob(e.ctx, owner, ttl)
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

// run takes a new job of app through every step a worker takes: claim
// (which starts it), validate, apply in one batch (the last, which moves
// it to pending_refresh), refresh the companies and finish (CompleteJob).
func (e *env) run(app *bulkid.App, typ bulkid.JobType, raws ...string) *bulkid.Job {
	e.t.Helper()
	recs := e.records(typ, raws...)
	job := e.submit(app, typ, raws...)
	l := e.claim("runner", job)
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, nil))
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, typ, recs, 0, len(raws)))
	e.must("CompleteJob", e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCompleted))
	return job
}

// startJob claims job as owner, which starts it, and moves it to
// processing with no record errors, ready for ApplyBatch.
func (e *env) startJob(owner string, job *bulkid.Job) bulkid.Lease {
	e.t.Helper()
	l := e.claim(owner, job)
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, nil))
	return l
}

// jobAt brings job, queued, to status by the steps a worker takes, as
// owner, and returns the lease: the claim starts it (validating), its
// validation ends with no record errors (processing), and one batch of
// recs, all its records, moves it to pending_refresh as the last batch
// does. These are the only statuses a running job stands at.
func (e *env) jobAt(owner string, job *bulkid.Job, recs []bulkid.Record, status bulkid.JobStatus) bulkid.Lease {
	e.t.Helper()
	order := []bulkid.JobStatus{bulkid.StatusValidating, bulkid.StatusProcessing, bulkid.StatusPendingRefresh}
	if status != order[0] && status != order[1] && status != order[2] {
		e.t.Fatalf("jobAt(%q): no running job stands at that status", status)
	}
	l := e.claim(owner, job)
	steps := []func(){
		func() { e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, nil)) },
		func() { e.must("last ApplyBatch", e.s.ApplyBatch(e.ctx, l, job.Type, recs, 0, len(recs))) },
	}
	for i, at := range order {
		got, err := e.s.Job(e.ctx, job.AppID, job.ID)
		e.must("Job", err)
		if got.Status != at {
			e.t.Fatalf("job %s stands at %q, want %q on the way to %q", job.ID, got.Status, at, status)
		}
		if at == status {
			break
		}
		steps[i]()
	}
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
