package sqlite

import (
	"context"
	"database/sql"
	"slices"

	"github.com/bulkid/bulkid"
)

var _ bulkid.DeleteStore = (*DB)(nil)

// A delete is one transaction on the single write connection, so it is
// ordered with identify calls and a job's batches as they commit: what
// committed before it is deleted, what commits after it starts afresh.
const (
	userCompany       = `SELECT company_id FROM users WHERE app_id = ? AND user_id = ?`
	userEventCounts   = `SELECT name, count(*) FROM events WHERE app_id = ? AND user_id = ? GROUP BY name`
	deleteUserEvents  = `DELETE FROM events WHERE app_id = ? AND user_id = ?`
	deleteUser        = `DELETE FROM users WHERE app_id = ? AND user_id = ?`
	decrementTotal    = `UPDATE event_totals SET count = count - ? WHERE app_id = ? AND name = ?`
	dropEmptyTotal    = `DELETE FROM event_totals WHERE app_id = ? AND name = ? AND count <= 0`
	endAssociations   = `UPDATE users SET company_id = NULL, updated_at = ? WHERE app_id = ? AND company_id = ?`
	deleteCompanyByID = `DELETE FROM companies WHERE app_id = ? AND company_id = ?`
)

// prepare prepares qs in tx; the statements close with tx.
func prepare(ctx context.Context, tx *sql.Tx, qs ...string) ([]*sql.Stmt, error) {
	stmts := make([]*sql.Stmt, len(qs))
	for i, q := range qs {
		s, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return nil, err
		}
		stmts[i] = s
	}
	return stmts, nil
}

// DeleteUsers removes users, their events (and their share of the event
// totals) and their associations, and recounts their companies.
func (db *DB) DeleteUsers(ctx context.Context, appID int64, ids []string) (int, error) {
	ids = bulkid.SortedIDs(slices.Clone(ids))
	var deleted int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		deleted = 0
		stmts, err := prepare(ctx, tx, userCompany, userEventCounts, deleteUserEvents, deleteUser)
		if err != nil {
			return err
		}
		selCompany, counts, delEvents, delUser := stmts[0], stmts[1], stmts[2], stmts[3]
		var companies []string
		gone := map[string]int64{} // events removed, by name
		for _, id := range ids {
			var company sql.NullString
			switch err := selCompany.QueryRowContext(ctx, appID, id).Scan(&company); {
			case err == sql.ErrNoRows:
				continue
			case err != nil:
				return err
			}
			if company.Valid {
				companies = append(companies, company.String)
			}
			rows, err := counts.QueryContext(ctx, appID, id)
			if err != nil {
				return err
			}
			for rows.Next() {
				var name string
				var n int64
				if err := rows.Scan(&name, &n); err != nil {
					rows.Close()
					return err
				}
				gone[name] += n
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if _, err := delEvents.ExecContext(ctx, appID, id); err != nil {
				return err
			}
			if _, err := delUser.ExecContext(ctx, appID, id); err != nil {
				return err
			}
			deleted++
		}
		for name, n := range gone {
			if _, err := tx.ExecContext(ctx, decrementTotal, n, appID, name); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, dropEmptyTotal, appID, name); err != nil {
				return err
			}
		}
		for _, id := range bulkid.SortedIDs(companies) {
			if _, err := tx.ExecContext(ctx, refreshCompany, appID, id); err != nil {
				return err
			}
		}
		return nil
	})
	return deleted, err
}

// DeleteCompanies removes companies and ends their users' association.
func (db *DB) DeleteCompanies(ctx context.Context, appID int64, ids []string) (int, error) {
	ids = bulkid.SortedIDs(slices.Clone(ids))
	now := ms(db.now())
	var deleted int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		deleted = 0
		stmts, err := prepare(ctx, tx, endAssociations, deleteCompanyByID)
		if err != nil {
			return err
		}
		end, del := stmts[0], stmts[1]
		for _, id := range ids {
			res, err := del.ExecContext(ctx, appID, id)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			deleted++
			if _, err := end.ExecContext(ctx, now, appID, id); err != nil {
				return err
			}
		}
		return nil
	})
	return deleted, err
}
