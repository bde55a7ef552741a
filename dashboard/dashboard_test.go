package dashboard_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/wiretest"
)

// In-process tests of the dashboard's handlers, without a browser: the
// session, CSRF, headers, escaping, tenancy, the downloads and the live
// endpoint. dashboard_browser_test.go drives the pages in Chromium.

func TestSignIn(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	b := s.browser()

	p := b.get("/ui/jobs")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/ui/signin" {
		t.Fatalf("a page without a session: %d to %q, want 303 to /ui/signin", p.Status, p.Header.Get("Location"))
	}
	form := b.get("/ui/signin")
	wantStatus(t, "sign-in form", form, http.StatusOK)
	token := b.csrf(form)

	p = b.post("/ui/signin", url.Values{"csrf": {token}, "key": {"not-a-key-of-any-app-000"}})
	wantStatus(t, "wrong key", p, http.StatusUnauthorized)
	wantContains(t, "wrong key", p, "That is not the API key of any app.")
	if c := p.Header.Get("Set-Cookie"); strings.Contains(c, "bulkid_session=") {
		t.Errorf("a wrong key set a session cookie: %s", c)
	}
	if p := b.get("/ui/"); p.Status != http.StatusSeeOther {
		t.Errorf("after a wrong key, the overview answered %d, want 303 to sign in", p.Status)
	}

	p = b.post("/ui/signin", url.Values{"key": {keyA}})
	wantStatus(t, "sign-in without a CSRF token", p, http.StatusForbidden)
	p = b.post("/ui/signin", url.Values{"csrf": {token + "x"}, "key": {keyA}})
	wantStatus(t, "sign-in with a wrong CSRF token", p, http.StatusForbidden)

	form = b.get("/ui/signin")
	p = b.post("/ui/signin", url.Values{"csrf": {b.csrf(form)}, "key": {keyA}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/ui/" {
		t.Fatalf("sign-in: %d to %q, want 303 to /ui/", p.Status, p.Header.Get("Location"))
	}
	var cookie string
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "bulkid_session=") {
			cookie = c
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/ui/", "Max-Age=43200"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie over plain HTTP is Secure, which a browser would not send back: %q", cookie)
	}
	if strings.Contains(cookie, keyA) || strings.Contains(cookie, url.QueryEscape(keyA)) {
		t.Errorf("session cookie holds the key: %q", cookie)
	}
	p = b.get("/ui/")
	wantStatus(t, "overview after sign-in", p, http.StatusOK)
	wantContains(t, "overview after sign-in", p, "alpha", "Overview")

	// Sign-out needs its token; then the session is gone.
	p = b.post("/ui/signout", url.Values{"csrf": {"forged"}})
	wantStatus(t, "sign-out with a forged token", p, http.StatusForbidden)
	wantStatus(t, "overview after a refused sign-out", b.get("/ui/"), http.StatusOK)
	p = b.post("/ui/signout", url.Values{"csrf": {b.csrf(b.get("/ui/"))}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/ui/signin" {
		t.Fatalf("sign-out: %d to %q, want 303 to /ui/signin", p.Status, p.Header.Get("Location"))
	}
	if p := b.get("/ui/"); p.Status != http.StatusSeeOther {
		t.Errorf("after sign-out the overview answered %d, want 303", p.Status)
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{tls: true})
	b := s.browser()
	form := b.get("/ui/signin")
	p := b.post("/ui/signin", url.Values{"csrf": {b.csrf(form)}, "key": {keyA}})
	wantStatus(t, "sign-in over TLS", p, http.StatusSeeOther)
	for _, c := range p.Header.Values("Set-Cookie") {
		if !strings.Contains(c, "; Secure") {
			t.Errorf("cookie over TLS is not Secure: %q", c)
		}
	}
}

func TestSecureCookiesBehindProxy(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{secure: true})
	b := s.browser()
	p := b.get("/ui/signin")
	if c := p.Header.Get("Set-Cookie"); !strings.Contains(c, "; Secure") {
		t.Errorf("with SecureCookies, a cookie over plain HTTP is not Secure: %q", c)
	}
}

func TestSessionEnds(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})

	// It expires.
	b := s.browser()
	b.signIn(keyA)
	s.clock.Advance(12*time.Hour + time.Second)
	p := b.get("/ui/")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/ui/signin?session=expired" {
		t.Errorf("expired session: %d to %q, want 303 to /ui/signin?session=expired", p.Status, p.Header.Get("Location"))
	}
	wantContains(t, "sign-in after expiry", b.get("/ui/signin?session=expired"), "Your session expired.")

	// A rotated key ends it.
	b = s.browser()
	b.signIn(keyA)
	if err := s.store.SetAppKey(t.Context(), s.appA.ID, bulkid.HashAPIKey("rotated-key-for-alpha-0123456789")); err != nil {
		t.Fatal(err)
	}
	p = b.get("/ui/companies")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/ui/signin?session=ended" {
		t.Errorf("session of a rotated key: %d to %q, want 303 to /ui/signin?session=ended", p.Status, p.Header.Get("Location"))
	}

	// A cookie that was altered, or sealed by another secret, is no session.
	b = s.browser()
	b.signIn(keyB)
	u, _ := url.Parse(s.URL + "/ui/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "bulkid_session" {
			v := []byte(c.Value)
			v[len(v)/2] ^= 1
			c.Value, c.Path = string(v), "/ui/"
			b.c.Jar.SetCookies(u, []*http.Cookie{c})
		}
	}
	if p := b.get("/ui/"); p.Status != http.StatusSeeOther {
		t.Errorf("an altered session cookie: %d, want 303 to sign in", p.Status)
	}
}

func TestSignInThrottle(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{authBurst: 2, authRefill: time.Hour})
	b := s.browser()
	for i := range 2 {
		p := b.post("/ui/signin", url.Values{"csrf": {b.csrf(b.get("/ui/signin"))}, "key": {"wrong-key-000000000000"}})
		wantStatus(t, "wrong key "+string(rune('1'+i)), p, http.StatusUnauthorized)
	}
	p := b.post("/ui/signin", url.Values{"csrf": {b.csrf(b.get("/ui/signin"))}, "key": {keyA}})
	wantStatus(t, "a third sign-in, over the budget", p, http.StatusTooManyRequests)
	if p.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wantContains(t, "throttled sign-in", p, "Too many failed sign-ins")
}

func TestSignInThrottleGivesBack(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{authBurst: 1, authRefill: time.Hour})
	b := s.browser()
	for range 3 { // a key that works spends nothing
		p := b.post("/ui/signin", url.Values{"csrf": {b.csrf(b.get("/ui/signin"))}, "key": {keyA}})
		wantStatus(t, "sign-in", p, http.StatusSeeOther)
	}
	// A wrong key spends the budget; the key that has worked from the
	// address is still served, as the API serves it (internal/throttle).
	p := b.post("/ui/signin", url.Values{"csrf": {b.csrf(b.get("/ui/signin"))}, "key": {"wrong-key-000000000000"}})
	wantStatus(t, "a wrong key", p, http.StatusUnauthorized)
	p = b.post("/ui/signin", url.Values{"csrf": {b.csrf(b.get("/ui/signin"))}, "key": {"wrong-key-111111111111"}})
	wantStatus(t, "another wrong key, over the budget", p, http.StatusTooManyRequests)
	p = b.post("/ui/signin", url.Values{"csrf": {b.csrf(b.get("/ui/signin"))}, "key": {keyA}})
	wantStatus(t, "the key that worked, over the budget", p, http.StatusSeeOther)
}

func TestCrossOriginForm(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	b := s.browser()
	b.signIn(keyA)
	token := b.csrf(b.get("/ui/"))
	p := b.post("/ui/signout", url.Values{"csrf": {token}}, "Sec-Fetch-Site", "cross-site")
	wantStatus(t, "sign-out from another site", p, http.StatusForbidden)
	p = b.post("/ui/signout", url.Values{"csrf": {token}}, "Origin", "https://evil.example")
	wantStatus(t, "sign-out with another origin", p, http.StatusForbidden)
	wantStatus(t, "still signed in", b.get("/ui/"), http.StatusOK)
}

var (
	inlineScript = regexp.MustCompile(`(?is)<script(?:\s[^>]*)?>\s*[^<\s]`)
	scriptTag    = regexp.MustCompile(`(?is)<script([^>]*)>`)
	styleAttr    = regexp.MustCompile(`(?i)\sstyle\s*=`)
	eventAttr    = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
)

// wantNoInline fails the test if the page has script or style that the
// CSP would refuse: inline script, a script not of /ui/static/, a style
// attribute or an event handler attribute.
func wantNoInline(t *testing.T, what string, p page) {
	t.Helper()
	if inlineScript.MatchString(p.Body) || styleAttr.MatchString(p.Body) || eventAttr.MatchString(p.Body) || strings.Contains(p.Body, "<style") {
		t.Errorf("%s: inline script or style:\n%s", what, p.Body)
	}
	for _, m := range scriptTag.FindAllStringSubmatch(p.Body, -1) {
		if !strings.Contains(m[1], `src="/ui/static/`) {
			t.Errorf("%s: script %q not from /ui/static/", what, m[0])
		}
	}
}

func TestHeadersAndEscaping(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	evil := `<script>alert(1)</script>`
	jobID := s.run("companies",
		map[string]any{"company_id": "acme", "metadata": map[string]any{"name": evil, `"><img src=x onerror=alert(2)>`: "k"}},
		map[string]any{"company_id": evil},
		map[string]any{"company_id": "bad", "metadata": evil}) // not an object: a failed record as sent
	s.run("users", map[string]any{"user_id": evil, "company_id": "acme", "metadata": map[string]any{"n": evil}},
		map[string]any{"user_id": "u2", "company_id": evil})
	// A failed record as sent, with the tag written out, not escaped.
	upload := s.Upload("/v1/companies/bulk_identify", evil+".ndjson", []byte(`{"company_id":"x","metadata":"`+evil+`"}`+"\n"))
	rawJob := wiretest.Accepted(t, upload).JobID
	s.WaitJob(rawJob)
	b := s.browser()
	b.signIn(keyA)
	pages := []string{"/ui/", "/ui/jobs", "/ui/job?id=" + jobID, "/ui/job?id=" + rawJob, "/ui/companies", "/ui/companies?hidden=1",
		"/ui/company?id=acme", "/ui/company?id=" + url.QueryEscape(evil), "/ui/users", "/ui/user?id=" + url.QueryEscape(evil),
		"/ui/company?id=" + url.QueryEscape(evil+"missing"), "/ui/signin", "/ui/nowhere"}
	for _, path := range pages {
		p := b.get(path)
		if p.Status != http.StatusOK && p.Status != http.StatusNotFound {
			t.Errorf("%s: status %d", path, p.Status)
		}
		for h, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
			"X-Frame-Options":         "DENY",
			"X-Content-Type-Options":  "nosniff",
			"Cache-Control":           "no-store",
			"Content-Type":            "text/html; charset=utf-8",
		} {
			if got := p.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
		wantNoInline(t, path, p)
		wantLacks(t, path, p, evil, "<img src=x")
	}
	wantContains(t, "company page", b.get("/ui/company?id=acme"), "&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;")
	wantContains(t, "job page", b.get("/ui/job?id="+jobID), `<pre class="raw">{&#34;company_id&#34;:&#34;bad&#34;,&#34;metadata&#34;:&#34;\u003cscript\u003ealert(1)\u003c/script\u003e&#34;}</pre>`)
	wantContains(t, "job page of a record sent with a tag", b.get("/ui/job?id="+rawJob),
		`<pre class="raw">{&#34;company_id&#34;:&#34;x&#34;,&#34;metadata&#34;:&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;}</pre>`)
	wantContains(t, "the company whose id is a script", b.get("/ui/company?id="+url.QueryEscape(evil)), "&lt;script&gt;alert(1)&lt;/script&gt;")

	wantStatus(t, "the assets' folder", b.get("/ui/static/"), http.StatusNotFound)
	wantStatus(t, "a missing asset", b.get("/ui/static/nothing.js"), http.StatusNotFound)
	for _, asset := range []string{"/ui/static/app.js", "/ui/static/app.css"} {
		p := b.get(asset)
		wantStatus(t, asset, p, http.StatusOK)
		if p.Header.Get("Content-Security-Policy") == "" || p.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", asset, p.Header)
		}
	}
}

func TestRootRedirect(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	b := s.browser()
	p := b.get("/")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/ui/" {
		t.Errorf("a browser's GET /: %d to %q, want 303 to /ui/", p.Status, p.Header.Get("Location"))
	}
	p = b.get("/ui")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d to %q, want 303 to /ui/", p.Status, p.Header.Get("Location"))
	}
	// The API's answers are unchanged for its clients.
	r := s.Do("GET", "/", "", "", nil)
	wiretest.ExpectError(t, r, http.StatusNotFound, bulkid.ENOTFOUND)
	r = s.Do("POST", "/", keyA, "text/html", nil)
	wiretest.ExpectError(t, r, http.StatusNotFound, bulkid.ENOTFOUND)
	r = s.Do("GET", "/uix", "", "", nil)
	wiretest.ExpectError(t, r, http.StatusNotFound, bulkid.ENOTFOUND)
}

// TestTenancy: app B, signed in, finds none of app A's jobs, companies
// or users: each answers as an id that does not exist does.
func TestTenancy(t *testing.T) {
	t.Parallel()
	bothStores(t, func(t *testing.T, o options) {
		s := startServer(t, o)
		jobID := s.run("companies", map[string]any{"company_id": "a-secret", "metadata": map[string]any{"x": 1}}, map[string]any{"company_id": 5, "metadata": 5})
		s.run("users", map[string]any{"user_id": "a-user", "company_id": "a-secret"})
		b := s.browser()
		b.signIn(keyB)
		for path, missing := range map[string]string{
			"/ui/company?id=a-secret":              "/ui/company?id=never-stored",
			"/ui/user?id=a-user":                   "/ui/user?id=never-stored",
			"/ui/job?id=" + jobID:                  "/ui/job?id=00000000-0000-0000-0000-000000000000",
			"/ui/job/errors.ndjson?id=" + jobID:    "/ui/job/errors.ndjson?id=00000000-0000-0000-0000-000000000000",
			"/ui/job/errors.csv?id=" + jobID:       "/ui/job/errors.csv?id=00000000-0000-0000-0000-000000000000",
			"/ui/company?id=a-secret&users_after=": "/ui/company?id=never-stored&users_after=",
		} {
			p, q := b.get(path), b.get(missing)
			wantStatus(t, path, p, http.StatusNotFound)
			wantStatus(t, missing, q, http.StatusNotFound)
			norm := func(s string) string {
				return regexp.MustCompile(`&#34;[^&]*&#34;|value="[^"]*"`).ReplaceAllString(s, "ID")
			}
			if norm(p.Body) != norm(q.Body) {
				t.Errorf("%s and %s answer differently:\n%s\n---\n%s", path, missing, p.Body, q.Body)
			}
		}
		for _, path := range []string{"/ui/companies", "/ui/companies?hidden=1", "/ui/users", "/ui/jobs", "/ui/", "/ui/companies?q=a-"} {
			wantLacks(t, path, b.get(path), "a-secret", "a-user", jobID)
		}
		var live struct {
			Jobs []struct{ ID string }
		}
		p := b.get("/ui/live?job=" + jobID)
		wantStatus(t, "live of another app's job", p, http.StatusOK)
		json.Unmarshal([]byte(p.Body), &live)
		if len(live.Jobs) != 0 {
			t.Errorf("live shows another app's job: %s", p.Body)
		}
	})
}

func TestCompaniesPage(t *testing.T) {
	t.Parallel()
	bothStores(t, func(t *testing.T, o options) {
		s := startServer(t, o)
		s.run("companies",
			map[string]any{"company_id": "acme", "metadata": map[string]any{"name": "Acme", "plan": "pro", "seats": 12, "active": true, "since": "2024-05-06T07:08:09Z"}},
			map[string]any{"company_id": "acorn", "metadata": map[string]any{"plan": "free"}},
			map[string]any{"company_id": "zen", "metadata": map[string]any{"plan": "pro"}},
			map[string]any{"company_id": "lonely"})
		s.run("users", map[string]any{"user_id": "u1", "company_id": "acme"}, map[string]any{"user_id": "u2", "company_id": "acme"},
			map[string]any{"user_id": "u3", "company_id": "acorn"}, map[string]any{"user_id": "u4", "company_id": "zen"})
		b := s.browser()
		b.signIn(keyA)

		p := b.get("/ui/companies")
		wantContains(t, "companies", p, `href="/ui/company?id=acme"`, `href="/ui/company?id=acorn"`, `href="/ui/company?id=zen"`,
			`<span id="hidden-count">1</span> company is stored but not yet visible`, `href="/ui/companies?hidden=1"`)
		wantLacks(t, "companies", p, "lonely")
		wantContains(t, "hidden companies", b.get("/ui/companies?hidden=1"), `href="/ui/company?id=lonely"`)
		p = b.get("/ui/companies?q=ac")
		wantContains(t, "prefix ac", p, "id=acme", "id=acorn")
		wantLacks(t, "prefix ac", p, "id=zen")
		p = b.get("/ui/companies?prop=plan&value=pro")
		wantContains(t, "plan=pro", p, "id=acme", "id=zen")
		wantLacks(t, "plan=pro", p, "id=acorn")

		p = b.get("/ui/company?id=acme")
		for _, row := range []string{
			`<th scope="row" class="key">seats</th><td class="val">12</td><td><span class="type t-number">number</span>`,
			`<th scope="row" class="key">active</th><td class="val">true</td><td><span class="type t-boolean">boolean</span>`,
			`<th scope="row" class="key">since</th><td class="val">2024-05-06T07:08:09Z</td><td><span class="type t-date">date</span>`,
			`<th scope="row" class="key">plan</th><td class="val">pro</td><td><span class="type t-string">string</span>`,
			`<dd id="company-users">2</dd>`, `href="/ui/user?id=u1"`, `href="/ui/user?id=u2"`,
		} {
			wantContains(t, "company acme", p, row)
		}
		p = b.get("/ui/users?q=u")
		wantContains(t, "users", p, "id=u1", "id=u4")
		wantContains(t, "user u3", b.get("/ui/user?id=u3"), `href="/ui/company?id=acorn"`)
	})
}

func TestJobPageAndDownloads(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	s.startWorker()
	ndjson := "{\"company_id\":\"ok\"}\n{\"metadata\":{}}\nnot json\n{\"company_id\":\"=1+2\",\"metadata\":[1]}\n{\"company_id\":\"\"}\n"
	r := s.Upload("/v1/companies/bulk_identify", "crm export.ndjson", []byte(ndjson))
	jobID := wiretest.Accepted(t, r).JobID
	s.WaitJob(jobID)
	b := s.browser()
	b.signIn(keyA)

	p := b.get("/ui/job?id=" + jobID)
	wantContains(t, "job page", p, "crm export.ndjson", "completed", "line 2", "line 3", "line 4", "line 5",
		"missing_id (2)", "malformed_json (1)", "invalid_metadata (1)", `aria-valuenow="5"`)
	p = b.get("/ui/job?id=" + jobID + "&code=missing_id")
	wantContains(t, "filtered by missing_id", p, "line 2", "line 5")
	wantLacks(t, "filtered by missing_id", p, "line 3", "line 4")
	wantContains(t, "jobs page", b.get("/ui/jobs"), "crm export.ndjson", `href="/ui/job?id=`+jobID+`"`)

	// A long record is shown in part, and downloaded whole.
	long := `{"company_id":"long","metadata":"` + strings.Repeat("é", 50000) + `"}`
	r = s.Upload("/v1/companies/bulk_identify", "long.ndjson", []byte(long+"\n"))
	longJob := wiretest.Accepted(t, r).JobID
	s.WaitJob(longJob)
	p = b.get("/ui/job?id=" + longJob)
	wantContains(t, "job page of a long record", p, "… (100035 bytes in all; the downloads have the whole record)</pre>")
	if len(p.Body) > 20000 {
		t.Errorf("the job page of one 100 KB record is %d bytes", len(p.Body))
	}
	if d := b.get("/ui/job/errors.ndjson?id=" + longJob); !strings.Contains(d.Body, long) {
		t.Errorf("the NDJSON download lacks the whole long record (%d bytes)", len(d.Body))
	}

	p = b.get("/ui/job/errors.ndjson?id=" + jobID)
	wantStatus(t, "NDJSON download", p, http.StatusOK)
	if ct, cd := p.Header.Get("Content-Type"), p.Header.Get("Content-Disposition"); ct != "application/x-ndjson" || !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("NDJSON download: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.Body))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 4 || lines[0]["line"] != 2.0 || lines[0]["error_code"] != "missing_id" || lines[1]["raw"] != "not json" ||
		lines[2]["company_id"] != "=1+2" {
		t.Errorf("NDJSON download:\n%s", p.Body)
	}
	p = b.get("/ui/job/errors.ndjson?id=" + jobID + "&code=missing_id")
	if n := strings.Count(p.Body, "\n"); n != 2 {
		t.Errorf("missing_id download has %d lines, want 2:\n%s", n, p.Body)
	}

	p = b.get("/ui/job/errors.csv?id=" + jobID)
	wantStatus(t, "CSV download", p, http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(p.Body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, p.Body)
	}
	want := [][]string{
		{"line", "company_id", "error_code", "message"},
		{"2", "", "missing_id"}, {"3", "", "malformed_json"}, {"4", "'=1+2", "invalid_metadata"}, {"5", "", "missing_id"},
	}
	if len(rows) != len(want) {
		t.Fatalf("CSV has %d rows, want %d:\n%s", len(rows), len(want), p.Body)
	}
	for i, w := range want {
		for j, cell := range w {
			if rows[i][j] != cell {
				t.Errorf("CSV row %d column %d = %q, want %q", i, j, rows[i][j], cell)
			}
		}
	}
	if rows[3][4] != `{"company_id":"=1+2","metadata":[1]}` || rows[2][4] != "not json" {
		t.Errorf("CSV records as sent: %q, %q", rows[3][4], rows[2][4])
	}
}

func TestFailedJobShowsWhy(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	// A job of nothing but invalid records fails as a whole.
	r := s.Upload("/v1/companies/bulk_identify", "all-bad.ndjson", []byte("{}\n{}\n"))
	jobID := wiretest.Accepted(t, r).JobID
	s.startWorker()
	j := s.WaitJob(jobID)
	b := s.browser()
	b.signIn(keyA)
	if j.Status != "failed" {
		t.Fatalf("a job of invalid records only is %s, want failed", j.Status)
	}
	p := b.get("/ui/job?id=" + jobID)
	wantContains(t, "failed job", p, `<span class="status fail" data-field="status">failed</span>`,
		`<strong>Why the job failed:</strong> Every record of the job is invalid; see its errors.`, "missing_id (2)")
	// A job that did not fail says no such thing.
	r = s.Upload("/v1/companies/bulk_identify", "good.ndjson", []byte(`{"company_id":"ok"}`+"\n"))
	good := wiretest.Accepted(t, r).JobID
	s.WaitJob(good)
	wantLacks(t, "completed job", b.get("/ui/job?id="+good), `id="job-error"`)
}

func TestJobsPaging(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	var ids []string
	for i := range 27 {
		ids = append(ids, s.run("companies", map[string]any{"company_id": "c" + string(rune('a'+i))}))
	}
	b := s.browser()
	b.signIn(keyA)
	p := b.get("/ui/jobs")
	m := regexp.MustCompile(`href="/ui/jobs\?after=([^"]+)" rel="next"`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("first page of jobs has no next link:\n%s", p.Body)
	}
	if m[1] != ids[2] {
		t.Errorf("next page after %s, want after the 25th newest, %s", m[1], ids[2])
	}
	wantContains(t, "first page", p, ids[26], ids[2])
	wantLacks(t, "first page", p, `id=`+ids[1]+`"`)
	p = b.get("/ui/jobs?after=" + m[1])
	wantContains(t, "second page", p, ids[1], ids[0])
	wantLacks(t, "second page", p, ids[2], `rel="next"`)
}

func TestLive(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	b := s.browser()
	p := b.get("/ui/live?job=x")
	wantStatus(t, "live without a session", p, http.StatusUnauthorized)
	var e struct {
		Errors []struct{ Error, ErrorCode, Message, Details string }
	}
	if err := json.Unmarshal([]byte(p.Body), &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Error != "Unauthorized" {
		t.Errorf("live without a session: %s", p.Body)
	}
	if !strings.Contains(p.Body, `"error_code":"unauthorized"`) || !strings.Contains(p.Body, `"details":""`) {
		t.Errorf("live without a session, not in the error shape: %s", p.Body)
	}

	jobID := s.submit("companies", map[string]any{"company_id": "c1"}, map[string]any{"company_id": "c2"})
	b.signIn(keyA)
	var live struct {
		Jobs []struct {
			ID, Status       string
			Final            bool
			Total, Completed int
			OKWidth          int `json:"ok_width"`
			Counts           []struct {
				Label string
				N     int
			}
		}
		Active string
	}
	p = b.get("/ui/")
	wantContains(t, "overview with a queued job", p, `<div class="card" data-job="`+jobID+`" data-final="false" data-watch-new>`,
		`<noscript><meta http-equiv="refresh" content="3"></noscript>`, `<b data-count="created">0</b>`, `<b data-count="unchanged">0</b>`)
	p = b.get("/ui/live?job=" + jobID)
	json.Unmarshal([]byte(p.Body), &live)
	if len(live.Jobs) != 1 || live.Jobs[0].Status != "queued" || live.Jobs[0].Final || live.Active != jobID {
		t.Errorf("live of a queued job: %s", p.Body)
	}
	s.startWorker()
	s.WaitJob(jobID)
	p = b.get("/ui/live?job=" + jobID)
	json.Unmarshal([]byte(p.Body), &live)
	if len(live.Jobs) != 1 || live.Jobs[0].Status != "completed" || !live.Jobs[0].Final || live.Jobs[0].Completed != 2 ||
		live.Jobs[0].OKWidth != 1000 || live.Active != "" {
		t.Errorf("live of a completed job: %s", p.Body)
	}
	counts := map[string]int{}
	for _, c := range live.Jobs[0].Counts {
		counts[c.Label] = c.N
	}
	if want := map[string]int{"created": 2, "updated": 0, "unchanged": 0, "failed": 0}; !maps.Equal(counts, want) {
		t.Errorf("live counts of a completed job of 2 new companies: %v, want %v", counts, want)
	}
	p = b.get("/ui/job?id=" + jobID)
	wantContains(t, "job page of 2 new companies", p, `<b data-count="created">2</b> created`)
}

func TestEventsSections(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{events: true})
	s.run("users", map[string]any{"user_id": "u1"})
	b := s.browser()
	b.signIn(keyA)
	p := b.get("/ui/")
	wantContains(t, "overview with events", p, "Events by name", "&lt;b&gt;signed_up&lt;/b&gt;", "<td>41</td>")
	p = b.get("/ui/user?id=u1")
	wantContains(t, "user with events", p, "Recent events", "&lt;b&gt;signed_up&lt;/b&gt;", "&lt;i&gt;pro&lt;/i&gt;")
}

// TestOverviewTotals: the overview's counts are those after the last job
// that ended; a change outside jobs (real-time identify) shows once the
// counts are older than their 10 s and have been taken again.
func TestOverviewTotals(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	s.run("companies", map[string]any{"company_id": "c1"}, map[string]any{"company_id": "c2"})
	b := s.browser()
	b.signIn(keyA)
	counts := func() string {
		p := b.get("/ui/")
		wantStatus(t, "overview", p, http.StatusOK)
		var out []string
		for _, id := range []string{"visible-count", "hidden-count", "user-count"} {
			m := regexp.MustCompile(`id="` + id + `">(\d+)<`).FindStringSubmatch(p.Body)
			if m == nil {
				t.Fatalf("overview lacks %s:\n%s", id, p.Body)
			}
			out = append(out, m[1])
		}
		return strings.Join(out, " ")
	}
	if got := counts(); got != "0 2 0" {
		t.Errorf("after the companies job: visible, hidden, users = %s, want 0 2 0", got)
	}
	s.run("users", map[string]any{"user_id": "u1", "company_id": "c1"})
	if got := counts(); got != "1 1 1" {
		t.Errorf("after the users job: %s, want 1 1 1", got)
	}
	r := s.PostJSON("/v1/identify", map[string]any{"user_id": "u2", "company_id": "c2"})
	wantStatus(t, "identify", page{Status: r.Status, Body: string(r.Body)}, http.StatusAccepted)
	if got := counts(); got != "1 1 1" {
		t.Errorf("within 10 s of the count, a real-time identify changed it: %s, want 1 1 1 until the recount", got)
	}
	s.clock.Advance(11 * time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for counts() != "2 0 2" {
		if time.Now().After(deadline) {
			t.Fatalf("counts older than 10 s were not taken again: %s, want 2 0 2", counts())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bothStores runs test on SQLite and on PostgreSQL.
func bothStores(t *testing.T, test func(t *testing.T, o options)) {
	for _, o := range []options{{}, {postgres: true}} {
		name := "sqlite"
		if o.postgres {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, o)
		})
	}
}

// TestHostileParams: query values no id can be (not UTF-8, NUL) or that
// name nothing are answered as missing or bad requests, on both stores,
// PostgreSQL included, which refuses such text in a query.
func TestHostileParams(t *testing.T) {
	t.Parallel()
	bothStores(t, func(t *testing.T, o options) {
		s := startServer(t, o)
		jobID := s.run("companies", map[string]any{"company_id": "c1"}, map[string]any{"metadata": map[string]any{}})
		b := s.browser()
		b.signIn(keyA)
		for path, want := range map[string]int{
			"/ui/company?id=%ff":                               http.StatusNotFound,
			"/ui/company?id=a%00b":                             http.StatusNotFound,
			"/ui/company?id=":                                  http.StatusNotFound,
			"/ui/company?id=c1&users_after=%ff":                http.StatusNotFound,
			"/ui/user?id=%ff":                                  http.StatusNotFound,
			"/ui/job?id=%ff":                                   http.StatusNotFound,
			"/ui/job?id=not-a-uuid":                            http.StatusNotFound,
			"/ui/job?id=" + jobID + "&code=%ff":                http.StatusBadRequest,
			"/ui/job/errors.csv?id=" + jobID + "&code=%00":     http.StatusBadRequest,
			"/ui/job?id=" + jobID + "&code=no_such_code":       http.StatusOK,
			"/ui/job?id=" + jobID + "&from=-5":                 http.StatusOK,
			"/ui/companies?q=%ff":                              http.StatusBadRequest,
			"/ui/companies?after=%00":                          http.StatusBadRequest,
			"/ui/companies?prop=%ff&value=x":                   http.StatusBadRequest,
			"/ui/companies?sort=updated&after=garbage":         http.StatusBadRequest,
			"/ui/companies?sort=updated&after=12.%ff":          http.StatusBadRequest,
			"/ui/companies?sort=updated&after=9999999999999.c": http.StatusOK,
			"/ui/companies?sort=sideways":                      http.StatusOK,
			"/ui/users?q=%ff":                                  http.StatusBadRequest,
			"/ui/users?after=%00":                              http.StatusBadRequest,
			"/ui/jobs?after=%ff":                               http.StatusBadRequest,
			"/ui/jobs?after=not-a-job":                         http.StatusBadRequest,
			"/ui/live?job=%ff&job=" + jobID:                    http.StatusOK,
		} {
			p := b.get(path)
			if p.Status != want {
				t.Errorf("%s: status %d, want %d:\n%s", path, p.Status, want, p.Body)
			}
		}
	})
}

// TestCompaniesPaging follows the companies page's "Next" links to the
// end, in both orders, with and without a filter, and finds every company
// once.
func TestCompaniesPaging(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	var companies, users []map[string]any
	for i := range 120 {
		id := "co-" + string(rune('a'+i/26%26)) + string(rune('a'+i%26))
		plan := "free"
		if i%4 == 0 {
			plan = "pro"
		}
		companies = append(companies, map[string]any{"company_id": id, "metadata": map[string]any{"plan": plan}})
		if i < 110 {
			users = append(users, map[string]any{"user_id": "u-" + id, "company_id": id})
		}
	}
	s.run("companies", companies...)
	s.run("users", users...)
	b := s.browser()
	b.signIn(keyA)
	link := regexp.MustCompile(`<a class="mono" href="/ui/company\?id=([^"]+)">`)
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">Next companies</a>`)
	for query, want := range map[string]int{
		"":                            110,
		"?sort=updated":               110,
		"?hidden=1":                   10,
		"?prop=plan&value=pro":        28,
		"?sort=updated&q=co-b":        26,
		"?q=co-a&prop=plan&value=pro": 7,
	} {
		seen := map[string]bool{}
		path := "/ui/companies" + query
		for pages := 0; path != ""; pages++ {
			if pages > 10 {
				t.Fatalf("%s: more than 10 pages", query)
			}
			p := b.get(path)
			wantStatus(t, path, p, http.StatusOK)
			for _, m := range link.FindAllStringSubmatch(p.Body, -1) {
				if seen[m[1]] {
					t.Errorf("%s: %s listed twice", query, m[1])
				}
				seen[m[1]] = true
			}
			path = ""
			if m := next.FindStringSubmatch(p.Body); m != nil {
				path = strings.ReplaceAll(m[1], "&amp;", "&")
			}
		}
		if len(seen) != want {
			t.Errorf("%q: %d companies over its pages, want %d", query, len(seen), want)
		}
	}
}
