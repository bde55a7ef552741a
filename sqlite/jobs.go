package sqlite

import (
	"context"
	"database/sql"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/sqlstore"
)

// CreateJob stores a job and its input in one transaction.
func (db *DB) CreateJob(ctx context.Context, job *bulkid.Job, input bulkid.JobInput) error {
	now := db.now().UTC().Truncate(1e6)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
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
	})
	if err != nil {
		return err
	}
	job.Status, job.SubmittedAt, job.TotalRows = bulkid.StatusQueued, now, input.Len()
	return nil
}
