package dashboard_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/dashboard"
	"github.com/bulkid/bulkid/sqlite"
)

// The pages' server time at 1,000,000 companies on SQLite: go test
// -run '^$' -bench . ./dashboard/. The store is built once, by two SQL
// statements (recursive CTEs), and kept in the system's temporary
// directory for the next run (delete bulkid-dashboard-bench-*.db to
// rebuild). docs/BENCHMARKS.md has the numbers.

const (
	benchCompanies = 1_000_000
	benchHidden    = 10_000 // the last ids have no user
	benchKey       = "dashboard-bench-key-0123456789"
)

// benchStore returns the store of the benchmarks: app 1 with
// benchCompanies companies c0000000…, each but the last benchHidden with
// one user u0000000…, metadata of four properties, updated a second apart.
func benchStore(b *testing.B) *sqlite.DB {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), "bulkid-dashboard-bench-1m-v1.db")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".building"
		os.Remove(tmp)
		db, err := sqlite.Open(ctx, sqlite.Config{Path: tmp, Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.CreateApp(ctx, "bench", bulkid.HashAPIKey(benchKey)); err != nil {
			b.Fatal(err)
		}
		db.Close()
		raw, err := sql.Open("sqlite", tmp)
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{
			`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
			INSERT INTO companies (app_id, company_id, metadata, user_count, visible, created_at, updated_at)
			SELECT 1, printf('c%07d', i),
				json_object('name', 'Company ' || i, 'plan', CASE i % 3 WHEN 0 THEN 'enterprise' WHEN 1 THEN 'pro' ELSE 'free' END,
					'seats', i % 500, 'renewal', '2026-0' || (1 + i % 9) || '-15'),
				CASE WHEN i < ? THEN 1 ELSE 0 END, CASE WHEN i < ? THEN 1 ELSE 0 END,
				1700000000000 + i * 1000, 1700000000000 + ((i * 7919) % ?) * 1000 FROM n`,
			`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
			INSERT INTO users (app_id, user_id, company_id, metadata, created_at, updated_at)
			SELECT 1, printf('u%07d', i), printf('c%07d', i), json_object('email', 'user' || i || '@example.com'),
				1700000000000 + i * 1000, 1700000000000 + i * 1000 FROM n`,
		} {
			visible := benchCompanies - benchHidden
			var args []any
			if strings.Contains(q, "companies") {
				args = []any{benchCompanies, visible, visible, benchCompanies}
			} else {
				args = []any{visible}
			}
			if _, err := raw.ExecContext(ctx, q, args...); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := raw.ExecContext(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
		raw.Close()
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	db, err := sqlite.Open(ctx, sqlite.Config{Path: path, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// benchHandler is the dashboard over the store, and the cookies of a
// signed-in browser.
func benchHandler(b *testing.B, db *sqlite.DB) (http.Handler, []*http.Cookie) {
	b.Helper()
	h := dashboard.New(dashboard.Config{Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/signin", nil))
	cookies := rec.Result().Cookies()
	token := csrfField.FindStringSubmatch(rec.Body.String())[1]
	req := httptest.NewRequest("POST", "/ui/signin", strings.NewReader(url.Values{"csrf": {token}, "key": {benchKey}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		b.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
	}
	return h, rec.Result().Cookies()
}

func benchPage(b *testing.B, path, want string) {
	db := benchStore(b)
	h, cookies := benchHandler(b, db)
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := get(); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
		b.Fatalf("GET %s: %d, want 200 with %q:\n%s", path, rec.Code, want, rec.Body)
	}
	b.ResetTimer()
	for b.Loop() {
		if rec := get(); rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d", path, rec.Code)
		}
	}
}

func BenchmarkCompaniesPage(b *testing.B) {
	benchPage(b, "/ui/companies", `href="/ui/company?id=c0000049"`)
}

func BenchmarkCompaniesPageDeep(b *testing.B) {
	benchPage(b, "/ui/companies?after=c0700000", `href="/ui/company?id=c0700050"`)
}

func BenchmarkCompaniesByUpdate(b *testing.B) {
	benchPage(b, "/ui/companies?sort=updated", `rel="next"`)
}

func BenchmarkCompaniesPrefix(b *testing.B) {
	benchPage(b, "/ui/companies?q=c04217", `href="/ui/company?id=c0421749"`)
}

func BenchmarkCompaniesProperty(b *testing.B) {
	benchPage(b, "/ui/companies?prop=plan&value=enterprise", `href="/ui/company?id=c0000147"`)
}

func BenchmarkCompaniesHidden(b *testing.B) {
	benchPage(b, "/ui/companies?hidden=1", `href="/ui/company?id=c0990000"`)
}

func BenchmarkCompanyPage(b *testing.B) {
	benchPage(b, "/ui/company?id=c0421337", `href="/ui/user?id=u0421337"`)
}

func BenchmarkUsersPrefix(b *testing.B) {
	benchPage(b, "/ui/users?q=u0421", `href="/ui/user?id=u0421049"`)
}

func BenchmarkOverview(b *testing.B) {
	benchPage(b, "/ui/", `<span class="n" id="visible-count">990000</span>`)
}

// BenchmarkCompaniesPropertyRare is a property search that matches
// nothing: each page examines bulkid.MaxCompanyScan companies.
func BenchmarkCompaniesPropertyRare(b *testing.B) {
	benchPage(b, "/ui/companies?prop=plan&value=none", `rel="next"`)
}

// BenchmarkTotalsCount is what the overview's totals cost when they are
// taken again: three counts over the indexes.
func BenchmarkTotalsCount(b *testing.B) {
	db := benchStore(b)
	ctx := context.Background()
	for b.Loop() {
		v, err := db.CountCompanies(ctx, 1, true, 0)
		if err != nil || v != benchCompanies-benchHidden {
			b.Fatalf("visible %d, %v", v, err)
		}
		if _, err := db.CountCompanies(ctx, 1, false, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := db.CountUsers(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
}
