package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
)

// JobColumns are the columns ScanJob reads, in its order.
const JobColumns = `seq, id, app_id, type, status, source, filename, file_size, submitted_at, start_time, end_time,
	total_rows, completed_rows, failed_rows, cursor, error, created_rows, updated_rows, unchanged_rows, nested_metadata,
	cancel_requested`

// ScanJob reads a row of JobColumns: the job and its seq. The error is the
// driver's, for the caller to translate.
func ScanJob(row Row) (*bulkid.Job, int64, error) {
	var j bulkid.Job
	var seq int64
	var nested string
	err := row.Scan(&seq, &j.ID, &j.AppID, &j.Type, &j.Status, &j.Source, &j.Filename, &j.FileSize,
		(*timeDest)(&j.SubmittedAt), (*timeDest)(&j.StartTime), (*timeDest)(&j.EndTime),
		&j.TotalRows, &j.CompletedRows, &j.FailedRows, &j.Cursor, &j.Error,
		&j.Rows.Created, &j.Rows.Updated, &j.Rows.Unchanged, &nested, &j.CancelRequested)
	if err != nil {
		return nil, 0, err
	}
	if j.Nested, err = bulkid.ParseNestedRule(nested); err != nil {
		return nil, 0, err
	}
	return &j, seq, nil
}

const (
	companyColumns = "company_id, metadata, user_count, visible, created_at, updated_at"
	errorColumns   = "n, pos, rec_id, code, message, raw"
)

// queries are the read queries in one dialect.
type queries struct {
	ping, schemaVersion                         string
	activeJob, job, jobSeq, listJobs, jobErrors string
	jobRecords                                  string
	appByKeyHash, listApps                      string
	region                                      string
	company, listCompanies, listVisible, user   string
	lateralErrors                               string
}

func newQueries(d Dialect) *queries {
	r := d.Rebind
	return &queries{
		ping:          "SELECT 1",
		schemaVersion: "SELECT coalesce(max(version), 0) FROM schema_migrations",

		activeJob: r("SELECT " + JobColumns + " FROM jobs WHERE app_id = ? AND active = " + d.True),
		job:       r("SELECT " + JobColumns + " FROM jobs WHERE id = ? AND app_id = ?"),
		jobSeq:    r("SELECT seq FROM jobs WHERE id = ? AND app_id = ?"),
		listJobs:  r("SELECT " + JobColumns + " FROM jobs WHERE app_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"),
		jobErrors: r("SELECT " + errorColumns + " FROM job_errors WHERE job_seq = ? AND n >= ? ORDER BY n LIMIT ?"),

		jobRecords: r(`SELECT first, data FROM job_input
		WHERE job_seq = (SELECT seq FROM jobs WHERE id = ?) AND first + count > ? ORDER BY first`),

		appByKeyHash: r("SELECT id, name, created_at FROM apps WHERE key_hash = ?"),
		listApps:     "SELECT id, name, created_at FROM apps ORDER BY id",
		region:       "SELECT region FROM store_region",

		company:       r("SELECT " + companyColumns + " FROM companies WHERE app_id = ? AND company_id = ?"),
		listCompanies: r("SELECT " + companyColumns + " FROM companies WHERE app_id = ? AND company_id > ? ORDER BY company_id LIMIT ?"),
		listVisible: r("SELECT " + companyColumns + " FROM companies WHERE app_id = ? AND company_id > ? AND visible = " + d.True +
			" ORDER BY company_id LIMIT ?"),
		lateralErrors: r(lateralErrors),

		user: r("SELECT user_id, company_id, metadata, created_at, updated_at FROM users WHERE app_id = ? AND user_id = ?"),
	}
}

// Reader is the read side of a store over one Querier. Its methods are
// those of bulkid.Store that only read; a store embeds it.
type Reader struct {
	db Querier
	d  Dialect
	q  *queries
	ev eventQueries // events.go
}

// NewReader returns the read side over db in dialect d.
func NewReader(db Querier, d Dialect) *Reader {
	return &Reader{db: db, d: d, q: newQueries(d), ev: newEventQueries(d)}
}

// Ping checks that the database answers a query.
func (r *Reader) Ping(ctx context.Context) error {
	var one int
	return r.d.Err(r.db.QueryRow(ctx, r.q.ping).Scan(&one))
}

// AppliedMigration returns the version of the newest migration applied;
// each store's SchemaVersion sets it beside the latest it embeds.
func (r *Reader) AppliedMigration(ctx context.Context) (int, error) {
	var v int
	err := r.db.QueryRow(ctx, r.q.schemaVersion).Scan(&v)
	return v, r.d.Err(err)
}

// ActiveJob returns the app's unfinished job.
func (r *Reader) ActiveJob(ctx context.Context, appID int64) (*bulkid.Job, error) {
	j, _, err := ScanJob(r.db.QueryRow(ctx, r.q.activeJob, appID))
	return j, r.d.Err(err)
}

// Job returns one job of an app with its first record errors.
func (r *Reader) Job(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error) {
	j, seq, err := ScanJob(r.db.QueryRow(ctx, r.q.job, jobID, appID))
	if err != nil {
		return nil, r.d.Err(err)
	}
	if j.FailedRows == 0 {
		return j, nil // no record error to read
	}
	if j.Errors, err = r.jobErrors(ctx, seq, 0, bulkid.MaxJobErrors); err != nil {
		return nil, err
	}
	return j, nil
}

// ListJobs lists an app's jobs, newest first, each with its first record
// errors, which one query reads for the whole page.
func (r *Reader) ListJobs(ctx context.Context, appID int64, p bulkid.Page) ([]*bulkid.Job, error) {
	jobs, seqs, err := r.jobPage(ctx, appID, p)
	if err != nil {
		return nil, err
	}
	failed := map[int64]*bulkid.Job{} // the jobs with record errors, by seq
	for i, j := range jobs {
		if j.FailedRows > 0 {
			failed[seqs[i]] = j
		}
	}
	if err := r.pageErrors(ctx, failed); err != nil {
		return nil, err
	}
	return jobs, nil
}

// jobPage reads one page of an app's jobs, newest first, after the job
// p.After, without their record errors, and the seq of each.
func (r *Reader) jobPage(ctx context.Context, appID int64, p bulkid.Page) ([]*bulkid.Job, []int64, error) {
	before := int64(math.MaxInt64)
	if p.After != "" {
		err := r.db.QueryRow(ctx, r.q.jobSeq, p.After, appID).Scan(&before)
		if errors.Is(err, r.d.NoRows) {
			return nil, nil, bulkid.Errorf(bulkid.EINVALID, "The cursor does not name a job of this app.")
		} else if err != nil {
			return nil, nil, r.d.Err(err)
		}
	}
	rows, err := r.db.Query(ctx, r.q.listJobs, appID, before, max(p.Limit, 1))
	if err != nil {
		return nil, nil, r.d.Err(err)
	}
	defer rows.Close()
	var jobs []*bulkid.Job
	var seqs []int64
	for rows.Next() {
		j, seq, err := ScanJob(rows)
		if err != nil {
			return nil, nil, r.d.Err(err)
		}
		jobs, seqs = append(jobs, j), append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, r.d.Err(err)
	}
	return jobs, seqs, nil
}

// pageErrors fills in the first MaxJobErrors record errors of each job of
// jobs, keyed by seq, with one query for a page of up to pageJobs jobs.
// The queries do not sort (SQLite would copy the rows into a temporary
// b-tree to do it): each job's errors come in key order from its range,
// and are put in order here whatever the plan.
func (r *Reader) pageErrors(ctx context.Context, jobs map[int64]*bulkid.Job) error {
	seqs := slices.Sorted(maps.Keys(jobs))
	for len(seqs) > 0 {
		n := min(len(seqs), pageJobs)
		if err := r.someErrors(ctx, jobs, seqs[:n]); err != nil {
			return err
		}
		seqs = seqs[n:]
	}
	for _, j := range jobs {
		slices.SortFunc(j.Errors, func(a, b bulkid.RecordError) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	return nil
}

// pageJobs is how many jobs one query of pageErrors covers: a page of the
// API at most.
const pageJobs = 100

// The errors of a page of jobs: each job's first MaxJobErrors, read from
// the (job_seq, n) key and no further, in one query. The two databases
// need it said differently, the one read query where they do:
//
//   - PostgreSQL: a LATERAL join over the array of seqs, a LIMIT per
//     job, one text that is prepared once.
//   - SQLite has no LATERAL. The jobs are joined to their errors up to
//     each job's MaxJobErrors-th error, which a subquery finds from the
//     key; SQLite computes it once per job, as the bound of the range it
//     reads. PostgreSQL works the bound out again for every row instead,
//     or, handed the bounds first, hash-joins the whole table.
//
// A window function, ROW_NUMBER() OVER (PARTITION BY job_seq ORDER BY n)
// <= MaxJobErrors, says it once for both but ranks every error of every
// job before it keeps 100: for a page of 100 jobs of 1,000 errors it
// reads 100,000 rows, 190–250 ms on SQLite where a query per job took
// 32 ms, and 110–160 ms on PostgreSQL where the LATERAL form takes
// 15–25 ms (docs/BENCHMARKS.md).
const (
	lateralErrors = `SELECT ` + pageErrorColumns + ` FROM unnest(?::bigint[]) AS j (seq)
		CROSS JOIN LATERAL (SELECT job_seq, ` + errorColumns + ` FROM job_errors WHERE job_seq = j.seq ORDER BY n LIMIT ?) AS e`
	boundedErrors = `SELECT ` + pageErrorColumns + ` FROM jobs j JOIN job_errors e ON e.job_seq = j.seq
		AND e.n <= coalesce((SELECT x.n FROM job_errors x WHERE x.job_seq = j.seq ORDER BY x.n LIMIT 1 OFFSET ?), ?)
		WHERE j.seq IN (`
	pageErrorColumns = "e.job_seq, e.n, e.pos, e.rec_id, e.code, e.message, e.raw"
)

func (r *Reader) someErrors(ctx context.Context, jobs map[int64]*bulkid.Job, seqs []int64) error {
	var q string
	var args []any
	if r.d.Lateral {
		q, args = r.q.lateralErrors, []any{seqs, bulkid.MaxJobErrors}
	} else {
		q = boundedErrors + strings.Repeat("?, ", len(seqs)-1) + "?)"
		args = make([]any, 0, 2+len(seqs))
		args = append(args, bulkid.MaxJobErrors-1, math.MaxInt32)
		for _, seq := range seqs {
			args = append(args, seq)
		}
		q = r.d.Rebind(q)
	}
	rows, err := r.db.Query(ctx, q, args...)
	if err != nil {
		return r.d.Err(err)
	}
	defer rows.Close()
	var seq int64
	for rows.Next() {
		var e bulkid.RecordError
		if err := rows.Scan(&seq, &e.Seq, &e.Pos, &e.ID, &e.Code, &e.Message, &e.Raw); err != nil {
			return r.d.Err(err)
		}
		j := jobs[seq]
		j.Errors = append(j.Errors, e)
	}
	return r.d.Err(rows.Err())
}

// JobErrors returns a job's record errors in input order.
func (r *Reader) JobErrors(ctx context.Context, appID int64, jobID string, fromSeq, limit int) ([]bulkid.RecordError, error) {
	var seq int64
	if err := r.db.QueryRow(ctx, r.q.jobSeq, jobID, appID).Scan(&seq); err != nil {
		return nil, r.d.Err(err)
	}
	return r.jobErrors(ctx, seq, fromSeq, limit)
}

func (r *Reader) jobErrors(ctx context.Context, jobSeq int64, fromSeq, limit int) ([]bulkid.RecordError, error) {
	return r.queryErrors(ctx, r.q.jobErrors, jobSeq, fromSeq, limit)
}

// queryErrors runs q, a query of errorColumns, and reads its record errors.
func (r *Reader) queryErrors(ctx context.Context, q string, args ...any) ([]bulkid.RecordError, error) {
	rows, err := r.db.Query(ctx, q, args...)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	var errs []bulkid.RecordError
	for rows.Next() {
		var e bulkid.RecordError
		if err := rows.Scan(&e.Seq, &e.Pos, &e.ID, &e.Code, &e.Message, &e.Raw); err != nil {
			return nil, r.d.Err(err)
		}
		errs = append(errs, e)
	}
	return errs, r.d.Err(rows.Err())
}

// JobRecords returns a slice of a job's input.
func (r *Reader) JobRecords(ctx context.Context, jobID string, fromSeq, limit int) ([]bulkid.RawRecord, error) {
	rows, err := r.db.Query(ctx, r.q.jobRecords, jobID, fromSeq)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	recs := make([]bulkid.RawRecord, 0, min(limit, 4096))
	for len(recs) < limit && rows.Next() {
		var first int
		var data []byte
		if err := rows.Scan(&first, &data); err != nil {
			return nil, r.d.Err(err)
		}
		if recs, err = recordpack.Unpack(recs, first, data, fromSeq, limit); err != nil {
			return nil, err
		}
	}
	return recs, r.d.Err(rows.Err())
}

// AppByKeyHash finds the app of a key.
func (r *Reader) AppByKeyHash(ctx context.Context, keyHash []byte) (*bulkid.App, error) {
	var app bulkid.App
	err := r.db.QueryRow(ctx, r.q.appByKeyHash, keyHash).Scan(&app.ID, &app.Name, (*timeDest)(&app.CreatedAt))
	if err != nil {
		return nil, r.d.Err(err)
	}
	return &app, nil
}

// Region returns the store's region, "" if none was set.
func (r *Reader) Region(ctx context.Context) (string, error) {
	var region string
	err := r.db.QueryRow(ctx, r.q.region).Scan(&region)
	if errors.Is(err, r.d.NoRows) {
		return "", nil
	}
	return region, r.d.Err(err)
}

// ListApps lists every app, oldest first.
func (r *Reader) ListApps(ctx context.Context) ([]*bulkid.App, error) {
	rows, err := r.db.Query(ctx, r.q.listApps)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	var apps []*bulkid.App
	for rows.Next() {
		var app bulkid.App
		if err := rows.Scan(&app.ID, &app.Name, (*timeDest)(&app.CreatedAt)); err != nil {
			return nil, r.d.Err(err)
		}
		apps = append(apps, &app)
	}
	return apps, r.d.Err(rows.Err())
}

func scanCompany(row Row) (*bulkid.Company, error) {
	var c bulkid.Company
	if err := row.Scan(&c.ID, (*textDest)(&c.Metadata), &c.UserCount, &c.Visible, (*timeDest)(&c.CreatedAt), (*timeDest)(&c.UpdatedAt)); err != nil {
		return nil, err
	}
	return &c, nil
}

// Company returns one company of an app.
func (r *Reader) Company(ctx context.Context, appID int64, companyID string) (*bulkid.Company, error) {
	c, err := scanCompany(r.db.QueryRow(ctx, r.q.company, appID, companyID))
	return c, r.d.Err(err)
}

// ListCompanies lists an app's companies by id.
func (r *Reader) ListCompanies(ctx context.Context, appID int64, p bulkid.Page, all bool) ([]*bulkid.Company, error) {
	q := r.q.listVisible
	if all {
		q = r.q.listCompanies
	}
	rows, err := r.db.Query(ctx, q, appID, p.After, p.Limit)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	var out []*bulkid.Company
	for rows.Next() {
		c, err := scanCompany(rows)
		if err != nil {
			return nil, r.d.Err(err)
		}
		out = append(out, c)
	}
	return out, r.d.Err(rows.Err())
}

// User returns one user of an app.
func (r *Reader) User(ctx context.Context, appID int64, userID string) (*bulkid.User, error) {
	var u bulkid.User
	var company *string
	err := r.db.QueryRow(ctx, r.q.user, appID, userID).
		Scan(&u.ID, &company, (*textDest)(&u.Metadata), (*timeDest)(&u.CreatedAt), (*timeDest)(&u.UpdatedAt))
	if err != nil {
		return nil, r.d.Err(err)
	}
	if company != nil {
		u.CompanyID = *company
	}
	return &u, nil
}
