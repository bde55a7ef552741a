package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/sqlstore"
)

var (
	errLeaseLost = &bulkid.Error{Code: bulkid.ELEASELOST, Message: "The job is no longer held by this worker."}
	errCanceled  = &bulkid.Error{Code: bulkid.ECANCELED, Message: "The job was canceled by a client; finish it canceled."}
)

// ClaimJob leases the oldest unfinished job that no live lease holds,
// starting it if it is queued.
func (db *DB) ClaimJob(ctx context.Context, owner string, ttl time.Duration) (*bulkid.Job, bool, error) {
	now := db.now()
	// Idle workers poll: look on the read pool first so that finding
	// nothing never takes the single write connection.
	var one int
	err := db.read.QueryRowContext(ctx, `SELECT 1 FROM jobs
		WHERE active = 1 AND (lease_until IS NULL OR lease_until < ?) LIMIT 1`, ms(now)).Scan(&one)
	if err != nil {
		return nil, false, interpretError(err)
	}
	var job *bulkid.Job
	var started bool
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		j, _, err := sqlstore.ScanJob(tx.QueryRowContext(ctx, "SELECT "+sqlstore.JobColumns+` FROM jobs
			WHERE active = 1 AND (lease_until IS NULL OR lease_until < ?) ORDER BY seq LIMIT 1`, ms(now)))
		if err != nil {
			return err
		}
		q, args := "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = ?", []any{owner, ms(now.Add(ttl)), j.ID}
		started = j.Status == bulkid.StatusQueued
		if started {
			// The claim starts the job: one commit, not two (issue 14).
			// Never before the job was submitted: the clock was read
			// before this transaction waited for the write connection,
			// and a job submitted meanwhile is claimable here.
			start := time.UnixMilli(max(ms(now), ms(j.SubmittedAt))).UTC()
			q = "UPDATE jobs SET lease_owner = ?, lease_until = ?, status = ?, start_time = ? WHERE id = ?"
			args = []any{owner, ms(now.Add(ttl)), bulkid.StatusValidating, ms(start), j.ID}
			j.Status, j.StartTime = bulkid.StatusValidating, start
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		job = j
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return job, started, nil
}

// leased runs an UPDATE of the job row guarded by the lease, renewing it;
// set is the SET list without the lease columns, args its arguments.
func (db *DB) leased(ctx context.Context, tx *sql.Tx, l bulkid.Lease, set string, args ...any) error {
	return db.leasedWhere(ctx, tx, l, set, args, "")
}

// leasedWhere is leased with an extra condition on the row, cond, whose
// arguments are condArgs.
func (db *DB) leasedWhere(ctx context.Context, tx *sql.Tx, l bulkid.Lease, set string, setArgs []any, cond string, condArgs ...any) error {
	q := "UPDATE jobs SET lease_until = ?"
	a := []any{ms(db.now().Add(l.TTL))}
	if set != "" {
		q += ", " + set
		a = append(a, setArgs...)
	}
	q += " WHERE id = ? AND lease_owner = ? AND active = 1"
	a = append(a, l.JobID, l.Owner)
	if cond != "" {
		q += " AND " + cond
		a = append(a, condArgs...)
	}
	res, err := tx.ExecContext(ctx, q, a...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return errLeaseLost
	}
	return nil
}

// stoppable is leasedWhere for the writes a cancel stops: it refuses them
// with errCanceled once a client canceled the job.
func (db *DB) stoppable(ctx context.Context, tx *sql.Tx, l bulkid.Lease, set string, setArgs []any, cond string, condArgs ...any) error {
	if cond != "" {
		cond += " AND "
	}
	err := db.leasedWhere(ctx, tx, l, set, setArgs, cond+"cancel_requested = 0", condArgs...)
	if err != errLeaseLost {
		return err
	}
	var canceled bool
	switch qerr := tx.QueryRowContext(ctx, "SELECT cancel_requested FROM jobs WHERE id = ? AND lease_owner = ? AND active = 1",
		l.JobID, l.Owner).Scan(&canceled); {
	case qerr == sql.ErrNoRows:
		return errLeaseLost
	case qerr != nil:
		return qerr
	case canceled:
		return errCanceled
	}
	return errLeaseLost
}

// RenewLease extends a lease.
func (db *DB) RenewLease(ctx context.Context, l bulkid.Lease) error {
	return db.inTx(ctx, func(tx *sql.Tx) error { return db.stoppable(ctx, tx, l, "", nil, "") })
}

// ReleaseJob ends a lease so that any worker may claim the job at once.
func (db *DB) ReleaseJob(ctx context.Context, l bulkid.Lease) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.leased(ctx, tx, l, ""); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE id = ?", l.JobID)
		return err
	})
}

// ReleaseAllLeases gives back every job's lease, so that the jobs a
// crashed process was running resume at once rather than when their leases
// run out, and returns how many there were; the leases of webhook
// deliveries go too. Call it only when no other
// process can be running jobs on the database: `bulkid serve` does, at
// start, holding the data directory's lock.
func (db *DB) ReleaseAllLeases(ctx context.Context) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE active = 1 AND lease_owner IS NOT NULL")
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// Webhook deliveries cut off mid-attempt are tried again at once too.
		_, err = tx.ExecContext(ctx, "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE status = 'pending' AND lease_owner IS NOT NULL")
		return err
	})
	return n, err
}

// FinishValidation records the job's invalid records and moves it to processing.
func (db *DB) FinishValidation(ctx context.Context, l bulkid.Lease, errs []bulkid.RecordError) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.stoppable(ctx, tx, l, "status = ?, failed_rows = ?", []any{bulkid.StatusProcessing, len(errs)}, ""); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, "SELECT seq FROM jobs WHERE id = ?", l.JobID).Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM job_errors WHERE job_seq = ?", seq); err != nil {
			return err
		}
		return insertErrors(ctx, tx, seq, errs)
	})
}

// Records are merged in Go by bulkid.ApplyRecords, which gives each
// record its own verdict against the profile bounds: the store reads the
// profiles a batch names, once each, and writes each one once. SQLite's
// single write connection serializes writers, so nothing read here can
// change before the transaction commits.
const (
	selectUsers     = `SELECT user_id, company_id, metadata FROM users WHERE app_id = ? AND user_id ` + idsIn
	selectCompanies = `SELECT company_id, metadata FROM companies WHERE app_id = ? AND company_id ` + idsIn
	insertCompanies = `INSERT INTO companies (app_id, company_id, metadata, created_at, updated_at) VALUES `
	upsertCompany   = ` ON CONFLICT (app_id, company_id) DO UPDATE SET metadata = excluded.metadata, updated_at = excluded.updated_at`
	insertUsers     = `INSERT INTO users (app_id, user_id, company_id, metadata, created_at, updated_at) VALUES `
	upsertUser      = ` ON CONFLICT (app_id, user_id) DO UPDATE SET company_id = excluded.company_id, metadata = excluded.metadata, updated_at = excluded.updated_at`
	// addChanges adds changes of user counts, a JSON array of
	// countChange objects, to those waiting in company_refresh ("WHERE
	// true" ends the SELECT, which SQLite's upsert needs).
	addChanges = `INSERT INTO company_refresh AS r (app_id, company_id, delta)
		SELECT ?, value ->> '$.c', value ->> '$.d' FROM json_each(?) WHERE true
		ON CONFLICT (app_id, company_id) DO UPDATE SET delta = r.delta + excluded.delta`
)

// countChange is one company's change of user count, as addChanges reads
// it (a struct, not a pair of values: no value boxed for the encoder).
type countChange struct {
	Company string `json:"c"`
	Delta   int    `json:"d"`
}

// markDirty adds the changes of user counts deltas[i] of the companies
// ids[i] to company_refresh, leaving out those that change nothing.
func markDirty(ctx context.Context, tx *sql.Tx, appID int64, ids []string, deltas []int) error {
	changes := make([]countChange, 0, len(ids))
	for i, id := range ids {
		if deltas[i] != 0 {
			changes = append(changes, countChange{id, deltas[i]})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	b, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, addChanges, appID, string(b))
	return err
}

// ApplyBatch applies records and advances the job in one transaction.
// Records the profile bounds refuse become record errors of the job,
// counted as failed, in the same transaction.
func (db *DB) ApplyBatch(ctx context.Context, l bulkid.Lease, t bulkid.JobType, recs []bulkid.Record, fromCursor, toCursor int) error {
	now := ms(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.stoppable(ctx, tx, l, "completed_rows = completed_rows + ?, cursor = ?",
			[]any{len(recs), toCursor}, "cursor = ?", fromCursor); err != nil {
			return err
		}
		var appID, seq int64
		if err := tx.QueryRowContext(ctx, "SELECT app_id, seq FROM jobs WHERE id = ?", l.JobID).Scan(&appID, &seq); err != nil {
			return err
		}
		companies, users := recs, []bulkid.Record(nil)
		if t == bulkid.JobUsers {
			companies, users = nil, recs
		}
		res, err := applyRecords(ctx, tx, appID, companies, users, now)
		if err != nil {
			return err
		}
		// Added to the counts by the job's refresh (CompleteJob),
		// committed with the batch so that they are added once.
		if err := markDirty(ctx, tx, appID, res.Dirty, res.Deltas); err != nil {
			return err
		}
		rows, n := res.CompanyRows, len(res.Rejected)
		if t == bulkid.JobUsers {
			rows = res.UserRows
		}
		// The last batch moves the job to pending_refresh if any of its
		// rows completed, in its transaction (one commit fewer); cursor is
		// the batch's by now, completed_rows not yet less the refused.
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET completed_rows = completed_rows - ?, failed_rows = failed_rows + ?,
			created_rows = created_rows + ?, updated_rows = updated_rows + ?, unchanged_rows = unchanged_rows + ?,
			status = CASE WHEN cursor >= total_rows AND completed_rows - ? > 0 THEN ? ELSE status END WHERE seq = ?`,
			n, n, rows.Created, rows.Updated, rows.Unchanged, n, bulkid.StatusPendingRefresh, seq); err != nil {
			return err
		}
		return insertErrors(ctx, tx, seq, res.Rejected)
	})
}

// insertErrors stores record errors of the job seq.
func insertErrors(ctx context.Context, tx *sql.Tx, seq int64, errs []bulkid.RecordError) error {
	if len(errs) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO job_errors (job_seq, n, pos, rec_id, code, message, raw) VALUES (?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, e := range errs {
		if _, err := stmt.ExecContext(ctx, seq, e.Seq, e.Pos, e.ID, e.Code, e.Message, e.Raw); err != nil {
			return err
		}
	}
	return nil
}

// applyRecords applies company records, then user records, in order, and
// lists in Applied.Dirty the companies whose counts they change.
func applyRecords(ctx context.Context, tx *sql.Tx, appID int64, companies, users []bulkid.Record, now int64) (*bulkid.Applied, error) {
	// The stored profiles are read with one statement per table, the ids
	// as one JSON array: a statement per id cost as much as the writes.
	cids, uids := bulkid.Needs(companies, users)
	named := bulkid.NamedCompanies(users)
	storedUsers := make(map[string]bulkid.StoredProfile, len(uids))
	err := eachRow(ctx, tx, selectUsers, appID, uids, func(rows *sql.Rows) error {
		var id string
		var company sql.NullString
		var md []byte
		if err := rows.Scan(&id, &company, &md); err != nil {
			return err
		}
		storedUsers[id] = bulkid.StoredProfile{Metadata: md, CompanyID: company.String}
		if bulkid.Leaves(company.String, named[id]) {
			cids = append(cids, company.String)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	cids = bulkid.SortedIDs(cids)
	storedCompanies := make(map[string]bulkid.StoredProfile, len(cids))
	err = eachRow(ctx, tx, selectCompanies, appID, cids, func(rows *sql.Rows) error {
		var id string
		var md []byte
		if err := rows.Scan(&id, &md); err != nil {
			return err
		}
		storedCompanies[id] = bulkid.StoredProfile{Metadata: md}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res, err := bulkid.ApplyRecords(companies, users, storedCompanies, storedUsers)
	if err != nil {
		return nil, err
	}
	// Created and updated profiles alike are written by upserts of
	// insertRowsPer rows: the rows to update were read in this
	// transaction, under the one write connection, so each one conflicts
	// and is updated as an UPDATE would, its created_at kept.
	ins := rowInserter{ctx: ctx, tx: tx, row: "(?, ?, ?, ?, ?)", into: insertCompanies, onConflict: upsertCompany}
	defer ins.close()
	for _, w := range res.Companies {
		if err := ins.add(appID, w.ID, string(w.Metadata), now, now); err != nil {
			return nil, err
		}
	}
	if err := ins.flush(); err != nil {
		return nil, err
	}
	insU := rowInserter{ctx: ctx, tx: tx, row: "(?, ?, ?, ?, ?, ?)", into: insertUsers, onConflict: upsertUser}
	defer insU.close()
	for _, w := range res.Users {
		var company any // NULL: no association
		if w.CompanyID != "" {
			company = w.CompanyID
		}
		if err := insU.add(appID, w.ID, company, string(w.Metadata), now, now); err != nil {
			return nil, err
		}
	}
	if err := insU.flush(); err != nil {
		return nil, err
	}
	return res, nil
}

// insertRowsPer is how many rows one INSERT of a batch's profiles
// writes. A statement's own cost (database/sql's and the driver's per
// call, binding, the VDBE's start and reset) is then paid per hundred
// rows, not per row; 100 rows of 6 values are far within SQLite's bound
// on parameters.
const insertRowsPer = 100

// rowInserter inserts rows insertRowsPer at a time, with an INSERT of
// insertRowsPer rows prepared once a batch has that many, and the rest
// with one INSERT of as many.
type rowInserter struct {
	ctx        context.Context
	tx         *sql.Tx
	stmt       *sql.Stmt // into with insertRowsPer rows, once prepared
	row        string    // one row's placeholders
	into       string    // the INSERT up to VALUES
	onConflict string    // what follows the rows
	args       []any
	rows       int
}

func (r *rowInserter) add(values ...any) error {
	r.args = append(r.args, values...)
	if r.rows++; r.rows == insertRowsPer {
		return r.flush()
	}
	return nil
}

func (r *rowInserter) flush() error {
	var err error
	switch r.rows {
	case 0:
		return nil
	case insertRowsPer:
		if r.stmt == nil {
			if r.stmt, err = r.tx.PrepareContext(r.ctx, insertRows(r.into, r.row, insertRowsPer, r.onConflict)); err != nil {
				return err
			}
		}
		_, err = r.stmt.ExecContext(r.ctx, r.args...)
	default:
		_, err = r.tx.ExecContext(r.ctx, insertRows(r.into, r.row, r.rows, r.onConflict), r.args...)
	}
	r.args, r.rows = r.args[:0], 0
	return err
}

func (r *rowInserter) close() {
	if r.stmt != nil {
		r.stmt.Close()
	}
}

// insertRows is the INSERT into (up to VALUES) of n rows of placeholders
// row, then onConflict.
func insertRows(into, row string, n int, onConflict string) string {
	var b strings.Builder
	b.Grow(len(into) + n*(len(row)+2) + len(onConflict))
	b.WriteString(into)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(onConflict)
	return b.String()
}

// eachRow runs q, a query of the app's rows whose ids are ids (as
// idsIn's JSON array), and calls fn for each row.
func eachRow(ctx context.Context, tx *sql.Tx, q string, appID int64, ids []string, fn func(*sql.Rows) error) error {
	if len(ids) == 0 {
		return nil
	}
	arr, err := jsonIDs(ids)
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, q, appID, arr)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Counts are kept by difference (internal/sqlstore/refresh.go).
// refreshAll adds what company_refresh holds for an app to the counts of
// its companies; refreshListed does so for the companies of a JSON array
// only. Each is followed by the delete of the rows it added. Neither
// writes a company whose count stays as it was.
var (
	pendingDelta = `(SELECT delta FROM company_refresh r WHERE r.app_id = companies.app_id AND r.company_id = companies.company_id)`
	refreshAll   = "UPDATE companies SET " + dialect.AddToCount(pendingDelta) +
		" WHERE app_id = ? AND company_id IN (SELECT company_id FROM company_refresh WHERE app_id = ? AND delta <> 0)"
	refreshListed = "UPDATE companies SET " + dialect.AddToCount(pendingDelta) +
		" WHERE app_id = ? AND company_id IN (SELECT company_id FROM company_refresh WHERE app_id = ? AND delta <> 0 AND company_id " + idsIn + ")"
)

// addCounts adds deltas[i] to the user count of each company ids[i] at
// once, with what company_refresh holds for it (a running job's
// batches'), which it deletes: a real-time write leaves the companies it
// changes exact.
func addCounts(ctx context.Context, tx *sql.Tx, appID int64, ids []string, deltas []int) error {
	if len(ids) == 0 {
		return nil
	}
	if err := markDirty(ctx, tx, appID, ids, deltas); err != nil {
		return err
	}
	list, err := jsonIDs(ids)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, refreshListed, appID, appID, list); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "DELETE FROM company_refresh WHERE app_id = ? AND company_id "+idsIn, appID, list)
	return err
}

// refresh adds the changes the job's batches left in company_refresh
// (what company_refresh holds for the app) to the counts and visibility
// of their companies, and empties the app's list.
func refresh(ctx context.Context, tx *sql.Tx, appID int64) error {
	if _, err := tx.ExecContext(ctx, refreshAll, appID, appID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM company_refresh WHERE app_id = ?", appID)
	return err
}

// FinishJob ends a job and creates its webhook deliveries.
func (db *DB) FinishJob(ctx context.Context, l bulkid.Lease, status bulkid.JobStatus, reason string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error { return db.finish(ctx, tx, l, status, reason) })
}

// CompleteJob refreshes the app's companies and ends the job in one
// transaction: one commit where the refresh and FinishJob took two.
// The lease is checked by finish's guarded update, which rolls the
// refresh back with it when the job is no longer this worker's.
func (db *DB) CompleteJob(ctx context.Context, l bulkid.Lease, appID int64, status bulkid.JobStatus) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := refresh(ctx, tx, appID); err != nil {
			return err
		}
		return db.finish(ctx, tx, l, status, "")
	})
}

// finish ends a job in tx: its final status, its input dropped, its
// lease ended and its webhook deliveries created.
func (db *DB) finish(ctx context.Context, tx *sql.Tx, l bulkid.Lease, status bulkid.JobStatus, reason string) error {
	var seq, appID int64
	if err := tx.QueryRowContext(ctx, "SELECT seq, app_id FROM jobs WHERE id = ?", l.JobID).Scan(&seq, &appID); err != nil {
		return err
	}
	// A job canceled meanwhile that would complete ends canceled.
	if err := db.leased(ctx, tx, l, "status = CASE WHEN cancel_requested = 1 AND ? = ? THEN ? ELSE ? END, error = ?, end_time = ?, start_time = coalesce(start_time, ?)",
		status, bulkid.StatusCompleted, bulkid.StatusCanceled, status, reason, ms(db.now()), ms(db.now())); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE jobs SET active = 0, lease_owner = NULL, lease_until = NULL WHERE seq = ?", seq); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM job_input WHERE job_seq = ?", seq); err != nil {
		return err
	}
	return enqueueDeliveries(ctx, tx, appID, l.JobID, status, ms(db.now()))
}

// ReserveRows takes rows from an app's rate.
func (db *DB) ReserveRows(ctx context.Context, appID int64, n, rowsPerMinute, burst int) (time.Duration, error) {
	var wait time.Duration
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var stored sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT throttle_tat FROM apps WHERE id = ?", appID).Scan(&stored); err != nil {
			return err
		}
		var tat time.Time
		if stored.Valid {
			tat = time.UnixMicro(stored.Int64)
		}
		var next time.Time
		if next, wait = bulkid.ReserveRows(tat, db.now(), n, rowsPerMinute, burst); wait > 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, "UPDATE apps SET throttle_tat = ? WHERE id = ?", next.UnixMicro(), appID)
		return err
	})
	return wait, err
}
