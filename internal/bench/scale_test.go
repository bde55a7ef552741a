package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/bulkid/bulkid/internal/serverproc"
)

// TestUserCompany checks the spread of the users over the companies: each
// user's company exists, most companies have one user, a few many, and
// some none.
func TestUserCompany(t *testing.T) {
	const n = 100_000
	count := make([]int, n)
	for i := range n {
		c := userCompany(i, n)
		if c < 0 || c >= n {
			t.Fatalf("user %d: company %d of %d", i, c, n)
		}
		if c != userCompany(i, n) {
			t.Fatalf("user %d: the company changed between calls", i)
		}
		count[c]++
	}
	var none, one, many int
	for _, k := range count {
		switch {
		case k == 0:
			none++
		case k == 1:
			one++
		case k >= 100:
			many++
		}
	}
	if one < n*7/10 {
		t.Errorf("%d of %d companies have exactly one user, want most", one, n)
	}
	if none < n/10 || none > n/4 {
		t.Errorf("%d of %d companies have no user, want between a tenth and a quarter", none, n)
	}
	if many < 5 || slices.Max(count) < 1000 {
		t.Errorf("%d companies have 100 users or more, the most %d: want a few with many", many, slices.Max(count))
	}
	if c := userCompany(7, 1); c != 0 {
		t.Errorf("one company: user 7 has company %d", c)
	}
}

func TestScaleBodies(t *testing.T) {
	var users struct {
		Users []struct {
			UserID    string         `json:"user_id"`
			CompanyID string         `json:"company_id"`
			Metadata  map[string]any `json:"metadata"`
		} `json:"users"`
	}
	if err := json.Unmarshal(scaleUsers(10, 20, 50, scaleUserID), &users); err != nil {
		t.Fatal(err)
	}
	if len(users.Users) != 10 || users.Users[0].UserID != "u0000010" || users.Users[1].CompanyID != "c0000011" ||
		len(users.Users[0].Metadata) != 9 {
		t.Errorf("users body: %+v", users.Users[:2])
	}
	var companies struct {
		Companies []struct {
			CompanyID string         `json:"company_id"`
			Metadata  map[string]any `json:"metadata"`
		} `json:"companies"`
	}
	if err := json.Unmarshal(scaleCompanies(5, 8, 1, scaleCompanyID).body, &companies); err != nil {
		t.Fatal(err)
	}
	if len(companies.Companies) != 3 || companies.Companies[2].CompanyID != "c0000007" || len(companies.Companies[0].Metadata) != 14 {
		t.Errorf("companies body: %+v", companies.Companies)
	}
}

func TestScaleValues(t *testing.T) {
	var sv scaleValues
	sv.add("job", "ms", 0, 300)
	sv.add("job", "ms", 1, 100)
	sv.add("job", "ms", 0, 500)
	sv.add("job", "ms", 1, 200)
	sv.add("page", "ms", 0, 2)
	got := sv.lines()
	want := []ratioLine{{name: "job", unit: "ms", loaded: 400, empty: 150, ratio: 2.67}, {name: "page", unit: "ms", loaded: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %+v, want %+v", got, want)
	}
}

func TestScaleFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--scale-companies", "0"},
		{"--scale-users", "-1"},
		{"--scale-get-duration", "1ms"},
		{"--scale-page-requests", "0"},
	} {
		var stderr bytes.Buffer
		err := Run(context.Background(), append([]string{"--scenarios", "scale"}, args...), func(string) string { return "" }, io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%q: error %v, want one naming %s", args, err, args[0])
		}
	}
	sel, err := selectScenarios("", true)
	if err != nil || slices.Contains(sel, "scale") {
		t.Errorf("default scenarios %q, %v: want scale only when asked for", sel, err)
	}
}

// TestScaleScenario runs the scale scenario small (2,000 companies and
// 2,000 users) against the real binary, built here, on SQLite and on
// PostgreSQL, and checks that it loads, measures every quantity on both
// stores and reports them. (The servers get only their flags: the store
// is the one the runner chooses whatever the environment says.)
func TestScaleScenario(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bulkid")
	if err := serverproc.Build(bin, "github.com/bulkid/bulkid/cmd/bulkid"); err != nil {
		t.Fatal(err)
	}
	t.Run("sqlite", func(t *testing.T) { testScaleScenario(t, bin, "", "store after loading: bulkid.db: median") })
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv(pgtest.EnvVar)
		if base == "" {
			t.Skipf("%s is not set: skipping the PostgreSQL run", pgtest.EnvVar)
		}
		testScaleScenario(t, bin, base, "store after loading: companies: median")
	})
}

func testScaleScenario(t *testing.T, bin, pgBase, sizeLine string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var log bytes.Buffer
	e := &runner{ctx: ctx, exe: bin, runs: 1, log: &log, pgBase: pgBase,
		http:     &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}},
		scaleCfg: scaleConfig{companies: 2_000, users: 2_000, getDuration: 100 * time.Millisecond, pageRequests: 2}}
	defer e.close()
	r := &scenarioResult{Name: "scale"}
	if err := e.scale(r); err != nil {
		t.Fatalf("scale: %v\nlog:\n%s\nservers:\n%s", err, log.String(), e.serverLogTail())
	}
	r.finish()
	if r.Runs != 1 || r.Floor == nil || r.Ratio <= 0 {
		t.Errorf("main value: %d runs, floor %v, ratio %v: want the merge job on both stores", r.Runs, r.Floor, r.Ratio)
	}
	var out bytes.Buffer
	r.print(&out)
	text := out.String()
	for _, want := range []string{
		"load: companies: median", "load: users: median", sizeLine,
		"job-new: 10,000 new companies, 2,000 companies: median", "job-new: 10,000 new companies, empty: median",
		"users job: 10,000 new users with companies (the company refresh), empty: median",
		"GET /v1/users/{id} p99, 2,000 companies: median", "GET /v1/background_jobs/{id} p50, empty: median",
		"GET /v1/companies?limit=100&cursor= (a page in the middle), 2,000 companies: median",
		"/ui/companies?prop=plan&value=none (matches none), empty: median", "/ui/users?q= (an id prefix, 100 users), empty: median",
		"note:   load: 2,000 companies in ", "note:   2,000 companies store after loading: ",
		"note:   /ui/company?id=c0000000 (its many users): ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "×\n"); n != 22 {
		t.Errorf("%d ratio notes, want 22 (3 jobs, 3 GETs × p50 and p99, 3 listings, 10 pages):\n%s", n, text)
	}
}
