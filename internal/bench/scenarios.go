package bench

// The scenarios of bulkid bench. Each fills a scenarioResult: one main value
// per run, the floor measured in the same run, and secondary metrics.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const jsonType = "application/json"

// companies generates a data set and records its size for the report.
func (e *runner) companies(name, prefix string, n, version int) companySet {
	d := genCompanies(prefix, n, version)
	if e.used == nil {
		e.used = map[string]int{}
	}
	if _, ok := e.used[name]; !ok {
		e.used[name] = len(d.body)
	}
	return d
}

func (e *runner) dataFacts() map[string]string {
	m := map[string]string{}
	desc := map[string]string{
		"companies_json":    "10,000 companies, 14 metadata keys",
		"companies_json_v2": "the same ids, 7 values changed and churned_at set or cleared",
		"ndjson":            "10,000 lines of 100 metadata keys",
		"ndjson_multipart":  "the NDJSON file as multipart/form-data",
	}
	for k, v := range e.used {
		m[k] = fmt.Sprintf("%s bytes (%s)", thousands(int64(v)), desc[k])
	}
	return m
}

func (e *runner) sleep(d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-e.ctx.Done():
		return e.ctx.Err()
	}
}

// acceptJSON: the 10,000-company body → 202. The job it creates runs to
// completion, untimed, before the next run.
func (e *runner) acceptJSON(r *scenarioResult) error {
	r.Unit = "ms"
	r.FloorDesc = "loopback POST of the same body to a discard handler in a separate process + encoding/json decode of the body into []json.RawMessage"
	srv, fl, err := e.mainAndFloor()
	if err != nil {
		return err
	}
	d := e.companies("companies_json", "acc-", 10_000, 1)
	for i := range e.runs {
		id, dt, err := e.submit(srv, srv.key, jsonType, d.body)
		if err != nil {
			return err
		}
		if _, _, err := e.waitJob(srv, srv.key, id, 10*time.Millisecond); err != nil {
			return err
		}
		post, err := e.floorPost(fl, jsonType, d.body)
		if err != nil {
			return err
		}
		dec, err := decodeFloor(d.body, 10_000)
		if err != nil {
			return err
		}
		ws, err := writeSync(os.TempDir(), d.body)
		if err != nil {
			return err
		}
		r.add(millis(dt))
		r.addFloor(millis(post + dec))
		r.floorPart("loopback POST to a discard handler", "ms", millis(post))
		r.floorPart("encoding/json decode into []json.RawMessage", "ms", millis(dec))
		r.metric("write + fsync of the 3.8 MB body to a new file (for scale; not in the floor)", "ms", millis(ws))
		e.logf("accept-json run %d/%d: %.1f ms (floor %.1f + %.1f ms)", i+1, e.runs, millis(dt), millis(post), millis(dec))
	}
	return nil
}

// upload50MB: the 50 MB NDJSON file as multipart → 202, with the server's
// peak RSS during the upload; then the job it created, → completed.
func (e *runner) upload50MB(r *scenarioResult) error {
	r.Unit = "ms"
	r.FloorDesc = "the same multipart upload to a discard handler in a separate process"
	srv, fl, err := e.mainAndFloor()
	if err != nil {
		return err
	}
	const filename = "companies.ndjson"
	nd := genNDJSON("up-")
	if e.used == nil {
		e.used = map[string]int{}
	}
	e.used["ndjson"], e.used["ndjson_multipart"] = len(nd), multipartLen(filename, len(nd))
	for i := range e.runs {
		rs := sampleRSS(srv.pid)
		id, dt, err := e.upload(srv.childProc, srv.key, filename, nd)
		peak := rs.Stop()
		if err != nil {
			return err
		}
		accepted := time.Now()
		rs = sampleRSS(srv.pid)
		_, done, err := e.waitJob(srv, srv.key, id, 2*time.Millisecond)
		jobPeak := rs.Stop()
		if err != nil {
			return err
		}
		frs := sampleRSS(fl.pid)
		_, fd, err := e.upload(fl, "floor", filename, nd)
		fpeak := frs.Stop()
		if err != nil {
			return err
		}
		r.add(millis(dt))
		r.addFloor(millis(fd))
		r.metric("server peak RSS during the upload", "MiB", peak)
		r.metric("floor server peak RSS during the upload", "MiB", fpeak)
		r.metric("the job after the 202, → completed", "ms", millis(done.Sub(accepted)))
		r.metric("server peak RSS while that job runs", "MiB", jobPeak)
		e.logf("upload-50mb run %d/%d: %.0f ms, peak RSS %.1f MiB (floor %.0f ms, %.1f MiB); job %.0f ms", i+1, e.runs,
			millis(dt), peak, millis(fd), fpeak, millis(done.Sub(accepted)))
	}
	r.note("run 1's job creates the 10,000 companies; later runs merge identical values into them")
	return nil
}

// runJob submits d and waits for it (polling every 2 ms), recording the
// total and its parts into r; it returns the total.
func (e *runner) runJob(r *scenarioResult, srv *serveProc, d companySet) (time.Duration, error) {
	rs := sampleRSS(srv.pid)
	cpu0 := cpuTime(srv.pid)
	start := time.Now()
	id, acc, err := e.submit(srv, srv.key, jsonType, d.body)
	if err != nil {
		rs.Stop()
		return 0, err
	}
	j, done, err := e.waitJob(srv, srv.key, id, 2*time.Millisecond)
	peak := rs.Stop()
	if err != nil {
		return 0, err
	}
	total := done.Sub(start)
	r.metric("202 (accept)", "ms", millis(acc))
	r.metric("job elapsed_time (start_time → end_time)", "ms", float64(j.ElapsedTime))
	r.metric("server CPU time, user + system", "ms", millis(cpuTime(srv.pid)-cpu0))
	r.metric("server peak RSS", "MiB", peak)
	return total, nil
}

// timedJob is run i of job-new or job-merge: d as a job, timed from
// submit to completed, then the upsert floor of its rows; both go into r.
func (e *runner) timedJob(r *scenarioResult, srv *serveProc, d companySet, i int) error {
	pg := e.pgCPUStart()
	total, err := e.runJob(r, srv, d)
	if err != nil {
		return err
	}
	jobPG, pgOK := pg.used()
	floor, err := e.addUpsertFloor(r, d.rows)
	if err != nil {
		return err
	}
	if floorPG, ok := e.minPGCPU(); ok && pgOK {
		r.pgCPUVsFloor(jobPG, floorPG, len(d.rows))
	}
	r.add(millis(total))
	e.logf("%s run %d/%d: %.0f ms (floor %.0f ms)", r.Name, i+1, e.runs, millis(total), millis(floor))
	return nil
}

// addUpsertFloor runs the floor upsert of rows and adds it to r.
func (e *runner) addUpsertFloor(r *scenarioResult, rows []dataRow) (time.Duration, error) {
	ts, err := e.floorUpsert(1, rows, true)
	if err != nil {
		return 0, err
	}
	f, _ := e.floor()
	for _, m := range f.methods() {
		r.floorPart(m, "ms", millis(ts[m]))
	}
	best := minDuration(ts)
	r.addFloor(millis(best))
	return best, nil
}

func (e *runner) upsertFloorDesc() string {
	if e.pgBase == "" {
		return "a bare upsert of the same 10,000 rows in one transaction with the same driver and settings"
	}
	return "a bare upsert of the same 10,000 rows in one transaction with pgx, the faster of two methods each run"
}

// pickPGBest remembers the faster PostgreSQL floor method for new rows
// (by median), for the floors of seq-100k and many-apps, which insert new rows.
func (e *runner) pickPGBest(r *scenarioResult) {
	if e.pgBase == "" {
		return
	}
	best, bestMed := "", 0.0
	for _, p := range r.FloorParts {
		med := newSummaryStat(p.xs).Median
		if best == "" || med < bestMed {
			best, bestMed = p.Name, med
		}
	}
	e.pgBest = best
}

// jobNew: an unthrottled job of 10,000 new companies, submit → completed.
func (e *runner) jobNew(r *scenarioResult) error {
	r.Unit = "ms"
	r.FloorDesc = e.upsertFloorDesc() + " (new rows)"
	srv, err := e.mainServer()
	if err != nil {
		return err
	}
	for i := range e.runs {
		d := e.companies("companies_json", fmt.Sprintf("new%d-", i), 10_000, 1)
		if err := e.timedJob(r, srv, d, i); err != nil {
			return err
		}
	}
	e.pickPGBest(r)
	e.notePGCPU(r)
	return nil
}

// jobMerge: the same 10,000 ids again with changed values. Runs alternate
// the second and the first version, so every run changes seven values and
// adds or removes a key of every company.
func (e *runner) jobMerge(r *scenarioResult) error {
	r.Unit = "ms"
	r.FloorDesc = e.upsertFloorDesc() + " (existing rows, the same changes)"
	srv, err := e.mainServer()
	if err != nil {
		return err
	}
	v1 := e.companies("companies_json", "merge-", 10_000, 1)
	v2 := e.companies("companies_json_v2", "merge-", 10_000, 2)
	// Setup, untimed: the companies exist, in the product and in the floor.
	if err := e.complete(srv, v1.body, 10*time.Millisecond); err != nil {
		return err
	}
	if _, err := e.floorUpsert(1, v1.rows, true); err != nil {
		return err
	}
	for i := range e.runs {
		d := v2
		if i%2 == 1 {
			d = v1
		}
		if err := e.timedJob(r, srv, d, i); err != nil {
			return err
		}
	}
	e.notePGCPU(r)
	return nil
}

// seq100k: 10 jobs of 10,000 new companies, each submitted when the one
// before has completed, as a client must.
func (e *runner) seq100k(r *scenarioResult) error {
	r.Unit = "s"
	srv, err := e.mainServer()
	if err != nil {
		return err
	}
	for i := range e.runs {
		sets := make([]companySet, 10)
		for j := range sets {
			sets[j] = e.companies("companies_json", fmt.Sprintf("seq%d-%d-", i, j), 10_000, 1)
		}
		pg := e.pgCPUStart()
		start := time.Now()
		for _, d := range sets {
			if err := e.complete(srv, d.body, 2*time.Millisecond); err != nil {
				return err
			}
		}
		total := time.Since(start)
		jobsPG, pgOK := pg.used()
		var floor, floorPG time.Duration
		for _, d := range sets {
			ts, err := e.floorUpsert(1, d.rows, false)
			if err != nil {
				return err
			}
			floor += minDuration(ts)
			cpu, ok := e.minPGCPU()
			floorPG += cpu
			pgOK = pgOK && ok
		}
		if pgOK {
			r.pgCPUVsFloor(jobsPG, floorPG, 100_000)
		}
		r.add(total.Seconds())
		r.addFloor(floor.Seconds())
		r.metric("rows/s", "rows/s", 100_000/total.Seconds())
		e.logf("seq-100k run %d/%d: %.2f s (floor %.2f s)", i+1, e.runs, total.Seconds(), floor.Seconds())
	}
	r.FloorDesc = "the same 100,000 rows as 10 bare upsert transactions of 10,000 with the same driver"
	r.FloorDesc += e.floorMethod()
	e.notePGCPU(r)
	return nil
}

// floorMethod names, for PostgreSQL, the upsert method of the 100,000-row
// floors: the faster one measured, or COPY.
func (e *runner) floorMethod() string {
	if e.pgBase == "" {
		return ""
	}
	m := e.pgBest
	if m == "" {
		m = floorPGCopy
	}
	return " (" + m + ")"
}

// getJobP99: GET the running job at 500 requests/s, open loop, for 10 s
// while unthrottled 10,000-row jobs run one after another.
func (e *runner) getJobP99(r *scenarioResult) error {
	r.Unit = "ms"
	r.FloorDesc = "p99 of the same open-loop GETs (500/s, 2 s) to the floor server"
	srv, fl, err := e.mainAndFloor()
	if err != nil {
		return err
	}
	v1 := e.companies("companies_json", "p99-", 10_000, 1)
	v2 := e.companies("companies_json_v2", "p99-", 10_000, 2)
	var cur atomic.Pointer[string]
	get := func(u, key string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			status, _, err := e.request(ctx, "GET", u, key, "", nil)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("status %d", status)
			}
			return err
		}
	}
	// Setup, untimed: the companies exist, and there is a finished job.
	id0, _, err := e.submit(srv, srv.key, jsonType, v1.body)
	if err != nil {
		return err
	}
	if _, _, err := e.waitJob(srv, srv.key, id0, 10*time.Millisecond); err != nil {
		return err
	}
	cur.Store(&id0)
	for i := range e.runs {
		// The same GETs with no job running, for comparison: the job the
		// previous run finished.
		cpu0 := cpuTime(srv.pid)
		idle := e.openLoop(500, 2*time.Second, get(srv.url+"/v1/background_jobs/"+*cur.Load(), srv.key))
		idleCPU := cpuTime(srv.pid) - cpu0
		if idle.errors > 0 {
			return fmt.Errorf("%d of %d GETs of an idle server failed (first: %v)", idle.errors, idle.n, idle.firstErr)
		}
		ctx, cancel := context.WithCancel(e.ctx)
		var jobs atomic.Int64
		first, loopErr := make(chan error, 1), make(chan error, 1)
		go func() {
			var err error
			defer func() { loopErr <- err }()
			for k := 0; ; k++ {
				d := v2
				if k%2 == 1 {
					d = v1
				}
				var id string
				id, _, err = e.submit(srv, srv.key, jsonType, d.body)
				if k == 0 {
					first <- err
				}
				if err != nil {
					return
				}
				cur.Store(&id)
				if _, _, err = e.waitJob(srv, srv.key, id, 20*time.Millisecond); err != nil {
					return
				}
				jobs.Add(1)
				if ctx.Err() != nil {
					return
				}
			}
		}()
		if err := <-first; err != nil {
			cancel()
			return err
		}
		lat := e.openLoop(500, 10*time.Second, func(ctx context.Context) error {
			return get(srv.url+"/v1/background_jobs/"+*cur.Load(), srv.key)(ctx)
		})
		cancel()
		if err := <-loopErr; err != nil {
			return err
		}
		flat := e.openLoop(500, 2*time.Second, get(fl.url+"/v1/background_jobs/x", "floor"))
		if lat.errors > 0 || flat.errors > 0 {
			return fmt.Errorf("%d of %d GETs failed (first: %v); floor: %d failed (%v)", lat.errors, lat.n, lat.firstErr, flat.errors, flat.firstErr)
		}
		r.add(lat.p99)
		r.addFloor(flat.p99)
		r.metric("p50", "ms", lat.p50)
		r.metric("max", "ms", lat.max)
		r.metric("floor p50", "ms", flat.p50)
		r.metric("p99 with no job running (the same GETs, 2 s, before the run)", "ms", idle.p99)
		r.metric("server CPU per GET with no job running", "ms", millis(idleCPU)/float64(max(idle.n, 1)))
		r.metric("jobs completed during the run", "", float64(jobs.Load()))
		e.logf("get-job-p99 run %d/%d: p50 %.2f ms, p99 %.2f ms, max %.1f ms over %d GETs, %d jobs (floor p99 %.2f ms)",
			i+1, e.runs, lat.p50, lat.p99, lat.max, lat.n, jobs.Load(), flat.p99)
	}
	r.note("latency counts from each request's scheduled time (open loop, 500/s, one goroutine per request), so a stall is not hidden")
	return nil
}

// rss: a fresh server's RSS 1 s after start, then its peak while it
// accepts and runs a 10,000-row job; the floor server likewise.
func (e *runner) rss(r *scenarioResult) error {
	r.Unit = "MiB"
	r.FloorDesc = "idle RSS of the floor server (a bare net/http server of the same binary), 1 s after start"
	d := e.companies("companies_json", "rss-", 10_000, 1)
	for i := range e.runs {
		srv, err := e.startServer(0)
		if err != nil {
			return err
		}
		fl, err := e.startFloorServer()
		if err != nil {
			srv.stop()
			return err
		}
		err = func() error {
			defer srv.stop()
			defer fl.stop()
			if err := e.sleep(time.Second); err != nil {
				return err
			}
			idle, _, err := procStatus(srv.pid)
			if err != nil {
				return err
			}
			fidle, _, err := procStatus(fl.pid)
			if err != nil {
				return err
			}
			rs := sampleRSS(srv.pid)
			id, _, err := e.submit(srv, srv.key, jsonType, d.body)
			if err != nil {
				rs.Stop()
				return err
			}
			_, _, err = e.waitJob(srv, srv.key, id, 2*time.Millisecond)
			peak := rs.Stop()
			if err != nil {
				return err
			}
			_, hwm, _ := procStatus(srv.pid)
			frs := sampleRSS(fl.pid)
			_, err = e.floorPost(fl, jsonType, d.body)
			fpeak := frs.Stop()
			if err != nil {
				return err
			}
			r.add(mebibytes(idle))
			r.addFloor(mebibytes(fidle))
			r.metric("server peak RSS, 10,000-row job: submit → completed", "MiB", peak)
			r.metric("floor server peak RSS receiving the same body", "MiB", fpeak)
			r.metric("server VmHWM (lifetime peak) after the job", "MiB", mebibytes(hwm))
			e.logf("rss run %d/%d: idle %.1f MiB, job peak %.1f MiB (floor idle %.1f MiB, receiving %.1f MiB)",
				i+1, e.runs, mebibytes(idle), peak, mebibytes(fidle), fpeak)
			return nil
		}()
		if err != nil {
			return err
		}
	}
	r.note("each run starts a fresh server on a fresh store; RSS is sampled from /proc/PID/status every 10 ms")
	return nil
}

// manyApps: 100 apps with one 10,000-row job each, all submitted at once;
// rows/s from the first submit to the last completed.
func (e *runner) manyApps(r *scenarioResult) error {
	r.Unit = "rows/s"
	r.HigherIsBetter = true
	srv, err := e.mainServer()
	if err != nil {
		return err
	}
	e.logf("many-apps: creating 100 apps with bulkid apps create")
	keys := make([]string, 100)
	for a := range keys {
		if keys[a], err = e.createApp(srv, fmt.Sprintf("bench-app-%03d", a)); err != nil {
			return err
		}
	}
	for i := range e.runs {
		d := e.companies("companies_json", fmt.Sprintf("ma%d-", i), 10_000, 1)
		rs := sampleRSS(srv.pid)
		cpu0 := cpuTime(srv.pid)
		start := time.Now()
		ids, errs := make([]string, len(keys)), make([]error, len(keys))
		var wg sync.WaitGroup
		for a, key := range keys {
			wg.Go(func() { ids[a], _, errs[a] = e.submit(srv, key, jsonType, d.body) })
		}
		wg.Wait()
		acceptedAll := time.Since(start)
		for _, err := range errs {
			if err != nil {
				rs.Stop()
				return err
			}
		}
		pending := map[int]bool{}
		for a := range keys {
			pending[a] = true
		}
		var last time.Time
		for len(pending) > 0 {
			for a := range pending {
				j, err := e.getJob(e.ctx, srv, keys[a], ids[a])
				if err != nil {
					rs.Stop()
					return err
				}
				switch j.Status {
				case "completed":
					if j.FailedRows > 0 {
						rs.Stop()
						return fmt.Errorf("app %d: job %s has %d failed rows", a, j.JobID, j.FailedRows)
					}
					delete(pending, a)
					last = time.Now()
				case "failed", "canceled":
					rs.Stop()
					return fmt.Errorf("app %d: job %s %s", a, j.JobID, j.Status)
				}
			}
			if time.Since(start) > 30*time.Minute {
				rs.Stop()
				return fmt.Errorf("%d jobs still unfinished after 30 minutes", len(pending))
			}
			if err := e.sleep(20 * time.Millisecond); err != nil {
				rs.Stop()
				return err
			}
		}
		peak := rs.Stop()
		total := last.Sub(start)
		var floor time.Duration
		for j := range 10 {
			ts, err := e.floorUpsert(int64(1000+100*i+j), d.rows, false)
			if err != nil {
				return err
			}
			floor += minDuration(ts)
		}
		rate := float64(len(keys)*10_000) / total.Seconds()
		r.add(rate)
		r.addFloor(100_000 / floor.Seconds())
		r.metric("total: first submit → last completed", "s", total.Seconds())
		r.metric("all 100 bodies accepted (202)", "s", acceptedAll.Seconds())
		r.metric("server CPU time, user + system", "s", (cpuTime(srv.pid) - cpu0).Seconds())
		r.metric("server peak RSS", "MiB", peak)
		e.logf("many-apps run %d/%d: %.0f rows/s, %.1f s (all accepted after %.1f s, peak RSS %.0f MiB; floor %.0f rows/s)",
			i+1, e.runs, rate, total.Seconds(), acceptedAll.Seconds(), peak, 100_000/floor.Seconds())
	}
	r.FloorDesc = "rows/s of a bare upsert of 100,000 new rows as 10 transactions of 10,000 with the same driver"
	r.FloorDesc += e.floorMethod()
	return nil
}

// throttle: --rows-per-minute 1800 and a 4,000-row job; rows applied in
// the 2 minutes after the first progress, and the largest gap between
// progress changes seen by polling every 100 ms. It runs once.
func (e *runner) throttle(r *scenarioResult) error {
	r.Unit = "rows"
	r.FloorDesc = "the expected rows: 1,800 a minute for 2 minutes"
	srv, err := e.startServer(1800)
	if err != nil {
		return err
	}
	defer srv.stop()
	d := genCompanies("thr-", 4000, 1)
	id, _, err := e.submit(srv, srv.key, jsonType, d.body)
	if err != nil {
		return err
	}
	type obs struct {
		t    time.Time
		rows int
	}
	var seen []obs
	var t0 time.Time
	deadline := time.Now().Add(4 * time.Minute)
	for {
		j, err := e.getJob(e.ctx, srv, srv.key, id)
		now := time.Now()
		if err != nil {
			return err
		}
		seen = append(seen, obs{now, j.CompletedRows})
		if t0.IsZero() && j.CompletedRows > 0 {
			t0 = now
			e.logf("throttle: first progress (%d rows); measuring for 2 minutes", j.CompletedRows)
		}
		if !t0.IsZero() && now.Sub(t0) >= 2*time.Minute {
			break
		}
		if j.Done() {
			return fmt.Errorf("the job ended (%s) before 2 minutes of progress", j.Status)
		}
		if now.After(deadline) {
			return fmt.Errorf("no 2 minutes of progress within 4 minutes")
		}
		if err := e.sleep(100 * time.Millisecond); err != nil {
			return err
		}
	}
	var rows0, rowsEnd, rowsLastChange int
	var tEnd, lastChange time.Time
	var maxGap time.Duration
	changes := 0
	for k, o := range seen {
		if o.t.Before(t0) {
			continue
		}
		if o.t.Equal(t0) {
			rows0, lastChange = o.rows, o.t
			continue
		}
		if o.rows != seen[k-1].rows {
			maxGap = max(maxGap, o.t.Sub(lastChange))
			lastChange, rowsLastChange = o.t, o.rows
			changes++
		}
		rowsEnd, tEnd = o.rows, o.t
	}
	rate := float64(rowsLastChange-rows0) / lastChange.Sub(t0).Minutes()
	maxGap = max(maxGap, tEnd.Sub(lastChange))
	applied := rowsEnd - rows0
	r.add(float64(applied))
	r.addFloor(3600)
	r.metric("deviation from 3,600", "%", (float64(applied)/3600-1)*100)
	r.metric("largest gap between progress changes (100 ms polling)", "ms", millis(maxGap))
	r.metric("progress changes in the 2 minutes", "", float64(changes))
	r.metric("rate from the first to the last progress change seen", "rows/min", rate)
	r.note("window: %.2f s from the first progress seen; one run whatever --runs says", tEnd.Sub(t0).Seconds())
	e.logf("throttle: %d rows in %.2f s (%+.2f %%), largest progress gap %.0f ms", applied, tEnd.Sub(t0).Seconds(),
		(float64(applied)/3600-1)*100, millis(maxGap))
	return nil
}
