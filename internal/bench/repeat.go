package bench

// The repeat scenario: many 10,000-row jobs in a row on one store, with no
// maintenance in between (issue 14). Whatever per-job churn the store
// leaves behind (dead tuples, unreclaimed pages, stale statistics) shows
// as the last job being slower than the first.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// repeatStats summarizes the job times of one repeat run.
type repeatStats struct {
	First, Median, Last time.Duration
	// Ratio is last ÷ first; Tail is the median of the last five ÷ the
	// median of the first five, which one noisy job moves less.
	Ratio, Tail float64
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// summarizeRepeat needs at least two times, in the order the jobs ran.
func summarizeRepeat(ts []time.Duration) repeatStats {
	k := min(5, len(ts)/2)
	st := repeatStats{First: ts[0], Median: medianDuration(ts), Last: ts[len(ts)-1]}
	st.Ratio = float64(st.Last) / float64(st.First)
	st.Tail = float64(medianDuration(ts[len(ts)-k:])) / float64(medianDuration(ts[:k]))
	return st
}

// repeat: on a fresh store per run, 10,000 companies created (untimed),
// then e.repeatJobs merge jobs of those ids one after another, alternating
// two versions so that every job changes values, each timed from submit
// to completed. The main value is the last job's time; the first's, the
// median and their ratios are metrics; after the run, the sizes of the
// store's tables.
func (e *runner) repeat(r *scenarioResult) error {
	r.Unit = "ms"
	r.FloorDesc = "the first of the jobs in a row, on the same store"
	v1 := e.companies("companies_json", "rep-", 10_000, 1)
	v2 := e.companies("companies_json_v2", "rep-", 10_000, 2)
	for i := range e.runs {
		srv, err := e.startServer(0)
		if err != nil {
			return err
		}
		err = func() error {
			defer srv.stop()
			if err := e.complete(srv, v1.body, 10*time.Millisecond); err != nil {
				return err
			}
			before, err := e.storeSizes(srv)
			if err != nil {
				return err
			}
			ts := make([]time.Duration, e.repeatJobs)
			for k := range ts {
				d := v2
				if k%2 == 1 {
					d = v1
				}
				start := time.Now()
				id, _, err := e.submit(srv, srv.key, jsonType, d.body)
				if err != nil {
					return err
				}
				_, done, err := e.waitJob(srv, srv.key, id, 2*time.Millisecond)
				if err != nil {
					return err
				}
				ts[k] = done.Sub(start)
			}
			after, err := e.storeSizes(srv)
			if err != nil {
				return err
			}
			st := summarizeRepeat(ts)
			r.add(millis(st.Last))
			r.addFloor(millis(st.First))
			r.metric("first job", "ms", millis(st.First))
			r.metric("median job", "ms", millis(st.Median))
			r.metric("last ÷ first", "", st.Ratio)
			r.metric("median of the last 5 ÷ median of the first 5", "", st.Tail)
			for _, s := range after {
				r.metric(s.name+" after the jobs", "MiB", s.mib)
			}
			r.note("run %d: sizes before the jobs in a row: %s; after: %s", i+1, sizesString(before), sizesString(after))
			r.note("run %d: every job in order (ms): %s", i+1, durationsString(ts))
			e.logf("repeat run %d/%d: first %.0f ms, median %.0f ms, last %.0f ms (last ÷ first %.2f, tail %.2f)",
				i+1, e.runs, millis(st.First), millis(st.Median), millis(st.Last), st.Ratio, st.Tail)
			return nil
		}()
		if err != nil {
			return err
		}
	}
	r.note("each run: a fresh server on a fresh store; 10,000 companies created untimed, then %d merge jobs in a row, "+
		"alternating two versions of them; no VACUUM, ANALYZE or other maintenance in between", e.repeatJobs)
	return nil
}

func durationsString(ts []time.Duration) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%.0f", millis(t))
	}
	return strings.Join(parts, " ")
}

// storeSize is the size of one part of a store.
type storeSize struct {
	name string
	mib  float64
	dead int64 // PostgreSQL: n_dead_tup of the table, -1 if none
}

func sizesString(ss []storeSize) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("%s %.1f MiB", s.name, s.mib)
		if s.dead >= 0 {
			parts[i] += fmt.Sprintf(" (%d dead tuples)", s.dead)
		}
	}
	return strings.Join(parts, ", ")
}

// storeSizes reads the size of the server's store: on PostgreSQL each
// table with its TOAST and indexes (pg_total_relation_size) and its dead
// tuples; on SQLite the database file and its WAL.
func (e *runner) storeSizes(srv *serveProc) ([]storeSize, error) {
	st := srv.store
	if st.dir != "" {
		var out []storeSize
		matches, _ := filepath.Glob(filepath.Join(st.dir, "*"))
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil || fi.IsDir() {
				continue
			}
			out = append(out, storeSize{name: filepath.Base(m), mib: mebibytes(fi.Size()), dead: -1})
		}
		return out, nil
	}
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, st.url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	// The store's own tables (any created later, such as staged-input
	// tables, are summed into one line per kind by their name's prefix).
	rows, err := conn.Query(ctx, `SELECT regexp_replace(c.relname, '_[0-9]+$', '_*'),
		sum(pg_total_relation_size(c.oid)), coalesce(sum(s.n_dead_tup), 0)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
		GROUP BY 1 ORDER BY 2 DESC`, st.schema)
	if err != nil {
		return nil, err
	}
	var out []storeSize
	var name string
	var bytes, dead int64
	_, err = pgx.ForEachRow(rows, []any{&name, &bytes, &dead}, func() error {
		if bytes >= 1<<20 || strings.HasPrefix(name, "job_") || name == "jobs" || name == "companies" || name == "users" {
			out = append(out, storeSize{name: name, mib: mebibytes(bytes), dead: dead})
		}
		return nil
	})
	return out, err
}
