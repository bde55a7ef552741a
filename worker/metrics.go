package worker

import (
	"context"
	"time"

	"github.com/bulkid/bulkid"
)

// Metrics receives what a Pool does, for monitoring: internal/metrics
// reports it to Prometheus, so this package does not import it. Its
// methods are called from every worker at once and must not block.
type Metrics interface {
	// JobStatus is called when a job run here enters status (validating,
	// processing, pending_refresh, completed or failed).
	JobStatus(status bulkid.JobStatus)
	// JobStarted is called when a queued job starts, wait after it was
	// submitted.
	JobStarted(wait time.Duration)
	// BatchApplied is called when a batch commits, elapsed being the
	// store's ApplyBatch alone (not the throttle's wait before it).
	BatchApplied(elapsed time.Duration)
	// Rows is called with the rows the store counted since the last call
	// for the same job: applied ones by what they did to their profile,
	// and failed ones (invalid, or refused by the profile bounds).
	Rows(applied bulkid.RowCounts, failed int)
	// StoreError is called when the store method op fails for want of the
	// store (code internal_error, service_unavailable or insufficient_storage), not with
	// one of its documented answers.
	StoreError(op, code string)
}

// noMetrics is the Metrics of a Pool configured without any.
type noMetrics struct{}

func (noMetrics) JobStatus(bulkid.JobStatus) {}
func (noMetrics) JobStarted(time.Duration)   {}
func (noMetrics) BatchApplied(time.Duration) {}
func (noMetrics) Rows(bulkid.RowCounts, int) {}
func (noMetrics) StoreError(op, code string) {}

// storeFailure reports whether err is a failure of the store rather than
// one of its answers (not found, a lost lease, a conflict).
func storeFailure(err error) bool {
	switch bulkid.ErrorCode(err) {
	case bulkid.EINTERNAL, bulkid.EUNAVAILABLE, bulkid.EFULL:
		return true
	}
	return false
}

// countedStore is a Store that reports its failures to Metrics.
type countedStore struct {
	Store
	m Metrics
}

func (s countedStore) count(op string, err error) {
	if storeFailure(err) {
		s.m.StoreError(op, bulkid.ErrorCode(err))
	}
}

func (s countedStore) Job(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error) {
	j, err := s.Store.Job(ctx, appID, jobID)
	s.count("Job", err)
	return j, err
}

func (s countedStore) ClaimJob(ctx context.Context, owner string, ttl time.Duration) (*bulkid.Job, bool, error) {
	j, started, err := s.Store.ClaimJob(ctx, owner, ttl)
	s.count("ClaimJob", err)
	return j, started, err
}

func (s countedStore) ReserveRows(ctx context.Context, appID int64, n, rowsPerMinute, burst int) (time.Duration, error) {
	d, err := s.Store.ReserveRows(ctx, appID, n, rowsPerMinute, burst)
	s.count("ReserveRows", err)
	return d, err
}

func (s countedStore) RenewLease(ctx context.Context, l bulkid.Lease) error {
	err := s.Store.RenewLease(ctx, l)
	s.count("RenewLease", err)
	return err
}

func (s countedStore) ReleaseJob(ctx context.Context, l bulkid.Lease) error {
	err := s.Store.ReleaseJob(ctx, l)
	s.count("ReleaseJob", err)
	return err
}

func (s countedStore) JobRecords(ctx context.Context, jobID string, fromSeq, limit int) ([]bulkid.RawRecord, error) {
	r, err := s.Store.JobRecords(ctx, jobID, fromSeq, limit)
	s.count("JobRecords", err)
	return r, err
}

func (s countedStore) FinishValidation(ctx context.Context, l bulkid.Lease, errs []bulkid.RecordError) error {
	err := s.Store.FinishValidation(ctx, l, errs)
	s.count("FinishValidation", err)
	return err
}

func (s countedStore) ApplyBatch(ctx context.Context, l bulkid.Lease, t bulkid.JobType, recs []bulkid.Record, fromCursor, toCursor int) error {
	err := s.Store.ApplyBatch(ctx, l, t, recs, fromCursor, toCursor)
	s.count("ApplyBatch", err)
	return err
}

func (s countedStore) CompleteJob(ctx context.Context, l bulkid.Lease, appID int64, status bulkid.JobStatus) error {
	err := s.Store.CompleteJob(ctx, l, appID, status)
	s.count("CompleteJob", err)
	return err
}

func (s countedStore) FinishJob(ctx context.Context, l bulkid.Lease, status bulkid.JobStatus, reason string) error {
	err := s.Store.FinishJob(ctx, l, status, reason)
	s.count("FinishJob", err)
	return err
}

// tally is what of a job's rows this run has reported to Metrics: the
// job's counts when it was claimed, then at each report.
type tally struct {
	rows   bulkid.RowCounts
	failed int
}

// countRows reports to Metrics the rows stored counted beyond t.
func (p *Pool) countRows(t *tally, rows bulkid.RowCounts, failed int) {
	d := bulkid.RowCounts{Created: rows.Created - t.rows.Created, Updated: rows.Updated - t.rows.Updated,
		Unchanged: rows.Unchanged - t.rows.Unchanged}
	if d != (bulkid.RowCounts{}) || failed != t.failed {
		p.metrics.Rows(d, failed-t.failed)
	}
	t.rows, t.failed = rows, failed
}
