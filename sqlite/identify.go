package sqlite

import (
	"context"
	"database/sql"

	"github.com/bulkid/bulkid"
)

// Identify applies records outside any job and adds what they change to
// the counts of their companies, with what a running job's batches left
// pending for those companies (addCounts): their counts are exact when it
// returns; the job's other companies wait for its refresh. A record the
// profile bounds refuse fails the call, EINVALIDRECORD, and nothing is
// written.
func (db *DB) Identify(ctx context.Context, appID int64, companies, users []bulkid.Record) error {
	now := ms(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := applyRecords(ctx, tx, appID, companies, users, now)
		if err != nil {
			return err
		}
		if err := bulkid.RejectedError(res); err != nil {
			return err
		}
		return addCounts(ctx, tx, appID, res.Dirty, res.Deltas)
	})
}
