package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/worker"
)

// recorder is a worker.Metrics that records its calls.
type recorder struct {
	mu       sync.Mutex
	statuses []bulkid.JobStatus
	started  int
	batches  int
	rows     []string // each Rows call, as "created/updated/unchanged failed"
	errs     []string // each StoreError, as "op code"
}

func (r *recorder) JobStatus(s bulkid.JobStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, s)
}

func (r *recorder) JobStarted(wait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started++
}

func (r *recorder) BatchApplied(time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches++
}

func (r *recorder) Rows(c bulkid.RowCounts, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, fmt.Sprintf("%d/%d/%d %d", c.Created, c.Updated, c.Unchanged, failed))
}

func (r *recorder) StoreError(op, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, op+" "+code)
}

// TestMetricsReported: a job's statuses, start, batches and rows are
// reported as they happen, the rows batch by batch rather than at the end.
func TestMetricsReported(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submit(t, st, app, 50)
	m := &recorder{}
	j := runUntil(t, worker.Config{Store: st, UnthrottledBatch: 10, PollInterval: 10 * time.Millisecond, Metrics: m}, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusCompleted {
		t.Fatalf("job = %s, want completed", j.Status)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if want := []bulkid.JobStatus{bulkid.StatusValidating, bulkid.StatusProcessing, bulkid.StatusPendingRefresh, bulkid.StatusCompleted}; !slices.Equal(m.statuses, want) {
		t.Errorf("statuses reported = %v, want %v", m.statuses, want)
	}
	if m.started != 1 || m.batches != 5 {
		t.Errorf("JobStarted %d times, BatchApplied %d times; want 1 and 5", m.started, m.batches)
	}
	if want := slices.Repeat([]string{"10/0/0 0"}, 5); !slices.Equal(m.rows, want) {
		t.Errorf("Rows calls = %q, want %q (one a batch)", m.rows, want)
	}
	if len(m.errs) != 0 {
		t.Errorf("store errors reported = %q, want none", m.errs)
	}
}

// TestMetricsStoreError: a store failure is reported with its method and
// code, and the job's failure as a status.
func TestMetricsStoreError(t *testing.T) {
	t.Parallel()
	st, app := setup(t)
	job := submit(t, st, app, 50)
	fs := &faultyStore{Store: st, failAt: 3, fault: errors.New("disk on fire")}
	m := &recorder{}
	j := runUntil(t, worker.Config{Store: fs, UnthrottledBatch: 10, PollInterval: 10 * time.Millisecond, Metrics: m}, st, app, job.ID, jobTimeout)
	if j.Status != bulkid.StatusFailed {
		t.Fatalf("job = %s, want failed", j.Status)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if want := []string{"ApplyBatch internal_error"}; !slices.Equal(m.errs, want) {
		t.Errorf("store errors reported = %q, want %q", m.errs, want)
	}
	if last := m.statuses[len(m.statuses)-1]; last != bulkid.StatusFailed {
		t.Errorf("statuses reported = %v, want the last failed", m.statuses)
	}
	if want := []string{"10/0/0 0", "10/0/0 0"}; !slices.Equal(m.rows, want) {
		t.Errorf("Rows calls = %q, want %q", m.rows, want)
	}
}

// TestRunning: a pool is running from Run until its context ends.
func TestRunning(t *testing.T) {
	t.Parallel()
	st, _ := setup(t)
	p, err := worker.New(worker.Config{Store: st, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatal("Running before Run")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	for !p.Running() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if p.Running() {
		t.Error("Running after Run returned")
	}
}
