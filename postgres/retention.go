package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/jackc/pgx/v5"
)

// errFinished ends CancelJob's transaction for a finished job, whose
// EJOBFINISHED names the job as read afterwards.
var errFinished = &bulkid.Error{Code: bulkid.EJOBFINISHED, Message: "The job has finished."}

// CancelJob cancels a queued job at once, and records the cancel of a
// running one for its worker to see at its next write. The job's row lock
// orders it with the worker's writes, which lock the row first too.
func (db *DB) CancelJob(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error) {
	queued := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		queued = false
		var seq int64
		var status bulkid.JobStatus
		var active bool
		if err := tx.QueryRow(ctx, "SELECT seq, status, active FROM jobs WHERE id = $1 AND app_id = $2 FOR UPDATE",
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
			queued = true
			if _, err := tx.Exec(ctx, `UPDATE jobs SET status = $1, cancel_requested = true, active = false, end_time = $2,
				lease_owner = NULL, lease_until = NULL WHERE seq = $3`, bulkid.StatusCanceled, db.now(), seq); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM job_input WHERE job_seq = $1", seq); err != nil {
				return err
			}
			// It ends here, not in FinishJob: its webhooks hear of it here.
			return enqueueDeliveries(ctx, tx, appID, jobID, bulkid.StatusCanceled, db.now())
		default:
			_, err := tx.Exec(ctx, "UPDATE jobs SET cancel_requested = true WHERE seq = $1", seq)
			return err
		}
	})
	if err != nil && err != errFinished {
		return nil, interpretError(err)
	}
	if queued {
		db.reclaim(ctx)
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

// PruneJobs removes up to limit rows of jobs finished more than age ago:
// each job's record errors, then its input, then the job. The jobs are
// locked with SKIP LOCKED, so that processes pruning at once take
// different jobs and never wait on one another.
func (db *DB) PruneJobs(ctx context.Context, age time.Duration, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := 0
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		// A job a live Idempotency-Key names is kept until the key
		// expires, so that a replay always finds it.
		rows, err := tx.Query(ctx, `SELECT seq FROM jobs WHERE NOT active AND end_time < $1
			AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.app_id = jobs.app_id AND k.job_id = jobs.id AND k.created_at > $3)
			ORDER BY end_time, seq LIMIT $2 FOR UPDATE SKIP LOCKED`, db.now().Add(-age), limit, db.now().Add(-bulkid.IdempotencyKeyTTL))
		if err != nil {
			return err
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, seq := range seqs {
			for _, del := range []struct {
				q    string
				args []any
			}{
				{"DELETE FROM job_errors WHERE job_seq = $1 AND n IN (SELECT n FROM job_errors WHERE job_seq = $1 ORDER BY n LIMIT $2)", []any{seq, limit - n}},
				{"DELETE FROM job_input WHERE job_seq = $1 AND first IN (SELECT first FROM job_input WHERE job_seq = $1 ORDER BY first LIMIT $2)", []any{seq, limit - n}},
				{"DELETE FROM jobs WHERE seq = $1 AND NOT EXISTS (SELECT 1 FROM job_errors WHERE job_seq = $1) AND NOT EXISTS (SELECT 1 FROM job_input WHERE job_seq = $1)", []any{seq}},
			} {
				if n >= limit {
					return nil
				}
				tag, err := tx.Exec(ctx, del.q, del.args...)
				if err != nil {
					return err
				}
				n += int(tag.RowsAffected())
			}
		}
		return nil
	})
	return n, interpretError(err)
}

// PruneEvents removes up to limit events received more than age ago and
// takes them off the totals, whose rows it locks after the events, sorted
// by app and name as every writer of the totals does. SKIP LOCKED lets
// processes prune at once, each taking other events.
func (db *DB) PruneEvents(ctx context.Context, age time.Duration, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := 0
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `WITH gone AS (DELETE FROM events WHERE seq IN
				(SELECT seq FROM events WHERE received_at < $1 ORDER BY received_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED)
				RETURNING app_id, name)
			SELECT app_id, name, count(*) FROM gone GROUP BY app_id, name`, db.now().Add(-age), limit)
		if err != nil {
			return err
		}
		type total struct {
			app   int64
			name  string
			count int64
		}
		var gone []total
		var t total
		if _, err := pgx.ForEachRow(rows, []any{&t.app, &t.name, &t.count}, func() error {
			gone = append(gone, t)
			n += int(t.count)
			return nil
		}); err != nil {
			return err
		}
		slices.SortFunc(gone, func(a, b total) int {
			return cmp.Or(cmp.Compare(a.app, b.app), cmp.Compare(a.name, b.name)) // bytewise, as COLLATE "C"
		})
		for _, t := range gone {
			if _, err := tx.Exec(ctx, "UPDATE event_totals SET count = count - $3 WHERE app_id = $1 AND name = $2", t.app, t.name, t.count); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM event_totals WHERE app_id = $1 AND name = $2 AND count <= 0", t.app, t.name); err != nil {
				return err
			}
		}
		return nil
	})
	return n, interpretError(err)
}
