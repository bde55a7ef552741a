package worker_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/worker"
)

// faultyStore fails ApplyBatch with fault from its failAt-th call on, until
// healed.
type faultyStore struct {
	worker.Store
	mu     sync.Mutex
	calls  int
	failAt int
	fault  error
	faults int // how many calls the fault failed
}

func (s *faultyStore) ApplyBatch(ctx context.Context, l bulkid.Lease, t bulkid.JobType, recs []bulkid.Record, from, to int) error {
	s.mu.Lock()
	s.calls++
	fail := s.fault != nil && s.calls >= s.failAt
	fault := s.fault
	s.mu.Unlock()
	if fail {
		s.mu.Lock()
		s.faults++
		s.mu.Unlock()
		return fault
	}
	return s.Store.ApplyBatch(ctx, l, t, recs, from, to)
}

func (s *faultyStore) failed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

func (s *faultyStore) heal() {
	s.mu.Lock()
	s.fault = nil
	s.mu.Unlock()
}

func setup(t *testing.T) (bulkid.Store, *bulkid.App) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "bulkid.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app, err := st.CreateApp(context.Background(), "a", bulkid.HashAPIKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	return st, app
}

func submit(t *testing.T, st bulkid.Store, app *bulkid.App, n int) *bulkid.Job {
	t.Helper()
	recs := make([]bulkid.RawRecord, n)
	for i := range recs {
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: []byte(fmt.Sprintf(`{"company_id":"c%d","metadata":{"i":%d}}`, i, i))}
	}
	job := &bulkid.Job{ID: fmt.Sprintf("job-%d", time.Now().UnixNano()), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
	if err := st.CreateJob(context.Background(), job, recordpack.FromRecords(recs)); err != nil {
		t.Fatal(err)
	}
	return job
}

// runUntil runs a pool until the job is final or the timeout passes.
// jobTimeout is how long runUntil waits for a job to end: a guard
// against a hang, not a measure of speed (a loaded 2-core machine runs
// these jobs many times slower under -race than an idle one).
const jobTimeout = 3 * time.Minute

func runUntil(t *testing.T, cfg worker.Config, st bulkid.Store, app *bulkid.App, jobID string, timeout time.Duration) *bulkid.Job {
	t.Helper()
	pool, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pool.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(timeout)
	for {
		j, err := st.Job(context.Background(), app.ID, jobID)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status.Final() || time.Now().After(deadline) {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUnrecoverableStoreErrorFailsJob(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submit(t, st, app, 50)
	fs := &faultyStore{Store: st, failAt: 3, fault: errors.New("disk on fire")}
	j := runUntil(t, worker.Config{Store: fs, UnthrottledBatch: 10, PollInterval: 10 * time.Millisecond}, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusFailed || j.Error == "" {
		t.Fatalf("job = %s (%q), want failed with a reason", j.Status, j.Error)
	}
	if j.CompletedRows != 20 {
		t.Errorf("completed_rows = %d, want the 20 rows of the two batches committed before the error", j.CompletedRows)
	}
	// The app is free for its next job.
	submit(t, st, app, 1)
}

func TestUnavailableStorePausesJob(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submit(t, st, app, 50)
	fs := &faultyStore{Store: st, failAt: 2, fault: &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "down"}}
	cfg := worker.Config{Store: fs, UnthrottledBatch: 10, PollInterval: 10 * time.Millisecond, LeaseTTL: time.Second}
	// Run until the outage has failed a batch twice (the job paused, was
	// given back and claimed again), however slow the machine.
	pool, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pool.Run(ctx); close(done) }()
	for deadline := time.Now().Add(30 * time.Second); fs.failed() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	j, err := st.Job(context.Background(), app.ID, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fs.failed() < 2 || j.Status.Final() || j.CompletedRows != 10 {
		t.Fatalf("job while the store is down = %s with %d rows, want paused after the first batch", j.Status, j.CompletedRows)
	}
	fs.heal()
	j = runUntil(t, cfg, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 50 || j.FailedRows != 0 {
		t.Fatalf("job after the store is back = %s %d/%d, want completed 50/0", j.Status, j.CompletedRows, j.FailedRows)
	}
}

// TestUnavailableStoreResumesAtOnce: once the store answers again, a job
// paused by an outage is given back and resumes, without waiting for its
// lease (an hour here) to run out.
func TestUnavailableStoreResumesAtOnce(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submit(t, st, app, 50)
	fs := &faultyStore{Store: st, failAt: 2, fault: &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "down"}}
	cfg := worker.Config{Store: fs, UnthrottledBatch: 10, PollInterval: time.Hour, LeaseTTL: time.Hour, Workers: 1}
	time.AfterFunc(300*time.Millisecond, fs.heal) // the outage
	j := runUntil(t, cfg, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 50 || j.FailedRows != 0 {
		t.Fatalf("job 30 s after the store came back = %s %d/%d, want completed 50/0 without waiting for its lease (1 h) or a poll (1 h)", j.Status, j.CompletedRows, j.FailedRows)
	}
}

// TestShutdownReleasesJob: a pool stopped mid-job gives the job back, and
// another pool resumes it at once from the cursor, counting each row once.
func TestShutdownReleasesJob(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submit(t, st, app, 40)
	var applied atomic.Int64
	counting := &countingStore{Store: st, rows: &applied}
	// 600 rows a minute: batches of 10, one a second.
	pool, err := worker.New(worker.Config{Store: counting, RowsPerMinute: 600, PollInterval: 10 * time.Millisecond, LeaseTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pool.Run(ctx); close(done) }()
	for applied.Load() < 10 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	j, _ := st.Job(context.Background(), app.ID, job.ID)
	if j.Status.Final() || j.CompletedRows != int(applied.Load()) {
		t.Fatalf("after shutdown: %s with %d rows (applied %d)", j.Status, j.CompletedRows, applied.Load())
	}
	// The lease is an hour long: only a release lets this pool start now.
	j = runUntil(t, worker.Config{Store: counting, PollInterval: 10 * time.Millisecond}, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 40 || applied.Load() != 40 {
		t.Fatalf("after resume: %s, completed_rows %d, rows applied %d; want completed, 40, 40", j.Status, j.CompletedRows, applied.Load())
	}
}

type countingStore struct {
	worker.Store
	rows *atomic.Int64
}

func (s *countingStore) ApplyBatch(ctx context.Context, l bulkid.Lease, t bulkid.JobType, recs []bulkid.Record, from, to int) error {
	err := s.Store.ApplyBatch(ctx, l, t, recs, from, to)
	if err == nil {
		s.rows.Add(int64(len(recs)))
	}
	return err
}

func TestBatchSize(t *testing.T) {
	t.Parallel()
	st, _ := setup(t)
	for _, tc := range []struct{ rpm, want int }{{1800, 30}, {600, 10}, {30, 1}, {0, 1000}} {
		p, err := worker.New(worker.Config{Store: st, RowsPerMinute: tc.rpm})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.BatchSize(); got != tc.want {
			t.Errorf("BatchSize at %d rows/min = %d, want %d", tc.rpm, got, tc.want)
		}
	}
	if _, err := worker.New(worker.Config{Store: st, RowsPerMinute: -1}); err == nil {
		t.Errorf("a negative rate was accepted")
	}
}

// TestSlowRateKeepsLease: at 30 rows a minute a batch waits two seconds,
// longer than the lease; the worker renews the lease while it waits, so no
// other worker takes the job over.
func TestSlowRateKeepsLease(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submit(t, st, app, 3)
	var lost atomic.Int64
	ls := &leaseWatch{Store: st, lost: &lost}
	j := runUntil(t, worker.Config{Store: ls, RowsPerMinute: 30, LeaseTTL: time.Second, Workers: 4, PollInterval: 10 * time.Millisecond}, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 3 {
		t.Fatalf("job = %s %d/3, want completed", j.Status, j.CompletedRows)
	}
	if n := lost.Load(); n != 0 {
		t.Errorf("%d writes found the lease lost: another worker took the job while it waited", n)
	}
}

type leaseWatch struct {
	worker.Store
	lost *atomic.Int64
}

func (s *leaseWatch) ApplyBatch(ctx context.Context, l bulkid.Lease, t bulkid.JobType, recs []bulkid.Record, from, to int) error {
	err := s.Store.ApplyBatch(ctx, l, t, recs, from, to)
	if bulkid.ErrorCode(err) == bulkid.ELEASELOST {
		s.lost.Add(1)
	}
	return err
}

// lateClaimStore holds each claim until the test lets it go, then claims
// for real and reports the caller's context error if it has one, as a
// driver does whose commit lands as the context is cancelled.
type lateClaimStore struct {
	worker.Store
	claiming chan struct{} // closed at the first claim
	release  chan struct{}
	once     sync.Once
}

func (s *lateClaimStore) ClaimJob(ctx context.Context, owner string, ttl time.Duration) (*bulkid.Job, bool, error) {
	s.once.Do(func() { close(s.claiming) })
	<-s.release
	job, started, err := s.Store.ClaimJob(context.WithoutCancel(ctx), owner, ttl) // the commit lands
	if ctx.Err() != nil {
		return nil, false, ctx.Err()
	}
	return job, started, err
}

// TestShutdownDuringClaim: a claim in flight when the pool stops is not cut
// off halfway; the job it takes is given back, so another process claims it
// at once rather than a lease later.
func TestShutdownDuringClaim(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submit(t, st, app, 5)
	ls := &lateClaimStore{Store: st, claiming: make(chan struct{}), release: make(chan struct{})}
	pool, err := worker.New(worker.Config{Store: ls, Workers: 1, LeaseTTL: time.Hour, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pool.Run(ctx); close(done) }()
	<-ls.claiming
	cancel()
	close(ls.release)
	<-done
	got, _, err := st.ClaimJob(context.Background(), "another-process", time.Minute)
	if err != nil || got.ID != job.ID {
		t.Fatalf("after shutdown another worker's claim = %v, %v; want job %s, free at once", got, err, job.ID)
	}
}

// batchBytes records the most metadata bytes one ApplyBatch carried.
type batchBytes struct {
	worker.Store
	mu      sync.Mutex
	most    int
	batches int
}

func (s *batchBytes) ApplyBatch(ctx context.Context, l bulkid.Lease, t bulkid.JobType, recs []bulkid.Record, from, to int) error {
	n := 0
	for _, r := range recs {
		n += len(r.Metadata)
	}
	s.mu.Lock()
	s.most, s.batches = max(s.most, n), s.batches+1
	s.mu.Unlock()
	return s.Store.ApplyBatch(ctx, l, t, recs, from, to)
}

// TestBatchCutAtBytes: a batch holds at most bulkid.MaxBatchBytes of
// records, however few rows that is, so that 1,000 records of 1 MiB are
// not one gigabyte transaction.
func TestBatchCutAtBytes(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	value := strings.Repeat("v", 500_000)
	recs := make([]bulkid.RawRecord, 30)
	for i := range recs {
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: fmt.Appendf(nil, `{"company_id":"c%d","metadata":{"v":%q}}`, i, value)}
	}
	job := &bulkid.Job{ID: "big-records", AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
	if err := st.CreateJob(context.Background(), job, recordpack.FromRecords(recs)); err != nil {
		t.Fatal(err)
	}
	bb := &batchBytes{Store: st}
	j := runUntil(t, worker.Config{Store: bb, PollInterval: 10 * time.Millisecond}, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 30 {
		t.Fatalf("job = %s %d/30, want completed", j.Status, j.CompletedRows)
	}
	if bb.most > bulkid.MaxBatchBytes || bb.batches < 30*500_000/bulkid.MaxBatchBytes {
		t.Errorf("%d batches, the largest of %d bytes of metadata; want none over %d", bb.batches, bb.most, bulkid.MaxBatchBytes)
	}
}

// TestProfileBoundCountsFailed: records the store refuses at apply time
// (profile_too_large) count as failed, not completed; a job whose every
// record is refused fails as one whose every record is invalid does.
func TestProfileBoundCountsFailed(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	for _, prefix := range []string{"a", "b"} {
		var md strings.Builder
		for i := range 1000 {
			fmt.Fprintf(&md, `,"%s%d":1`, prefix, i)
		}
		rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(`{"company_id":"full","metadata":{`+md.String()[1:]+`}}`))
		if rerr != nil {
			t.Fatal(rerr.Message)
		}
		if err := st.Identify(context.Background(), app.ID, []bulkid.Record{rec}, nil); err != nil {
			t.Fatal(err)
		}
	}
	run := func(raws ...string) *bulkid.Job {
		t.Helper()
		recs := make([]bulkid.RawRecord, len(raws))
		for i, raw := range raws {
			recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: []byte(raw)}
		}
		job := &bulkid.Job{ID: fmt.Sprintf("job-%d", time.Now().UnixNano()), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
		if err := st.CreateJob(context.Background(), job, recordpack.FromRecords(recs)); err != nil {
			t.Fatal(err)
		}
		return runUntil(t, worker.Config{Store: st, PollInterval: 10 * time.Millisecond}, st, app, job.ID, jobTimeout)
	}
	j := run(`{"company_id":"full","metadata":{"new1":1}}`, `{"company_id":"full","metadata":{"new2":1}}`)
	if j.Status != bulkid.StatusFailed || j.CompletedRows != 0 || j.FailedRows != 2 || len(j.Errors) != 2 || j.Errors[0].Code != bulkid.RProfileTooLarge {
		t.Errorf("job of refused records = %s %d/%d (%q), errors %v; want failed 0/2, profile_too_large", j.Status, j.CompletedRows, j.FailedRows, j.Error, j.Errors)
	}
	j = run(`{"company_id":"full","metadata":{"new1":1}}`, `{"company_id":"other","metadata":{"x":1}}`)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 1 || j.FailedRows != 1 {
		t.Errorf("job of one refused record and one good = %s %d/%d, want completed 1/1", j.Status, j.CompletedRows, j.FailedRows)
	}
}

// readCounter counts the input records JobRecords hands out, and can stop
// the pool once validation is stored.
type readCounter struct {
	worker.Store
	read     atomic.Int64
	stopping func() // called after FinishValidation commits, when set
}

func (s *readCounter) JobRecords(ctx context.Context, jobID string, from, n int) ([]bulkid.RawRecord, error) {
	recs, err := s.Store.JobRecords(ctx, jobID, from, n)
	s.read.Add(int64(len(recs)))
	return recs, err
}

func (s *readCounter) FinishValidation(ctx context.Context, l bulkid.Lease, errs []bulkid.RecordError) error {
	err := s.Store.FinishValidation(ctx, l, errs)
	if err == nil && s.stopping != nil {
		s.stopping()
	}
	return err
}

// submitMixed submits n companies of which every seventh is invalid, each
// with a metadata value pad of pad bytes.
func submitMixed(t *testing.T, st bulkid.Store, app *bulkid.App, n, pad int) (job *bulkid.Job, invalid int) {
	t.Helper()
	recs := make([]bulkid.RawRecord, n)
	for i := range recs {
		raw := fmt.Sprintf(`{"company_id":"c%d","metadata":{"i":%d,"pad":"%s"}}`, i, i, strings.Repeat("x", pad))
		if i%7 == 3 {
			raw, invalid = fmt.Sprintf(`{"company_id":"c%d","metadata":{"i":[%d]}}`, i, i), invalid+1
		}
		recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: []byte(raw)}
	}
	job = &bulkid.Job{ID: fmt.Sprintf("job-%d", time.Now().UnixNano()), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
	if err := st.CreateJob(context.Background(), job, recordpack.FromRecords(recs)); err != nil {
		t.Fatal(err)
	}
	return job, invalid
}

// TestRecordsReadOnce: a job validated and processed in one run reads its
// input, and so parses each record, once: processing applies the records
// validation spooled.
func TestRecordsReadOnce(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job, invalid := submitMixed(t, st, app, 5000, 200) // a spool over 1 MiB: in a file
	rc := &readCounter{Store: st}
	j := runUntil(t, worker.Config{Store: rc, UnthrottledBatch: 300, PollInterval: 10 * time.Millisecond, SpoolDir: t.TempDir()}, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 5000-invalid || j.FailedRows != invalid || len(j.Errors) == 0 || j.Errors[0].Code != bulkid.RNestedMetadata || j.Errors[0].Pos != 3 {
		t.Fatalf("job = %s %d/%d, %d errors; want completed %d/%d, the first error nested_metadata at 3", j.Status, j.CompletedRows, j.FailedRows, len(j.Errors), 5000-invalid, invalid)
	}
	if n := rc.read.Load(); n != 5000 {
		t.Errorf("the job's input was read %d records' worth, want 5000: once by validation, not again by processing", n)
	}
	c, err := st.Company(context.Background(), app.ID, "c4999")
	if err != nil || !strings.HasPrefix(string(c.Metadata), `{"i":4999,"pad":"xx`) {
		t.Errorf("last company = %+v, %v", c, err)
	}
}

// TestResumeAfterValidation: a job validated by one run and resumed at
// processing by another (whose spool does not exist) reads and parses its
// input again, and completes with the same counts.
func TestResumeAfterValidation(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job, invalid := submitMixed(t, st, app, 1200, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &readCounter{Store: st, stopping: cancel}
	pool, err := worker.New(worker.Config{Store: first, Workers: 1, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pool.Run(ctx) // returns once validation is stored and the job released
	j, err := st.Job(context.Background(), app.ID, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != bulkid.StatusProcessing || j.Cursor != 0 || j.FailedRows != invalid || first.read.Load() != 1200 {
		t.Fatalf("after the first run: %s cursor %d failed %d, read %d; want processing at 0 with %d failed, 1200 read", j.Status, j.Cursor, j.FailedRows, first.read.Load(), invalid)
	}
	second := &readCounter{Store: st}
	j = runUntil(t, worker.Config{Store: second, UnthrottledBatch: 500, PollInterval: 10 * time.Millisecond}, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 1200-invalid || j.FailedRows != invalid || len(j.Errors) == 0 || j.Errors[0].Code != bulkid.RNestedMetadata || j.Errors[0].Pos != 3 {
		t.Fatalf("after resume: %s %d/%d, %d errors; want completed %d/%d, the first error nested_metadata at 3", j.Status, j.CompletedRows, j.FailedRows, len(j.Errors), 1200-invalid, invalid)
	}
	if n := second.read.Load(); n != 1200 {
		t.Errorf("the resumed run read %d records, want the 1200 it processes", n)
	}
}
