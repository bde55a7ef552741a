package bulkid

import (
	"context"
	"time"
)

// Store is everything the service keeps. Each backend (sqlite, and postgres
// later) implements it and runs the conformance suite in storetest.
// Unless a method says otherwise, errors are *Error values with the codes
// named in its comment, or EINTERNAL/EUNAVAILABLE for store failures.
type Store interface {
	AppStore
	JobStore
	ProfileStore
	WorkStore
	EventStore
	DeleteStore
	RetentionStore
	IdempotencyStore
	WebhookStore
	RegionStore

	// Ping returns nil when the store can be reached.
	Ping(ctx context.Context) error
	// SchemaVersion reads the migration the database's schema is at and
	// the latest this binary embeds; /readyz reports a difference.
	// Returns EUNAVAILABLE if the store cannot be reached.
	SchemaVersion(ctx context.Context) (SchemaVersion, error)
	// Close releases the store's connections.
	Close() error
}

// SchemaVersion is where a store's schema stands: Applied is the highest
// migration the database has had applied, Latest the highest this binary
// embeds. Open applies what is missing, so they differ only when the
// database changed under a running process: restored from an older
// backup (Applied below Latest), or migrated by a newer bulkid sharing
// it (Applied above Latest).
type SchemaVersion struct {
	Applied, Latest int
}

// Current reports whether the schema is the one this binary was built for.
func (v SchemaVersion) Current() bool { return v.Applied == v.Latest }

// AppStore keeps apps and the hashes of their API keys.
type AppStore interface {
	// CreateApp stores a new app reached by the key whose SHA-256 is keyHash.
	// Returns ECONFLICT if another app has the same name (names are
	// unique; the message names it) or the same key hash.
	CreateApp(ctx context.Context, name string, keyHash []byte) (*App, error)
	// CreateFirstApp creates an app as CreateApp does if the store has no
	// app at all, atomically, so that processes starting together create
	// one first app between them. created is false, and app nil, if an app
	// already existed.
	CreateFirstApp(ctx context.Context, name string, keyHash []byte) (app *App, created bool, err error)
	// AppByKeyHash returns the app whose key hashes to keyHash.
	// Returns ENOTFOUND if there is none.
	AppByKeyHash(ctx context.Context, keyHash []byte) (*App, error)
	// ListApps returns every app, oldest first.
	ListApps(ctx context.Context) ([]*App, error)
	// SetAppKey replaces the app's key hash: the old key stops working at
	// once. Returns ENOTFOUND if there is no such app, ECONFLICT if another
	// app has that hash.
	SetAppKey(ctx context.Context, appID int64, keyHash []byte) error
}

// JobStore accepts jobs and answers what clients ask about them.
type JobStore interface {
	// CreateJob stores job, whose ID the caller chose, with status queued and
	// all its records in one transaction, and sets job.SubmittedAt,
	// job.Status and job.TotalRows (input.Len()). Returns ECONFLICT, with
	// Error.Job set to the unfinished job, if the app already has a job that
	// is not final: one job at a time per app is enforced here.
	CreateJob(ctx context.Context, job *Job, input JobInput) error
	// Job returns one job of the app with its first MaxJobErrors record
	// errors. Returns ENOTFOUND if it does not exist or belongs to another app.
	Job(ctx context.Context, appID int64, jobID string) (*Job, error)
	// ActiveJob returns the app's unfinished job. Returns ENOTFOUND if none.
	ActiveJob(ctx context.Context, appID int64) (*Job, error)
	// ListJobs returns the app's jobs newest first, each with its first
	// MaxJobErrors record errors, starting after the cursor p.After (a job ID,
	// "" for the first page).
	// Returns EINVALID if p.After is not a job of this app.
	ListJobs(ctx context.Context, appID int64, p Page) ([]*Job, error)
	// JobErrors returns the job's record errors in input order, those with
	// Seq >= fromSeq, at most limit of them.
	// Returns ENOTFOUND if the job does not exist or belongs to another app.
	JobErrors(ctx context.Context, appID int64, jobID string, fromSeq, limit int) ([]RecordError, error)
	// CancelJob asks to cancel one job of the app and returns it as Job
	// does, CancelRequested set. A queued job is canceled at once, in the
	// same transaction: status canceled, end_time set, its input dropped,
	// and the app free for its next job. A validating, processing or
	// pending_refresh job only has its cancel recorded: its worker's next
	// write (the end of its validation, a batch, a renewal) is refused
	// with ECANCELED, and the worker finishes it canceled, keeping what it
	// applied. A job already canceled is returned as it is. Returns
	// EJOBFINISHED, with Error.Job set, for a completed or failed job, and
	// ENOTFOUND if it does not exist or belongs to another app.
	CancelJob(ctx context.Context, appID int64, jobID string) (*Job, error)
}

// JobInput is a job's records as CreateJob stores them: packed in chunks
// of consecutive records (internal/recordpack), in Seq order from 0. The
// data passed to fn is valid only during the call.
type JobInput interface {
	Len() int
	Chunks(fn func(first, count int, data []byte) error) error
}

// Page selects one page of a listing ordered by a unique key.
type Page struct {
	Limit int    // at most this many items; callers clamp it
	After string // the key of the last item of the previous page, "" for the first
}

// ProfileStore answers reads of stored companies and users.
type ProfileStore interface {
	// Company returns one company. Returns ENOTFOUND if the app has none with that id.
	Company(ctx context.Context, appID int64, companyID string) (*Company, error)
	// ListCompanies returns companies ordered by id, after p.After; only
	// visible ones (at least one user) unless all is true.
	ListCompanies(ctx context.Context, appID int64, p Page, all bool) ([]*Company, error)
	// User returns one user. Returns ENOTFOUND if the app has none with that id.
	User(ctx context.Context, appID int64, userID string) (*User, error)
	// Identify applies company records, then user records, at once and
	// outside any job (the real-time identify endpoints), in order and in
	// one transaction, and refreshes the user counts they change.
	Identify(ctx context.Context, appID int64, companies, users []Record) error
}

// EventStore keeps the events of the track endpoint.
type EventStore interface {
	// Track stores ev for the app at once, in one transaction with the
	// creation of its user (empty metadata) if the app has no user
	// ev.UserID; ev.UserID "" stores an event of no user, counted in the
	// totals and listed for no user. A user that exists is not written.
	// It sets ev.Seq. ev.ReceivedAt is set by the caller; both times are
	// kept to the millisecond, and Track rounds them down in ev as stored.
	Track(ctx context.Context, appID int64, ev *Event) error
	// UserEvents returns the user's events newest first, only those named
	// name unless name is "", after the cursor p.After (an event's Seq in
	// decimal, "" for the first page). Returns ENOTFOUND if the app has no
	// such user, EINVALID if p.After is not a decimal Seq.
	UserEvents(ctx context.Context, appID int64, userID, name string, p Page) ([]*Event, error)
	// EventTotals returns the app's event counts by name, ordered by name.
	EventTotals(ctx context.Context, appID int64) ([]EventTotal, error)
}

// DeleteStore removes profiles at once (DELETE /v1/users and
// /v1/companies). Each call is one transaction, ordered with real-time
// writes and a running job's batches as transactions are; on PostgreSQL it
// takes locks in the order every writer does (the app's lock, then the
// users, sorted by id; then the event totals it changes, sorted by name). A
// profile applied after a delete is created afresh.
type DeleteStore interface {
	// DeleteUsers removes the app's users with these ids, their events and
	// their company association, and refreshes the user count and
	// visibility of the companies they belonged to. Ids the app does not
	// have are skipped, and an id named twice counts once. It returns how
	// many users were removed.
	DeleteUsers(ctx context.Context, appID int64, ids []string) (int, error)
	// DeleteCompanies removes the app's companies with these ids and ends
	// their users' association (the users stay, with no company, and
	// their updated_at moves). Ids the app does not have are skipped, and
	// an id named twice counts once. It returns how many were removed.
	DeleteCompanies(ctx context.Context, appID int64, ids []string) (int, error)
}

// RetentionStore prunes what is kept for a time only. Each call is one
// transaction that removes at most limit rows, so that it never holds long
// locks; callers call again until it returns fewer than limit. Any number
// of processes may call them at once on one store.
type RetentionStore interface {
	// PruneJobs removes finished jobs (completed, failed, canceled) whose
	// end_time is more than age before now (the store's clock), with their
	// staged input and record errors, oldest first; a job with many errors
	// may take several calls, its errors going first and the job last.
	// It returns how many rows it removed. Profiles are never pruned.
	PruneJobs(ctx context.Context, age time.Duration, limit int) (int, error)
	// PruneEvents removes events received more than age before now, oldest
	// first, and takes them off the event totals (a name whose count
	// reaches zero leaves the totals). It returns how many it removed.
	PruneEvents(ctx context.Context, age time.Duration, limit int) (int, error)
}

// Lease is a worker's claim on a job. Every WorkStore write checks it and
// returns ELEASELOST if the job is no longer held by Owner, so two workers
// never apply the same job.
type Lease struct {
	JobID string
	Owner string
	TTL   time.Duration // how long each renewal holds the job
}

// WorkStore is what workers use to run jobs. Every write renews the lease.
type WorkStore interface {
	// ClaimJob leases the oldest unfinished job that no live lease holds.
	// A queued job is started by its claim, in the same transaction: it
	// moves to validating with start_time set, is returned so, and started
	// is true; a job claimed again (its lease ran out or was released) is
	// returned as it stands, started false.
	// Returns ENOTFOUND if there is none.
	ClaimJob(ctx context.Context, owner string, ttl time.Duration) (job *Job, started bool, err error)
	// ReserveRows takes n rows from the app's rate, rowsPerMinute in bursts
	// of at most burst rows, by bulkid.ReserveRows on the app's stored state
	// in one transaction, so the rate holds across processes. It returns 0
	// if the rows may go now, or how long to wait before asking again.
	// Returns ENOTFOUND if the app does not exist.
	ReserveRows(ctx context.Context, appID int64, n, rowsPerMinute, burst int) (time.Duration, error)
	// RenewLease extends the lease. Returns ELEASELOST, or ECANCELED if
	// a client canceled the job (JobStore.CancelJob): the worker then
	// finishes it canceled with CompleteJob, which refreshes the companies
	// too. FinishValidation and ApplyBatch return ECANCELED too, writing
	// nothing; ReleaseJob, FinishJob and CompleteJob do not.
	RenewLease(ctx context.Context, l Lease) error
	// ReleaseJob gives the job back for another worker to claim at once
	// (on shutdown). Returns ELEASELOST.
	ReleaseJob(ctx context.Context, l Lease) error
	// JobRecords returns the job's input records with Seq >= fromSeq in
	// order, at most limit of them.
	JobRecords(ctx context.Context, jobID string, fromSeq, limit int) ([]RawRecord, error)
	// FinishValidation replaces the job's record errors with errs, sets
	// failed_rows to their count and moves the job to processing, at once.
	// Returns ELEASELOST.
	FinishValidation(ctx context.Context, l Lease, errs []RecordError) error
	// ApplyBatch applies recs in order (create or merge; for users also the
	// company association) and, in the same transaction, adds len(recs) to
	// completed_rows and moves the cursor from fromCursor to toCursor. The
	// batch that takes the cursor to total_rows also moves the job to
	// pending_refresh in its transaction if any of its rows completed
	// (completed_rows > 0); a job with none stays processing, for the
	// worker to finish failed.
	// Returns ELEASELOST, also if the cursor is no longer fromCursor.
	ApplyBatch(ctx context.Context, l Lease, t JobType, recs []Record, fromCursor, toCursor int) error
	// FinishJob moves the job to a final status with reason (for failed),
	// sets end_time, drops its input records and ends the lease. A job
	// whose cancel was requested that would end completed ends canceled:
	// a cancel accepted ends canceled unless the job fails. In the same
	// transaction it creates a pending delivery, due at once, for each
	// webhook of the job's app subscribed to JobEvent(status)
	// (WebhookStore), so that no ended job misses its webhooks.
	// Returns ELEASELOST.
	FinishJob(ctx context.Context, l Lease, status JobStatus, reason string) error
	// CompleteJob refreshes the companies of the job's app, appID (adds
	// to user_count and visibility of the companies whose associations
	// changed since the last refresh what the changes left), then is
	// FinishJob(status, no reason), in one transaction, status being
	// completed or canceled: a crash leaves both or neither, so the job
	// resumes where it stood, and the refresh's changes are added once.
	// Returns ELEASELOST.
	CompleteJob(ctx context.Context, l Lease, appID int64, status JobStatus) error
}
