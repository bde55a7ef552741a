package postgres

import (
	"context"

	"github.com/bulkid/bulkid"
	"github.com/jackc/pgx/v5"
)

const companyColumns = "company_id, metadata, user_count, visible, created_at, updated_at"

func scanCompany(row pgx.Row) (*bulkid.Company, error) {
	var c bulkid.Company
	if err := row.Scan(&c.ID, &c.Metadata, &c.UserCount, &c.Visible, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, interpretError(err)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

// Company returns one company of an app.
func (db *DB) Company(ctx context.Context, appID int64, companyID string) (*bulkid.Company, error) {
	return scanCompany(db.pool.QueryRow(ctx, "SELECT "+companyColumns+" FROM companies WHERE app_id = $1 AND company_id = $2",
		appID, companyID))
}

// ListCompanies lists an app's companies by id.
func (db *DB) ListCompanies(ctx context.Context, appID int64, p bulkid.Page, all bool) ([]*bulkid.Company, error) {
	q := "SELECT " + companyColumns + " FROM companies WHERE app_id = $1 AND company_id > $2"
	if !all {
		q += " AND visible"
	}
	rows, err := db.pool.Query(ctx, q+" ORDER BY company_id LIMIT $3", appID, p.After, p.Limit)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var out []*bulkid.Company
	for rows.Next() {
		c, err := scanCompany(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, interpretError(rows.Err())
}

// User returns one user of an app.
func (db *DB) User(ctx context.Context, appID int64, userID string) (*bulkid.User, error) {
	var u bulkid.User
	var company *string
	err := db.pool.QueryRow(ctx, "SELECT user_id, company_id, metadata, created_at, updated_at FROM users WHERE app_id = $1 AND user_id = $2",
		appID, userID).Scan(&u.ID, &company, &u.Metadata, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return nil, interpretError(err)
	}
	if company != nil {
		u.CompanyID = *company
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}
