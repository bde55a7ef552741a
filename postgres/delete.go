package postgres

import (
	"context"
	"slices"

	"github.com/bulkid/bulkid"
	"github.com/jackc/pgx/v5"
)

var _ bulkid.DeleteStore = (*DB)(nil)

// A delete takes its locks in the order every writer does (see work.go):
// the app's lock first (lockApp), so that no other writer of the app's
// profiles runs meanwhile; then the users it deletes, sorted by id, which
// Track locks too; then the event totals it changes, sorted by name. Rows
// are locked with SELECT … ORDER BY … FOR UPDATE, which locks them in the
// order sorted.
const (
	lockCompanyRows = `SELECT company_id FROM companies WHERE app_id = $1 AND company_id IN (SELECT unnest($2::text[]))
		ORDER BY company_id COLLATE "C" FOR UPDATE`
	lockUserRows = `SELECT user_id, coalesce(company_id, '') FROM users WHERE app_id = $1 AND user_id IN (SELECT unnest($2::text[]))
		ORDER BY user_id COLLATE "C" FOR UPDATE`
	lockCompanyUsers = `SELECT user_id FROM users WHERE app_id = $1 AND company_id IN (SELECT unnest($2::text[]))
		ORDER BY user_id COLLATE "C" FOR UPDATE`
	deleteEventsOf = `WITH gone AS (DELETE FROM events WHERE app_id = $1 AND user_id IN (SELECT unnest($2::text[])) RETURNING name)
		SELECT name, count(*) FROM gone GROUP BY name`
	lockTotals = `SELECT name FROM event_totals WHERE app_id = $1 AND name IN (SELECT unnest($2::text[]))
		ORDER BY name COLLATE "C" FOR UPDATE`
	decrementTotals = `UPDATE event_totals t SET count = t.count - g.n
		FROM unnest($2::text[], $3::bigint[]) AS g (name, n) WHERE t.app_id = $1 AND t.name = g.name`
	dropEmptyTotals = `DELETE FROM event_totals WHERE app_id = $1 AND name IN (SELECT unnest($2::text[])) AND count <= 0`
	endAssociations = `UPDATE users SET company_id = NULL, updated_at = $3 WHERE app_id = $1 AND company_id IN (SELECT unnest($2::text[]))`
	// forgetCounts drops what a job's batches left pending for companies
	// being deleted, so that one named again starts from 0.
	forgetCounts = `DELETE FROM company_refresh WHERE app_id = $1 AND company_id IN (SELECT unnest($2::text[]))`
)

// DeleteUsers removes users, their events (and their share of the event
// totals) and their associations, and takes them off their companies'
// counts (addCounts). Under the app's lock no writer can move a user
// meanwhile, so the companies the locked users name are the ones whose
// counts change.
func (db *DB) DeleteUsers(ctx context.Context, appID int64, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ids = bulkid.SortedIDs(slices.Clone(ids))
	var deleted int
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		deleted = 0
		if err := lockApp(ctx, tx, appID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, lockUserRows, appID, ids)
		if err != nil {
			return err
		}
		var users []string
		leaving := map[string]int{} // users deleted, by company
		var user, company string
		if _, err := pgx.ForEachRow(rows, []any{&user, &company}, func() error {
			users = append(users, user)
			if company != "" {
				leaving[company]++
			}
			return nil
		}); err != nil {
			return err
		}
		if len(users) == 0 {
			return nil
		}
		if err := deleteEvents(ctx, tx, appID, users); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, deleteUsers, appID, users)
		if err != nil {
			return err
		}
		deleted = int(tag.RowsAffected())
		if len(leaving) > 0 {
			ids, deltas := make([]string, 0, len(leaving)), make([]int, 0, len(leaving))
			for id, n := range leaving {
				ids, deltas = append(ids, id), append(deltas, -n)
			}
			if _, err := tx.Exec(ctx, addCounts, appID, ids, deltas); err != nil {
				return err
			}
		}
		return nil
	})
	return deleted, err
}

// deleteEvents removes the events of users, whose rows tx has locked, and
// takes them off the app's event totals, dropping a total that reaches 0.
func deleteEvents(ctx context.Context, tx pgx.Tx, appID int64, users []string) error {
	rows, err := tx.Query(ctx, deleteEventsOf, appID, users)
	if err != nil {
		return err
	}
	var names []string
	var counts []int64
	var name string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		names, counts = append(names, name), append(counts, n)
		return nil
	}); err != nil || len(names) == 0 {
		return err
	}
	sorted := bulkid.SortedIDs(slices.Clone(names))
	if _, err := collect(ctx, tx, lockTotals, appID, sorted); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, decrementTotals, appID, names, counts); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, dropEmptyTotals, appID, sorted)
	return err
}

// DeleteCompanies removes companies and ends their users' association,
// with what a running job left pending for their counts.
func (db *DB) DeleteCompanies(ctx context.Context, appID int64, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ids = bulkid.SortedIDs(slices.Clone(ids))
	now := db.now()
	var deleted int
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		deleted = 0
		if err := lockApp(ctx, tx, appID); err != nil {
			return err
		}
		locked, err := collect(ctx, tx, lockCompanyRows, appID, ids)
		if err != nil || len(locked) == 0 {
			return err
		}
		// Every writer that moves a user into or out of these companies
		// holds the app's lock, so their users cannot change until commit.
		present := make([]string, 0, len(locked))
		for _, id := range ids {
			if locked[id] {
				present = append(present, id)
			}
		}
		if _, err := collect(ctx, tx, lockCompanyUsers, appID, present); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, endAssociations, appID, present, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, deleteCompanies, appID, present)
		if err != nil {
			return err
		}
		deleted = int(tag.RowsAffected())
		_, err = tx.Exec(ctx, forgetCounts, appID, present)
		return err
	})
	return deleted, err
}
