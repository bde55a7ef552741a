package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
)

var errLeaseLost = &bulkid.Error{Code: bulkid.ELEASELOST, Message: "The job is no longer held by this worker."}

// ClaimJob leases the oldest unfinished job that no live lease holds.
func (db *DB) ClaimJob(ctx context.Context, owner string, ttl time.Duration) (*bulkid.Job, error) {
	now := db.now()
	// Idle workers poll: look on the read pool first so that finding
	// nothing never takes the single write connection.
	var one int
	err := db.read.QueryRowContext(ctx, `SELECT 1 FROM jobs
		WHERE active = 1 AND (lease_until IS NULL OR lease_until < ?) LIMIT 1`, ms(now)).Scan(&one)
	if err != nil {
		return nil, interpretError(err)
	}
	var job *bulkid.Job
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		j, _, err := scanJob(tx.QueryRowContext(ctx, "SELECT "+jobColumns+` FROM jobs
			WHERE active = 1 AND (lease_until IS NULL OR lease_until < ?) ORDER BY seq LIMIT 1`, ms(now)))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = ?",
			owner, ms(now.Add(ttl)), j.ID); err != nil {
			return err
		}
		job = j
		return nil
	})
	return job, err
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

// RenewLease extends a lease.
func (db *DB) RenewLease(ctx context.Context, l bulkid.Lease) error {
	return db.inTx(ctx, func(tx *sql.Tx) error { return db.leased(ctx, tx, l, "") })
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
// run out, and returns how many there were. Call it only when no other
// process can be running jobs on the database: `bulkid serve` does, at
// start, holding the data directory's lock.
func (db *DB) ReleaseAllLeases(ctx context.Context) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE active = 1 AND lease_owner IS NOT NULL")
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// JobRecords returns a slice of a job's input.
func (db *DB) JobRecords(ctx context.Context, jobID string, fromSeq, limit int) ([]bulkid.RawRecord, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT first, data FROM job_input
		WHERE job_seq = (SELECT seq FROM jobs WHERE id = ?) AND first + count > ? ORDER BY first`, jobID, fromSeq)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	recs := make([]bulkid.RawRecord, 0, min(limit, 4096))
	for len(recs) < limit && rows.Next() {
		var first int
		var data []byte
		if err := rows.Scan(&first, &data); err != nil {
			return nil, interpretError(err)
		}
		if recs, err = recordpack.Unpack(recs, first, data, fromSeq, limit); err != nil {
			return nil, err
		}
	}
	return recs, interpretError(rows.Err())
}

// SetJobStatus moves a job to status.
func (db *DB) SetJobStatus(ctx context.Context, l bulkid.Lease, status bulkid.JobStatus) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return db.leased(ctx, tx, l, "status = ?, start_time = coalesce(start_time, ?)", status, ms(db.now()))
	})
}

// FinishValidation records the job's invalid records and moves it to processing.
func (db *DB) FinishValidation(ctx context.Context, l bulkid.Lease, errs []bulkid.RecordError) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.leased(ctx, tx, l, "status = ?, failed_rows = ?", bulkid.StatusProcessing, len(errs)); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, "SELECT seq FROM jobs WHERE id = ?", l.JobID).Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM job_errors WHERE job_seq = ?", seq); err != nil {
			return err
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
	})
}

// bulkid_patch (see sqlite.go) is RFC 7396 merge patch, as SQLite's
// json_patch: keys are merged, a null value removes the key. Metadata
// values are primitives, so that is exactly the API's merge rule, done in
// the database without reading rows back, in time linear in the sizes.
const (
	upsertCompany = `INSERT INTO companies (app_id, company_id, metadata, created_at, updated_at)
		VALUES (?1, ?2, bulkid_patch('{}', ?3), ?4, ?4)
		ON CONFLICT (app_id, company_id) DO UPDATE SET metadata = bulkid_patch(companies.metadata, ?3), updated_at = ?4`
	selectUserCompany = `SELECT company_id FROM users WHERE app_id = ? AND user_id = ?`
	upsertUser        = `INSERT INTO users (app_id, user_id, company_id, metadata, created_at, updated_at)
		VALUES (?1, ?2, ?3, bulkid_patch('{}', ?4), ?5, ?5)
		ON CONFLICT (app_id, user_id) DO UPDATE SET metadata = bulkid_patch(users.metadata, ?4),
			company_id = coalesce(?3, users.company_id), updated_at = ?5`
	// A company named only by a user's company_id is created empty; either
	// way its user count is now stale.
	touchCompany = `INSERT INTO companies (app_id, company_id, created_at, updated_at, dirty) VALUES (?1, ?2, ?3, ?3, 1)
		ON CONFLICT (app_id, company_id) DO UPDATE SET dirty = 1`
	markDirty = `UPDATE companies SET dirty = 1 WHERE app_id = ? AND company_id = ?`
)

// ApplyBatch applies records and advances the job in one transaction.
func (db *DB) ApplyBatch(ctx context.Context, l bulkid.Lease, t bulkid.JobType, recs []bulkid.Record, fromCursor, toCursor int) error {
	now := ms(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.leasedWhere(ctx, tx, l, "completed_rows = completed_rows + ?, cursor = ?",
			[]any{len(recs), toCursor}, "cursor = ?", fromCursor); err != nil {
			return err
		}
		var appID int64
		if err := tx.QueryRowContext(ctx, "SELECT app_id FROM jobs WHERE id = ?", l.JobID).Scan(&appID); err != nil {
			return err
		}
		if t == bulkid.JobCompanies {
			return applyCompanies(ctx, tx, appID, recs, now)
		}
		return applyUsers(ctx, tx, appID, recs, now)
	})
}

func metadataArg(md []byte) string {
	if md == nil {
		return "{}"
	}
	return string(md)
}

func applyCompanies(ctx context.Context, tx *sql.Tx, appID int64, recs []bulkid.Record, now int64) error {
	stmt, err := tx.PrepareContext(ctx, upsertCompany)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range recs {
		if _, err := stmt.ExecContext(ctx, appID, r.ID, metadataArg(r.Metadata), now); err != nil {
			return err
		}
	}
	return nil
}

func applyUsers(ctx context.Context, tx *sql.Tx, appID int64, recs []bulkid.Record, now int64) error {
	var stmts [4]*sql.Stmt
	for i, q := range []string{selectUserCompany, upsertUser, touchCompany, markDirty} {
		s, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer s.Close()
		stmts[i] = s
	}
	sel, upsert, touch, dirty := stmts[0], stmts[1], stmts[2], stmts[3]
	for _, r := range recs {
		var old sql.NullString
		if err := sel.QueryRowContext(ctx, appID, r.ID).Scan(&old); err != nil && err != sql.ErrNoRows {
			return err
		}
		var company any // NULL keeps the association as it is
		if r.CompanyID != "" {
			company = r.CompanyID
		}
		if _, err := upsert.ExecContext(ctx, appID, r.ID, company, metadataArg(r.Metadata), now); err != nil {
			return err
		}
		if r.CompanyID == "" || r.CompanyID == old.String {
			continue
		}
		if _, err := touch.ExecContext(ctx, appID, r.CompanyID, now); err != nil {
			return err
		}
		if old.Valid {
			if _, err := dirty.ExecContext(ctx, appID, old.String); err != nil {
				return err
			}
		}
	}
	return nil
}

// refreshCompanies recounts the users of an app's dirty companies.
const refreshCompanies = `UPDATE companies SET
		user_count = (SELECT count(*) FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id),
		visible = EXISTS (SELECT 1 FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id),
		dirty = 0
	WHERE app_id = ? AND dirty = 1`

// RefreshCompanies recomputes the counts and visibility of dirty companies.
func (db *DB) RefreshCompanies(ctx context.Context, l bulkid.Lease, appID int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.leased(ctx, tx, l, ""); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, refreshCompanies, appID)
		return err
	})
}

// FinishJob ends a job.
func (db *DB) FinishJob(ctx context.Context, l bulkid.Lease, status bulkid.JobStatus, reason string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, "SELECT seq FROM jobs WHERE id = ?", l.JobID).Scan(&seq); err != nil {
			return err
		}
		if err := db.leased(ctx, tx, l, "status = ?, error = ?, end_time = ?, start_time = coalesce(start_time, ?)",
			status, reason, ms(db.now()), ms(db.now())); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE jobs SET active = 0, lease_owner = NULL, lease_until = NULL WHERE seq = ?", seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM job_input WHERE job_seq = ?", seq)
		return err
	})
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
