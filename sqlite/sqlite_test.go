package sqlite_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/storetest"
)

// open opens the database at path with the clock now, failing the test if
// it cannot.
func open(t *testing.T, path string, now func() time.Time) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Now: now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return db
}

func TestConformance(t *testing.T) {
	t.Parallel()
	newStore := func(t *testing.T, now func() time.Time) bulkid.Store {
		return open(t, filepath.Join(t.TempDir(), "bulkid.db"), now)
	}
	storetest.RunTests(t, newStore)
}

func TestOpenRequiresPath(t *testing.T) {
	t.Parallel()
	if db, err := sqlite.Open(t.Context(), sqlite.Config{}); err == nil {
		db.Close()
		t.Fatal("Open without a Path succeeded, want an error")
	}
}

// TestReopenKeepsData writes through one DB, closes it as a stopping
// server does, and reads everything back through a new one, as if the
// worker had died mid-job.
func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "data", "bulkid.db") // Open creates the directory
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	const ttl = 30 * time.Second
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	validate := func(typ bulkid.JobType, raw string) bulkid.Record {
		t.Helper()
		rec, rerr := bulkid.ValidateRecord(typ, []byte(raw))
		if rerr != nil {
			t.Fatalf("ValidateRecord(%s): %s", raw, rerr.Message)
		}
		return rec
	}

	db := open(t, path, clock)
	key := []byte("0123456789abcdef0123456789abcdef")
	app, err := db.CreateApp(ctx, "acme", key)
	must("CreateApp", err)

	// A finished company job.
	done := &bulkid.Job{ID: "00000000-0000-0000-0000-000000000001", AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
	companyRaw := `{"company_id":"c1","metadata":{"name":"Acme","big":12345678901234567890}}`
	must("CreateJob", db.CreateJob(ctx, done, recordpack.FromRecords([]bulkid.RawRecord{{Seq: 0, Pos: 0, Raw: []byte(companyRaw)}})))
	l := bulkid.Lease{JobID: done.ID, Owner: "w1", TTL: ttl}
	_, _, err = db.ClaimJob(ctx, l.Owner, ttl)
	must("ClaimJob", err)
	must("FinishValidation", db.FinishValidation(ctx, l, nil))
	must("ApplyBatch", db.ApplyBatch(ctx, l, bulkid.JobCompanies, []bulkid.Record{validate(bulkid.JobCompanies, companyRaw)}, 0, 1))
	must("FinishJob", db.FinishJob(ctx, l, bulkid.StatusCompleted, ""))

	// A user job left half done by a worker that then vanished.
	now = now.Add(time.Minute)
	raws := []string{`{"user_id":"u1","company_id":"c1"}`, `{"user_id":null}`, `{"user_id":"u3"}`}
	running := &bulkid.Job{ID: "00000000-0000-0000-0000-000000000002", AppID: app.ID, Type: bulkid.JobUsers,
		Source: bulkid.SourceNDJSON, Filename: "users.ndjson", FileSize: 99}
	var recs []bulkid.RawRecord
	for i, raw := range raws {
		recs = append(recs, bulkid.RawRecord{Seq: i, Pos: i + 1, Raw: []byte(raw)})
	}
	must("CreateJob", db.CreateJob(ctx, running, recordpack.FromRecords(recs)))
	l = bulkid.Lease{JobID: running.ID, Owner: "w1", TTL: ttl}
	_, _, err = db.ClaimJob(ctx, l.Owner, ttl)
	must("ClaimJob", err)
	recErr := bulkid.RecordError{Seq: 1, Pos: 2, Code: bulkid.RMissingID, Message: "user_id is required", Raw: []byte(raws[1])}
	must("FinishValidation", db.FinishValidation(ctx, l, []bulkid.RecordError{recErr}))
	must("ApplyBatch", db.ApplyBatch(ctx, l, bulkid.JobUsers, []bulkid.Record{validate(bulkid.JobUsers, raws[0])}, 0, 2))
	must("Close", db.Close())

	now = now.Add(time.Hour) // the dead worker's lease has long expired
	db = open(t, path, clock)
	defer func() { must("Close", db.Close()) }()

	got, err := db.AppByKeyHash(ctx, key)
	must("AppByKeyHash", err)
	if got.ID != app.ID || got.Name != "acme" {
		t.Errorf("AppByKeyHash after reopening = %+v, want %+v", got, app)
	}
	c, err := db.Company(ctx, app.ID, "c1")
	must("Company", err)
	var md map[string]any
	d := json.NewDecoder(bytes.NewReader(c.Metadata))
	d.UseNumber()
	if err := d.Decode(&md); err != nil || md["big"] != json.Number("12345678901234567890") || md["name"] != "Acme" {
		t.Errorf("company metadata after reopening = %s, want name Acme, big 12345678901234567890", c.Metadata)
	}
	u, err := db.User(ctx, app.ID, "u1")
	must("User", err)
	if u.CompanyID != "c1" {
		t.Errorf("u1 CompanyID after reopening = %q, want %q", u.CompanyID, "c1")
	}
	j, err := db.Job(ctx, app.ID, done.ID)
	must("Job", err)
	if j.Status != bulkid.StatusCompleted || j.CompletedRows != 1 || j.EndTime.IsZero() {
		t.Errorf("finished job after reopening: Status %q, CompletedRows %d, EndTime %v; want completed, 1, set",
			j.Status, j.CompletedRows, j.EndTime)
	}

	// A new worker picks the half-done job up where it stopped.
	claimed, _, err := db.ClaimJob(ctx, "w2", ttl)
	must("ClaimJob after reopening", err)
	if claimed.ID != running.ID || claimed.Status != bulkid.StatusProcessing || claimed.Cursor != 2 ||
		claimed.CompletedRows != 1 || claimed.FailedRows != 1 || claimed.TotalRows != 3 || claimed.Filename != "users.ndjson" {
		t.Errorf("ClaimJob after reopening = %+v, want job %s processing at cursor 2 with 1 completed, 1 failed of 3 rows",
			claimed, running.ID)
	}
	left, err := db.JobRecords(ctx, running.ID, claimed.Cursor, 100)
	must("JobRecords", err)
	if len(left) != 1 || left[0].Seq != 2 || left[0].Pos != 3 || string(left[0].Raw) != raws[2] {
		t.Errorf("JobRecords after reopening = %+v, want the one record %s", left, raws[2])
	}
	errs, err := db.JobErrors(ctx, app.ID, running.ID, 0, 10)
	must("JobErrors", err)
	if len(errs) != 1 || errs[0].Seq != 1 || errs[0].Code != bulkid.RMissingID || string(errs[0].Raw) != raws[1] {
		t.Errorf("JobErrors after reopening = %+v, want %+v", errs, recErr)
	}
	l = bulkid.Lease{JobID: running.ID, Owner: "w2", TTL: ttl}
	must("ApplyBatch", db.ApplyBatch(ctx, l, bulkid.JobUsers, []bulkid.Record{validate(bulkid.JobUsers, raws[2])}, 2, 3))
	must("CompleteJob", db.CompleteJob(ctx, l, app.ID, bulkid.StatusCompleted))
	if c, err := db.Company(ctx, app.ID, "c1"); err != nil || c.UserCount != 1 {
		t.Errorf("c1 after the resumed job: %+v, %v; want UserCount 1", c, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bulkid.db")
	db := open(t, path, time.Now)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// A newer bulkid has migrated the file past what this one knows.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)"); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = sqlite.Open(t.Context(), sqlite.Config{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		db.Close()
		t.Fatal("Open of a database with a newer schema succeeded, want an error")
	}
	for _, want := range []string{"9999", "run a newer bulkid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error = %q, want it to contain %q", err, want)
		}
	}
}

// TestMigrationRenamesDuplicateNames: a database of schema version 2 whose
// apps share names opens with the oldest app of each name keeping it and
// each later one renamed "NAME #ID"; from then on names are unique.
func TestMigrationRenamesDuplicateNames(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bulkid.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"}
	for _, f := range []string{"migrations/0001_init.sql", "migrations/0002_app_rate.sql"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b))
	}
	stmts = append(stmts, "INSERT INTO schema_migrations VALUES (1, 0), (2, 0)",
		`INSERT INTO apps (id, name, key_hash, created_at) VALUES
			(1, 'acme', x'01', 0), (2, 'acme', x'02', 0), (3, 'other', x'03', 0), (4, 'acme', x'04', 0), (5, 'other', x'05', 0)`)
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	raw.Close()

	db := open(t, path, time.Now)
	defer db.Close()
	apps, err := db.ListApps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, fmt.Sprintf("%d:%s", a.ID, a.Name))
	}
	if got, want := strings.Join(names, ","), "1:acme,2:acme #2,3:other,4:acme #4,5:other #5"; got != want {
		t.Errorf("apps after the migration = %s, want %s", got, want)
	}
	if _, err := db.CreateApp(t.Context(), "acme", []byte("k")); bulkid.ErrorCode(err) != bulkid.ECONFLICT {
		t.Errorf("CreateApp(acme) after the migration: %v, want ECONFLICT", err)
	}
}

// TestMigrationToRowidTables: migration 4 rebuilds companies, users,
// job_input and job_errors as rowid tables, keeping every row and column,
// their keys unique, and their indexes.
func TestMigrationToRowidTables(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bulkid.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"}
	for _, f := range []string{"migrations/0001_init.sql", "migrations/0002_app_rate.sql", "migrations/0003_apps_unique_name.sql"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b))
	}
	stmts = append(stmts, "INSERT INTO schema_migrations VALUES (1, 0), (2, 0), (3, 0)",
		`INSERT INTO apps (id, name, key_hash, created_at) VALUES (1, 'acme', x'01', 0)`,
		`INSERT INTO jobs (id, app_id, type, status, active, source, submitted_at, total_rows) VALUES ('j1', 1, 'users', 'completed', 0, 'json', 5, 1)`,
		`INSERT INTO companies VALUES (1, 'c1', '{"a":1}', 2, 1, 1, 10, 20), (1, 'c2', '{}', 0, 0, 0, 11, 21)`,
		`INSERT INTO users VALUES (1, 'u1', 'c1', '{"b":"x"}', 12, 22), (1, 'u2', NULL, '{}', 13, 23)`,
		`INSERT INTO job_input SELECT seq, 0, 1, x'0102' FROM jobs`,
		`INSERT INTO job_errors SELECT seq, 0, 3, 'u9', 'invalid_id', 'm', x'ff' FROM jobs`)
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	raw.Close()

	db := open(t, path, time.Now)
	db.Close()
	raw, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	dump := func(q string) string {
		rows, err := raw.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, strings.TrimSpace(fmt.Sprintln(vals...)))
		}
		return strings.Join(out, "|")
	}
	for q, want := range map[string]string{
		// dirty moved to company_refresh (migration 13), whose companies
		// migration 15 recounts (c1 has one user) and empties.
		"SELECT * FROM companies ORDER BY company_id":                                 `1 c1 {"a":1} 1 1 0 10 20|1 c2 {} 0 0 0 11 21`,
		"SELECT count(*) FROM company_refresh":                                        `0`,
		"SELECT * FROM users ORDER BY user_id":                                        `1 u1 c1 {"b":"x"} 12 22|1 u2 <nil> {} 13 23`,
		"SELECT job_seq > 0, first, count, hex(data) FROM job_input":                  `1 0 1 0102`,
		"SELECT job_seq > 0, n, pos, rec_id, code, message, hex(raw) FROM job_errors": `1 0 3 u9 invalid_id m FF`,
		"SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%' AND tbl_name IN ('companies', 'users') ORDER BY name)": `companies_updated,companies_visible,users_by_company`, // companies_updated: migration 7; companies_dirty dropped: 13
		"SELECT count(*) FROM sqlite_master WHERE sql LIKE '%WITHOUT ROWID%'": `0`,
	} {
		if got := dump(q); got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
	if _, err := raw.Exec(`INSERT INTO companies (app_id, company_id, created_at, updated_at) VALUES (1, 'c1', 0, 0)`); err == nil {
		t.Error("a second company c1 was accepted: the key is no longer unique")
	}
}

// TestSchemaVersionChangedUnderOpenStore: a schema rolled back under a
// running store (an older backup restored) reads as behind, and one
// migrated past it (a newer bulkid on the same file) as ahead; /readyz
// reports either.
func TestSchemaVersionChangedUnderOpenStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bulkid.db")
	db := open(t, path, time.Now)
	defer db.Close()
	before, err := db.SchemaVersion(t.Context())
	if err != nil || !before.Current() {
		t.Fatalf("SchemaVersion = %+v, %v; want current", before, err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, c := range []struct {
		stmt    string
		applied int
	}{
		{fmt.Sprintf("DELETE FROM schema_migrations WHERE version = %d", before.Latest), before.Latest - 1},
		{"INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)", 9999},
	} {
		if _, err := raw.Exec(c.stmt); err != nil {
			t.Fatal(err)
		}
		got, err := db.SchemaVersion(t.Context())
		want := bulkid.SchemaVersion{Applied: c.applied, Latest: before.Latest}
		if err != nil || got != want || got.Current() {
			t.Errorf("after %s: SchemaVersion = %+v, %v; want %+v, not current", c.stmt, got, err, want)
		}
	}
}

// TestApplyBatchManyNew: a batch of more new profiles than one INSERT
// writes (insertRowsPer), among updates of stored ones, stores every
// profile with its own metadata, company and time, for companies and for
// users that name them.
func TestApplyBatchManyNew(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	db := open(t, filepath.Join(t.TempDir(), "bulkid.db"), func() time.Time { return now })
	defer db.Close()
	app, err := db.CreateApp(ctx, "acme", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 250 // two full INSERTs and a shorter one
	run := func(id string, typ bulkid.JobType, raws []string) {
		t.Helper()
		var in []bulkid.RawRecord
		var recs []bulkid.Record
		for i, raw := range raws {
			in = append(in, bulkid.RawRecord{Seq: i, Pos: i, Raw: []byte(raw)})
			rec, rerr := bulkid.ValidateRecord(typ, []byte(raw))
			if rerr != nil {
				t.Fatal(rerr.Message)
			}
			recs = append(recs, rec)
		}
		job := &bulkid.Job{ID: id, AppID: app.ID, Type: typ, Source: bulkid.SourceJSON}
		l := bulkid.Lease{JobID: id, Owner: "w1", TTL: time.Minute}
		for _, err := range []error{
			db.CreateJob(ctx, job, recordpack.FromRecords(in)),
			func() error { _, _, err := db.ClaimJob(ctx, l.Owner, l.TTL); return err }(),
			db.FinishValidation(ctx, l, nil),
			db.ApplyBatch(ctx, l, typ, recs, 0, len(recs)),
			db.CompleteJob(ctx, l, app.ID, bulkid.StatusCompleted),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var raws []string
	for i := range 10 {
		raws = append(raws, fmt.Sprintf(`{"company_id":"c%03d","metadata":{"v":-1}}`, i*7))
	}
	run("00000000-0000-0000-0000-000000000001", bulkid.JobCompanies, raws)
	now = now.Add(time.Minute)
	raws = raws[:0]
	for i := range n {
		raws = append(raws, fmt.Sprintf(`{"company_id":"c%03d","metadata":{"v":%d}}`, i, i))
	}
	run("00000000-0000-0000-0000-000000000002", bulkid.JobCompanies, raws)
	raws = raws[:0]
	for i := range n {
		raw := fmt.Sprintf(`{"user_id":"u%03d","metadata":{"w":%d}}`, i, i)
		if i%2 == 0 {
			raw = fmt.Sprintf(`{"user_id":"u%03d","company_id":"c%03d","metadata":{"w":%d}}`, i, i, i)
		}
		raws = append(raws, raw)
	}
	run("00000000-0000-0000-0000-000000000003", bulkid.JobUsers, raws)
	for i := range n {
		c, err := db.Company(ctx, app.ID, fmt.Sprintf("c%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"v":%d}`, i); string(c.Metadata) != want || !c.UpdatedAt.Equal(now) || c.UserCount != 1-i%2 {
			t.Errorf("company %d: %s updated %v, %d users; want %s, %v, %d", i, c.Metadata, c.UpdatedAt, c.UserCount, want, now, 1-i%2)
		}
		u, err := db.User(ctx, app.ID, fmt.Sprintf("u%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		wantCompany := ""
		if i%2 == 0 {
			wantCompany = fmt.Sprintf("c%03d", i)
		}
		if want := fmt.Sprintf(`{"w":%d}`, i); string(u.Metadata) != want || u.CompanyID != wantCompany {
			t.Errorf("user %d: %s of %q; want %s of %q", i, u.Metadata, u.CompanyID, want, wantCompany)
		}
	}
}
