package postgres

import (
	"context"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/jackc/pgx/v5"
)

var errLeaseLost = &bulkid.Error{Code: bulkid.ELEASELOST, Message: "The job is no longer held by this worker."}

// ClaimJob leases the oldest unfinished job that no live lease holds.
// SKIP LOCKED lets workers of many processes claim at once without waiting
// on one another.
func (db *DB) ClaimJob(ctx context.Context, owner string, ttl time.Duration) (*bulkid.Job, error) {
	now := db.now()
	j, _, err := scanJob(db.pool.QueryRow(ctx, `UPDATE jobs SET lease_owner = $1, lease_until = $2
		WHERE seq = (SELECT seq FROM jobs WHERE active AND (lease_until IS NULL OR lease_until < $3)
			ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+jobColumns, owner, now.Add(ttl), now))
	return j, err
}

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

// RenewLease extends a lease.
func (db *DB) RenewLease(ctx context.Context, l bulkid.Lease) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return db.leased(ctx, tx, l, "", "") })
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

// JobRecords returns a slice of a job's input.
func (db *DB) JobRecords(ctx context.Context, jobID string, fromSeq, limit int) ([]bulkid.RawRecord, error) {
	rows, err := db.pool.Query(ctx, `SELECT first, data FROM job_input
		WHERE job_seq = (SELECT seq FROM jobs WHERE id = $1) AND first + count > $2 ORDER BY first`, jobID, fromSeq)
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
	return db.inTx(ctx, func(tx pgx.Tx) error {
		return db.leased(ctx, tx, l, "status = $4, start_time = coalesce(start_time, $5)", "", status, db.now())
	})
}

// FinishValidation records the job's invalid records and moves it to processing.
func (db *DB) FinishValidation(ctx context.Context, l bulkid.Lease, errs []bulkid.RecordError) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := db.leased(ctx, tx, l, "status = $4, failed_rows = $5", "", bulkid.StatusProcessing, len(errs)); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRow(ctx, "SELECT seq FROM jobs WHERE id = $1", l.JobID).Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM job_errors WHERE job_seq = $1", seq); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"job_errors"}, []string{"job_seq", "n", "pos", "rec_id", "code", "message", "raw"},
			pgx.CopyFromSlice(len(errs), func(i int) ([]any, error) {
				e := errs[i]
				return []any{seq, e.Seq, e.Pos, e.ID, e.Code, e.Message, e.Raw}, nil
			}))
		return err
	})
}

// Metadata merges are jsonb || followed by jsonb_strip_nulls: keys are
// merged and a null value removes the key. Stored metadata never holds a
// null and its values are primitives, so this is exactly the API's rule.
const (
	upsertCompany = `INSERT INTO companies (app_id, company_id, metadata, created_at, updated_at)
		VALUES ($1, $2, jsonb_strip_nulls($3::jsonb), $4, $4)
		ON CONFLICT (app_id, company_id) DO UPDATE SET metadata = jsonb_strip_nulls(companies.metadata || $3::jsonb), updated_at = $4`
	// A company named by a user's company_id is created empty if missing;
	// either way its user count is now stale.
	touchCompany = `INSERT INTO companies (app_id, company_id, created_at, updated_at, dirty) VALUES ($1, $2, $3, $3, true)
		ON CONFLICT (app_id, company_id) DO UPDATE SET dirty = true`
	// upsertUser writes the user and marks the company it leaves as stale,
	// reading the old association from the statement's snapshot.
	upsertUser = `WITH old AS (SELECT company_id FROM users WHERE app_id = $1 AND user_id = $2),
		up AS (INSERT INTO users (app_id, user_id, company_id, metadata, created_at, updated_at)
			VALUES ($1, $2, $3, jsonb_strip_nulls($4::jsonb), $5, $5)
			ON CONFLICT (app_id, user_id) DO UPDATE SET metadata = jsonb_strip_nulls(users.metadata || $4::jsonb),
				company_id = coalesce($3, users.company_id), updated_at = $5)
		UPDATE companies SET dirty = true FROM old
		WHERE companies.app_id = $1 AND companies.company_id = old.company_id AND $3::text IS NOT NULL AND old.company_id <> $3::text`
	refreshCompanies = `UPDATE companies SET
			user_count = (SELECT count(*) FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id),
			visible = EXISTS (SELECT 1 FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id),
			dirty = false
		WHERE app_id = $1 AND dirty`
)

func metadataArg(md []byte) string {
	if md == nil {
		return "{}"
	}
	return string(md)
}

// queueApply queues the statements that apply recs, in order, on b.
func queueApply(b *pgx.Batch, t bulkid.JobType, appID int64, recs []bulkid.Record, now time.Time) {
	for _, r := range recs {
		if t == bulkid.JobCompanies {
			b.Queue(upsertCompany, appID, r.ID, metadataArg(r.Metadata), now)
			continue
		}
		var company any // NULL keeps the association as it is
		if r.CompanyID != "" {
			company = r.CompanyID
			b.Queue(touchCompany, appID, r.CompanyID, now)
		}
		b.Queue(upsertUser, appID, r.ID, company, metadataArg(r.Metadata), now)
	}
}

// sendBatch runs a batch of statements in one round trip.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// ApplyBatch applies records and advances the job in one transaction.
func (db *DB) ApplyBatch(ctx context.Context, l bulkid.Lease, t bulkid.JobType, recs []bulkid.Record, fromCursor, toCursor int) error {
	now := db.now()
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := db.leased(ctx, tx, l, "completed_rows = completed_rows + $4, cursor = $5", "cursor = $6",
			len(recs), toCursor, fromCursor); err != nil {
			return err
		}
		var appID int64
		if err := tx.QueryRow(ctx, "SELECT app_id FROM jobs WHERE id = $1", l.JobID).Scan(&appID); err != nil {
			return err
		}
		if t == bulkid.JobCompanies {
			return applyCompanies(ctx, tx, appID, recs, now)
		}
		b := &pgx.Batch{}
		queueApply(b, t, appID, recs, now)
		return sendBatch(ctx, tx, b)
	})
}

// Companies of a batch are written set-wise: records for the same id are
// folded into one patch (bulkid.MergePatches, which keeps their order's
// effect), one UPDATE merges into the companies that exist and one INSERT
// creates the rest. A company another transaction created in between is
// merged into by a last UPDATE, so no record is dropped.
const (
	mergeCompanies = `UPDATE companies c SET metadata = jsonb_strip_nulls(c.metadata || u.md::jsonb), updated_at = $4
		FROM unnest($2::text[], $3::text[]) AS u (id, md)
		WHERE c.app_id = $1 AND c.company_id = u.id
		RETURNING c.company_id`
	insertCompanies = `INSERT INTO companies (app_id, company_id, metadata, created_at, updated_at)
		SELECT $1, u.id, jsonb_strip_nulls(u.md::jsonb), $4, $4 FROM unnest($2::text[], $3::text[]) AS u (id, md)
		ON CONFLICT (app_id, company_id) DO NOTHING
		RETURNING company_id`
)

func applyCompanies(ctx context.Context, tx pgx.Tx, appID int64, recs []bulkid.Record, now time.Time) error {
	folded := bulkid.FoldByID(recs)
	ids := make([]string, len(folded))
	mds := make([]string, len(folded))
	for i, r := range folded {
		ids[i], mds[i] = r.ID, metadataArg(r.Metadata)
	}
	// step runs q for the companies in ids and returns those it wrote.
	step := func(q string, ids, mds []string) ([]string, error) {
		rows, err := tx.Query(ctx, q, appID, ids, mds, now)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	// without returns the ids (and their patches) not in done.
	without := func(ids, mds, done []string) ([]string, []string) {
		if len(done) == 0 {
			return ids, mds
		}
		skip := make(map[string]bool, len(done))
		for _, id := range done {
			skip[id] = true
		}
		var restIDs, restMDs []string
		for i, id := range ids {
			if !skip[id] {
				restIDs, restMDs = append(restIDs, id), append(restMDs, mds[i])
			}
		}
		return restIDs, restMDs
	}
	updated, err := step(mergeCompanies, ids, mds)
	if err != nil {
		return err
	}
	if ids, mds = without(ids, mds, updated); len(ids) == 0 {
		return nil
	}
	inserted, err := step(insertCompanies, ids, mds)
	if err != nil {
		return err
	}
	if ids, mds = without(ids, mds, inserted); len(ids) == 0 {
		return nil
	}
	_, err = step(mergeCompanies, ids, mds)
	return err
}

// Identify applies records outside any job and refreshes what they change.
func (db *DB) Identify(ctx context.Context, appID int64, companies, users []bulkid.Record) error {
	now := db.now()
	return db.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		queueApply(b, bulkid.JobCompanies, appID, companies, now)
		queueApply(b, bulkid.JobUsers, appID, users, now)
		if len(users) > 0 {
			b.Queue(refreshCompanies, appID)
		}
		return sendBatch(ctx, tx, b)
	})
}

// RefreshCompanies recomputes the counts and visibility of dirty companies.
func (db *DB) RefreshCompanies(ctx context.Context, l bulkid.Lease, appID int64) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := db.leased(ctx, tx, l, "", ""); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, refreshCompanies, appID)
		return err
	})
}

// FinishJob ends a job.
func (db *DB) FinishJob(ctx context.Context, l bulkid.Lease, status bulkid.JobStatus, reason string) error {
	now := db.now()
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var seq int64
		if err := tx.QueryRow(ctx, "SELECT seq FROM jobs WHERE id = $1", l.JobID).Scan(&seq); err != nil {
			return err
		}
		if err := db.leased(ctx, tx, l, "status = $4, error = $5, end_time = $6, start_time = coalesce(start_time, $6)", "",
			status, reason, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE jobs SET active = false, lease_owner = NULL, lease_until = NULL WHERE seq = $1", seq); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM job_input WHERE job_seq = $1", seq)
		return err
	})
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
