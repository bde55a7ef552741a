// Package worker runs background jobs: it claims a job from the store,
// validates its records, applies them in throttled batches that each commit
// with the job's counters, refreshes what the dashboard reads, and finishes
// the job. A job interrupted anywhere resumes from its last committed step.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulkid/bulkid"
)

// Store is the part of a bulkid.Store the worker uses: the work methods,
// and Job to read the counts a batch left.
type Store interface {
	bulkid.WorkStore
	Job(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error)
}

var _ Store = bulkid.Store(nil)

// Config configures a Pool. Zero values take the defaults named.
type Config struct {
	Store Store
	// Workers is how many jobs run at once, each for a different app
	// (default 16). A throttled job mostly waits, so this can exceed the cores.
	Workers int
	// RowsPerMinute is each app's rate of applied rows; 0 means unthrottled.
	// The rate's state lives in the store, so it holds per app across jobs,
	// restarts and every process that shares the store.
	RowsPerMinute int
	// UnthrottledBatch is the rows per batch when unthrottled (default 1000).
	UnthrottledBatch int
	// LeaseTTL is how long a claim holds a job without renewal (default 30s).
	LeaseTTL time.Duration
	// PollInterval is how often idle workers look for jobs that no Notify
	// announced (default 1s).
	PollInterval time.Duration
	// Owner names this process in leases (default host-pid-random).
	Owner  string
	Logger *slog.Logger
	// SpoolDir holds the spool of validated records of each running job
	// over 1 MiB, a temporary file with no name (default os.TempDir()).
	SpoolDir string
	// Metrics receives what the pool does (none if nil). With it, the
	// worker reads a job's counts after each batch to report the rows the
	// batch created, updated and failed.
	Metrics Metrics
}

func (c *Config) validate() error {
	if c.Store == nil {
		return errors.New("worker: Config.Store is required")
	}
	if c.RowsPerMinute < 0 {
		return errors.New("worker: --rows-per-minute must be 0 (unthrottled) or more")
	}
	if c.Workers == 0 {
		c.Workers = 16
	}
	if c.Workers < 0 {
		return errors.New("worker: --workers must be at least 1")
	}
	if c.UnthrottledBatch <= 0 {
		c.UnthrottledBatch = 1000
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		c.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Pool runs jobs with a fixed number of workers.
type Pool struct {
	cfg     Config
	wake    chan struct{}
	metrics Metrics // noMetrics if none
	running atomic.Bool
	claimMu sync.Mutex // claims of this pool's workers, one at a time (claim)
}

// New returns a Pool; call Run to start it.
func New(cfg Config) (*Pool, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, wake: make(chan struct{}, cfg.Workers), metrics: cfg.Metrics}
	if p.metrics == nil {
		p.metrics = noMetrics{}
	} else {
		p.cfg.Store = countedStore{cfg.Store, cfg.Metrics}
	}
	return p, nil
}

// Running reports whether Run is running and not stopping: /readyz
// reports a pool that is not as not ready.
func (p *Pool) Running() bool { return p.running.Load() }

// BatchSize is the most rows one batch applies: about one second's worth at
// the configured rate, so progress shows every second and never runs ahead
// of the rate by more than one batch.
func (p *Pool) BatchSize() int {
	if p.cfg.RowsPerMinute == 0 {
		return p.cfg.UnthrottledBatch
	}
	return max(1, p.cfg.RowsPerMinute/60)
}

// Notify tells an idle worker that a job was submitted.
func (p *Pool) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run runs workers until ctx is done, then lets each finish the batch in
// hand, gives its job back to the store, and returns.
func (p *Pool) Run(ctx context.Context) {
	p.running.Store(true)
	defer p.running.Store(false)
	defer context.AfterFunc(ctx, func() { p.running.Store(false) })()
	var wg sync.WaitGroup
	for i := range p.cfg.Workers {
		// Each worker holds leases under its own name, so two workers of
		// one process can never both think they hold a job.
		owner := fmt.Sprintf("%s/%d", p.cfg.Owner, i)
		wg.Go(func() { p.loop(ctx, owner) })
	}
	wg.Wait()
}

func (p *Pool) loop(ctx context.Context, owner string) {
	tick := time.NewTicker(p.cfg.PollInterval)
	defer tick.Stop()
	failing := false // claims fail: logged once, not at every poll
	for ctx.Err() == nil {
		// Shutdown must not cancel a claim in flight: the claim could
		// commit while the worker saw an error, leaving the job leased to
		// no one until the lease ran out. A claim that completes is given
		// back at once by runJob when the worker is stopping.
		job, started, err := p.claim(context.WithoutCancel(ctx), owner)
		if failing && (err == nil || bulkid.ErrorCode(err) == bulkid.ENOTFOUND) {
			p.cfg.Logger.Info("claim job: the store answers again", "worker", owner)
			failing = false
		}
		switch {
		case bulkid.ErrorCode(err) == bulkid.ENOTFOUND:
		case err != nil:
			if ctx.Err() == nil && !failing {
				p.cfg.Logger.Error("claim job; trying again every poll interval", "worker", owner, "err", err)
				failing = true
			}
		default:
			if started {
				p.metrics.JobStarted(time.Since(job.SubmittedAt))
				p.metrics.JobStatus(bulkid.StatusValidating)
			}
			p.runJob(ctx, owner, job)
			continue
		}
		select {
		case <-ctx.Done():
		case <-p.wake:
		case <-tick.C:
		}
	}
}

// claim asks the store for a job, one worker of the pool at a time. Each
// idle worker polls with a claim of its own every PollInterval, all of
// them at once: on PostgreSQL sixteen claims in flight took sixteen pooled
// connections (each with its backend process) that an idle server then
// held, 4 MiB of its memory (issue 14). Claims gain nothing from running
// side by side within one process: each takes the oldest free job under a
// row lock, and SQLite makes them one at a time on its write connection
// anyway. Claims of other processes are not affected.
func (p *Pool) claim(ctx context.Context, owner string) (*bulkid.Job, bool, error) {
	p.claimMu.Lock()
	defer p.claimMu.Unlock()
	return p.cfg.Store.ClaimJob(ctx, owner, p.cfg.LeaseTTL)
}

// errStopped means the worker is shutting down with the job unfinished.
var errStopped = errors.New("worker stopping")

func (p *Pool) runJob(ctx context.Context, owner string, job *bulkid.Job) {
	log := p.cfg.Logger.With("job_id", job.ID, "app_id", job.AppID, "type", job.Type)
	l := bulkid.Lease{JobID: job.ID, Owner: owner, TTL: p.cfg.LeaseTTL}
	// Store writes use a context that shutdown does not cancel, so the step
	// in hand commits; the loop checks ctx between steps.
	sctx := context.WithoutCancel(ctx)
	log.Info("job claimed", "status", job.Status, "cursor", job.Cursor)
	t := &tally{rows: job.Rows, failed: job.FailedRows}
	err := p.steps(ctx, sctx, l, job, t)
	if bulkid.ErrorCode(err) == bulkid.ECANCELED {
		log.Info("job canceled by a client; finishing it canceled", "cursor", job.Cursor)
		err = p.finishCanceled(sctx, l, job)
	}
	switch code := bulkid.ErrorCode(err); {
	case err == nil:
		log.Info("job finished", "status", job.Status, "completed_rows", job.CompletedRows, "failed_rows", job.FailedRows)
	case errors.Is(err, errStopped):
		if rerr := p.cfg.Store.ReleaseJob(sctx, l); rerr != nil {
			log.Warn("release job", "err", rerr)
		}
		log.Info("job released at shutdown", "cursor", job.Cursor)
	case code == bulkid.ELEASELOST:
		log.Warn("job lease lost; another worker has it")
	case code == bulkid.EUNAVAILABLE:
		log.Error("store unavailable; job paused", "err", err)
		p.giveBack(ctx, sctx, l, log)
	case code == bulkid.EFULL:
		// Leave the lease to expire: the job is tried again a lease later,
		// by when an operator may have freed space.
		log.Error("store unavailable; job paused", "err", err)
	default:
		log.Error("job failed", "err", err)
		if ferr := p.cfg.Store.FinishJob(sctx, l, bulkid.StatusFailed, "An unrecoverable store error stopped the job; the rows counted as completed are stored."); ferr != nil {
			log.Error("mark job failed", "err", ferr)
		} else {
			p.metrics.JobStatus(bulkid.StatusFailed)
		}
	}
}

// giveBack waits for the store to answer again, then releases the job so
// that it resumes at once from what was committed, rather than a lease
// later. It tries again with backoff, up to every 5 s, and gives up at
// shutdown (the lease then runs out, as after a crash) or when another
// worker has taken the job meanwhile.
func (p *Pool) giveBack(ctx, sctx context.Context, l bulkid.Lease, log *slog.Logger) {
	wait := 250 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := p.cfg.Store.ReleaseJob(sctx, l)
		switch bulkid.ErrorCode(err) {
		case "":
			log.Info("store answers again; job given back to resume")
			p.Notify()
			return
		case bulkid.EUNAVAILABLE:
			wait = min(2*wait, 5*time.Second)
		default:
			log.Warn("give back paused job", "err", err)
			return
		}
	}
}

// finishCanceled ends a job a client canceled, at a batch boundary: what
// its batches applied stays, their changes to the companies' counts are
// added (as a finished user job's are), and the job ends canceled.
func (p *Pool) finishCanceled(sctx context.Context, l bulkid.Lease, job *bulkid.Job) error {
	if err := p.complete(sctx, l, job, bulkid.StatusCanceled); err != nil {
		return err
	}
	job.Status = bulkid.StatusCanceled
	if stored, err := p.cfg.Store.Job(sctx, job.AppID, job.ID); err == nil {
		job.CompletedRows, job.FailedRows = stored.CompletedRows, stored.FailedRows
	}
	return nil
}

// steps moves a job through its lifecycle from wherever it stands.
func (p *Pool) steps(ctx, sctx context.Context, l bulkid.Lease, job *bulkid.Job, t *tally) error {
	// sp holds the records validation parsed, for processing in this run;
	// nil when the job was validated before (processing then parses again).
	var sp *spool
	defer func() { sp.close() }()
	if job.CancelRequested {
		// Canceled while no worker held it (released at a shutdown, or its
		// worker gone): nothing more runs.
		return &bulkid.Error{Code: bulkid.ECANCELED, Message: "The job was canceled before this worker claimed it."}
	}
	for {
		if ctx.Err() != nil {
			return errStopped
		}
		var err error
		// A queued job was started by its claim (ClaimJob): it comes here
		// validating.
		switch job.Status {
		case bulkid.StatusValidating:
			sp.close()
			if sp, err = p.validate(sctx, l, job); err == nil {
				p.countRows(t, t.rows, job.FailedRows)
			}
		case bulkid.StatusProcessing:
			if err = p.process(ctx, sctx, l, job, sp, t); err != nil {
				return err
			}
			if job.CompletedRows == 0 {
				job.Status = bulkid.StatusFailed
				return p.finish(sctx, l, bulkid.StatusFailed, "Every record of the job is invalid; see its errors.")
			}
			// The last batch moved the job to pending_refresh in its
			// transaction (ApplyBatch). A job resumed at processing with
			// its cursor at the end (written so by an older bulkid) goes
			// on to the refresh all the same: CompleteJob commits it with
			// the finish, so nothing is left half done.
			job.Status = bulkid.StatusPendingRefresh
		case bulkid.StatusPendingRefresh:
			// The refresh and the finish commit together: a crash before
			// their commit leaves the job pending_refresh with nothing
			// refreshed, for its next claim to run again, as before.
			job.Status = bulkid.StatusCompleted
			return p.complete(sctx, l, job, bulkid.StatusCompleted)
		default:
			return fmt.Errorf("job %s has status %q that no worker runs", job.ID, job.Status)
		}
		if err != nil {
			return err
		}
		p.metrics.JobStatus(job.Status)
	}
}

// complete refreshes the job's companies and ends it with status
// (completed or canceled) in one commit, reporting it.
func (p *Pool) complete(sctx context.Context, l bulkid.Lease, job *bulkid.Job, status bulkid.JobStatus) error {
	err := p.cfg.Store.CompleteJob(sctx, l, job.AppID, status)
	if err == nil {
		p.metrics.JobStatus(status)
	}
	return err
}

// finish ends the job with status, reporting it.
func (p *Pool) finish(sctx context.Context, l bulkid.Lease, status bulkid.JobStatus, reason string) error {
	err := p.cfg.Store.FinishJob(sctx, l, status, reason)
	if err == nil {
		p.metrics.JobStatus(status)
	}
	return err
}

// pageSize is how many input records validation reads at a time.
const pageSize = 1000

// validate checks every record and stores the invalid ones' errors. It
// writes every record's verdict to a spool that it returns (nil when the
// spool could not be made or written), so that processing does not read
// and parse the input again.
//
// It keeps both cores busy: a goroutine reads the next page of input
// while one is validated (readPages), and a page's records are validated
// by up to GOMAXPROCS goroutines (pageVerdicts.validate). The verdicts are
// spooled and the errors kept in input order, so what it stores is what
// validating one record after another would. About two pages are in hand
// at once: the one validated and the one read ahead. A store error stops
// it, and the reader has ended whenever it returns.
func (p *Pool) validate(sctx context.Context, l bulkid.Lease, job *bulkid.Job) (*spool, error) {
	rctx, cancel := context.WithCancel(sctx)
	pages := readPages(rctx, p.cfg.Store, job)
	defer func() {
		cancel()
		for range pages { // wait for the reader to end
		}
	}()
	sp := newSpool(p.cfg.SpoolDir)
	var errs []bulkid.RecordError
	var v pageVerdicts
	for from := 0; from < job.TotalRows; {
		pg, ok := <-pages
		if !ok { // the reader never ends before the input does
			pg.err = fmt.Errorf("job %s: input read stopped at record %d of %d", job.ID, from, job.TotalRows)
		}
		if pg.err == nil && len(pg.recs) == 0 {
			pg.err = fmt.Errorf("job %s: input ends at record %d of %d", job.ID, from, job.TotalRows)
		}
		if pg.err != nil {
			sp.close()
			return nil, pg.err
		}
		v.validate(job, pg.recs)
		for i, it := range v.items {
			if e := v.errs[i]; e != nil {
				errs = append(errs, *e)
			}
			if sp != nil {
				if err := sp.add(it); err != nil {
					p.spoolFailed(job, err)
					sp.close()
					sp = nil
				}
			}
		}
		from = pg.recs[len(pg.recs)-1].Seq + 1
	}
	if sp != nil {
		if err := sp.rewind(); err != nil {
			p.spoolFailed(job, err)
			sp.close()
			sp = nil
		}
	}
	if err := p.cfg.Store.FinishValidation(sctx, l, errs); err != nil {
		sp.close()
		return nil, err
	}
	job.Status, job.FailedRows = bulkid.StatusProcessing, len(errs)
	return sp, nil
}

// page is one read of a job's input: its records, or the error that
// stopped the read.
type page struct {
	recs []bulkid.RawRecord
	err  error
}

// readPages reads job's input a page at a time, from its first record, in
// a goroutine of its own, and sends each page (or the error of a read) on
// the channel it returns, which it closes once it has sent the input's
// last page, a read's error or an empty page, or when ctx is done. The
// channel is unbuffered: it reads one page ahead of what is received.
func readPages(ctx context.Context, st Store, job *bulkid.Job) <-chan page {
	ch := make(chan page)
	go func() {
		defer close(ch)
		for from := 0; from < job.TotalRows; {
			recs, err := st.JobRecords(ctx, job.ID, from, pageSize)
			select {
			case ch <- page{recs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(recs) == 0 {
				return
			}
			from = recs[len(recs)-1].Seq + 1
		}
	}()
	return ch
}

// pageVerdicts holds validate's verdicts on the records of one page, in
// their order: items[i] and, when records[i] is invalid, errs[i]. Its
// slices are reused from page to page.
type pageVerdicts struct {
	items []item
	errs  []*bulkid.RecordError
}

// minShare is the fewest records a goroutine of pageVerdicts.validate is
// given: below it, starting one costs more than it saves.
const minShare = 64

// validate gives the verdicts on recs, records of job, validating them on
// up to GOMAXPROCS goroutines, each a contiguous share.
func (v *pageVerdicts) validate(job *bulkid.Job, recs []bulkid.RawRecord) {
	n := len(recs)
	v.items, v.errs = slices.Grow(v.items[:0], n)[:n], slices.Grow(v.errs[:0], n)[:n]
	share := n
	if w := min(runtime.GOMAXPROCS(0), n/minShare); w > 1 {
		share = (n + w - 1) / w
	}
	one := func(from, to int) {
		for i := from; i < to; i++ {
			v.items[i], v.errs[i] = validateRecord(job, recs[i])
		}
	}
	var wg sync.WaitGroup
	for from := share; from < n; from += share {
		wg.Go(func() { one(from, min(from+share, n)) })
	}
	one(0, min(share, n))
	wg.Wait()
}

// validateRecord validates r, a record of job, with the job's rule for
// nested metadata (the job as stored, so a job resumed after a restart
// keeps it): its item for processing and, when it is invalid, its record
// error.
func validateRecord(job *bulkid.Job, r bulkid.RawRecord) (item, *bulkid.RecordError) {
	it := item{seq: r.Seq, rawLen: len(r.Raw)}
	// A JSON body's records were each checked well-formed as the body was
	// accepted, so they are not checked again.
	o := bulkid.ValidateOptions{Nested: job.Nested, WellFormed: job.Source == bulkid.SourceJSON}
	rec, rerr := bulkid.ValidateRecordOpts(job.Type, r.Raw, o)
	if rerr != nil {
		rerr.Seq, rerr.Pos = r.Seq, r.Pos
		if rerr.Raw == nil {
			rerr.Raw = r.Raw
		}
		return it, rerr
	}
	rec.Seq, rec.Pos, rec.Raw = r.Seq, r.Pos, r.Raw
	it.valid, it.rec = true, rec
	return it, nil
}

// spoolFailed logs that a job's spool failed: the job goes on, and its
// processing reads and parses the input again.
func (p *Pool) spoolFailed(job *bulkid.Job, err error) {
	p.cfg.Logger.Warn("spool of validated records failed; processing parses the input again", "job_id", job.ID, "err", err)
}

// throttle waits until the app's rate allows n more rows and takes them.
// At low rates a wait can outlast the lease, so it renews the lease as it
// waits.
func (p *Pool) throttle(ctx, sctx context.Context, l bulkid.Lease, appID int64, n int) error {
	for {
		wait, err := p.cfg.Store.ReserveRows(sctx, appID, n, p.cfg.RowsPerMinute, p.BatchSize())
		if err != nil || wait == 0 {
			return err
		}
		t := time.NewTimer(min(wait, p.cfg.LeaseTTL/3))
		select {
		case <-ctx.Done():
			t.Stop()
			return errStopped
		case <-t.C:
		}
		if err := p.cfg.Store.RenewLease(sctx, l); err != nil {
			return err
		}
	}
}

// process applies the valid records from the cursor on, one throttled batch
// per transaction. It takes them from sp, the spool validation wrote in this
// run, or, when sp is nil (the job was validated by an earlier run) or
// fails, reads the input from the store and parses it again.
func (p *Pool) process(ctx, sctx context.Context, l bulkid.Lease, job *bulkid.Job, sp *spool, t *tally) error {
	size := p.BatchSize()
	var read []item // records read from the cursor on, not yet applied
	for job.Cursor < job.TotalRows {
		if ctx.Err() != nil {
			return errStopped
		}
		if len(read) == 0 {
			if sp != nil {
				var err error
				if read, err = sp.read(job.Cursor, size); err != nil || len(read) == 0 {
					if err == nil {
						err = fmt.Errorf("spool ends at record %d of %d", job.Cursor, job.TotalRows)
					}
					p.spoolFailed(job, err)
					sp, read = nil, nil // steps closes it
				}
			}
			if sp == nil {
				raws, err := p.cfg.Store.JobRecords(sctx, job.ID, job.Cursor, size)
				if err != nil {
					return err
				}
				if len(raws) == 0 {
					return fmt.Errorf("job %s: input ends at record %d of %d", job.ID, job.Cursor, job.TotalRows)
				}
				read = make([]item, len(raws))
				for i, r := range raws {
					// Invalid records were counted as failed by validation.
					read[i], _ = validateRecord(job, r)
				}
			}
		}
		// A batch cut short by its bytes leaves the rest of what was read
		// for the next batches, so no record is read twice.
		n := cutAtBytes(read)
		batch := read[:n:n]
		read = read[n:]
		recs := make([]bulkid.Record, 0, len(batch))
		for _, it := range batch {
			if it.valid {
				recs = append(recs, it.rec)
			}
		}
		if p.cfg.RowsPerMinute > 0 && len(recs) > 0 {
			if err := p.throttle(ctx, sctx, l, job.AppID, len(recs)); err != nil {
				return err
			}
		}
		next := batch[len(batch)-1].seq + 1
		start := time.Now()
		if err := p.cfg.Store.ApplyBatch(sctx, l, job.Type, recs, job.Cursor, next); err != nil {
			return err
		}
		p.metrics.BatchApplied(time.Since(start))
		job.Cursor = next
		if p.cfg.Metrics != nil && job.Cursor < job.TotalRows {
			// Report the batch's rows now, not when a job of hours ends.
			if stored, err := p.cfg.Store.Job(sctx, job.AppID, job.ID); err == nil {
				p.countRows(t, stored.Rows, stored.FailedRows)
			}
		}
	}
	// The store may have refused records the profile bounds do not take,
	// counting them as failed: read what it counted.
	stored, err := p.cfg.Store.Job(sctx, job.AppID, job.ID)
	if err != nil {
		return err
	}
	job.CompletedRows, job.FailedRows, job.Rows = stored.CompletedRows, stored.FailedRows, stored.Rows
	p.countRows(t, stored.Rows, stored.FailedRows)
	return nil
}

// cutAtBytes returns how many of items (at least one) one batch applies:
// as many as fit in bulkid.MaxBatchBytes of records as sent, so that a
// batch of large records is a transaction of a few MiB, not a gigabyte
// that outlives its lease and holds SQLite's one writer meanwhile.
func cutAtBytes(items []item) int {
	total := 0
	for i, it := range items {
		total += it.rawLen
		if total > bulkid.MaxBatchBytes && i > 0 {
			return i
		}
	}
	return len(items)
}
