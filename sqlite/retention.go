package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/bulkid/bulkid"
)

// CancelJob cancels a queued job at once, and records the cancel of a
// running one for its worker to see at its next write.
func (db *DB) CancelJob(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error) {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		var status bulkid.JobStatus
		var active bool
		if err := tx.QueryRowContext(ctx, "SELECT seq, status, active FROM jobs WHERE id = ? AND app_id = ?",
			jobID, appID).Scan(&seq, &status, &active); err != nil {
			return err
		}
		switch {
		case status == bulkid.StatusCanceled:
			return nil
		case !active:
			return errFinished
		case status == bulkid.StatusQueued:
			// No batch has run: cancel it now and free the app. A worker
			// that has just claimed it finds its lease gone.
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, cancel_requested = 1, active = 0, end_time = ?,
				lease_owner = NULL, lease_until = NULL WHERE seq = ?`, bulkid.StatusCanceled, ms(db.now()), seq); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM job_input WHERE job_seq = ?", seq); err != nil {
				return err
			}
			// It ends here, not in FinishJob: its webhooks hear of it here.
			return enqueueDeliveries(ctx, tx, appID, jobID, bulkid.StatusCanceled, ms(db.now()))
		default:
			_, err := tx.ExecContext(ctx, "UPDATE jobs SET cancel_requested = 1 WHERE seq = ?", seq)
			return err
		}
	})
	if err != nil && err != errFinished {
		return nil, err
	}
	job, jerr := db.Job(ctx, appID, jobID)
	if jerr != nil {
		return nil, jerr
	}
	if err == errFinished {
		return nil, bulkid.FinishedError(job)
	}
	return job, nil
}

// errFinished ends CancelJob's transaction for a finished job, whose
// EJOBFINISHED names the job as read afterwards.
var errFinished = &bulkid.Error{Code: bulkid.EJOBFINISHED, Message: "The job has finished."}

// PruneJobs removes up to limit rows of jobs finished more than age ago:
// each job's record errors, then its input, then the job.
func (db *DB) PruneJobs(ctx context.Context, age time.Duration, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		n = 0
		// A job a live Idempotency-Key names is kept until the key
		// expires, so that a replay always finds it.
		rows, err := tx.QueryContext(ctx, `SELECT seq FROM jobs WHERE active = 0 AND end_time < ?
			AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.app_id = jobs.app_id AND k.job_id = jobs.id AND k.created_at > ?)
			ORDER BY end_time, seq LIMIT ?`,
			ms(db.now().Add(-age)), ms(db.now().Add(-bulkid.IdempotencyKeyTTL)), limit)
		if err != nil {
			return err
		}
		var seqs []int64
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, seq)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, seq := range seqs {
			for _, del := range []struct {
				q    string
				args []any
			}{
				{"DELETE FROM job_errors WHERE job_seq = ? AND n IN (SELECT n FROM job_errors WHERE job_seq = ? ORDER BY n LIMIT ?)", []any{seq, seq, limit - n}},
				{"DELETE FROM job_input WHERE job_seq = ? AND first IN (SELECT first FROM job_input WHERE job_seq = ? ORDER BY first LIMIT ?)", []any{seq, seq, limit - n}},
				{"DELETE FROM jobs WHERE seq = ? AND NOT EXISTS (SELECT 1 FROM job_errors WHERE job_seq = ?) AND NOT EXISTS (SELECT 1 FROM job_input WHERE job_seq = ?)", []any{seq, seq, seq}},
			} {
				if n >= limit {
					return nil
				}
				res, err := tx.ExecContext(ctx, del.q, del.args...)
				if err != nil {
					return err
				}
				k, err := res.RowsAffected()
				if err != nil {
					return err
				}
				n += int(k)
			}
		}
		return nil
	})
	return n, err
}

// PruneEvents removes up to limit events received more than age ago and
// takes them off the totals.
func (db *DB) PruneEvents(ctx context.Context, age time.Duration, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `DELETE FROM events WHERE seq IN
			(SELECT seq FROM events WHERE received_at < ? ORDER BY received_at, seq LIMIT ?) RETURNING app_id, name`,
			ms(db.now().Add(-age)), limit)
		if err != nil {
			return err
		}
		type key struct {
			app  int64
			name string
		}
		gone := map[key]int{}
		var order []key
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.app, &k.name); err != nil {
				rows.Close()
				return err
			}
			if gone[k] == 0 {
				order = append(order, k)
			}
			gone[k]++
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, k := range order {
			if _, err := tx.ExecContext(ctx, decrementTotal, gone[k], k.app, k.name); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM event_totals WHERE app_id = ? AND name = ? AND count <= 0", k.app, k.name); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
