package postgres_test

import (
	"log/slog"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/postgres"
	"github.com/bulkid/bulkid/storetest"
	"github.com/jackc/pgx/v5"
)

// filledStore opens a store of companies companies and users users
// (storetest.NewFilledStore) in a fresh schema, filled by two INSERT …
// SELECT over generate_series, as a load through the API would leave it:
// no VACUUM and no ANALYZE, as on a server without autovacuum.
func filledStore(b *testing.B, companies, users int) (bulkid.Store, int64) {
	ctx := b.Context()
	url := pgtest.URL(b)
	db, err := postgres.Open(ctx, postgres.Config{URL: url, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	app, err := db.CreateApp(ctx, "scale", []byte("scale-key"))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO companies (app_id, company_id, metadata, user_count, visible, created_at, updated_at)
		SELECT $1, 'c' || lpad(i::text, 7, '0'),
			jsonb_build_object('name', 'Company ' || i, 'plan', CASE i % 3 WHEN 0 THEN 'enterprise' WHEN 1 THEN 'pro' ELSE 'free' END,
				'seats', i % 500, 'arr', i * 10 + 0.25, 'is_trial', i % 3 = 0, 'region', 'eu-west', 'renewal', '2026-03-31T00:00:00Z',
				'nps', i % 200 - 100, 'industry', 'Software', 'owner', 'someone@example.com', 'health', 0.87, 'employees', i * 7,
				'website', 'https://c' || i || '.example.com/v0'),
			CASE WHEN i < $3 THEN 1 ELSE 0 END, i < $3,
			timestamptz '2026-01-01' + i * interval '1 ms', timestamptz '2026-01-01' + i * interval '1 ms'
		FROM generate_series(0, $2 - 1) AS i`, []any{app.ID, companies, users}},
		{`INSERT INTO users (app_id, user_id, company_id, metadata, created_at, updated_at)
		SELECT $1, 'u' || lpad(i::text, 7, '0'), 'c' || lpad(i::text, 7, '0'),
			jsonb_build_object('name', 'User ' || i, 'email', 'user' || i || '@example.com', 'role', 'member', 'logins', i % 50, 'active', true),
			timestamptz '2026-01-01' + i * interval '1 ms', timestamptz '2026-01-01' + i * interval '1 ms'
		FROM generate_series(0, $2 - 1) AS i`, []any{app.ID, users}},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			b.Fatal(err)
		}
	}
	return db, app.ID
}

func BenchmarkJobsAtScale(b *testing.B) { storetest.BenchmarkJobsAtScale(b, benchStore, filledStore) }
