package bulkid

import "context"

// DashboardStore is what the dashboard reads beyond JobStore and
// ProfileStore: counts, searches and listings with keyset cursors that
// stay fast at a million companies. Both SQL stores implement it
// (internal/sqlstore/dashboard.go); storetest/dashboard.go pins it.
type DashboardStore interface {
	// CountCompanies counts the app's visible companies, or the hidden ones
	// (stored, no user yet) if visible is false, up to limit (no bound if
	// limit is 0): a count of limit means "limit or more". A count reads
	// an index entry a company, so a bound keeps it fast at any size.
	CountCompanies(ctx context.Context, appID int64, visible bool, limit int64) (int64, error)
	// CountUsers counts the app's users.
	CountUsers(ctx context.Context, appID int64) (int64, error)
	// SearchCompanies returns one page of the app's companies as q selects
	// and orders them. Returns EINVALID if q.After is not a cursor of q's
	// order.
	SearchCompanies(ctx context.Context, appID int64, q CompanyQuery) (*CompanyPage, error)
	// CompanyUsers returns the users associated with the company, by id,
	// after p.After. An unknown company has none.
	CompanyUsers(ctx context.Context, appID int64, companyID string, p Page) ([]*User, error)
	// SearchUsers returns the app's users whose id begins with prefix, by
	// id, after p.After.
	SearchUsers(ctx context.Context, appID int64, prefix string, p Page) ([]*User, error)
	// JobSummary is JobStore.Job without the record errors (Job.Errors
	// nil): a page of jobs or a poll of progress reads no record as sent.
	// Returns ENOTFOUND if the job does not exist or belongs to another app.
	JobSummary(ctx context.Context, appID int64, jobID string) (*Job, error)
	// JobSummaries is JobStore.ListJobs without the record errors.
	// Returns EINVALID if p.After is not a job of this app.
	JobSummaries(ctx context.Context, appID int64, p Page) ([]*Job, error)
	// JobErrorCodes counts the job's record errors by code, ordered by code.
	// Returns ENOTFOUND if the job does not exist or belongs to another app.
	JobErrorCodes(ctx context.Context, appID int64, jobID string) ([]CodeCount, error)
	// JobErrorsByCode is JobErrors with only the errors of code.
	// Returns ENOTFOUND if the job does not exist or belongs to another app.
	JobErrorsByCode(ctx context.Context, appID int64, jobID, code string, fromSeq, limit int) ([]RecordError, error)
}

// CompanySort orders a company listing.
type CompanySort string

const (
	SortByID      CompanySort = "id"      // company_id ascending (bytewise)
	SortByUpdated CompanySort = "updated" // last update, newest first, then company_id descending
)

// CompanyQuery selects a page of companies.
type CompanyQuery struct {
	Hidden   bool   // the companies stored with no user yet, instead of the visible ones
	IDPrefix string // only ids that begin with it ("" for all)
	// Property and Value, when Property is not "", keep only companies
	// whose metadata has Property with Value as its text: a string equal
	// to Value, or a number or boolean whose JSON text is Value.
	Property, Value string
	Sort            CompanySort // SortByID if ""
	After           string      // the CompanyPage.Next of the previous page, "" for the first
	Limit           int         // at most this many companies; callers clamp it
}

// MaxCompanyScan is how many companies one SearchCompanies call with a
// property filter examines at most: no index serves an arbitrary property,
// so a page of a rare value ends after this many, with Next set to go on,
// instead of reading a million rows in one request.
const MaxCompanyScan = 5000

// CompanyPage is one page of SearchCompanies.
type CompanyPage struct {
	Companies []*Company
	// Next is the cursor of the following page; "" when the listing has no
	// more. With a property filter a page may be short, even empty, and
	// still have a Next: it stopped after MaxCompanyScan companies.
	Next string
	// Scanned is how many companies the call examined.
	Scanned int
}

// CodeCount is how many record errors of one code a job has.
type CodeCount struct {
	Code  string
	Count int
}
