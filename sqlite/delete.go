package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/bulkid/bulkid"
)

var _ bulkid.DeleteStore = (*DB)(nil)

// A delete is one transaction on the single write connection, so it is
// ordered with identify calls and a job's batches as they commit: what
// committed before it is deleted, what commits after it starts afresh.
// Each statement takes every id at once, as a JSON array (json_each).
const (
	idsIn = `IN (SELECT value FROM json_each(?))`
	// Neither DISTINCT nor "company_id IS NOT NULL": with either, the
	// planner walks all the app's users by users_by_company.
	companiesOfUsers = `SELECT company_id FROM users WHERE app_id = ? AND user_id ` + idsIn
	eventCounts      = `SELECT name, count(*) FROM events WHERE app_id = ? AND user_id ` + idsIn + ` GROUP BY name`
	deleteEventsOf   = `DELETE FROM events WHERE app_id = ? AND user_id ` + idsIn
	deleteUsersIn    = `DELETE FROM users WHERE app_id = ? AND user_id ` + idsIn
	decrementTotal   = `UPDATE event_totals SET count = count - ? WHERE app_id = ? AND name = ?`
	dropEmptyTotals  = `DELETE FROM event_totals WHERE app_id = ? AND count <= 0`
	endAssociations  = `UPDATE users SET company_id = NULL, updated_at = ? WHERE app_id = ? AND company_id ` + idsIn
	deleteCompanies  = `DELETE FROM companies WHERE app_id = ? AND company_id ` + idsIn
	presentCompanies = `SELECT company_id FROM companies WHERE app_id = ? AND company_id ` + idsIn
)

// jsonIDs is ids as the JSON array json_each reads.
func jsonIDs(ids []string) (string, error) {
	b, err := json.Marshal(ids)
	return string(b), err
}

// column returns the first column of q's rows.
func column(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// DeleteUsers removes users, their events (and their share of the event
// totals) and their associations, and takes them off their companies'
// counts (addCounts).
func (db *DB) DeleteUsers(ctx context.Context, appID int64, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	list, err := jsonIDs(ids)
	if err != nil {
		return 0, err
	}
	var deleted int
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var companies []string
		rows, err := tx.QueryContext(ctx, companiesOfUsers, appID, list)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c sql.NullString
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return err
			}
			if c.Valid {
				companies = append(companies, c.String)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, eventCounts, appID, list)
		if err != nil {
			return err
		}
		gone := map[string]int64{} // events removed, by name
		for rows.Next() {
			var name string
			var n int64
			if err := rows.Scan(&name, &n); err != nil {
				rows.Close()
				return err
			}
			gone[name] = n
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(gone) > 0 {
			if _, err := tx.ExecContext(ctx, deleteEventsOf, appID, list); err != nil {
				return err
			}
			for name, n := range gone {
				if _, err := tx.ExecContext(ctx, decrementTotal, n, appID, name); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, dropEmptyTotals, appID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, deleteUsersIn, appID, list)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		deleted = int(n)
		leaving := map[string]int{} // users deleted, by company
		for _, id := range companies {
			leaving[id]++
		}
		ids, deltas := make([]string, 0, len(leaving)), make([]int, 0, len(leaving))
		for id, n := range leaving {
			ids, deltas = append(ids, id), append(deltas, -n)
		}
		return addCounts(ctx, tx, appID, ids, deltas)
	})
	return deleted, err
}

// DeleteCompanies removes companies and ends their users' association,
// with what a running job left pending for their counts.
func (db *DB) DeleteCompanies(ctx context.Context, appID int64, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	now := ms(db.now())
	var deleted int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		all, err := jsonIDs(ids)
		if err != nil {
			return err
		}
		present, err := column(ctx, tx, presentCompanies, appID, all)
		if err != nil || len(present) == 0 {
			return err
		}
		list, err := jsonIDs(present)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, endAssociations, now, appID, list); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, deleteCompanies, appID, list)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		deleted = int(n)
		// What a job's batches left pending for the companies goes with
		// them, so that one named again starts from 0.
		_, err = tx.ExecContext(ctx, "DELETE FROM company_refresh WHERE app_id = ? AND company_id "+idsIn, appID, list)
		return err
	})
	return deleted, err
}
