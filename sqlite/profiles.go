package sqlite

import (
	"context"
	"database/sql"

	"github.com/bulkid/bulkid"
)

const companyColumns = "company_id, metadata, user_count, visible, created_at, updated_at"

func scanCompany(s scanner) (*bulkid.Company, error) {
	var c bulkid.Company
	var md string
	var created, updated sql.NullInt64
	if err := s.Scan(&c.ID, &md, &c.UserCount, &c.Visible, &created, &updated); err != nil {
		return nil, interpretError(err)
	}
	c.Metadata, c.CreatedAt, c.UpdatedAt = []byte(md), fromMS(created), fromMS(updated)
	return &c, nil
}

// Company returns one company of an app.
func (db *DB) Company(ctx context.Context, appID int64, companyID string) (*bulkid.Company, error) {
	return scanCompany(db.read.QueryRowContext(ctx, "SELECT "+companyColumns+" FROM companies WHERE app_id = ? AND company_id = ?",
		appID, companyID))
}

// ListCompanies lists an app's companies by id.
func (db *DB) ListCompanies(ctx context.Context, appID int64, p bulkid.Page, all bool) ([]*bulkid.Company, error) {
	q := "SELECT " + companyColumns + " FROM companies WHERE app_id = ? AND company_id > ?"
	if !all {
		q += " AND visible = 1"
	}
	rows, err := db.read.QueryContext(ctx, q+" ORDER BY company_id LIMIT ?", appID, p.After, p.Limit)
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
	var company sql.NullString
	var md string
	var created, updated sql.NullInt64
	err := db.read.QueryRowContext(ctx, "SELECT user_id, company_id, metadata, created_at, updated_at FROM users WHERE app_id = ? AND user_id = ?",
		appID, userID).Scan(&u.ID, &company, &md, &created, &updated)
	if err != nil {
		return nil, interpretError(err)
	}
	u.CompanyID, u.Metadata, u.CreatedAt, u.UpdatedAt = company.String, []byte(md), fromMS(created), fromMS(updated)
	return &u, nil
}
