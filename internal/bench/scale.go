package bench

// The scale scenario (issue 14): a store loaded through the API with
// --scale-companies companies and --scale-users users (1,000,000 each by
// default), then the job scenarios, the single GETs, the listing and the
// dashboard's pages and searches, each measured on that store and on an
// empty one of the same kind, side by side in the same run, with the
// ratio of the two. The empty store is a fresh store given only the
// companies and users that the measurements read and merge.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// scaleConfig is the scale scenario's part of the command line.
type scaleConfig struct {
	companies, users int
	// getDuration is how long each open-loop GET measurement lasts, at
	// scaleGetRate requests a second; pageRequests how many times each
	// listing and dashboard page is read, one after another.
	getDuration  time.Duration
	pageRequests int
}

// scaleBatch is the rows of each loading job: the API's most.
const scaleBatch = 10_000

// scaleGetRate is the open-loop rate of the GET measurements, requests/s.
const scaleGetRate = 200

// scaleFlags defines the scale scenario's flags on fs; the function it
// returns checks them once fs is parsed.
func scaleFlags(fs *flag.FlagSet) func() (scaleConfig, error) {
	companies := fs.Int("scale-companies", 1_000_000, "companies the scale scenario loads through the API before it measures")
	users := fs.Int("scale-users", 1_000_000, "users the scale scenario loads, each with one of those companies")
	getDur := fs.Duration("scale-get-duration", 3*time.Second, "how long the scale scenario measures each GET, open loop at 200 requests/s")
	pages := fs.Int("scale-page-requests", 30, "how many times the scale scenario reads each listing and dashboard page")
	return func() (scaleConfig, error) {
		c := scaleConfig{companies: *companies, users: *users, getDuration: *getDur, pageRequests: *pages}
		switch {
		case c.companies < 1:
			return c, fmt.Errorf("--scale-companies must be at least 1, not %d", c.companies)
		case c.users < 1:
			return c, fmt.Errorf("--scale-users must be at least 1, not %d", c.users)
		case c.getDuration < 50*time.Millisecond:
			return c, fmt.Errorf("--scale-get-duration must be at least 50ms, not %v", c.getDuration)
		case c.pageRequests < 1:
			return c, fmt.Errorf("--scale-page-requests must be at least 1, not %d", c.pageRequests)
		}
		return c, nil
	}
}

func scaleCompanyID(i int) string { return fmt.Sprintf("c%07d", i) }
func scaleUserID(i int) string    { return fmt.Sprintf("u%07d", i) }

// userCompany is the company (its index, < companies) of user i, spread
// as in a real app: four users in five are the only user of a company of
// their own (user i, company i mod companies); every fifth user goes to
// a company drawn from a Zipf law over all of them (s = 1.2), so the
// first companies have thousands of users, some have a handful, and most
// of every fifth company, which no one-to-one user takes, has none (it is
// hidden).
func userCompany(i, companies int) int {
	if i%5 != 0 || companies == 1 {
		return i % companies
	}
	r := rand.New(rand.NewPCG(dataSeed+4, uint64(i)))
	return int(rand.NewZipf(r, 1.2, 1, uint64(companies-1)).Uint64())
}

var (
	firstNames = []string{"Ann", "Bob", "Chloé", "Dmitri", "Eve", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kasia", "Liam", "Mei", "Noor", "Olga", "Pedro"}
	lastNames  = []string{"Smith", "Müller", "Dubois", "Rossi", "Kowalski", "Tanaka", "Silva", "Nguyen", "Okafor", "Johansson", "García", "Cohen"}
	roles      = []string{"admin", "member", "viewer", "owner", "billing"}
	locales    = []string{"en-US", "de-DE", "fr-FR", "es-ES", "pt-BR", "ja-JP", "pl-PL", "sv-SE"}
)

// userMetadata is user i's metadata: 9 keys of mixed types.
func userMetadata(i int) []byte {
	r := rand.New(rand.NewPCG(dataSeed+3, uint64(i)))
	var o jsonObject
	o.b = make([]byte, 0, 256)
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	o.str("email", fmt.Sprintf("user%07d@example.com", i))
	o.str("name", first+" "+last)
	o.str("role", roles[r.IntN(len(roles))])
	o.str("locale", locales[r.IntN(len(locales))])
	o.int("logins", r.IntN(2000))
	o.bool("verified", r.IntN(10) != 0)
	o.float("nps", float64(r.IntN(11)), 0)
	o.str("created_at", date(r, 2018, 8))
	o.str("last_seen_at", dateTime(r, 2025, 2))
	return o.end()
}

// scaleCompanies is the body of companies [from, to) with ids id(i) and
// the metadata of company i at version.
func scaleCompanies(from, to, version int, id func(int) string) companySet {
	rows := make([]dataRow, 0, to-from)
	for i := from; i < to; i++ {
		rows = append(rows, dataRow{id: id(i), metadata: companyMetadata(i, version)})
	}
	return companySet{rows: rows, body: companiesBody(rows)}
}

// scaleUsers is the body {"users":[…]} of users [from, to), with ids
// id(i), each with the company userCompany(i, companies).
func scaleUsers(from, to, companies int, id func(int) string) []byte {
	b := make([]byte, 0, (to-from)*300)
	b = append(b, `{"users":[`...)
	for i := from; i < to; i++ {
		if i > from {
			b = append(b, ',')
		}
		b = append(b, `{"user_id":`...)
		b = strconv.AppendQuote(b, id(i))
		b = append(b, `,"company_id":`...)
		b = strconv.AppendQuote(b, scaleCompanyID(userCompany(i, companies)))
		b = append(b, `,"metadata":`...)
		b = append(b, userMetadata(i)...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// submitTo posts a bulk body to path and returns the job id.
func (e *runner) submitTo(s *serveProc, path string, body []byte) (string, error) {
	status, b, err := e.request(e.ctx, "POST", s.url+path, s.key, jsonType, body)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	if status != http.StatusAccepted {
		return "", fmt.Errorf("POST %s: status %d: %.300s", path, status, b)
	}
	var j struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal(b, &j); err != nil || j.JobID == "" {
		return "", fmt.Errorf("POST %s: 202 without a job: %.300s", path, b)
	}
	return j.JobID, nil
}

// timeJob posts a bulk body to path and waits for its job, polling every
// 2 ms; it returns the job id and the time from submit to completed.
func (e *runner) timeJob(s *serveProc, path string, body []byte) (string, time.Duration, error) {
	start := time.Now()
	id, err := e.submitTo(s, path, body)
	if err != nil {
		return "", 0, err
	}
	_, done, err := e.waitJob(s, s.key, id, 2*time.Millisecond)
	return id, done.Sub(start), err
}

const (
	companiesPath = "/v1/companies/bulk_identify"
	usersPath     = "/v1/users/bulk_identify"
)

// loadStats is what loading a store took.
type loadStats struct {
	companies, users time.Duration
	jobs             int
}

// scaleLoad loads companies companies, then users users, through the bulk
// endpoints in jobs of scaleBatch rows, each submitted as soon as the one
// before has completed. The next body is generated while a job runs.
func (e *runner) scaleLoad(s *serveProc, label string, companies, users int) (loadStats, error) {
	type job struct {
		path       string
		body       []byte
		from, to   int
		users      bool
		totalRows  int
		totalLabel string
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	next := make(chan job, 1)
	go func() {
		defer close(next)
		for from := 0; from < companies; from += scaleBatch {
			to := min(from+scaleBatch, companies)
			j := job{path: companiesPath, body: scaleCompanies(from, to, 1, scaleCompanyID).body, from: from, to: to,
				totalRows: companies, totalLabel: "companies"}
			select {
			case next <- j:
			case <-ctx.Done():
				return
			}
		}
		for from := 0; from < users; from += scaleBatch {
			to := min(from+scaleBatch, users)
			j := job{path: usersPath, body: scaleUsers(from, to, companies, scaleUserID), from: from, to: to, users: true,
				totalRows: users, totalLabel: "users"}
			select {
			case next <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	var st loadStats
	start := time.Now()
	phase, lastLog := start, start
	usersStarted := false
	for j := range next {
		if j.users && !usersStarted {
			usersStarted = true
			st.companies = time.Since(start)
			phase = time.Now()
		}
		id, err := e.submitTo(s, j.path, j.body)
		if err != nil {
			return st, fmt.Errorf("loading %s: %w", label, err)
		}
		if _, _, err := e.waitJob(s, s.key, id, 20*time.Millisecond); err != nil {
			return st, fmt.Errorf("loading %s: %w", label, err)
		}
		st.jobs++
		if now := time.Now(); now.Sub(lastLog) >= 15*time.Second || j.to == j.totalRows {
			lastLog = now
			e.logf("scale: %s: %s of %s %s loaded in %.1f s (%s rows/s)", label, thousands(int64(j.to)),
				thousands(int64(j.totalRows)), j.totalLabel, now.Sub(phase).Seconds(),
				thousands(int64(float64(j.to)/now.Sub(phase).Seconds())))
		}
	}
	if err := e.ctx.Err(); err != nil {
		return st, err
	}
	st.users = time.Since(phase)
	return st, nil
}

// scaleStore is one of the two stores the scale scenario compares.
type scaleStore struct {
	label     string // "1,000,000 companies" or "empty"
	srv       *serveProc
	companies int // companies loaded: the deep page's cursor is the middle one
	dash      *http.Client
	lastJob   string
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in to the store's dashboard with its key as a browser
// does: GET the sign-in form for its CSRF cookie and token, POST the key,
// keep the session cookie.
func (e *runner) signIn(st *scaleStore) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	st.dash = &http.Client{Transport: e.http.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status, body, _, err := e.dashGet(st, "/ui/signin")
	if err != nil {
		return err
	}
	m := csrfInput.FindSubmatch(body)
	if status != http.StatusOK || m == nil {
		return fmt.Errorf("dashboard sign-in form: status %d, no CSRF token: %.300s", status, body)
	}
	form := url.Values{"csrf": {string(m[1])}, "key": {st.srv.key}}
	req, err := http.NewRequestWithContext(e.ctx, "POST", st.srv.url+"/ui/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := st.dash.Do(req)
	if err != nil {
		return fmt.Errorf("dashboard sign-in: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		return fmt.Errorf("dashboard sign-in: status %d to %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	return nil
}

// dashGet reads one dashboard page with the store's session.
func (e *runner) dashGet(st *scaleStore, path string) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(e.ctx, "GET", st.srv.url+path, nil)
	if err != nil {
		return 0, nil, 0, err
	}
	start := time.Now()
	resp, err := st.dash.Do(req)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	d := time.Since(start)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("GET %s: %w", path, err)
	}
	return resp.StatusCode, b, d, nil
}

// checkLoaded checks, through the API, that a loaded store holds its last
// company and its last user with that user's company, counted.
func (e *runner) checkLoaded(st *scaleStore, users int) error {
	var u struct {
		CompanyID *string `json:"company_id"`
	}
	uid := scaleUserID(users - 1)
	if err := e.getJSON(st.srv, "/v1/users/"+uid, &u); err != nil {
		return err
	}
	want := scaleCompanyID(userCompany(users-1, st.companies))
	if u.CompanyID == nil || *u.CompanyID != want {
		return fmt.Errorf("%s: user %s has the company %v, want %s", st.label, uid, u.CompanyID, want)
	}
	var c struct {
		UserCount int  `json:"user_count"`
		Visible   bool `json:"visible"`
	}
	if err := e.getJSON(st.srv, "/v1/companies/"+want, &c); err != nil {
		return err
	}
	if c.UserCount < 1 || !c.Visible {
		return fmt.Errorf("%s: company %s has %d users (visible %v) after the users were loaded", st.label, want, c.UserCount, c.Visible)
	}
	return e.getJSON(st.srv, "/v1/companies/"+scaleCompanyID(st.companies-1), &c)
}

func (e *runner) getJSON(s *serveProc, path string, v any) error {
	status, b, err := e.request(e.ctx, "GET", s.url+path, s.key, "", nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.300s", path, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// scaleValues collects, per quantity, the values measured on the two
// stores: [0] the loaded store, [1] the empty one.
type scaleValues struct {
	order []string
	unit  map[string]string
	v     map[string]*[2][]float64
}

func (sv *scaleValues) add(name, unit string, store int, x float64) {
	if sv.v == nil {
		sv.v, sv.unit = map[string]*[2][]float64{}, map[string]string{}
	}
	p, ok := sv.v[name]
	if !ok {
		p = &[2][]float64{}
		sv.v[name], sv.unit[name] = p, unit
		sv.order = append(sv.order, name)
	}
	p[store] = append(p[store], x)
}

// ratioLine is one quantity's medians on the two stores and their ratio,
// loaded ÷ empty; ratio is 0 if either has no value.
type ratioLine struct {
	name          string
	unit          string
	loaded, empty float64
	ratio         float64
}

func (sv *scaleValues) lines() []ratioLine {
	var out []ratioLine
	for _, name := range sv.order {
		p := sv.v[name]
		l := ratioLine{name: name, unit: sv.unit[name]}
		if len(p[0]) > 0 {
			l.loaded = newSummaryStat(p[0]).Median
		}
		if len(p[1]) > 0 {
			l.empty = newSummaryStat(p[1]).Median
		}
		if l.loaded > 0 && l.empty > 0 {
			l.ratio = math.Round(l.loaded/l.empty*100) / 100
		}
		out = append(out, l)
	}
	return out
}

// scale is the scenario: load, check, then per run each measurement on
// both stores, one right after the other (the loaded store first in runs
// 1, 3, …, the empty one first in runs 2, 4, …).
func (e *runner) scale(r *scenarioResult) error {
	cfg := e.scaleCfg
	r.Unit = "ms"
	r.FloorDesc = "the same merge job on the empty store, in the same run (the ratio is loaded ÷ empty)"
	probe, probeUsers := min(scaleBatch, cfg.companies), min(scaleBatch, cfg.users)
	bigLabel := thousands(int64(cfg.companies)) + " companies"
	// Id prefixes of 100 companies and 100 users that both stores hold
	// (fewer if they hold fewer).
	cPrefix, uPrefix := scaleCompanyID(probe / 2)[:6], scaleUserID(probeUsers / 2)[:6]

	big, err := e.startServer(0)
	if err != nil {
		return err
	}
	defer big.stop()
	small, err := e.startServer(0)
	if err != nil {
		return err
	}
	defer small.stop()
	stores := []*scaleStore{{label: bigLabel, srv: big, companies: cfg.companies}, {label: "empty", srv: small, companies: probe}}

	e.logf("scale: loading %s companies and %s users through the API, in jobs of %s", thousands(int64(cfg.companies)),
		thousands(int64(cfg.users)), thousands(scaleBatch))
	ld, err := e.scaleLoad(big, bigLabel, cfg.companies, cfg.users)
	if err != nil {
		return err
	}
	r.metric("load: companies, one job after another", "s", ld.companies.Seconds())
	r.metric("load: companies", "rows/s", float64(cfg.companies)/ld.companies.Seconds())
	r.metric("load: users, each with a company", "s", ld.users.Seconds())
	r.metric("load: users", "rows/s", float64(cfg.users)/ld.users.Seconds())
	total := ld.companies + ld.users
	r.note("load: %s companies in %.1f s (%s rows/s), then %s users in %.1f s (%s rows/s): %.1f s for %d jobs, %s rows/s",
		thousands(int64(cfg.companies)), ld.companies.Seconds(), thousands(int64(float64(cfg.companies)/ld.companies.Seconds())),
		thousands(int64(cfg.users)), ld.users.Seconds(), thousands(int64(float64(cfg.users)/ld.users.Seconds())),
		total.Seconds(), ld.jobs, thousands(int64(float64(cfg.companies+cfg.users)/total.Seconds())))
	if _, err := e.scaleLoad(small, "empty", probe, probeUsers); err != nil {
		return err
	}
	for k, st := range stores {
		users := cfg.users
		if k == 1 {
			users = probeUsers
		}
		if err := e.checkLoaded(st, users); err != nil {
			return err
		}
		sizes, err := e.storeSizes(st.srv)
		if err != nil {
			return err
		}
		var sum float64
		for _, s := range sizes {
			sum += s.mib
			if k == 0 && s.mib >= 0.05 {
				r.metric("store after loading: "+s.name, "MiB", s.mib)
			}
		}
		r.note("%s store after loading: %.1f MiB in all: %s", st.label, sum, sizesString(sizes))
		if err := e.signIn(st); err != nil {
			return err
		}
	}

	var sv scaleValues
	for i := range e.runs {
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		each := func(f func(k int, st *scaleStore) error) error {
			for _, k := range order {
				if err := f(k, stores[k]); err != nil {
					return fmt.Errorf("%s store: %w", stores[k].label, err)
				}
			}
			return nil
		}
		// The job scenarios: the same bodies on both stores.
		newBody := scaleCompanies(0, scaleBatch, 1, func(k int) string { return fmt.Sprintf("nc%d-%05d", i, k) }).body
		mergeBody := scaleCompanies(0, probe, 2-i%2, scaleCompanyID).body // version 2, 1, 2, …
		usersBody := scaleUsers(0, scaleBatch, probe, func(k int) string { return fmt.Sprintf("nu%d-%05d", i, k) })
		jobs := []struct {
			name, path string
			body       []byte
		}{
			{"job-new: 10,000 new companies", companiesPath, newBody},
			{fmt.Sprintf("job-merge: %s existing companies changed", thousands(int64(probe))), companiesPath, mergeBody},
			{"users job: 10,000 new users with companies (the company refresh)", usersPath, usersBody},
		}
		for _, j := range jobs {
			var ts [2]time.Duration
			if err := each(func(k int, st *scaleStore) error {
				id, d, err := e.timeJob(st.srv, j.path, j.body)
				st.lastJob, ts[k] = id, d
				sv.add(j.name, "ms", k, millis(d))
				return err
			}); err != nil {
				return err
			}
			if strings.HasPrefix(j.name, "job-merge") {
				r.add(millis(ts[0]))
				r.addFloor(millis(ts[1]))
			}
			e.logf("scale run %d/%d: %s: %.0f ms at %s, %.0f ms empty", i+1, e.runs, j.name, millis(ts[0]), bigLabel, millis(ts[1]))
		}

		// Single GETs, open loop, rotating over the companies and users
		// both stores hold.
		gets := []struct {
			name string
			path func(n int64, st *scaleStore) string
		}{
			{"GET /v1/companies/{id}", func(n int64, _ *scaleStore) string {
				return "/v1/companies/" + scaleCompanyID(int(n*7919%int64(probe)))
			}},
			{"GET /v1/users/{id}", func(n int64, _ *scaleStore) string {
				return "/v1/users/" + scaleUserID(int(n*7919%int64(probeUsers)))
			}},
			{"GET /v1/background_jobs/{id}", func(_ int64, st *scaleStore) string { return "/v1/background_jobs/" + st.lastJob }},
		}
		for _, g := range gets {
			if err := each(func(k int, st *scaleStore) error {
				var n atomic.Int64
				lat := e.openLoop(scaleGetRate, cfg.getDuration, func(ctx context.Context) error {
					p := g.path(n.Add(1), st)
					status, b, err := e.request(ctx, "GET", st.srv.url+p, st.srv.key, "", nil)
					if err == nil && status != http.StatusOK {
						err = fmt.Errorf("GET %s: status %d: %.200s", p, status, b)
					}
					return err
				})
				if lat.errors > 0 {
					return fmt.Errorf("%s: %d of %d failed (first: %v)", g.name, lat.errors, lat.n, lat.firstErr)
				}
				sv.add(g.name+" p50", "ms", k, lat.p50)
				sv.add(g.name+" p99", "ms", k, lat.p99)
				return nil
			}); err != nil {
				return err
			}
		}

		// The listing and the dashboard, one request after another.
		pages := []struct {
			name, path, want string
			dash             bool
		}{
			{"GET /v1/companies?limit=100 (first page)", "/v1/companies?limit=100", `[{"company_id":`, false},
			{"GET /v1/companies?limit=100&cursor= (a page in the middle)", "", `[{"company_id":`, false},
			{"GET /v1/companies?all=true&limit=100 (first page)", "/v1/companies?all=true&limit=100", `[{"company_id":`, false},
			{"/ui/ (overview)", "/ui/", `id="visible-count"`, true},
			{"/ui/jobs", "/ui/jobs", `href="/ui/job?id=`, true},
			{"/ui/companies", "/ui/companies", `href="/ui/company?id=`, true},
			{"/ui/companies?sort=updated", "/ui/companies?sort=updated", `href="/ui/company?id=`, true},
			{"/ui/companies?q= (an id prefix, 100 companies)", "/ui/companies?q=" + cPrefix, `href="/ui/company?id=` + cPrefix, true},
			{"/ui/companies?hidden=1", "/ui/companies?hidden=1", `href="/ui/company?id=`, true},
			{"/ui/companies?prop=plan&value=enterprise (common)", "/ui/companies?prop=plan&value=enterprise", `href="/ui/company?id=`, true},
			{"/ui/companies?prop=plan&value=none (matches none)", "/ui/companies?prop=plan&value=none", `<`, true},
			{"/ui/company?id=c0000000 (its many users)", "/ui/company?id=c0000000", `href="/ui/user?id=`, true},
			{"/ui/users?q= (an id prefix, 100 users)", "/ui/users?q=" + uPrefix, `href="/ui/user?id=` + uPrefix, true},
		}
		for _, pg := range pages {
			if err := each(func(k int, st *scaleStore) error {
				path := pg.path
				if path == "" {
					path = "/v1/companies?limit=100&cursor=" + scaleCompanyID(st.companies/2)
				}
				ts := make([]float64, 0, cfg.pageRequests)
				for n := range cfg.pageRequests {
					var status int
					var b []byte
					var d time.Duration
					var err error
					if pg.dash {
						status, b, d, err = e.dashGet(st, path)
					} else {
						start := time.Now()
						status, b, err = e.request(e.ctx, "GET", st.srv.url+path, st.srv.key, "", nil)
						d = time.Since(start)
					}
					if err != nil {
						return err
					}
					if status != http.StatusOK || n == 0 && !strings.Contains(string(b), pg.want) {
						return fmt.Errorf("GET %s: status %d, want 200 with %q: %.300s", path, status, pg.want, b)
					}
					ts = append(ts, millis(d))
				}
				sv.add(pg.name, "ms", k, newSummaryStat(ts).Median)
				return nil
			}); err != nil {
				return err
			}
		}
	}
	for _, name := range sv.order {
		p := sv.v[name]
		for k, st := range stores {
			for _, x := range p[k] {
				r.metric(name+", "+st.label, sv.unit[name], x)
			}
		}
	}
	for _, l := range sv.lines() {
		r.note("%s: %s at %s, %s empty: %.2f×", l.name, formatValue(l.loaded, l.unit), bigLabel, formatValue(l.empty, l.unit), l.ratio)
	}
	r.note("the empty store: a fresh store given only the %s companies and %s users the measurements read and merge; "+
		"each GET: open loop at %d/s for %v; each listing and page: the median of %d requests one after another",
		thousands(int64(probe)), thousands(int64(probeUsers)), scaleGetRate, cfg.getDuration, cfg.pageRequests)
	return nil
}
