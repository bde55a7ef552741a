package postgres

import (
	"context"

	"github.com/bulkid/bulkid"
	"github.com/jackc/pgx/v5"
)

// Identify applies records outside any job, under the app's lock
// (lockApp), and adds what they change to the counts of their companies,
// with what a running job's batches left pending for those companies
// (addCounts): their counts are exact when it returns; the job's other
// companies wait for its refresh. A record the profile bounds refuse fails
// the call, EINVALIDRECORD, and nothing is written.
func (db *DB) Identify(ctx context.Context, appID int64, companies, users []bulkid.Record) error {
	now := db.now()
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockApp(ctx, tx, appID); err != nil {
			return err
		}
		res, err := applyRecords(ctx, tx, appID, companies, users, now)
		if err != nil {
			return err
		}
		if err := bulkid.RejectedError(res); err != nil {
			return err
		}
		if len(res.Dirty) > 0 {
			_, err = tx.Exec(ctx, addCounts, appID, res.Dirty, res.Deltas)
		}
		return err
	})
}
