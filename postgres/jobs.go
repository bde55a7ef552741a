package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/jackc/pgx/v5"
)

// CreateJob stores a job and its input in one transaction, the input in
// chunks (internal/recordpack), an INSERT each.
func (db *DB) CreateJob(ctx context.Context, job *bulkid.Job, input bulkid.JobInput) error {
	now := db.now().UTC()
	err := db.inTx(ctx, func(tx pgx.Tx) error { return insertJob(ctx, tx, job, input, now) })
	if err = db.conflict(ctx, job, err); err != nil {
		return err
	}
	job.Status, job.SubmittedAt, job.TotalRows = bulkid.StatusQueued, now, input.Len()
	return nil
}

// insertJob stores job, submitted at now, and its input in tx.
func insertJob(ctx context.Context, tx pgx.Tx, job *bulkid.Job, input bulkid.JobInput, now time.Time) error {
	var seq int64
	err := tx.QueryRow(ctx, `INSERT INTO jobs (id, app_id, type, status, source, filename, file_size, submitted_at, total_rows, nested_metadata)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq`,
		job.ID, job.AppID, job.Type, bulkid.StatusQueued, job.Source, job.Filename, job.FileSize, now, input.Len(), job.Nested.String()).Scan(&seq)
	if err != nil {
		return err
	}
	return input.Chunks(func(first, count int, data []byte) error {
		_, err := tx.Exec(ctx, "INSERT INTO job_input (job_seq, first, count, data) VALUES ($1, $2, $3, $4)", seq, first, count, data)
		return err
	})
}

// conflict turns the ECONFLICT of a job's insert, the one-job rule, into
// the error naming the job that holds the app.
func (db *DB) conflict(ctx context.Context, job *bulkid.Job, err error) error {
	if bulkid.ErrorCode(err) != bulkid.ECONFLICT {
		return err
	}
	// The transaction is gone; read the job that holds the app.
	active, aerr := db.ActiveJob(ctx, job.AppID)
	if aerr != nil {
		return aerr
	}
	return bulkid.ConflictError(active)
}

// pruneKeysBatch is how many expired idempotency keys one CreateJobWithKey
// deletes, so that the transaction stays short however many expired.
const pruneKeysBatch = 100

// CreateJobWithKey records the key first: a concurrent transaction
// recording the same key waits on the primary key until this one ends,
// then finds the key (this job) or, if this one rolled back, records it.
func (db *DB) CreateJobWithKey(ctx context.Context, job *bulkid.Job, input bulkid.JobInput, key bulkid.IdempotencyKey) (*bulkid.IdempotencyKey, error) {
	now := db.now().UTC()
	cutoff := now.Add(-bulkid.IdempotencyKeyTTL)
	var prior *bulkid.IdempotencyKey
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		prior = nil
		// An expired key of the same name is replaced; an unexpired one is kept.
		var inserted int
		err := tx.QueryRow(ctx, `INSERT INTO idempotency_keys (app_id, key, fingerprint, job_id, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (app_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, job_id = excluded.job_id, created_at = excluded.created_at
			WHERE idempotency_keys.created_at <= $6
			RETURNING 1`, job.AppID, key.Key, key.Fingerprint, job.ID, now, cutoff).Scan(&inserted)
		if errors.Is(err, pgx.ErrNoRows) {
			prior, err = readKey(ctx, tx, job.AppID, key.Key, cutoff)
			return err
		}
		if err != nil {
			return err
		}
		if err := insertJob(ctx, tx, job, input, now); err != nil {
			return err
		}
		// SKIP LOCKED: transactions pruning at once take different rows
		// and never wait on each other.
		_, err = tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE (app_id, key) IN
			(SELECT app_id, key FROM idempotency_keys WHERE created_at <= $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, cutoff, pruneKeysBatch)
		return err
	})
	if err = db.conflict(ctx, job, err); err != nil || prior != nil {
		return prior, err
	}
	job.Status, job.SubmittedAt, job.TotalRows = bulkid.StatusQueued, now, input.Len()
	return nil, nil
}

// IdempotencyKey returns the app's unexpired key.
func (db *DB) IdempotencyKey(ctx context.Context, appID int64, key string) (*bulkid.IdempotencyKey, error) {
	k, err := readKey(ctx, db.pool, appID, key, db.now().UTC().Add(-bulkid.IdempotencyKeyTTL))
	return k, interpretError(err)
}

type rowQuerier interface {
	QueryRow(ctx context.Context, query string, args ...any) pgx.Row
}

// readKey reads the app's key recorded after cutoff.
func readKey(ctx context.Context, q rowQuerier, appID int64, key string, cutoff time.Time) (*bulkid.IdempotencyKey, error) {
	k := &bulkid.IdempotencyKey{AppID: appID, Key: key}
	err := q.QueryRow(ctx, `SELECT fingerprint, job_id, created_at FROM idempotency_keys WHERE app_id = $1 AND key = $2 AND created_at > $3`,
		appID, key, cutoff).Scan(&k.Fingerprint, &k.JobID, &k.CreatedAt)
	if err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}
