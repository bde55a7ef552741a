package sqlite

import (
	"context"
	"database/sql"

	"github.com/bulkid/bulkid"
)

// Identify applies records outside any job and refreshes what they change.
func (db *DB) Identify(ctx context.Context, appID int64, companies, users []bulkid.Record) error {
	now := ms(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := applyCompanies(ctx, tx, appID, companies, now); err != nil {
			return err
		}
		if len(users) == 0 {
			return nil
		}
		if err := applyUsers(ctx, tx, appID, users, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, refreshCompanies, appID)
		return err
	})
}
