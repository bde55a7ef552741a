package bulkid

import (
	"encoding/json"
	"time"
)

// Limits of one bulk request, as the public API documents them.
const (
	MaxRecords = 10_000   // records per JSON body or NDJSON file
	MaxBytes   = 50 << 20 // bytes per upload: 50 MB read as MiB, the larger reading, so no file the hosted service takes is refused
	MaxIDLen   = 512      // bytes in a company_id or user_id
	// MaxDepth is how deeply arrays and objects may nest in a record, the
	// record's own braces counted: deeper JSON is refused as malformed
	// before it is parsed, so no parser recurses without bound. It is below
	// the 300 levels the record parser (fastjson) takes.
	MaxDepth = 256
	// MaxMetadataKeys is how many members a record's metadata may have: a
	// bound on what one record may ask of a profile, far beyond what a CRM
	// sync sends.
	MaxMetadataKeys = 1000
	// MaxProfileKeys and MaxProfileBytes bound what one profile (a company
	// or a user) holds: metadata keys, and bytes of its metadata as
	// compact JSON. A record whose merge would take its profile over
	// either is not applied and fails alone (RProfileTooLarge), so that no
	// profile grows without bound, however many records add to it. One
	// record of at most MaxMetadataKeys keys into an empty profile always
	// fits the key bound; records that shrink a profile, or leave its size
	// as it is, always apply.
	MaxProfileKeys  = 2000
	MaxProfileBytes = 1 << 20
	// MaxBatchBytes bounds the records one batch transaction applies, by
	// the bytes sent: the worker cuts a batch there as well as at its
	// row count, so no transaction writes a gigabyte and outlives its
	// lease or holds SQLite's one writer for long.
	MaxBatchBytes = 4 << 20
	// MaxRecordBytes is the size of one record: an array element, an NDJSON
	// line or a real-time identify body. Readers never hold more of a
	// record than this, so memory is bounded per request whatever a client
	// sends: a 40 MB line cost about 600 MiB to accept and apply before.
	// Profile stores of the kind cap an event or profile update at the
	// same order (1 MB); metadata of primitives rarely comes near it.
	MaxRecordBytes = 1 << 20
)

// App is an account: it owns its jobs, companies and users and is reached
// with its API key. The key itself is never stored, only its hash.
type App struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// Company is a company profile as stored.
type Company struct {
	ID        string          // the client's company_id
	Metadata  json.RawMessage // a JSON object of primitives
	UserCount int             // users associated, as of the last refresh
	Visible   bool            // shown on the dashboard: UserCount > 0
	CreatedAt time.Time
	UpdatedAt time.Time
}

// User is a user profile as stored.
type User struct {
	ID        string // the client's user_id
	CompanyID string // "" when not associated
	Metadata  json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// JobType says what a job's records are.
type JobType string

const (
	JobCompanies JobType = "companies"
	JobUsers     JobType = "users"
)

// IDField is the name of the record field that identifies a profile.
func (t JobType) IDField() string {
	if t == JobUsers {
		return "user_id"
	}
	return "company_id"
}

// JobStatus is a job's place in its lifecycle:
// queued → validating → processing → pending_refresh → completed, or failed;
// or canceled, from any unfinished status, when a client cancels it (an
// extension of the documented statuses).
type JobStatus string

const (
	StatusQueued         JobStatus = "queued"
	StatusValidating     JobStatus = "validating"
	StatusProcessing     JobStatus = "processing"
	StatusPendingRefresh JobStatus = "pending_refresh"
	StatusCompleted      JobStatus = "completed"
	StatusFailed         JobStatus = "failed"
	StatusCanceled       JobStatus = "canceled"
)

// Final reports whether no more work will happen on a job in this status.
func (s JobStatus) Final() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCanceled
}

// Source says how a job's records arrived, which decides how their positions
// read: an index into a JSON array, or a line of an NDJSON or CSV file.
type Source string

const (
	SourceJSON   Source = "json"
	SourceNDJSON Source = "ndjson"
	// SourceCSV is a CSV file of POST /v1/imports: its records are its rows
	// converted to JSON, each at the line its row starts on (the header is
	// line 1, so the first row is line 2 or later).
	SourceCSV Source = "csv"
)

// Job is a background job: one bulk request and the progress of applying it.
type Job struct {
	ID            string // UUID
	AppID         int64
	Type          JobType
	Status        JobStatus
	Source        Source
	Filename      string // uploads only
	FileSize      int64  // bytes of the body as decoded, or of a multipart upload's file part
	SubmittedAt   time.Time
	StartTime     time.Time // zero until a worker starts it
	EndTime       time.Time // zero until it is final
	TotalRows     int
	CompletedRows int
	FailedRows    int
	// Rows says what the completed rows did: created, updated or left
	// unchanged a profile. Its counts add up to CompletedRows.
	Rows RowCounts
	// Cursor is how many records (in input order) have been applied or
	// skipped as invalid; the worker resumes from here after a restart.
	Cursor int
	// Error says why the job as a whole failed.
	Error string
	// Errors holds the first record errors (see MaxJobErrors), filled by
	// JobStore.Job and ListJobs.
	Errors []RecordError
	// CancelRequested says a client asked to cancel the job (JobStore.CancelJob):
	// a worker stops it at its next batch boundary, and it ends canceled.
	CancelRequested bool
	// Nested is what the job's records' nested metadata becomes: the
	// ?nested= of its request, kept with the job so the worker validates
	// with it, also after a restart.
	Nested NestedRule
}

// MaxJobErrors is how many record errors a job object carries; the errors
// endpoint streams all of them.
const MaxJobErrors = 100

// Elapsed is how long the job has run: from its start to its end, or to now
// while it runs, and zero before it starts.
func (j *Job) Elapsed(now time.Time) time.Duration {
	switch {
	case j.StartTime.IsZero():
		return 0
	case !j.EndTime.IsZero():
		return j.EndTime.Sub(j.StartTime)
	default:
		return max(0, now.Sub(j.StartTime))
	}
}

// Remaining estimates how long an unfinished job still needs: the rows left
// at rowsPerMinute, or, unthrottled, at the speed seen so far. ok is false
// when there is no basis for an estimate yet.
func (j *Job) Remaining(rowsPerMinute int, now time.Time) (d time.Duration, ok bool) {
	if j.Status.Final() {
		return 0, true
	}
	left := j.TotalRows - j.CompletedRows - j.FailedRows
	if left < 0 {
		left = 0
	}
	if rowsPerMinute > 0 {
		return time.Duration(float64(left) / float64(rowsPerMinute) * float64(time.Minute)), true
	}
	el := j.Elapsed(now)
	if j.CompletedRows == 0 || el <= 0 {
		return 0, false
	}
	return time.Duration(float64(left) * float64(el) / float64(j.CompletedRows)), true
}

// Event is one call of the track endpoint, as stored.
type Event struct {
	Seq        int64           // orders the app's events; the listing cursor
	UserID     string          // "" for an event sent without a user_id
	Name       string          // the event_name
	Metadata   json.RawMessage // a JSON object of primitives, as validated
	ReceivedAt time.Time       // when the server received it
	SentAt     time.Time       // the client's timestamp; zero if none was sent
}

// EventTotal is how many events of one name an app holds.
type EventTotal struct {
	Name   string
	Count  int64
	LastAt time.Time // ReceivedAt of the newest
}
