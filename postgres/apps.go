package postgres

import (
	"context"
	"errors"

	"github.com/bulkid/bulkid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CreateApp stores a new app.
func (db *DB) CreateApp(ctx context.Context, name string, keyHash []byte) (*bulkid.App, error) {
	app := &bulkid.App{Name: name, CreatedAt: db.now().UTC()}
	err := db.pool.QueryRow(ctx, "INSERT INTO apps (name, key_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
		name, keyHash, app.CreatedAt).Scan(&app.ID)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "apps_name" {
		return nil, bulkid.NameTakenError(name)
	}
	if err != nil {
		return nil, interpretError(err)
	}
	return app, nil
}

// CreateFirstApp creates an app if the store has none; the table lock makes
// processes that start together agree on one first app.
func (db *DB) CreateFirstApp(ctx context.Context, name string, keyHash []byte) (*bulkid.App, bool, error) {
	var app *bulkid.App
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE apps IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM apps)").Scan(&exists); err != nil || exists {
			return err
		}
		app = &bulkid.App{Name: name, CreatedAt: db.now().UTC()}
		return tx.QueryRow(ctx, "INSERT INTO apps (name, key_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
			name, keyHash, app.CreatedAt).Scan(&app.ID)
	})
	return app, app != nil && err == nil, err
}

// SetAppKey replaces an app's key hash.
func (db *DB) SetAppKey(ctx context.Context, appID int64, keyHash []byte) error {
	tag, err := db.pool.Exec(ctx, "UPDATE apps SET key_hash = $1 WHERE id = $2", keyHash, appID)
	if err != nil {
		return interpretError(err)
	}
	if tag.RowsAffected() == 0 {
		return bulkid.Errorf(bulkid.ENOTFOUND, "No app with the id %d.", appID)
	}
	return nil
}

// SetRegion sets the store's region if it has none. Of processes inserting
// at once, one inserts and the others wait for its commit, then read its
// region.
func (db *DB) SetRegion(ctx context.Context, region string) error {
	if _, err := db.pool.Exec(ctx, "INSERT INTO store_region (id, region) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", region); err != nil {
		return interpretError(err)
	}
	stored, err := db.Region(ctx)
	if err != nil {
		return err
	}
	if stored != region {
		return bulkid.RegionTakenError(stored, region)
	}
	return nil
}
