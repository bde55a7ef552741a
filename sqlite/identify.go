package sqlite

import (
	"context"
	"database/sql"

	"github.com/bulkid/bulkid"
)

// Identify applies records outside any job and refreshes what they change.
func (db *DB) Identify(ctx context.Context, appID int64, t bulkid.JobType, recs []bulkid.Record) error {
	now := ms(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if t == bulkid.JobCompanies {
			return applyCompanies(ctx, tx, appID, recs, now)
		}
		if err := applyUsers(ctx, tx, appID, recs, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, refreshCompanies, appID)
		return err
	})
}
