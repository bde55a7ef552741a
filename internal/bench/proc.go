package bench

// The subprocesses of bulkid bench (the server under test and the floor
// server), the fresh stores they run on, the HTTP calls to them and the
// readings of their memory and CPU from /proc.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulkid/bulkid/client"
	"github.com/bulkid/bulkid/internal/serverproc"
	"github.com/jackc/pgx/v5"
)

// floorServerArg is the hidden "bulkid bench floor-server": a bare
// net/http server on loopback whose handler reads each request body and
// discards it, then answers with a canned job object (202 for POST, 200
// otherwise). It is the floor of the HTTP scenarios: the same bytes over
// the same loopback to a separate process, with nothing done to them.
const floorServerArg = "floor-server"

// cannedJob is what the floor server answers: a job object of the
// size the real server sends.
var cannedJob = []byte(`{"job_id":"01JDZ8V7Q6W3K9X2M4N5P6R7S8","type":"companies","status":"processing",` +
	`"submitted_at":"2026-11-28T15:35:20.781Z","start_time":"2026-11-28T15:35:20.790Z","end_time":null,"elapsed_time":120,` +
	`"filename":null,"file_size":null,"total_rows":10000,"completed_rows":4000,"failed_rows":0,` +
	`"links":"/v1/background_jobs/01JDZ8V7Q6W3K9X2M4N5P6R7S8","errors":[],` +
	`"estimated_completion_time":"2026-11-28T15:35:21.100Z","errors_url":"/v1/background_jobs/01JDZ8V7Q6W3K9X2M4N5P6R7S8/errors","failure_reason":null}`)

func runFloorServer(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusAccepted)
		}
		w.Write(cannedJob)
	})}
	fmt.Fprintf(stdout, "floor listening on http://%s\n", ln.Addr())
	go srv.Serve(ln)
	<-ctx.Done()
	return srv.Close()
}

// runner is the state of one bench invocation.
type runner struct {
	ctx    context.Context
	exe    string
	runs   int
	pgBase string // --database-url, "" for SQLite
	log    io.Writer
	http   *http.Client

	cleanups []func()
	main     *serveProc
	floorSrv *childProc
	floorDB  floorDatabase
	tails    []*logTail
	used     map[string]int // data sets used: name → bytes
	pgBest   string         // the faster PostgreSQL floor method, once measured
	// floorPGCPU is PostgreSQL's CPU time during each method of the last
	// floorUpsert, when measured (pgcpu.go).
	floorPGCPU map[string]time.Duration
	peer       peerConfig // the peer scenario's flags (peer.go)

	repeatJobs int         // jobs in a row of the repeat scenario (--repeat-jobs)
	scaleCfg   scaleConfig // the scale scenario's flags
}

func (e *runner) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "bench: "+format+"\n", args...)
}

func (e *runner) atClose(f func()) { e.cleanups = append(e.cleanups, f) }

func (e *runner) close() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	e.cleanups = nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// childEnv is this process's environment without any BULKID_
// variable, so that a child's configuration is exactly its flags, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BULKID_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// scratchStore is a fresh, empty store: a new SQLite data directory, or a
// new PostgreSQL schema in the --database-url database.
type scratchStore struct {
	args   []string // --data-dir DIR or --database-url URL
	dir    string   // SQLite
	url    string   // PostgreSQL: the URL with search_path set to the schema
	schema string
	drop   func()
}

func (e *runner) freshStore() (*scratchStore, error) {
	if e.pgBase == "" {
		dir, err := os.MkdirTemp("", "bulkid-bench-")
		if err != nil {
			return nil, err
		}
		var once sync.Once
		st := &scratchStore{args: []string{"--data-dir", dir}, dir: dir,
			drop: func() { once.Do(func() { os.RemoveAll(dir) }) }}
		e.atClose(st.drop)
		return st, nil
	}
	u, err := url.Parse(e.pgBase)
	if err != nil {
		return nil, fmt.Errorf("--database-url: %v", err)
	}
	schema := "bulkid_bench_" + randHex(6)
	conn, err := pgx.Connect(e.ctx, e.pgBase)
	if err != nil {
		return nil, fmt.Errorf("connect to --database-url: %w", err)
	}
	_, err = conn.Exec(e.ctx, "CREATE SCHEMA "+schema)
	conn.Close(context.Background())
	if err != nil {
		return nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	var once sync.Once
	st := &scratchStore{args: []string{"--database-url", u.String()}, url: u.String(), schema: schema}
	st.drop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			conn, err := pgx.Connect(ctx, e.pgBase)
			if err == nil {
				_, err = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
				conn.Close(ctx)
			}
			if err != nil {
				e.logf("drop schema %s: %v", schema, err)
			}
		})
	}
	e.atClose(st.drop)
	return st, nil
}

// storeFacts describes the store for the report.
func (e *runner) storeFacts() (map[string]string, error) {
	bi := buildFacts()
	if e.pgBase == "" {
		return map[string]string{"kind": "sqlite", "driver": "modernc.org/sqlite " + bi["modernc.org/sqlite"],
			"settings": "the server's: WAL, synchronous=FULL, one write connection; files in " + os.TempDir()}, nil
	}
	conn, err := pgx.Connect(e.ctx, e.pgBase)
	if err != nil {
		return nil, fmt.Errorf("connect to --database-url: %w", err)
	}
	defer conn.Close(context.Background())
	m := map[string]string{"kind": "postgres", "driver": "github.com/jackc/pgx/v5 " + bi["github.com/jackc/pgx/v5"]}
	var v, sc, fsync, sb string
	if err := conn.QueryRow(e.ctx, "SELECT current_setting('server_version'), current_setting('synchronous_commit'), current_setting('fsync'), current_setting('shared_buffers')").Scan(&v, &sc, &fsync, &sb); err != nil {
		return nil, err
	}
	m["server_version"] = v
	m["settings"] = fmt.Sprintf("synchronous_commit=%s, fsync=%s, shared_buffers=%s, host %s", sc, fsync, sb, conn.Config().Host)
	return m, nil
}

// logTail keeps the first 64 KiB a process writes (its log).
type logTail struct {
	name string
	mu   sync.Mutex
	b    bytes.Buffer
}

func (t *logTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := 64<<10 - t.b.Len(); room > 0 {
		t.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

func (e *runner) serverLogTail() string {
	var out []string
	for _, t := range e.tails {
		if s := strings.TrimSpace(t.String()); s != "" {
			if len(s) > 4000 {
				s = s[:4000] + "\n…"
			}
			out = append(out, "["+t.name+"]\n"+s)
		}
	}
	return strings.Join(out, "\n")
}

// childProc is a subprocess that serves HTTP on loopback.
type childProc struct {
	*serverproc.Process
	name   string
	pid    int
	url    string
	stderr *logTail
}

// startProc runs this binary with args, takes its address from the stdout
// line that starts with listenPrefix, and waits for GET /healthz = 200.
func (e *runner) startProc(name string, args, env []string, listenPrefix string) (*childProc, error) {
	tail := &logTail{name: name}
	e.tails = append(e.tails, tail)
	p, err := serverproc.Start(e.ctx, serverproc.Config{Binary: e.exe, Args: args, Env: env,
		ListenPrefix: listenPrefix, Stderr: tail, PollInterval: 10 * time.Millisecond, Client: e.http})
	if err != nil {
		if e.ctx.Err() != nil {
			return nil, e.ctx.Err()
		}
		return nil, fmt.Errorf("%s: %v: %s", name, err, tail.String())
	}
	bp := &childProc{Process: p, name: name, pid: p.Pid(), url: p.URL, stderr: tail}
	e.atClose(bp.stop)
	return bp, nil
}

// stop ends the process with SIGTERM, or SIGKILL after 30 s.
func (p *childProc) stop() { p.Stop(30 * time.Second) }

// serveProc is a "bulkid serve" on a fresh store.
type serveProc struct {
	*childProc
	key   string
	store *scratchStore
}

func (e *runner) startServer(rowsPerMinute int) (*serveProc, error) {
	st, err := e.freshStore()
	if err != nil {
		return nil, err
	}
	key := "bench-" + randHex(16)
	// --job-read-rate 0: the scenarios poll jobs every 2 ms and read them
	// at 500/s, past the default per-app limit of job reads; the bench
	// measures the engine, not the limiter.
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--rows-per-minute", strconv.Itoa(rowsPerMinute),
		"--job-read-rate", "0", "--log-level", "warn"}, st.args...)
	p, err := e.startProc("server", args, childEnv("BULKID_API_KEY="+key), "bulkid listening on ")
	if err != nil {
		st.drop()
		return nil, err
	}
	return &serveProc{childProc: p, key: key, store: st}, nil
}

func (s *serveProc) stop() {
	s.childProc.stop()
	s.store.drop()
}

// mainServer is the unthrottled server most scenarios share.
func (e *runner) mainServer() (*serveProc, error) {
	if e.main == nil {
		s, err := e.startServer(0)
		if err != nil {
			return nil, err
		}
		e.main = s
	}
	return e.main, nil
}

// mainAndFloor is the main server and the floor server, for scenarios
// that compare the two.
func (e *runner) mainAndFloor() (*serveProc, *childProc, error) {
	srv, err := e.mainServer()
	if err != nil {
		return nil, nil, err
	}
	fl, err := e.floorServer()
	if err != nil {
		return nil, nil, err
	}
	return srv, fl, nil
}

func (e *runner) floorServer() (*childProc, error) {
	if e.floorSrv == nil {
		p, err := e.startFloorServer()
		if err != nil {
			return nil, err
		}
		e.floorSrv = p
	}
	return e.floorSrv, nil
}

func (e *runner) startFloorServer() (*childProc, error) {
	return e.startProc("floor", []string{"bench", floorServerArg}, childEnv(), "floor listening on ")
}

// createApp runs "bulkid apps create NAME" on the server's store and
// returns the new key, the last word of its output.
func (e *runner) createApp(s *serveProc, name string) (string, error) {
	cmd := exec.CommandContext(e.ctx, e.exe, append([]string{"apps", "create", name}, s.store.args...)...)
	cmd.Env = childEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("bulkid apps create %s: %v: %s", name, err, stderr.String())
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "", fmt.Errorf("bulkid apps create %s printed nothing", name)
	}
	return f[len(f)-1], nil
}

// request sends one request and reads the whole answer.
func (e *runner) request(ctx context.Context, method, u, key, ctype string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Token "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// api is an SDK client of s with key, on bench's transport, that tries
// each call once: a failed call fails the run instead of being retried
// inside what is measured.
func (e *runner) api(s *childProc, key string) *client.Client {
	c := client.New(s.url, key)
	c.HTTPClient = e.http
	c.Retry.MaxAttempts = 1
	return c
}

// submit posts a companies bulk body with key and returns the job id and
// the time from sending the request to having read the 202. The body is
// sent as it was generated: the SDK would encode records again inside the
// time measured.
func (e *runner) submit(s *serveProc, key, ctype string, body []byte) (string, time.Duration, error) {
	start := time.Now()
	status, b, err := e.request(e.ctx, "POST", s.url+"/v1/companies/bulk_identify", key, ctype, body)
	d := time.Since(start)
	if err != nil {
		return "", d, fmt.Errorf("submit: %w", err)
	}
	if status != http.StatusAccepted {
		return "", d, fmt.Errorf("submit: status %d: %.300s", status, b)
	}
	var j client.Job
	if err := json.Unmarshal(b, &j); err != nil || j.JobID == "" {
		return "", d, fmt.Errorf("submit: 202 without a job: %.300s", b)
	}
	return j.JobID, d, nil
}

// upload sends content as the NDJSON file filename, multipart, with the
// SDK's Upload, and returns the job id and the time to the 202 read.
func (e *runner) upload(p *childProc, key, filename string, content []byte) (string, time.Duration, error) {
	start := time.Now()
	j, err := e.api(p, key).Upload(e.ctx, client.Companies, filename, content)
	d := time.Since(start)
	if err != nil {
		return "", d, fmt.Errorf("upload: %w", err)
	}
	return j.JobID, d, nil
}

func (e *runner) getJob(ctx context.Context, s *serveProc, key, id string) (client.Job, error) {
	j, err := e.api(s.childProc, key).Job(ctx, id)
	if err != nil {
		return client.Job{}, fmt.Errorf("GET job %s: %w", id, err)
	}
	return *j, nil
}

// complete submits a companies JSON body with the server's key and waits,
// polling every interval, for its job to complete: setup, untimed.
func (e *runner) complete(s *serveProc, body []byte, interval time.Duration) error {
	id, _, err := e.submit(s, s.key, jsonType, body)
	if err != nil {
		return err
	}
	_, _, err = e.waitJob(s, s.key, id, interval)
	return err
}

// waitJob polls a job every interval until it is final and returns it and
// the time the final status was read. A failed job, or failed rows, is an
// error: the generated data is valid, so either means the run measured
// something else than intended.
func (e *runner) waitJob(s *serveProc, key, id string, interval time.Duration) (client.Job, time.Time, error) {
	ctx, cancel := context.WithTimeout(e.ctx, 15*time.Minute)
	defer cancel()
	var last client.Job
	var now time.Time
	_, err := e.api(s.childProc, key).WaitJob(ctx, id, interval, func(j *client.Job) { last, now = *j, time.Now() })
	if err != nil {
		if now.IsZero() {
			now = time.Now()
		}
		if e.ctx.Err() != nil {
			return last, now, e.ctx.Err()
		}
		if ctx.Err() != nil {
			return last, now, fmt.Errorf("job %s still %s after 15 minutes", id, last.Status)
		}
		return last, now, fmt.Errorf("GET job %s: %w", id, err)
	}
	j := last
	if j.Status == "failed" {
		reason := ""
		if j.FailureReason != nil {
			reason = *j.FailureReason
		}
		return j, now, fmt.Errorf("job %s failed: %s", id, reason)
	}
	if j.FailedRows > 0 || j.CompletedRows != j.TotalRows {
		return j, now, fmt.Errorf("job %s completed %d of %d rows with %d failed", id, j.CompletedRows, j.TotalRows, j.FailedRows)
	}
	return j, now, nil
}

// procStatus reads VmRSS and VmHWM of a process, in bytes.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, nil
}

func mebibytes(b int64) float64 { return float64(b) / (1 << 20) }

// rssSampler samples a process's VmRSS every 10 ms and keeps the peak.
type rssSampler struct {
	pid        int
	stop, done chan struct{}
	peak       int64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	if rss, _, err := procStatus(s.pid); err == nil && rss > s.peak {
		s.peak = rss
	}
}

// Stop ends the sampling and returns the peak in MiB.
func (s *rssSampler) Stop() float64 {
	close(s.stop)
	<-s.done
	s.sample()
	return mebibytes(s.peak)
}

// cpuTime is the user plus system CPU time a process has used so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// the last ')'. utime and stime are fields 14 and 15, in clock ticks
	// (USER_HZ, 100 on Linux).
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
