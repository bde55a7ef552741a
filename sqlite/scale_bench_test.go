package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/storetest"
)

// filledStore opens a copy of a store of companies companies and users
// users (storetest.NewFilledStore). The first run builds it with two
// recursive-CTE INSERTs, as a load through the API would leave it (no
// ANALYZE), and keeps it in $TMPDIR for later runs.
func filledStore(b *testing.B, companies, users int) (bulkid.Store, int64) {
	ctx := b.Context()
	log := slog.New(slog.DiscardHandler)
	kept := filepath.Join(os.TempDir(), fmt.Sprintf("bulkid-scale-v1-%d-%d.db", companies, users))
	if _, err := os.Stat(kept); err != nil {
		b.Logf("building %s (once)", kept)
		tmp := kept + ".tmp"
		os.Remove(tmp)
		db, err := sqlite.Open(ctx, sqlite.Config{Path: tmp, Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.CreateApp(ctx, "scale", []byte("scale-key")); err != nil {
			b.Fatal(err)
		}
		db.Close()
		raw, err := sql.Open("sqlite", tmp)
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
			INSERT INTO companies (app_id, company_id, metadata, user_count, visible, created_at, updated_at)
			SELECT 1, printf('c%07d', i),
				json_object('name', 'Company ' || i, 'plan', CASE i % 3 WHEN 0 THEN 'enterprise' WHEN 1 THEN 'pro' ELSE 'free' END,
					'seats', i % 500, 'arr', i * 10 + 0.25, 'is_trial', json(CASE WHEN i % 3 = 0 THEN 'true' ELSE 'false' END),
					'region', 'eu-west', 'renewal', '2026-03-31T00:00:00Z', 'nps', i % 200 - 100, 'industry', 'Software',
					'owner', 'someone@example.com', 'health', 0.87, 'employees', i * 7, 'website', 'https://c' || i || '.example.com/v0'),
				CASE WHEN i < ? THEN 1 ELSE 0 END, CASE WHEN i < ? THEN 1 ELSE 0 END,
				1700000000000 + i, 1700000000000 + i FROM n`, []any{companies, users, users}},
			{`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
			INSERT INTO users (app_id, user_id, company_id, metadata, created_at, updated_at)
			SELECT 1, printf('u%07d', i), printf('c%07d', i),
				json_object('name', 'User ' || i, 'email', 'user' || i || '@example.com', 'role', 'member', 'logins', i % 50, 'active', json('true')),
				1700000000000 + i, 1700000000000 + i FROM n`, []any{users}},
		} {
			if _, err := raw.ExecContext(ctx, q.sql, q.args...); err != nil {
				b.Fatal(err)
			}
		}
		raw.Close()
		if err := os.Rename(tmp, kept); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "scale.db")
	if err := copyFile(kept, path); err != nil {
		b.Fatal(err)
	}
	db, err := sqlite.Open(context.WithoutCancel(ctx), sqlite.Config{Path: path, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db, 1
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func BenchmarkJobsAtScale(b *testing.B) { storetest.BenchmarkJobsAtScale(b, benchStore, filledStore) }
