package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/sqlstore"
)

// CreateJob stores a job and its input in one transaction.
func (db *DB) CreateJob(ctx context.Context, job *bulkid.Job, input bulkid.JobInput) error {
	now := db.now().UTC().Truncate(1e6)
	if err := db.inTx(ctx, func(tx *sql.Tx) error { return insertJob(ctx, tx, job, input, now) }); err != nil {
		return err
	}
	job.Status, job.SubmittedAt, job.TotalRows = bulkid.StatusQueued, now, input.Len()
	return nil
}

// insertJob stores job, submitted at now, and its input in tx.
func insertJob(ctx context.Context, tx *sql.Tx, job *bulkid.Job, input bulkid.JobInput, now time.Time) error {
	var seq int64
	err := tx.QueryRowContext(ctx, `INSERT INTO jobs (id, app_id, type, status, source, filename, file_size, submitted_at, total_rows, nested_metadata)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		job.ID, job.AppID, job.Type, bulkid.StatusQueued, job.Source, job.Filename, job.FileSize, ms(now), input.Len(), job.Nested.String()).Scan(&seq)
	if bulkid.ErrorCode(interpretError(err)) == bulkid.ECONFLICT {
		active, aerr := sqlstore.NewReader(querier{tx}, dialect).ActiveJob(ctx, job.AppID)
		if aerr != nil {
			return aerr
		}
		return bulkid.ConflictError(active)
	}
	if err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO job_input (job_seq, first, count, data) VALUES (?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer stmt.Close()
	return input.Chunks(func(first, count int, data []byte) error {
		_, err := stmt.ExecContext(ctx, seq, first, count, data)
		return err
	})
}

// pruneKeysBatch is how many expired idempotency keys one CreateJobWithKey
// deletes, so that the transaction stays short however many expired.
const pruneKeysBatch = 100

// CreateJobWithKey records the key, or finds it unexpired, then stores the
// job, all in one transaction (writes are serialized: BEGIN IMMEDIATE).
func (db *DB) CreateJobWithKey(ctx context.Context, job *bulkid.Job, input bulkid.JobInput, key bulkid.IdempotencyKey) (*bulkid.IdempotencyKey, error) {
	now := db.now().UTC().Truncate(1e6)
	cutoff := ms(now.Add(-bulkid.IdempotencyKeyTTL))
	var prior *bulkid.IdempotencyKey
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// An expired key of the same name is replaced; an unexpired one is kept.
		var inserted int
		err := tx.QueryRowContext(ctx, `INSERT INTO idempotency_keys (app_id, key, fingerprint, job_id, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (app_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, job_id = excluded.job_id, created_at = excluded.created_at
			WHERE idempotency_keys.created_at <= ?
			RETURNING 1`, job.AppID, key.Key, key.Fingerprint, job.ID, ms(now), cutoff).Scan(&inserted)
		if errors.Is(err, sql.ErrNoRows) {
			prior, err = readKey(ctx, tx, job.AppID, key.Key, cutoff)
			return err
		}
		if err != nil {
			return err
		}
		if err := insertJob(ctx, tx, job, input, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE (app_id, key) IN
			(SELECT app_id, key FROM idempotency_keys WHERE created_at <= ? ORDER BY created_at LIMIT ?)`, cutoff, pruneKeysBatch)
		return err
	})
	if err != nil || prior != nil {
		return prior, err
	}
	job.Status, job.SubmittedAt, job.TotalRows = bulkid.StatusQueued, now, input.Len()
	return nil, nil
}

// IdempotencyKey returns the app's unexpired key.
func (db *DB) IdempotencyKey(ctx context.Context, appID int64, key string) (*bulkid.IdempotencyKey, error) {
	cutoff := ms(db.now().UTC().Add(-bulkid.IdempotencyKeyTTL))
	k, err := readKey(ctx, db.read, appID, key, cutoff)
	return k, interpretError(err)
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readKey reads the app's key recorded after cutoff (Unix ms).
func readKey(ctx context.Context, q rowQuerier, appID int64, key string, cutoff int64) (*bulkid.IdempotencyKey, error) {
	k := &bulkid.IdempotencyKey{AppID: appID, Key: key}
	var created int64
	err := q.QueryRowContext(ctx, `SELECT fingerprint, job_id, created_at FROM idempotency_keys WHERE app_id = ? AND key = ? AND created_at > ?`,
		appID, key, cutoff).Scan(&k.Fingerprint, &k.JobID, &created)
	if err != nil {
		return nil, err
	}
	k.CreatedAt = time.UnixMilli(created).UTC()
	return k, nil
}
