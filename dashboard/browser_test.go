package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The end-to-end test drives Debian's Chromium, headless, through the
// dashboard of an in-process server (startServer): a real SQLite store,
// worker and API. Without /usr/bin/chromium it fails, in CI and locally
// alike: .ci/run installs the package, and `apt-get install -y chromium`
// does by hand. Each page's screenshot is saved under $BULKID_SCREENSHOTS,
// or testdata/screenshots/ (git-ignored), for a person to look at.

const chromium = "/usr/bin/chromium"

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BULKID_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The shots of an earlier run go, so the folder shows this run's.
	old, _ := filepath.Glob(filepath.Join(dir, "[0-9][0-9]-*.png"))
	for _, f := range old {
		os.Remove(f)
	}
	return dir
}

// needBrowser checks that the browser of Debian's package pkg is at path.
// As the PostgreSQL tests do: in CI (.ci/run installs it) a missing
// browser fails the test; elsewhere it skips, saying so, so that the
// README's test command runs on a machine without it.
func needBrowser(t *testing.T, path, pkg string) {
	t.Helper()
	_, err := os.Stat(path)
	switch {
	case err == nil:
	case os.Getenv("CI") != "":
		t.Fatalf("the browser tests need Debian's %s at %s (apt-get install -y %s; .ci/run installs it): %v", pkg, path, pkg, err)
	default:
		t.Skipf("skipping the browser test: no %s at %s (apt-get install -y %s to run it; in CI it fails instead): %v", pkg, path, pkg, err)
	}
}

// seedOtherApp gives app B of s a company with a user of its own, which
// app A's pages must not find.
func seedOtherApp(t *testing.T, s *server) {
	t.Helper()
	recs := func(typ bulkid.JobType, raws ...string) []bulkid.Record {
		var out []bulkid.Record
		for _, raw := range raws {
			rec, rerr := bulkid.ValidateRecord(typ, []byte(raw))
			if rerr != nil {
				t.Fatal(rerr.Message)
			}
			out = append(out, rec)
		}
		return out
	}
	if err := s.store.Identify(t.Context(), s.appB.ID, recs(bulkid.JobCompanies, `{"company_id":"b-only","metadata":{"name":"B's"}}`),
		recs(bulkid.JobUsers, `{"user_id":"b-user","company_id":"b-only"}`)); err != nil {
		t.Fatal(err)
	}
}

// newBrowser starts Chromium with the flags this machine needs (no
// sandbox as root, no GPU, no background connections to the closed
// network) and a fresh profile, and returns a tab's context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	needBrowser(t, chromium, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start %s: %v", chromium, err)
	}
	return ctx
}

// newTab opens another tab of the browser of ctx, sharing its cookies.
// The tab is made here, by a step on its own context: a tab first used
// under a step's timeout would close with that step.
func newTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tctx, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tctx
}

// tab is a browser tab with the test's helpers: each step fails the test
// with what it was doing.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	n     int
}

// stepTimeout bounds each step, so a page that never shows what a step
// waits for fails the test with the step's name.
const stepTimeout = 45 * time.Second

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *tab) open(path string, ready string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(ready)))
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "text of "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

func (b *tab) eval(expr string) bool {
	b.t.Helper()
	return run(b, expr, chromedp.Evaluate[bool](expr))
}

// shot saves a screenshot of the whole page as NN-name.png.
func (b *tab) shot(name string) {
	b.t.Helper()
	b.n++
	png := run(b, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

func TestBrowser(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	seedOtherApp(t, s) // app B has a company of its own, which app A must not find

	ctx := newBrowser(t)
	var dialogs atomic.Int32
	opened := make(chan struct{}, 16)
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*cdppage.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			select {
			case opened <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() { // a dialog would stop the page: close it, the test has counted it
		for range opened {
			chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	b := &tab{t: t, ctx: ctx, base: s.URL, shots: screenshotDir(t)}

	// Signed out, the dashboard sends the browser to sign in; a wrong key
	// is refused there.
	b.open("/", "#key")
	if loc := run(b, "location", chromedp.Location()); loc != s.URL+"/ui/signin" {
		t.Fatalf("signed out, / led to %s, want /ui/signin", loc)
	}
	b.do("wrong key", chromedp.SendKeys(chromedp.ID("key"), "not-the-key-of-any-app-0000"), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.ID("signin-message")))
	if msg := b.text("#signin-message"); msg != "That is not the API key of any app." {
		t.Errorf("after a wrong key the page says %q", msg)
	}
	b.shot("signin-refused")
	b.do("sign in", chromedp.SendKeys(chromedp.ID("key"), keyA), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.ID("visible-count")))

	// A second tab watches the jobs page while there is no job: when one
	// is submitted, the page shows it (the script reloads it).
	watchCtx := newTab(t, ctx)
	watcher := &tab{t: t, ctx: watchCtx, base: s.URL, shots: b.shots, n: 50}
	watcher.open("/ui/jobs", "#jobs-title")

	// A companies job, submitted through the API while no worker runs:
	// the jobs page shows it queued, then follows it to completed
	// without a reload.
	evil := `Acme <script>alert(1)</script>`
	jobID := s.submit("companies",
		map[string]any{"company_id": "acme", "metadata": map[string]any{"name": evil, "seats": 12, "active": true, "since": "2024-05-06T07:08:09Z", "plan": "enterprise"}},
		map[string]any{"company_id": "lonely", "metadata": map[string]any{"name": "Lonely Ltd"}},
		map[string]any{"company_id": "broken", "metadata": "not an object"})
	row := `tr[data-job="` + jobID + `"]`
	watcher.do("the watching tab shows the new job", chromedp.WaitVisible(chromedp.CSS(row)))
	// A third tab is on the job's page: once the job ends, it shows the
	// failed records (the script reloads it).
	jobCtx := newTab(t, ctx)
	jobTab := &tab{t: t, ctx: jobCtx, base: s.URL, shots: b.shots, n: 60}
	jobTab.open("/ui/job?id="+jobID, ".card")
	if jobTab.eval(`document.querySelector("table.errors") !== null`) {
		t.Fatal("the page of a queued job lists failed records")
	}
	b.open("/ui/jobs", row)
	if st := b.text(row + ` [data-field=status]`); st != "queued" {
		t.Fatalf("the new job's status on the jobs page is %q, want queued", st)
	}
	b.eval(`window.stillThisPage = true`)
	s.startWorker()
	b.do("the jobs page shows the job completed", chromedp.Poll[chromedp.Void](
		`document.querySelector('`+row+` [data-field=status]').textContent === "completed"`, chromedp.WithPollingTimeout(60*time.Second)))
	if !b.eval(`window.stillThisPage === true`) {
		t.Error("the jobs page reloaded to show progress; it should have updated in place")
	}
	jobTab.do("the job's page shows its failed record once the job ends", chromedp.WaitVisible(chromedp.CSS("table.errors")))
	bar := run(b, "progress bar", chromedp.AttributeValue(chromedp.CSS(row+` svg[data-bar]`), "aria-valuenow"))
	if bar.Value != "3" {
		t.Errorf("the progress bar's value is %q, want 3 (2 completed and 1 failed of 3)", bar.Value)
	}
	if got := b.text(row + ` [data-count=failed]`); got != "1" {
		t.Errorf("failed count on the jobs page = %q, want 1", got)
	}
	b.shot("jobs")

	b.do("open the job", chromedp.Click(chromedp.CSS(row+` a[href^="/ui/job?id="]`)), chromedp.WaitVisible(chromedp.CSS("table.errors")))
	if got := b.text("table.errors tbody td.mono"); got != "broken" {
		t.Errorf("the failed record's id on the job page = %q, want broken", got)
	}
	b.shot("job")

	// The companies: without users, none is listed, and both are counted
	// as hidden.
	b.open("/ui/companies", "#hidden-count")
	if got := b.text("#hidden-count"); got != "2" {
		t.Errorf("hidden companies before users = %s, want 2", got)
	}
	if b.eval(`document.querySelector('a[href="/ui/company?id=acme"]') !== null`) {
		t.Error("acme is listed before any user is associated with it")
	}
	b.shot("companies-no-users")

	s.run("users",
		map[string]any{"user_id": "ann@acme.example", "company_id": "acme", "metadata": map[string]any{"name": "Ann", "role": "admin"}},
		map[string]any{"user_id": "bob@acme.example", "company_id": "acme", "metadata": map[string]any{"name": "Bob"}})
	b.open("/ui/companies", "#hidden-count")
	if got := b.text("#hidden-count"); got != "1" {
		t.Errorf("hidden companies after users = %s, want 1", got)
	}
	acmeRow := `tr:has(a[href="/ui/company?id=acme"])`
	if got := b.text(acmeRow + ` [data-users]`); got != "2" {
		t.Errorf("acme's user count on the companies page = %q, want 2", got)
	}
	b.shot("companies")
	b.do("list the hidden ones", chromedp.Click(chromedp.ID("hidden-link")), chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/company?id=lonely"]`)))
	b.shot("companies-hidden")
	b.open("/ui/companies", "#hidden-count")

	b.do("open acme", chromedp.Click(chromedp.CSS(`a[href="/ui/company?id=acme"]`)), chromedp.WaitVisible(chromedp.ID("company-id")))
	props := run(b, "properties", chromedp.Evaluate[map[string][2]string](`Object.fromEntries([...document.querySelectorAll("table.props tbody tr")].map(
		tr => [tr.querySelector("th").textContent, [tr.querySelector("td.val").textContent, tr.querySelector(".type").textContent]]))`))
	for key, want := range map[string][2]string{
		"name": {evil, "string"}, "seats": {"12", "number"}, "active": {"true", "boolean"},
		"since": {"2024-05-06T07:08:09Z", "date"}, "plan": {"enterprise", "string"},
	} {
		if props[key] != want {
			t.Errorf("acme's property %s shows %q, want %q", key, props[key], want)
		}
	}
	if b.eval(`document.querySelectorAll("script:not([src])").length > 0`) {
		t.Error("the company page has an inline script element")
	}
	b.shot("company")

	b.open("/ui/users", "table")
	b.shot("users")
	b.do("open a user", chromedp.Click(chromedp.CSS(`a[href^="/ui/user?id=ann"]`)), chromedp.WaitVisible(chromedp.ID("user-id")))
	b.shot("user")

	// Another app's company answers as one that does not exist.
	b.open("/ui/company?id=b-only", "#error-message")
	if got := b.text("#error-message"); got != `No company with the id "b-only" exists in this app.` {
		t.Errorf("another app's company: %q", got)
	}
	b.shot("other-apps-company")

	b.open("/ui/", "#visible-count")
	b.shot("overview")

	// By keyboard: the first Tab reaches the skip link, Enter follows it;
	// the next Tabs go through the sections in order.
	b.do("tab to the skip link", chromedp.KeyEvent("\t"))
	if !b.eval(`document.activeElement.classList.contains("skip")`) {
		t.Error("the first Tab does not reach the skip link")
	}
	b.do("Tab, Tab, Tab, Tab, Enter leads to the jobs page (skip link, brand, Overview, Jobs)",
		chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\n"),
		chromedp.WaitVisible(chromedp.ID("jobs-title")))

	// At a phone's width the companies page still reads.
	b.do("phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.URL+"/ui/companies"), chromedp.WaitVisible(chromedp.ID("hidden-count")))
	b.shot("companies-phone")
	b.open("/ui/jobs", "#jobs-title")
	b.shot("jobs-phone")

	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened; a value from a record ran as script", n)
	}
}
