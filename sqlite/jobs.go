package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bulkid/bulkid"
)

const jobColumns = `seq, id, app_id, type, status, source, filename, file_size, submitted_at, start_time, end_time,
	total_rows, completed_rows, failed_rows, cursor, error`

type scanner interface{ Scan(...any) error }

// scanJob reads a row of jobColumns.
func scanJob(s scanner) (*bulkid.Job, int64, error) {
	var j bulkid.Job
	var seq int64
	var submitted, start, end sql.NullInt64
	err := s.Scan(&seq, &j.ID, &j.AppID, &j.Type, &j.Status, &j.Source, &j.Filename, &j.FileSize,
		&submitted, &start, &end, &j.TotalRows, &j.CompletedRows, &j.FailedRows, &j.Cursor, &j.Error)
	if err != nil {
		return nil, 0, interpretError(err)
	}
	j.SubmittedAt, j.StartTime, j.EndTime = fromMS(submitted), fromMS(start), fromMS(end)
	return &j, seq, nil
}

// CreateJob stores a job and its input in one transaction.
func (db *DB) CreateJob(ctx context.Context, job *bulkid.Job, input bulkid.JobInput) error {
	now := db.now().UTC().Truncate(1e6)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		err := tx.QueryRowContext(ctx, `INSERT INTO jobs (id, app_id, type, status, source, filename, file_size, submitted_at, total_rows)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
			job.ID, job.AppID, job.Type, bulkid.StatusQueued, job.Source, job.Filename, job.FileSize, ms(now), input.Len()).Scan(&seq)
		if bulkid.ErrorCode(interpretError(err)) == bulkid.ECONFLICT {
			active, aerr := scanActiveJob(ctx, tx, job.AppID)
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

func scanActiveJob(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, appID int64) (*bulkid.Job, error) {
	j, _, err := scanJob(q.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE app_id = ? AND active = 1", appID))
	return j, err
}

// ActiveJob returns the app's unfinished job.
func (db *DB) ActiveJob(ctx context.Context, appID int64) (*bulkid.Job, error) {
	return scanActiveJob(ctx, db.read, appID)
}

// Job returns one job of an app with its first record errors.
func (db *DB) Job(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error) {
	j, seq, err := scanJob(db.read.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ? AND app_id = ?", jobID, appID))
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
		err := db.read.QueryRowContext(ctx, "SELECT seq FROM jobs WHERE id = ? AND app_id = ?", p.After, appID).Scan(&before)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, bulkid.Errorf(bulkid.EINVALID, "The cursor does not name a job of this app.")
		} else if err != nil {
			return nil, interpretError(err)
		}
	}
	rows, err := db.read.QueryContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE app_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
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
	if err := db.read.QueryRowContext(ctx, "SELECT seq FROM jobs WHERE id = ? AND app_id = ?", jobID, appID).Scan(&seq); err != nil {
		return nil, interpretError(err)
	}
	return db.jobErrors(ctx, seq, fromSeq, limit)
}

func (db *DB) jobErrors(ctx context.Context, jobSeq int64, fromSeq, limit int) ([]bulkid.RecordError, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT n, pos, rec_id, code, message, raw FROM job_errors
		WHERE job_seq = ? AND n >= ? ORDER BY n LIMIT ?`, jobSeq, fromSeq, limit)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var errs []bulkid.RecordError
	for rows.Next() {
		var e bulkid.RecordError
		if err := rows.Scan(&e.Seq, &e.Pos, &e.ID, &e.Code, &e.Message, &e.Raw); err != nil {
			return nil, interpretError(err)
		}
		errs = append(errs, e)
	}
	return errs, interpretError(rows.Err())
}
