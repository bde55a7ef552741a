package bench

// The floors of bulkid bench: what the same work costs without the
// product. A bare upsert of the same rows with the same driver, the JSON
// decode alone, a write and fsync of the same bytes, and an open-loop
// request generator used both against the server and the floor server.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the driver the server uses, for the SQLite floor
)

// Floor methods: how a floor upserts rows.
const (
	floorSQLite  = "modernc.org/sqlite: prepared INSERT … ON CONFLICT DO UPDATE SET metadata = json_patch(…) per row"
	floorPGBatch = "pgx: one pgx.Batch of INSERT … ON CONFLICT DO UPDATE SET metadata = jsonb_strip_nulls(metadata || patch)"
	floorPGCopy  = "pgx: COPY into a temp table, then UPDATE … FROM it and INSERT … ON CONFLICT DO NOTHING"
)

// floorDatabase is a bare table of companies in a store of the kind being
// benchmarked: (app_id, company_id) primary key and the metadata.
type floorDatabase interface {
	methods() []string
	// upsert applies rows for app with method, in one transaction, and
	// returns how long it took from BEGIN to COMMIT.
	upsert(ctx context.Context, method string, app int64, rows []dataRow) (time.Duration, error)
}

func (e *runner) floor() (floorDatabase, error) {
	if e.floorDB != nil {
		return e.floorDB, nil
	}
	st, err := e.freshStore()
	if err != nil {
		return nil, err
	}
	if e.pgBase == "" {
		f, err := openSQLiteFloor(filepath.Join(st.dir, "floor.db"))
		if err != nil {
			return nil, err
		}
		e.atClose(func() { f.db.Close() })
		e.floorDB = f
	} else {
		conn, err := pgx.Connect(e.ctx, st.url)
		if err != nil {
			return nil, err
		}
		e.atClose(func() { conn.Close(context.Background()) })
		if _, err := conn.Exec(e.ctx, `CREATE TABLE bench_floor_companies (app_id bigint NOT NULL,
			company_id text COLLATE "C" NOT NULL, metadata jsonb NOT NULL, PRIMARY KEY (app_id, company_id))`); err != nil {
			return nil, err
		}
		e.floorDB = &pgFloor{conn: conn}
	}
	return e.floorDB, nil
}

// floorUpsert runs every floor method on rows (for PostgreSQL, only the
// faster one once known if all is false) and returns each one's time; it
// leaves PostgreSQL's CPU time during each method in e.floorPGCPU (empty
// when not measured).
func (e *runner) floorUpsert(app int64, rows []dataRow, all bool) (map[string]time.Duration, error) {
	f, err := e.floor()
	if err != nil {
		return nil, err
	}
	methods := f.methods()
	if !all && e.pgBest != "" {
		methods = []string{e.pgBest}
	} else if !all && len(methods) > 1 {
		methods = methods[len(methods)-1:] // COPY until the faster is known
	}
	out := map[string]time.Duration{}
	e.floorPGCPU = map[string]time.Duration{}
	for i, m := range methods {
		// Each method gets rows of its own (app ids apart), so that every
		// one does the same work: new rows stay new, merges stay merges.
		pg := e.pgCPUStart()
		d, err := f.upsert(e.ctx, m, app+int64(i)*1_000_000, rows)
		if err != nil {
			return nil, fmt.Errorf("floor %s: %w", m, err)
		}
		out[m] = d
		if cpu, ok := pg.used(); ok {
			e.floorPGCPU[m] = cpu
		}
	}
	return out, nil
}

// minDuration is the fastest of the floor's methods in one run.
func minDuration(m map[string]time.Duration) time.Duration {
	var best time.Duration
	for _, d := range m {
		if best == 0 || d < best {
			best = d
		}
	}
	return best
}

type sqliteFloor struct{ db *sql.DB }

func openSQLiteFloor(path string) (*sqliteFloor, error) {
	// The server's settings: WAL, synchronous=FULL, BEGIN IMMEDIATE.
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE companies (app_id INTEGER NOT NULL, company_id TEXT NOT NULL,
		metadata TEXT NOT NULL, PRIMARY KEY (app_id, company_id))`); err != nil {
		db.Close()
		return nil, err
	}
	return &sqliteFloor{db: db}, nil
}

func (f *sqliteFloor) methods() []string { return []string{floorSQLite} }

func (f *sqliteFloor) upsert(ctx context.Context, _ string, app int64, rows []dataRow) (time.Duration, error) {
	start := time.Now()
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO companies (app_id, company_id, metadata) VALUES (?1, ?2, json_patch('{}', ?3))
		ON CONFLICT (app_id, company_id) DO UPDATE SET metadata = json_patch(companies.metadata, ?3)`)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, app, r.id, string(r.metadata)); err != nil {
			return 0, err
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

type pgFloor struct{ conn *pgx.Conn }

func (f *pgFloor) methods() []string { return []string{floorPGBatch, floorPGCopy} }

func (f *pgFloor) upsert(ctx context.Context, method string, app int64, rows []dataRow) (time.Duration, error) {
	start := time.Now()
	tx, err := f.conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	switch method {
	case floorPGBatch:
		b := &pgx.Batch{}
		for _, r := range rows {
			b.Queue(`INSERT INTO bench_floor_companies (app_id, company_id, metadata) VALUES ($1, $2, jsonb_strip_nulls($3::jsonb))
				ON CONFLICT (app_id, company_id) DO UPDATE SET metadata = jsonb_strip_nulls(bench_floor_companies.metadata || $3::jsonb)`,
				app, r.id, r.metadata)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return 0, err
		}
	case floorPGCopy:
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE bench_floor_stage (company_id text COLLATE "C", patch jsonb) ON COMMIT DROP`); err != nil {
			return 0, err
		}
		src := make([][]any, len(rows))
		for i, r := range rows {
			src[i] = []any{r.id, r.metadata}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_floor_stage"}, []string{"company_id", "patch"}, pgx.CopyFromRows(src)); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `UPDATE bench_floor_companies t SET metadata = jsonb_strip_nulls(t.metadata || s.patch)
			FROM bench_floor_stage s WHERE t.app_id = $1 AND t.company_id = s.company_id`, app); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO bench_floor_companies (app_id, company_id, metadata)
			SELECT $1, company_id, jsonb_strip_nulls(patch) FROM bench_floor_stage ON CONFLICT DO NOTHING`, app); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("unknown method %q", method)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// decodeFloor is the JSON floor: decoding the body alone with encoding/json
// into the array's elements kept as sent, as the server must at least do.
func decodeFloor(body []byte, want int) (time.Duration, error) {
	start := time.Now()
	var doc struct {
		Companies []json.RawMessage `json:"companies"`
	}
	err := json.Unmarshal(body, &doc)
	d := time.Since(start)
	if err == nil && len(doc.Companies) != want {
		err = fmt.Errorf("decoded %d companies, want %d", len(doc.Companies), want)
	}
	return d, err
}

// writeSync writes body to a new file in dir and fsyncs it: what
// making the input durable costs at least on this disk.
func writeSync(dir string, body []byte) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "bench-fsync-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	start := time.Now()
	if _, err := f.Write(body); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// floorPost sends body to the floor server and returns the time to its 202.
func (e *runner) floorPost(p *childProc, ctype string, body []byte) (time.Duration, error) {
	start := time.Now()
	status, _, err := e.request(e.ctx, "POST", p.url+"/v1/companies/bulk_identify", "floor", ctype, body)
	d := time.Since(start)
	if err == nil && status != 202 {
		err = fmt.Errorf("floor server answered %d", status)
	}
	return d, err
}

// loopLatency summarizes an open-loop run, in milliseconds.
type loopLatency struct {
	p50, p99, max float64
	n, errors     int
	firstErr      error
}

// openLoop sends rate requests a second for dur, each at its scheduled
// time in a goroutine of its own whatever the earlier ones are doing, and
// measures each from its scheduled time, not from when it was sent: a
// stall of the server or of the sender counts against the latency
// instead of hiding it (no coordinated omission).
func (e *runner) openLoop(rate int, dur time.Duration, do func(ctx context.Context) error) loopLatency {
	n := int(dur.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([]float64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range n {
		at := start.Add(time.Duration(k) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		if e.ctx.Err() != nil {
			n = k
			break
		}
		wg.Go(func() {
			errs[k] = do(e.ctx)
			lat[k] = millis(time.Since(at))
		})
	}
	wg.Wait()
	res := loopLatency{n: n}
	ok := make([]float64, 0, n)
	for k := range n {
		if errs[k] != nil {
			res.errors++
			if res.firstErr == nil {
				res.firstErr = errs[k]
			}
			continue
		}
		ok = append(ok, lat[k])
	}
	if len(ok) == 0 {
		return res
	}
	slices.Sort(ok)
	q := func(p float64) float64 { return ok[min(len(ok)-1, int(p*float64(len(ok))))] }
	res.p50, res.p99, res.max = q(0.50), q(0.99), ok[len(ok)-1]
	return res
}
