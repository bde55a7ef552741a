package sqlite

import (
	"context"
	"database/sql"

	"github.com/bulkid/bulkid"
)

// CreateApp stores a new app.
func (db *DB) CreateApp(ctx context.Context, name string, keyHash []byte) (*bulkid.App, error) {
	app := &bulkid.App{Name: name, CreatedAt: db.now().UTC().Truncate(1e6)}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var taken bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM apps WHERE name = ?)", name).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return bulkid.NameTakenError(name)
		}
		return tx.QueryRowContext(ctx, "INSERT INTO apps (name, key_hash, created_at) VALUES (?, ?, ?) RETURNING id",
			name, keyHash, ms(app.CreatedAt)).Scan(&app.ID)
	})
	if err != nil {
		return nil, err
	}
	return app, nil
}

// CreateFirstApp creates an app if the store has none; the write
// transaction makes the check and the insert one step.
func (db *DB) CreateFirstApp(ctx context.Context, name string, keyHash []byte) (*bulkid.App, bool, error) {
	var app *bulkid.App
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM apps)").Scan(&exists); err != nil || exists {
			return err
		}
		app = &bulkid.App{Name: name, CreatedAt: db.now().UTC().Truncate(1e6)}
		return tx.QueryRowContext(ctx, "INSERT INTO apps (name, key_hash, created_at) VALUES (?, ?, ?) RETURNING id",
			name, keyHash, ms(app.CreatedAt)).Scan(&app.ID)
	})
	return app, app != nil && err == nil, err
}

// SetAppKey replaces an app's key hash.
func (db *DB) SetAppKey(ctx context.Context, appID int64, keyHash []byte) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE apps SET key_hash = ? WHERE id = ?", keyHash, appID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return bulkid.Errorf(bulkid.ENOTFOUND, "No app with the id %d.", appID)
		}
		return nil
	})
}

// SetRegion sets the store's region if it has none.
func (db *DB) SetRegion(ctx context.Context, region string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO store_region (id, region) VALUES (1, ?) ON CONFLICT (id) DO NOTHING", region); err != nil {
			return err
		}
		var stored string
		if err := tx.QueryRowContext(ctx, "SELECT region FROM store_region").Scan(&stored); err != nil {
			return err
		}
		if stored != region {
			return bulkid.RegionTakenError(stored, region)
		}
		return nil
	})
}
