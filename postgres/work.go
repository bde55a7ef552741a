package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/sqlstore"
	"github.com/jackc/pgx/v5"
)

var (
	errLeaseLost = &bulkid.Error{Code: bulkid.ELEASELOST, Message: "The job is no longer held by this worker."}
	errCanceled  = &bulkid.Error{Code: bulkid.ECANCELED, Message: "The job was canceled by a client; finish it canceled."}
)

// ClaimJob leases the oldest unfinished job that no live lease holds,
// starting it if it is queued (status validating, start_time now) in the
// same statement. start_time is never before submitted_at: a job another
// process submitted after this one read the clock, or by a clock a little
// ahead, is claimable too. SKIP LOCKED lets workers of many processes
// claim at once without waiting on one another.
func (db *DB) ClaimJob(ctx context.Context, owner string, ttl time.Duration) (*bulkid.Job, bool, error) {
	now := db.now()
	var started bool
	j, _, err := sqlstore.ScanJob(withStarted{db.pool.QueryRow(ctx, `WITH c AS (
			SELECT seq AS claimed, status = 'queued' AS queued FROM jobs WHERE active AND (lease_until IS NULL OR lease_until < $3)
			ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
		UPDATE jobs SET lease_owner = $1, lease_until = $2,
			status = CASE WHEN c.queued THEN 'validating' ELSE status END,
			start_time = CASE WHEN c.queued THEN GREATEST($3, submitted_at) ELSE start_time END
		FROM c WHERE seq = c.claimed
		RETURNING `+sqlstore.JobColumns+", c.queued", owner, now.Add(ttl), now), &started})
	if err != nil {
		return nil, false, interpretError(err)
	}
	return j, started, nil
}

// withStarted scans a row of sqlstore.JobColumns followed by one more
// column, into started.
type withStarted struct {
	row     pgx.Row
	started *bool
}

func (w withStarted) Scan(dest ...any) error { return w.row.Scan(append(dest, w.started)...) }

// leased runs an UPDATE of the job row guarded by the lease, renewing it.
// set is the SET list without the lease columns, with placeholders from $4
// on for args; cond, if not empty, is an extra condition on the row whose
// placeholders follow set's.
func (db *DB) leased(ctx context.Context, tx pgx.Tx, l bulkid.Lease, set, cond string, args ...any) error {
	q := "UPDATE jobs SET lease_until = $1"
	if set != "" {
		q += ", " + set
	}
	q += " WHERE id = $2 AND lease_owner = $3 AND active"
	if cond != "" {
		q += " AND " + cond
	}
	tag, err := tx.Exec(ctx, q, append([]any{db.now().Add(l.TTL), l.JobID, l.Owner}, args...)...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return errLeaseLost
	}
	return nil
}

// stoppable is leased for the writes a cancel stops: it refuses them with
// errCanceled once a client canceled the job.
func (db *DB) stoppable(ctx context.Context, tx pgx.Tx, l bulkid.Lease, set, cond string, args ...any) error {
	if cond != "" {
		cond += " AND "
	}
	err := db.leased(ctx, tx, l, set, cond+"NOT cancel_requested", args...)
	if err != errLeaseLost {
		return err
	}
	var canceled bool
	switch qerr := tx.QueryRow(ctx, "SELECT cancel_requested FROM jobs WHERE id = $1 AND lease_owner = $2 AND active",
		l.JobID, l.Owner).Scan(&canceled); {
	case errors.Is(qerr, pgx.ErrNoRows):
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
	return db.inTx(ctx, func(tx pgx.Tx) error { return db.stoppable(ctx, tx, l, "", "") })
}

// ReleaseJob ends a lease so that any worker may claim the job at once.
func (db *DB) ReleaseJob(ctx context.Context, l bulkid.Lease) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := db.leased(ctx, tx, l, "", ""); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE id = $1", l.JobID)
		return err
	})
}

// FinishValidation records the job's invalid records and moves it to processing.
func (db *DB) FinishValidation(ctx context.Context, l bulkid.Lease, errs []bulkid.RecordError) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := db.stoppable(ctx, tx, l, "status = $4, failed_rows = $5", "", bulkid.StatusProcessing, len(errs)); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRow(ctx, "SELECT seq FROM jobs WHERE id = $1", l.JobID).Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM job_errors WHERE job_seq = $1", seq); err != nil {
			return err
		}
		return insertErrors(ctx, tx, seq, errs)
	})
}

// Lock order. Every transaction that writes an app's profiles (a job's
// batch, its refresh, real-time identify calls, deletes) first takes the
// app's lock, lockApp: a transaction-scoped advisory lock keyed by the
// app (and the schema). So they run one at a time per app, and no two of
// them can wait on each other in a cycle whatever the order of the rows
// they then write: the profiles they read stay as read until commit,
// without locking each row. Locking each row instead (an INSERT … ON
// CONFLICT DO UPDATE … WHERE false over every row, in id order) wrote a
// lock into each existing row and cost a third of a merge's PostgreSQL
// time (issue 14; docs/BENCHMARKS.md). One job at a time per app already
// serializes a job's batches; real-time calls and deletes of the app wait
// for a batch to commit. After the app's lock a transaction takes row
// locks only where writers without it meet: the job's row (its lease and
// cursor) and the rows Track writes without the app's lock (a user it
// creates, the event totals), each in one statement or sorted by id
// bytewise (COLLATE "C"). Nothing that holds a job's row or a Track lock
// then waits for an app's lock, so these cannot form a cycle either.
//
// Track creates a user without the app's lock, so a user a batch read as
// missing may exist by the time the batch inserts it: that insert skips
// it (ON CONFLICT DO NOTHING) and the transaction starts again (errRetry),
// to merge into the user as now stored.
//
// A list of ids is matched as `IN (SELECT unnest($2::text[]))`, never as
// `= ANY($2)`: on tables that were never analyzed (PostgreSQL without
// autovacuum) the planner takes `company_id = ANY(<1,000 ids>)` for a
// filter and scans the whole app's rows through app_id: 60,000 pages and
// 0.6 s for 1,000 ids among a million companies. As a join with the ids
// it looks each one up by primary key whatever the statistics say
// (5 ms); docs/BENCHMARKS.md, "Scale".
const (
	// appLock is the key of an app's lock, lockApp; the schema is in it
	// so that stores sharing a database in schemas of their own (tests,
	// the bench) do not wait on each other's apps.
	appLock         = `pg_advisory_xact_lock(hashtextextended('bulkid-app:' || current_schema() || ':' || %s::text, 0))`
	readCompanies   = `SELECT company_id, metadata FROM companies WHERE app_id = $1 AND company_id IN (SELECT unnest($2::text[]))`
	readUsers       = `SELECT user_id, coalesce(company_id, ''), metadata FROM users WHERE app_id = $1 AND user_id IN (SELECT unnest($2::text[]))`
	insertCompanies = `INSERT INTO companies (app_id, company_id, metadata, created_at, updated_at)
		SELECT $1, u.id, u.md::jsonb, $4, $4 FROM unnest($2::text[], $3::text[]) AS u (id, md)`
	insertUsers = `INSERT INTO users (app_id, user_id, metadata, company_id, created_at, updated_at)
		SELECT $1, u.id, u.md::jsonb, nullif(u.cid, ''), $5, $5 FROM unnest($2::text[], $3::text[], $4::text[]) AS u (id, md, cid)
		ON CONFLICT (app_id, user_id) DO NOTHING`
	// The updates join the ids twice: as a bare join with the ids, the
	// planner (on tables never analyzed, which it takes for small) hashed
	// every row of the app, a bitmap scan of all 10,000 companies for a
	// batch of 1,000 (45 ms, then 22 ms with the IN); the IN makes it
	// look each row up by primary key, as the reads do.
	writeCompanies = `UPDATE companies c SET metadata = u.md::jsonb, updated_at = $4
		FROM unnest($2::text[], $3::text[]) AS u (id, md)
		WHERE c.app_id = $1 AND c.company_id = u.id AND c.company_id IN (SELECT unnest($2::text[]))`
	writeUsers = `UPDATE users x SET metadata = u.md::jsonb, company_id = nullif(u.cid, ''), updated_at = $5
		FROM unnest($2::text[], $3::text[], $4::text[]) AS u (id, md, cid)
		WHERE x.app_id = $1 AND x.user_id = u.id AND x.user_id IN (SELECT unnest($2::text[]))`
	// markDirty adds a batch's changes of user counts ($2, $3: Applied's
	// Dirty and Deltas) to those waiting for the job's refresh, skipping
	// the companies whose count the batch leaves as it was.
	markDirty = `INSERT INTO company_refresh AS r (app_id, company_id, delta)
		SELECT $1, d.id, d.delta FROM unnest($2::text[], $3::integer[]) AS d (id, delta) WHERE d.delta <> 0 ORDER BY d.id COLLATE "C"
		ON CONFLICT (app_id, company_id) DO UPDATE SET delta = r.delta + excluded.delta`
	deleteCompanies = `DELETE FROM companies WHERE app_id = $1 AND company_id IN (SELECT unnest($2::text[]))`
	deleteUsers     = `DELETE FROM users WHERE app_id = $1 AND user_id IN (SELECT unnest($2::text[]))`
)

// lockApp takes the app's lock (see Lock order) until tx ends. It reads
// the app's row to do so, which is the check that the app exists: profiles
// reference their app by no foreign key, whose check ran once per new row
// (migration 0015), and apps are never deleted.
func lockApp(ctx context.Context, tx pgx.Tx, appID int64) error {
	var locked string
	err := tx.QueryRow(ctx, "SELECT "+fmt.Sprintf(appLock, "id")+"::text FROM apps WHERE id = $1", appID).Scan(&locked)
	if errors.Is(err, pgx.ErrNoRows) {
		return &bulkid.Error{Code: bulkid.ENOTFOUND, Message: "There is no such app."}
	}
	return err
}

// Counts are kept by difference (internal/sqlstore/refresh.go), under
// the app's lock (lockApp). refreshDirty adds what company_refresh holds
// for the app $1 to the counts of its companies and empties the app's
// list. addCounts adds $3[i] to the count of each listed company $2[i],
// with what company_refresh holds for it (a running job's batches'), and
// deletes that: a real-time write leaves the companies it changes exact.
// Neither writes a company whose count stays as it was, so that no dead
// row version is left behind for nothing.
var (
	refreshDirty = `WITH p AS (DELETE FROM company_refresh WHERE app_id = $1 RETURNING company_id, delta)
		UPDATE companies c SET ` + dialect.AddToCount("p.delta") + ` FROM p
		WHERE c.app_id = $1 AND c.company_id = p.company_id AND p.delta <> 0`
	addCounts = `WITH p AS (DELETE FROM company_refresh WHERE app_id = $1 AND company_id IN (SELECT unnest($2::text[])) RETURNING company_id, delta),
		d AS (SELECT u.id, u.delta + coalesce(p.delta, 0) AS delta FROM unnest($2::text[], $3::integer[]) AS u (id, delta)
			LEFT JOIN p ON p.company_id = u.id)
		UPDATE companies c SET ` + dialect.AddToCount("d.delta") + ` FROM d
		WHERE c.app_id = $1 AND c.company_id = d.id AND d.delta <> 0`
)

// errRetry asks inTx to run the transaction again from the start.
var errRetry = errors.New("postgres: a row was created or changed by another transaction since it was read; run the transaction again")

// collect runs q and returns the ids in its first column.
func collect(ctx context.Context, tx pgx.Tx, q string, args ...any) (map[string]bool, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set, err
}

// beforeWrite, if set (by a test), runs in applyRecords after the stored
// profiles are read and before any is written.
var beforeWrite func()

// applyRecords applies company records, then user records, in order
// (bulkid.ApplyRecords gives each its verdict), in a transaction that
// holds the app's lock (lockApp), and lists in Applied.Dirty the
// companies whose counts change. It reads the stored profiles the records
// name (and the companies their users leave), merges, then inserts the
// profiles created and updates those changed: a new row is written once,
// and a row the records leave as it was is not written at all.
func applyRecords(ctx context.Context, tx pgx.Tx, appID int64, companies, users []bulkid.Record, now time.Time) (*bulkid.Applied, error) {
	cids, uids := bulkid.Needs(companies, users)
	storedUsers := map[string]bulkid.StoredProfile{}
	if len(uids) > 0 {
		named := bulkid.NamedCompanies(users)
		var id, company string
		var md []byte
		rows, err := tx.Query(ctx, readUsers, appID, uids)
		if err != nil {
			return nil, err
		}
		leaves := false
		if _, err := pgx.ForEachRow(rows, []any{&id, &company, &md}, func() error {
			storedUsers[id] = bulkid.StoredProfile{Metadata: md, CompanyID: company}
			if bulkid.Leaves(company, named[id]) {
				cids, leaves = append(cids, company), true
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if leaves {
			cids = bulkid.SortedIDs(cids)
		}
	}
	storedCompanies := map[string]bulkid.StoredProfile{}
	if len(cids) > 0 {
		var id string
		var md []byte
		rows, err := tx.Query(ctx, readCompanies, appID, cids)
		if err != nil {
			return nil, err
		}
		if _, err := pgx.ForEachRow(rows, []any{&id, &md}, func() error {
			storedCompanies[id] = bulkid.StoredProfile{Metadata: md}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if beforeWrite != nil {
		beforeWrite()
	}
	res, err := bulkid.ApplyRecords(companies, users, storedCompanies, storedUsers)
	if err != nil {
		return nil, err
	}
	var newIDs, newMDs, ids, mds []string
	for _, w := range res.Companies {
		if w.Create {
			newIDs, newMDs = append(newIDs, w.ID), append(newMDs, string(w.Metadata))
		} else {
			ids, mds = append(ids, w.ID), append(mds, string(w.Metadata))
		}
	}
	if len(newIDs) > 0 {
		// Only writers holding the app's lock create companies: none of
		// these can exist.
		if _, err := tx.Exec(ctx, insertCompanies, appID, newIDs, newMDs, now); err != nil {
			return nil, err
		}
	}
	if len(ids) > 0 {
		if _, err := tx.Exec(ctx, writeCompanies, appID, ids, mds, now); err != nil {
			return nil, err
		}
	}
	var newCIDs, cs []string
	newIDs, newMDs, ids, mds = nil, nil, nil, nil
	for _, w := range res.Users {
		if w.Create {
			newIDs, newMDs, newCIDs = append(newIDs, w.ID), append(newMDs, string(w.Metadata)), append(newCIDs, w.CompanyID)
		} else {
			ids, mds, cs = append(ids, w.ID), append(mds, string(w.Metadata)), append(cs, w.CompanyID)
		}
	}
	if len(newIDs) > 0 {
		tag, err := tx.Exec(ctx, insertUsers, appID, newIDs, newMDs, newCIDs, now)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() != int64(len(newIDs)) {
			return nil, errRetry // a user created by Track since it was read
		}
	}
	if len(ids) > 0 {
		if _, err := tx.Exec(ctx, writeUsers, appID, ids, mds, cs, now); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// jobApp reads a job's app and seq and takes the app's lock (lockApp); the
// job's row references its app, so the app exists.
var jobApp = "SELECT app_id, seq, " + fmt.Sprintf(appLock, "app_id") + "::text FROM jobs WHERE id = $1"

// ApplyBatch applies records and advances the job in one transaction.
// Records the profile bounds refuse become record errors of the job,
// counted as failed, in the same transaction. The job's row is written
// once, last, with its lease checked: a batch whose job was canceled or
// whose lease was lost meanwhile is rolled back whole.
func (db *DB) ApplyBatch(ctx context.Context, l bulkid.Lease, t bulkid.JobType, recs []bulkid.Record, fromCursor, toCursor int) error {
	now := db.now()
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var appID, seq int64
		var locked string
		switch err := tx.QueryRow(ctx, jobApp, l.JobID).Scan(&appID, &seq, &locked); {
		case errors.Is(err, pgx.ErrNoRows):
			return errLeaseLost
		case err != nil:
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
		if len(res.Dirty) > 0 {
			// Added to the counts by the job's refresh (CompleteJob),
			// committed with the batch so that they are added once. The
			// refresh and every real-time write take the app's lock too,
			// so these writes never wait.
			if _, err := tx.Exec(ctx, markDirty, appID, res.Dirty, res.Deltas); err != nil {
				return err
			}
		}
		rows, n := res.CompanyRows, len(res.Rejected)
		if t == bulkid.JobUsers {
			rows = res.UserRows
		}
		// The last batch moves the job to pending_refresh if any of its
		// rows completed, in its transaction (one commit fewer).
		if err := db.stoppable(ctx, tx, l, `completed_rows = completed_rows + $4, cursor = $5, failed_rows = failed_rows + $6,
			created_rows = created_rows + $7, updated_rows = updated_rows + $8, unchanged_rows = unchanged_rows + $9,
			status = CASE WHEN $5 >= total_rows AND completed_rows + $4 > 0 THEN 'pending_refresh' ELSE status END`, "cursor = $10",
			len(recs)-n, toCursor, n, rows.Created, rows.Updated, rows.Unchanged, fromCursor); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		return insertErrors(ctx, tx, seq, res.Rejected)
	})
}

// insertErrors stores record errors of the job seq.
func insertErrors(ctx context.Context, tx pgx.Tx, seq int64, errs []bulkid.RecordError) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"job_errors"}, []string{"job_seq", "n", "pos", "rec_id", "code", "message", "raw"},
		pgx.CopyFromSlice(len(errs), func(i int) ([]any, error) {
			e := errs[i]
			return []any{seq, e.Seq, e.Pos, e.ID, e.Code, e.Message, e.Raw}, nil
		}))
	return err
}

// CompleteJob refreshes the app's companies and ends the job in one
// transaction (one commit where the refresh and FinishJob took two),
// then reclaims space as FinishJob does (reclaim). The refresh
// (refreshDirty) adds the changes the job's batches left in
// company_refresh to the counts and visibility of their companies and
// empties the app's list: the app's one job is this one, and a real-time
// write takes out what it adds, so every row of the app's is this job's.
// The app's lock comes first, then the job's row (see Lock order);
// finish's guarded update of the job's row rolls the refresh back with it
// when the job is no longer this worker's.
func (db *DB) CompleteJob(ctx context.Context, l bulkid.Lease, appID int64, status bulkid.JobStatus) error {
	now := db.now()
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockApp(ctx, tx, appID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, refreshDirty, appID); err != nil {
			return err
		}
		return db.finish(ctx, tx, l, status, "", now)
	})
	if err != nil {
		return err
	}
	db.reclaim(ctx)
	return nil
}

// FinishJob ends a job, deleting its staged input and creating its
// webhook deliveries, then reclaims the space of staged input and count
// changes if none is left (reclaim).
func (db *DB) FinishJob(ctx context.Context, l bulkid.Lease, status bulkid.JobStatus, reason string) error {
	if err := db.finishJob(ctx, l, status, reason); err != nil {
		return err
	}
	db.reclaim(ctx)
	return nil
}

// reclaim empties job_input and company_refresh, each whole with
// TRUNCATE, when it holds no live row. Both are per-job churn: a job's
// input is deleted at its finish (the deleted chunks in job_input's TOAST
// table, about the size of every job's input), and a users job's count
// changes are written to company_refresh by its batches (markDirty) and
// deleted by its refresh (refreshDirty), 10,000 rows for a job of 10,000
// users of as many companies. What DELETE leaves behind is otherwise
// reclaimed only by VACUUM, and PostgreSQL may run without autovacuum
// (issue 14; docs/BENCHMARKS.md): company_refresh grew by 0.5 MiB of dead
// rows a users job, 98.7 MiB after the bench's scale load.
//
// It is one statement (reclaimTables), so one round trip and at most one
// commit for both tables (a transaction of LOCK, SELECT and TRUNCATE for
// each took five round trips and a commit a table), run after the job's
// own transaction has committed. Each table's ACCESS EXCLUSIVE lock is
// asked for with NOWAIT, in a transaction holding no other lock but the
// other table's, so it never waits and never deadlocks: while any other
// transaction touches the table (a job being created or a worker reading
// its input; a batch of another app's users job, a real-time identify or
// a delete writing its counts) that table's lock is refused and it is
// left for the next job to finish, the other table still emptied if it
// can be. Other sessions wait
// for the locks only the few milliseconds they are held. Under the lock
// no other transaction can have a write to the table in flight, so a
// table in which no row is left has none to lose: a running job's input,
// and the count changes its batches committed for its refresh (or those
// a failed job left for its app's next refresh), keep the table from
// being truncated. TRUNCATE is transactional and logged, so a
// crash leaves each table either as it was or empty. It is best effort:
// a failure is logged, the finished job stays finished.
func (db *DB) reclaim(ctx context.Context) {
	if _, err := db.pool.Exec(ctx, reclaimTables); err != nil && ctx.Err() == nil {
		db.log.Warn("reclaiming the space of staged input and count changes failed; it is tried again after the next job", "err", err)
	}
}

// reclaimTables is reclaim's statement. A lock taken in a block with an
// EXCEPTION clause (a subtransaction) is kept by the transaction when the
// block ends without one; a lock refused (lock_not_available) leaves
// nothing held.
const reclaimTables = `DO $$
DECLARE
	t text;
	left_rows boolean;
	empty text[] := '{}';
BEGIN
	FOREACH t IN ARRAY ARRAY['job_input', 'company_refresh'] LOOP
		BEGIN
			EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE NOWAIT', t);
			EXECUTE format('SELECT EXISTS (SELECT FROM %I)', t) INTO left_rows;
			IF NOT left_rows THEN
				empty := empty || t;
			END IF;
		EXCEPTION WHEN lock_not_available THEN
			NULL; -- left for the next job to finish
		END;
	END LOOP;
	IF cardinality(empty) > 0 THEN
		EXECUTE 'TRUNCATE ' || array_to_string(empty, ', ');
	END IF;
END
$$`

func (db *DB) finishJob(ctx context.Context, l bulkid.Lease, status bulkid.JobStatus, reason string) error {
	now := db.now()
	return db.inTx(ctx, func(tx pgx.Tx) error { return db.finish(ctx, tx, l, status, reason, now) })
}

// finish ends a job in tx: its final status, its input dropped, its
// lease ended and its webhook deliveries created.
func (db *DB) finish(ctx context.Context, tx pgx.Tx, l bulkid.Lease, status bulkid.JobStatus, reason string, now time.Time) error {
	var seq, appID int64
	if err := tx.QueryRow(ctx, "SELECT seq, app_id FROM jobs WHERE id = $1", l.JobID).Scan(&seq, &appID); err != nil {
		return err
	}
	// A job canceled meanwhile that would complete ends canceled.
	if err := db.leased(ctx, tx, l, `status = CASE WHEN cancel_requested AND $4::text = 'completed' THEN 'canceled' ELSE $4::text END,
		error = $5, end_time = $6, start_time = coalesce(start_time, $6)`, "",
		string(status), reason, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE jobs SET active = false, lease_owner = NULL, lease_until = NULL WHERE seq = $1", seq); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM job_input WHERE job_seq = $1", seq); err != nil {
		return err
	}
	return enqueueDeliveries(ctx, tx, appID, l.JobID, status, now)
}

// ReserveRows takes rows from an app's rate; the row lock orders the
// processes that ask at once.
func (db *DB) ReserveRows(ctx context.Context, appID int64, n, rowsPerMinute, burst int) (time.Duration, error) {
	var wait time.Duration
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var stored *time.Time
		if err := tx.QueryRow(ctx, "SELECT throttle_tat FROM apps WHERE id = $1 FOR UPDATE", appID).Scan(&stored); err != nil {
			return err
		}
		var next time.Time
		if next, wait = bulkid.ReserveRows(optTime(stored), db.now(), n, rowsPerMinute, burst); wait > 0 {
			return nil
		}
		_, err := tx.Exec(ctx, "UPDATE apps SET throttle_tat = $1 WHERE id = $2", next, appID)
		return err
	})
	return wait, err
}
