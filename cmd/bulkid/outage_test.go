package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/pgtest"
)

// pgProxy is a TCP proxy between bulkid and PostgreSQL that the test can
// stop and start. Stop closes every proxied connection and the listening
// socket, so new connections are refused; Start listens on the same port
// again. To bulkid this is a database server that was stopped and started
// again, without stopping the machine's PostgreSQL that other tests share.
type pgProxy struct {
	t      *testing.T
	addr   string // the proxy's host:port, fixed across Stop and Start
	target string // PostgreSQL's host:port

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startPGProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{t: t, addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() { p.Stop(); p.wg.Wait() })
	return p
}

// URL returns dbURL with its host replaced by the proxy's.
func (p *pgProxy) URL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		p.t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

func (p *pgProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // Stop closed the listener
			}
			p.wg.Go(func() { p.pipe(c) })
		}
	})
}

func (p *pgProxy) pipe(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // stopped meanwhile
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) { io.Copy(dst, src); done <- struct{}{} }
	go cp(server, client)
	go cp(client, server)
	<-done // one side ended: end both, as a server going away does
	client.Close()
	server.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// Stop refuses new connections and closes every open one, on both sides:
// PostgreSQL rolls back what they had not committed, and bulkid sees its
// connections end.
func (p *pgProxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Start accepts connections again on the same port.
func (p *pgProxy) Start() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 100 { // the port is ours, but the kernel may take a moment
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
}

// pgHost returns the host:port of a postgres:// URL.
func pgHost(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5432")
	}
	return u.Host
}

// expectOpaque checks an error in the documented shape with status and
// code whose body gives away none of leaks (lower case) and no details.
func expectOpaque(t *testing.T, what string, r response, status int, code string, leaks ...string) {
	t.Helper()
	e := expectError(t, r, status, code)
	if e.Errors[0].Details != "" {
		t.Errorf("%s: details = %q, want \"\" on a %d", what, e.Errors[0].Details, status)
	}
	body := strings.ToLower(string(r.Body))
	for _, leak := range leaks {
		if strings.Contains(body, leak) {
			t.Errorf("%s: the %d body gives away %q: %s", what, status, leak, r.Body)
		}
	}
}

// expectUnavailable checks a 503 in the documented shape that gives away
// nothing of the store: no driver, SQL, address or error text.
func expectUnavailable(t *testing.T, what string, r response) {
	t.Helper()
	expectOpaque(t, what, r, http.StatusServiceUnavailable, "service_unavailable",
		"postgres", "pgx", "sql", "select", "insert", "dial", "127.0.0.1", "connect", "eof", "refused", "sqlite", "database is locked")
	if ra := r.Header.Get("Retry-After"); ra == "" {
		t.Errorf("%s: 503 without Retry-After", what)
	}
}

// TestStoreOutagePostgres stops PostgreSQL (through a proxy) while a
// throttled job is mid-way, and starts it again: meanwhile every request
// and /healthz answer 503 in the documented shape, the job pauses rather
// than fails, and once the store is back it finishes with every row stored
// and counted once, and new jobs are accepted.
func TestStoreOutagePostgres(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	proxy := startPGProxy(t, pgHost(t, dbURL))
	// 1200 rows a minute: batches of 20 a second, so the job is mid-way
	// when the store goes; a 1s lease, so it lapses during the outage and
	// the job must be claimed again afterwards.
	s := startServer(t, t.TempDir(), "--database-url", proxy.URL(dbURL), "--rows-per-minute", "1200",
		"--lease-duration", "1s", "--poll-interval", "100ms", "--log-level", "info")

	const rows = 60
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(rows, "out")))
	waitProgress(t, s, j.JobID, 20)

	proxy.Stop()
	expectUnavailable(t, "GET /healthz", s.Do("GET", "/healthz", "", "", nil))
	expectUnavailable(t, "GET job", s.Get("/v1/background_jobs/"+j.JobID))
	expectUnavailable(t, "GET jobs", s.Get("/v1/background_jobs"))
	expectUnavailable(t, "GET company", s.Get("/v1/companies/out0"))
	expectUnavailable(t, "POST bulk_identify", s.PostJSON("/v1/companies/bulk_identify", companies(5, "lost")))
	expectUnavailable(t, "POST identify", s.PostJSON("/v1/companies/identify", map[string]any{"company_id": "rt"}))
	// The worker meets the outage at its next batch and pauses the job.
	waitLog(t, s, "store unavailable; job paused")
	// Stay down past the lease, so the job must be claimed again.
	time.Sleep(1500 * time.Millisecond)
	expectUnavailable(t, "GET job, later", s.Get("/v1/background_jobs/"+j.JobID))
	proxy.Start()

	done := s.WaitJob(j.JobID)
	checkStored(t, s, done, rows, "out")
	if strings.Contains(s.stderr.String(), "job failed") {
		t.Errorf("the outage failed the job somewhere:\n%s", s.stderr.String())
	}
	if r := s.Do("GET", "/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Errorf("/healthz after the outage = %d %s", r.Status, r.Body)
	}
	// The refused submission created nothing; the API takes jobs again.
	var list []job
	s.Get("/v1/background_jobs").JSON(t, &list)
	if len(list) != 1 || list[0].JobID != j.JobID {
		t.Errorf("jobs after the outage = %+v, want only %s", list, j.JobID)
	}
	if r := s.Get("/v1/companies/lost0"); r.Status != http.StatusNotFound {
		t.Errorf("a record of the refused submission was stored: %d %s", r.Status, r.Body)
	}
	j2 := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(10, "after")))
	checkStored(t, s, s.WaitJob(j2.JobID), 10, "after")
}

// TestStoreDownAtStart: bulkid serve on a PostgreSQL that does not answer
// exits at once with a message naming the problem (a supervisor restarts
// it), rather than serving 503s or hanging.
func TestStoreDownAtStart(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	proxy := startPGProxy(t, pgHost(t, dbURL))
	proxy.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only a guard against a hang
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--addr", "127.0.0.1:0", "--database-url", proxy.URL(dbURL))
	cmd.Env = append(cmd.Environ(), "BULKID_API_KEY="+testKey)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || ctx.Err() != nil {
		t.Fatalf("serve with the store down: %v, want exit status 1\n%s", err, out)
	}
	if msg := string(out); !strings.Contains(msg, "cannot reach the database") || strings.Contains(msg, "listening") {
		t.Errorf("serve with the store down said:\n%s\nwant a message that the store cannot be reached, and no listening", msg)
	}
}

// waitLog waits until the server has logged want. A job failing meanwhile
// fails the test at once.
func waitLog(t *testing.T, s *server, want string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(s.stderr.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) || strings.Contains(s.stderr.String(), `msg="job failed"`) {
			t.Fatalf("the server never logged %q:\n%s", want, s.stderr.String())
		}
	}
}

// checkStored checks that j completed with rows rows, none failed, and that
// each company prefix0..prefix(rows-1) holds its metadata.
func checkStored(t *testing.T, s *server, j job, rows int, prefix string) {
	t.Helper()
	if j.Status != "completed" || j.CompletedRows != rows || j.FailedRows != 0 || j.TotalRows != rows {
		t.Fatalf("job = %s %d+%d/%d (%v), want completed %d+0/%d", j.Status, j.CompletedRows, j.FailedRows, j.TotalRows, j.FailureReason, rows, rows)
	}
	for i := range rows {
		c := getJSON(t, s, fmt.Sprintf("/v1/companies/%s%d", prefix, i))
		md, _ := c["metadata"].(map[string]any)
		if md["i"] != float64(i) {
			t.Fatalf("company %s%d = %v, want its metadata", prefix, i, c)
		}
	}
}

// TestStoreLockedSQLite: another process holds SQLite's write lock (a long
// write in the sqlite3 shell, say) beyond the 10 s busy timeout. A request
// that writes answers 503 in the documented shape, reads go on, and once
// the lock is released writes are accepted again.
func TestStoreLockedSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir, "--rows-per-minute", "0")
	pre := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(10, "pre")))
	checkStored(t, s, s.WaitJob(pre.JobID), 10, "pre")

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "bulkid.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin() // BEGIN IMMEDIATE: holds the write lock until Rollback
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	r := s.PostJSON("/v1/companies/bulk_identify", companies(5, "lost")) // waits out the busy timeout
	expectUnavailable(t, "POST bulk_identify with the database locked", r)
	if r := s.Do("GET", "/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Errorf("/healthz with the write lock held elsewhere = %d %s, want 200: reads are served", r.Status, r.Body)
	}
	checkStored(t, s, s.Job(pre.JobID), 10, "pre")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(5, "after")))
	checkStored(t, s, s.WaitJob(j.JobID), 5, "after")
	if r := s.Get("/v1/companies/lost0"); r.Status != http.StatusNotFound {
		t.Errorf("a record of the refused submission was stored: %d %s", r.Status, r.Body)
	}
}

// privatePG is a PostgreSQL cluster of the test's own, which it may stop
// and start: initdb in a temporary directory, listening on a Unix socket
// there only, so it needs no free port and cannot disturb the machine's
// PostgreSQL.
type privatePG struct {
	t              *testing.T
	dir, bin, user string // user: run the server as this user ("" = as we are)
}

// startPrivatePG creates and starts the cluster. It needs PostgreSQL's
// server binaries (initdb, pg_ctl) and, as root, the user postgres: without
// them the test skips, unless CI is set, where it fails.
func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	unusable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("skipping the private PostgreSQL test: " + msg)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins) // the newest version last (single-digit majors sort the same)
	bin := ""
	if len(bins) > 0 {
		bin = filepath.Dir(bins[len(bins)-1])
	} else if p, err := exec.LookPath("initdb"); err == nil {
		bin = filepath.Dir(p)
	} else {
		unusable("no initdb in /usr/lib/postgresql/*/bin or on PATH")
	}
	dir, err := os.MkdirTemp("", "bulkid-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg := &privatePG{t: t, dir: dir, bin: bin}
	if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			unusable("running as root, and there is no user postgres to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.user = "postgres"
	}
	if out, err := pg.run("initdb", "-D", pg.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		unusable("initdb: %v\n%s", err, out)
	}
	pg.Start()
	t.Cleanup(func() { pg.run("pg_ctl", "-D", pg.data(), "-m", "immediate", "-w", "stop") })
	return pg
}

func (pg *privatePG) data() string { return filepath.Join(pg.dir, "data") }

func (pg *privatePG) run(tool string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(pg.bin, tool), args...)
	if pg.user != "" {
		cmd = exec.Command("runuser", append([]string{"-u", pg.user, "--", cmd.Path}, args...)...)
	}
	return cmd.CombinedOutput()
}

// URL is the cluster's database postgres, through the socket.
func (pg *privatePG) URL() string {
	return "postgres://postgres@/postgres?host=" + url.QueryEscape(pg.dir) + "&sslmode=disable"
}

// Start starts the server and waits until it takes connections. fsync is
// off: the test stops the server, not the machine.
func (pg *privatePG) Start() {
	pg.t.Helper()
	opts := "-c listen_addresses= -c fsync=off -k " + pg.dir
	if out, err := pg.run("pg_ctl", "-D", pg.data(), "-o", opts, "-l", filepath.Join(pg.dir, "log"), "-w", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "log"))
		pg.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server at once, as a crash or kill -9 of its processes
// would: no checkpoint, clients cut off, recovery at the next start.
func (pg *privatePG) Stop() {
	pg.t.Helper()
	if out, err := pg.run("pg_ctl", "-D", pg.data(), "-m", "immediate", "-w", "stop"); err != nil {
		pg.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// TestStoreRestartPrivatePostgres stops a real PostgreSQL server
// (immediate shutdown, so it recovers at the next start) while a throttled
// job is mid-way, and starts it again: requests answer 503 meanwhile, the
// job pauses and then completes with every row stored and counted once.
func TestStoreRestartPrivatePostgres(t *testing.T) {
	t.Parallel()
	pg := startPrivatePG(t)
	s := startServer(t, t.TempDir(), "--database-url", pg.URL(), "--rows-per-minute", "1200",
		"--lease-duration", "1s", "--poll-interval", "100ms", "--log-level", "info")

	const rows = 60
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(rows, "pg")))
	waitProgress(t, s, j.JobID, 20)
	pg.Stop()
	expectUnavailable(t, "GET /healthz", s.Do("GET", "/healthz", "", "", nil))
	expectUnavailable(t, "GET job", s.Get("/v1/background_jobs/"+j.JobID))
	expectUnavailable(t, "POST bulk_identify", s.PostJSON("/v1/companies/bulk_identify", companies(5, "lost")))
	waitLog(t, s, "store unavailable; job paused")
	time.Sleep(1500 * time.Millisecond) // past the lease
	pg.Start()

	checkStored(t, s, s.WaitJob(j.JobID), rows, "pg")
	if strings.Contains(s.stderr.String(), "job failed") {
		t.Errorf("the restart failed the job somewhere:\n%s", s.stderr.String())
	}
	if r := s.Get("/v1/companies/lost0"); r.Status != http.StatusNotFound {
		t.Errorf("a record of the refused submission was stored: %d %s", r.Status, r.Body)
	}
}
