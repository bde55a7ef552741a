package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/bulkid/bulkid/worker"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// schedstat is the CPU time a process has run, user and system, from
// /proc/PID/schedstat (0 if it cannot be read).
func schedstat(pid uint32) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	ns, _ := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns)
}

// BenchmarkJobPGCPU runs 10,000-company jobs through a worker in process,
// polled every 2 ms as the bench's client polls, and reports PostgreSQL's
// CPU time per row in the backends that serve the store (pg-µs/row) beside
// that of the floor, the bare upsert of the same rows of bulkid bench
// (the cheaper of its two methods), measured in the backend of its own
// connection after each job (floor-pg-µs/row). Unlike the bench's
// reading of every process named postgres, it counts no other user of
// the database, so it can be compared while others use it; it leaves
// out the WAL writer's and checkpointer's work. Needs PostgreSQL on this
// machine (it reads /proc). new: every job creates its companies; merge:
// every job changes seven values and a key of each of the same 10,000.
func BenchmarkJobPGCPU(b *testing.B) {
	for _, merge := range []bool{false, true} {
		name := "new"
		if merge {
			name = "merge"
		}
		b.Run(name, func(b *testing.B) { benchJobPGCPU(b, merge) })
	}
}

func benchJobPGCPU(b *testing.B, merge bool) {
	ctx := b.Context()
	base := pgtest.URL(b)
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	appName := "bulkid-pgcpu-" + uuid.NewString()[:8]
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	db, err := Open(ctx, Config{URL: u.String(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	side, err := pgx.Connect(ctx, base) // reads the backends' pids; not counted
	if err != nil {
		b.Fatal(err)
	}
	defer side.Close(context.Background())
	// storeCPU is the CPU time of the store's backends so far.
	storeCPU := func() time.Duration {
		rows, err := side.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", appName)
		if err != nil {
			b.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for _, pid := range pids {
			total += schedstat(uint32(pid))
		}
		return total
	}
	if storeCPU() == 0 {
		b.Skip("the store's backends cannot be read in /proc: PostgreSQL is not on this machine")
	}
	floor, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	defer floor.Close(context.Background())
	if _, err := floor.Exec(ctx, `CREATE TABLE floor_companies (app_id bigint NOT NULL, company_id text COLLATE "C" NOT NULL,
		metadata jsonb NOT NULL, PRIMARY KEY (app_id, company_id))`); err != nil {
		b.Fatal(err)
	}
	pool, err := worker.New(worker.Config{Store: db, Workers: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { pool.Run(wctx); close(done) }()
	defer func() { stop(); <-done }()
	app, err := db.CreateApp(ctx, "bench", bulkid.HashAPIKey("bench"))
	if err != nil {
		b.Fatal(err)
	}

	const n = bulkid.MaxRecords
	records := func(prefix string, version int) []bulkid.RawRecord {
		recs := make([]bulkid.RawRecord, n)
		for i := range recs {
			churn := `null`
			if (i+version)%2 == 0 {
				churn = `"2026-01-15"`
			}
			recs[i] = bulkid.RawRecord{Seq: i, Pos: i, Raw: fmt.Appendf(nil,
				`{"company_id":"%s%06d","metadata":{"name":"Company %d Labs","website":"https://c%d.example.com","plan":"plan-%d","industry":"Software","country":"Germany","seats":%d,"mrr":%d.5,"arr":%d,"health_score":0.%03d,"is_paying":%v,"on_trial":false,"churned_at":%s,"created_at":"2019-03-04","last_seen_at":"2026-0%d-01T10:00:00.123Z"}}`,
				prefix, i, i, i, version, i%5000+version, i*10+version, i*120+version, (i*7+version)%1000, version%2 == 0, churn, 1+version%9)}
		}
		return recs
	}
	// runJob submits recs as a job and waits for it, as a client does.
	runJob := func(recs []bulkid.RawRecord) {
		job := &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
		if err := db.CreateJob(ctx, job, recordpack.FromRecords(recs)); err != nil {
			b.Fatal(err)
		}
		pool.Notify()
		for {
			j, err := db.Job(ctx, app.ID, job.ID)
			if err != nil {
				b.Fatal(err)
			}
			if j.Status.Final() {
				if j.Status != bulkid.StatusCompleted || j.CompletedRows != n {
					b.Fatalf("job %s with %d rows completed, want completed with %d", j.Status, j.CompletedRows, n)
				}
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// floorUpsert upserts recs' companies for app as the bench's floor does,
	// with each of its two methods (app ids apart), and returns the
	// cheaper one's CPU time.
	floorUpsert := func(recs []bulkid.RawRecord, app int64) time.Duration {
		ids, mds := make([]string, len(recs)), make([]string, len(recs))
		for i, r := range recs {
			rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, r.Raw)
			if rerr != nil {
				b.Fatal(rerr)
			}
			ids[i], mds[i] = rec.ID, string(rec.Metadata)
		}
		var best time.Duration
		for m := range 2 {
			app := app + int64(m)*1_000_000
			start := schedstat(floor.PgConn().PID())
			err := pgx.BeginFunc(ctx, floor, func(tx pgx.Tx) error {
				if m == 0 {
					batch := &pgx.Batch{}
					for i := range ids {
						batch.Queue(`INSERT INTO floor_companies (app_id, company_id, metadata) VALUES ($1, $2, jsonb_strip_nulls($3::jsonb))
							ON CONFLICT (app_id, company_id) DO UPDATE SET metadata = jsonb_strip_nulls(floor_companies.metadata || $3::jsonb)`,
							app, ids[i], mds[i])
					}
					return tx.SendBatch(ctx, batch).Close()
				}
				if _, err := tx.Exec(ctx, `CREATE TEMP TABLE floor_stage (company_id text COLLATE "C", patch jsonb) ON COMMIT DROP`); err != nil {
					return err
				}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"floor_stage"}, []string{"company_id", "patch"},
					pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) { return []any{ids[i], mds[i]}, nil })); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE floor_companies t SET metadata = jsonb_strip_nulls(t.metadata || s.patch)
					FROM floor_stage s WHERE t.app_id = $1 AND t.company_id = s.company_id`, app); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO floor_companies (app_id, company_id, metadata)
					SELECT $1, company_id, jsonb_strip_nulls(patch) FROM floor_stage ON CONFLICT DO NOTHING`, app)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			if d := schedstat(floor.PgConn().PID()) - start; m == 0 || d < best {
				best = d
			}
		}
		return best
	}

	v1, v2 := records("merge-", 1), records("merge-", 2)
	if merge { // the companies exist, in the store and in the floor
		runJob(v1)
		floorUpsert(v1, 1)
	}
	var store, flo time.Duration
	i := 0
	for b.Loop() {
		recs := records(fmt.Sprintf("new%d-", i), 1)
		if merge {
			recs = v2
			if i%2 == 1 {
				recs = v1
			}
		}
		i++
		before := storeCPU()
		runJob(recs)
		store += storeCPU() - before
		b.StopTimer()
		flo += floorUpsert(recs, 1)
		b.StartTimer()
	}
	perRow := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(n*i) }
	b.ReportMetric(perRow(store), "pg-µs/row")
	b.ReportMetric(perRow(flo), "floor-pg-µs/row")
	b.ReportMetric(float64(store)/float64(flo), "pg/floor")
}
