package sqlite

import (
	"context"
	"database/sql"

	"github.com/bulkid/bulkid"
)

// Identify applies records outside any job and refreshes the counts of
// the companies they change (those alone: a running job's companies are
// its own refresh's). A record the profile bounds refuse fails the call,
// EINVALIDRECORD, and nothing is written.
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
		for _, id := range res.Dirty {
			if _, err := tx.ExecContext(ctx, refreshCompany, appID, id); err != nil {
				return err
			}
		}
		return nil
	})
}
