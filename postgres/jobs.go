package postgres

import (
	"context"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/jackc/pgx/v5"
)

const jobColumns = `seq, id, app_id, type, status, source, filename, file_size, submitted_at, start_time, end_time,
	total_rows, completed_rows, failed_rows, cursor, error`

// scanJob reads a row of jobColumns.
func scanJob(row pgx.Row) (*bulkid.Job, int64, error) {
	var j bulkid.Job
	var seq int64
	var start, end *time.Time
	err := row.Scan(&seq, &j.ID, &j.AppID, &j.Type, &j.Status, &j.Source, &j.Filename, &j.FileSize,
		&j.SubmittedAt, &start, &end, &j.TotalRows, &j.CompletedRows, &j.FailedRows, &j.Cursor, &j.Error)
	if err != nil {
		return nil, 0, interpretError(err)
	}
	j.SubmittedAt, j.StartTime, j.EndTime = j.SubmittedAt.UTC(), optTime(start), optTime(end)
	return &j, seq, nil
}

// CreateJob stores a job and its input in one transaction, the input
// through COPY.
func (db *DB) CreateJob(ctx context.Context, job *bulkid.Job, input bulkid.JobInput) error {
	now := db.now().UTC()
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var seq int64
		err := tx.QueryRow(ctx, `INSERT INTO jobs (id, app_id, type, status, source, filename, file_size, submitted_at, total_rows)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq`,
			job.ID, job.AppID, job.Type, bulkid.StatusQueued, job.Source, job.Filename, job.FileSize, now, input.Len()).Scan(&seq)
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

// ActiveJob returns the app's unfinished job.
func (db *DB) ActiveJob(ctx context.Context, appID int64) (*bulkid.Job, error) {
	j, _, err := scanJob(db.pool.QueryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE app_id = $1 AND active", appID))
	return j, err
}

// Job returns one job of an app with its first record errors.
func (db *DB) Job(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error) {
	j, seq, err := scanJob(db.pool.QueryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = $1 AND app_id = $2", jobID, appID))
	if err != nil {
		return nil, err
	}
	if j.FailedRows == 0 {
		return j, nil // no record error to read
	}
	if j.Errors, err = db.jobErrors(ctx, seq, 0, bulkid.MaxJobErrors); err != nil {
		return nil, err
	}
	return j, nil
}

// ListJobs lists an app's jobs, newest first.
func (db *DB) ListJobs(ctx context.Context, appID int64, p bulkid.Page) ([]*bulkid.Job, error) {
	before := int64(1<<63 - 1)
	if p.After != "" {
		err := db.pool.QueryRow(ctx, "SELECT seq FROM jobs WHERE id = $1 AND app_id = $2", p.After, appID).Scan(&before)
		if err == pgx.ErrNoRows {
			return nil, bulkid.Errorf(bulkid.EINVALID, "The cursor does not name a job of this app.")
		} else if err != nil {
			return nil, interpretError(err)
		}
	}
	rows, err := db.pool.Query(ctx, "SELECT "+jobColumns+" FROM jobs WHERE app_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
		appID, before, p.Limit)
	if err != nil {
		return nil, interpretError(err)
	}
	var jobs []*bulkid.Job
	var seqs []int64
	for rows.Next() {
		j, seq, err := scanJob(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		jobs, seqs = append(jobs, j), append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, interpretError(err)
	}
	for i, j := range jobs {
		if j.FailedRows == 0 {
			continue
		}
		if j.Errors, err = db.jobErrors(ctx, seqs[i], 0, bulkid.MaxJobErrors); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// JobErrors returns a job's record errors in input order.
func (db *DB) JobErrors(ctx context.Context, appID int64, jobID string, fromSeq, limit int) ([]bulkid.RecordError, error) {
	var seq int64
	if err := db.pool.QueryRow(ctx, "SELECT seq FROM jobs WHERE id = $1 AND app_id = $2", jobID, appID).Scan(&seq); err != nil {
		return nil, interpretError(err)
	}
	return db.jobErrors(ctx, seq, fromSeq, limit)
}

func (db *DB) jobErrors(ctx context.Context, jobSeq int64, fromSeq, limit int) ([]bulkid.RecordError, error) {
	rows, err := db.pool.Query(ctx, `SELECT n, pos, rec_id, code, message, raw FROM job_errors
		WHERE job_seq = $1 AND n >= $2 ORDER BY n LIMIT $3`, jobSeq, fromSeq, limit)
	if err != nil {
		return nil, interpretError(err)
	}
	errs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (bulkid.RecordError, error) {
		var e bulkid.RecordError
		err := row.Scan(&e.Seq, &e.Pos, &e.ID, &e.Code, &e.Message, &e.Raw)
		return e, err
	})
	return errs, interpretError(err)
}
