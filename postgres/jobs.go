package postgres

import (
	"context"

	"github.com/bulkid/bulkid"
	"github.com/jackc/pgx/v5"
)

// CreateJob stores a job and its input in one transaction, the input in
// chunks (internal/recordpack), an INSERT each.
func (db *DB) CreateJob(ctx context.Context, job *bulkid.Job, input bulkid.JobInput) error {
	now := db.now().UTC()
	err := db.inTx(ctx, func(tx pgx.Tx) error {
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
	})
	if bulkid.ErrorCode(err) == bulkid.ECONFLICT {
		// The transaction is gone; read the job that holds the app.
		active, aerr := db.ActiveJob(ctx, job.AppID)
		if aerr != nil {
			return aerr
		}
		return bulkid.ConflictError(active)
	}
	if err != nil {
		return err
	}
	job.Status, job.SubmittedAt, job.TotalRows = bulkid.StatusQueued, now, input.Len()
	return nil
}
