package dashboard_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/dashboard"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/internal/wiretest"
	"github.com/bulkid/bulkid/postgres"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/worker"
)

// The dashboard's tests run it as bulkid serve wires it, in this process:
// a real SQLite store in a temporary directory, a real worker pool, the
// API and the dashboard side by side (dashboard.Beside) on a loopback
// port. The worker starts when a test says so (startWorker), so a test can
// look at a job while it is queued and then watch it run.

const (
	keyA = "dashboard-test-key-a-0123456789"
	keyB = "dashboard-test-key-b-0123456789"
)

type server struct {
	wiretest.Target // the API as app A
	t               *testing.T
	store           testStore
	appA, appB      *bulkid.App
	clock           *testClock
	pool            *worker.Pool
	startOnce       sync.Once
	stopWork        context.CancelFunc
	workDone        chan struct{}
	startWorkerCtx  func()
}

// testClock is the dashboard's clock: the real time plus an offset a test
// moves, so sessions can expire without waiting.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// testStore is what the tests reach a store by: both stores have it.
type testStore interface {
	bulkid.Store
	bulkid.DashboardStore
}

type options struct {
	postgres   bool // a PostgreSQL store (a schema of its own) instead of SQLite
	tls        bool
	authBurst  int
	authRefill time.Duration
	events     bool // the store as one with bulkid.EventStore's reads
	secure     bool // Config.SecureCookies
	region     string
	regionURLs map[string]string
}

func startServer(t *testing.T, o options) *server {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var db testStore
	var err error
	if o.postgres {
		db, err = postgres.Open(ctx, postgres.Config{URL: pgtest.URL(t), Logger: log})
	} else {
		db, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "bulkid.db"), Logger: log})
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, store: db, clock: &testClock{}, workDone: make(chan struct{})}
	if s.appA, err = db.CreateApp(ctx, "alpha", bulkid.HashAPIKey(keyA)); err != nil {
		t.Fatal(err)
	}
	if s.appB, err = db.CreateApp(ctx, "beta", bulkid.HashAPIKey(keyB)); err != nil {
		t.Fatal(err)
	}
	s.pool, err = worker.New(worker.Config{Store: db, Workers: 4, RowsPerMinute: 0, LeaseTTL: 30 * time.Second,
		PollInterval: 50 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.NewServer(httpapi.Config{Store: db, Notify: s.pool.Notify, Logger: log})
	var store dashboard.Store = db
	if o.events {
		store = &eventsStore{testStore: db}
	}
	ui := dashboard.New(dashboard.Config{Store: store, Logger: log, Now: s.clock.Now,
		AuthFailBurst: o.authBurst, AuthFailRefill: o.authRefill, SecureCookies: o.secure,
		Region: o.region, RegionURLs: o.regionURLs})
	ts := httptest.NewUnstartedServer(dashboard.Beside(api, ui))
	if o.tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	s.Target = wiretest.Target{T: t, URL: ts.URL, Key: keyA}
	var wctx context.Context
	wctx, s.stopWork = context.WithCancel(ctx)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		s.stopWork()
		s.startOnce.Do(func() { close(s.workDone) }) // never started
		<-s.workDone
		db.Close()
	})
	s.startWorkerCtx = func() {
		go func() { s.pool.Run(wctx); close(s.workDone) }()
	}
	return s
}

// startWorker starts the worker pool, once.
func (s *server) startWorker() { s.startOnce.Do(s.startWorkerCtx) }

// submit posts records to the bulk endpoint of typ as app A and returns
// the job's id.
func (s *server) submit(typ string, records ...map[string]any) string {
	s.t.Helper()
	r := s.PostJSON("/v1/"+typ+"/bulk_identify", map[string]any{typ: records})
	return wiretest.Accepted(s.t, r).JobID
}

// run submits records and waits for the job to end.
func (s *server) run(typ string, records ...map[string]any) string {
	s.t.Helper()
	s.startWorker()
	id := s.submit(typ, records...)
	s.WaitJob(id)
	return id
}

// browser is an HTTP client that keeps cookies, as a browser does, and
// does not follow redirects, so tests see them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (s *server) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if s.URL[:5] == "https" {
		c.Transport = &http.Transport{TLSClientConfig: tlsInsecure()}
	}
	return &browser{t: s.t, base: s.URL, c: c}
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) page {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the form on p.
func (b *browser) csrf(p page) string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(p.Body)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page:\n%s", p.Body)
	}
	return m[1]
}

// signIn signs in with key through the form and fails the test unless it
// works.
func (b *browser) signIn(key string) {
	b.t.Helper()
	form := b.get("/ui/signin")
	p := b.post("/ui/signin", url.Values{"csrf": {b.csrf(form)}, "key": {key}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/ui/" {
		b.t.Fatalf("sign-in: %d to %q, want 303 to /ui/:\n%s", p.Status, p.Header.Get("Location"), p.Body)
	}
}

// wantStatus fails the test unless p has status want.
func wantStatus(t *testing.T, what string, p page, want int) {
	t.Helper()
	if p.Status != want {
		t.Fatalf("%s: status %d, want %d:\n%s", what, p.Status, want, p.Body)
	}
}

func wantContains(t *testing.T, what string, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.Body, s) {
			t.Errorf("%s: page lacks %q:\n%s", what, s, p.Body)
		}
	}
}

func wantLacks(t *testing.T, what string, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(p.Body, s) {
			t.Errorf("%s: page holds %q, which it must not:\n%s", what, s, p.Body)
		}
	}
}

func tlsInsecure() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} // httptest's own certificate
}

// eventsStore is the SQLite store with the read side of an event store
// (bulkid.EventStore's UserEvents and EventTotals) over fixed events, for
// the pages' events sections until the stores keep events.
type eventsStore struct {
	testStore
}

var eventsAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (s *eventsStore) UserEvents(ctx context.Context, appID int64, userID, name string, p bulkid.Page) ([]*bulkid.Event, error) {
	if _, err := s.User(ctx, appID, userID); err != nil {
		return nil, err
	}
	return []*bulkid.Event{{Seq: 2, UserID: userID, Name: "<b>signed_up</b>", Metadata: []byte(`{"plan":"<i>pro</i>"}`), ReceivedAt: eventsAt}}, nil
}

func (s *eventsStore) EventTotals(ctx context.Context, appID int64) ([]bulkid.EventTotal, error) {
	return []bulkid.EventTotal{{Name: "<b>signed_up</b>", Count: 41, LastAt: eventsAt}, {Name: "viewed", Count: 7, LastAt: eventsAt}}, nil
}
