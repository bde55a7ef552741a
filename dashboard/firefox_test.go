package dashboard_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFirefox is TestBrowser's user story in Firefox, driven over
// WebDriver BiDi (bidi_test.go): Debian's firefox-esr, headless, against
// the same in-process server. Without /usr/bin/firefox-esr it fails, in
// CI and locally alike: .ci/run installs the package. Its screenshots go
// beside TestBrowser's, named firefox-NN-name.png.

// ffTab is the browsing context (tab) of Firefox the test drives.
type ffTab struct {
	t     *testing.T
	b     *bidi
	id    string // the browsing context's id
	base  string
	shots string
	n     int
}

// visibleJS is true when the element of a selector is on the page and
// laid out (not display:none).
func visibleJS(sel string) string {
	js, _ := json.Marshal(sel)
	return fmt.Sprintf(`((e) => e !== null && e.getClientRects().length > 0)(document.querySelector(%s))`, js)
}

// waitFor evaluates cond until it is true. An evaluation that fails
// (a page being replaced by the next one) is tried again; the last
// failure is in the test's message if cond never holds.
func (f *ffTab) waitFor(what, cond string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	var last error
	for {
		var ok bool
		err := f.b.evaluate(ctx, f.id, cond, &ok)
		if err == nil && ok {
			return
		}
		if err != nil && ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("%s: %s never held (last error, if any: %v)", what, cond, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (f *ffTab) open(path, ready string) {
	f.t.Helper()
	f.b.call("browsingContext.navigate", map[string]any{"context": f.id, "url": f.base + path, "wait": "complete"}, nil)
	f.waitFor("open "+path, visibleJS(ready))
}

// eval decodes the value of expr into a T.
func ffEval[T any](f *ffTab, expr string) T {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	var v T
	if err := f.b.evaluate(ctx, f.id, expr, &v); err != nil {
		f.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func (f *ffTab) text(sel string) string {
	f.t.Helper()
	js, _ := json.Marshal(sel)
	return strings.TrimSpace(ffEval[string](f, `document.querySelector(`+string(js)+`).textContent`))
}

// click clicks the element of sel, as a user's click does (the element's
// click(), which follows a link), and waits for ready on the next page.
func (f *ffTab) click(sel, ready string) {
	f.t.Helper()
	js, _ := json.Marshal(sel)
	ffEval[bool](f, `(document.querySelector(`+string(js)+`).click(), true)`)
	f.waitFor("after clicking "+sel, visibleJS(ready))
}

// signIn types key into the sign-in form and submits it (requestSubmit:
// the form's validation and submit event run as for a user's click).
func (f *ffTab) signIn(key, ready string) {
	f.t.Helper()
	js, _ := json.Marshal(key)
	ffEval[bool](f, `((k) => { const e = document.getElementById("key"); e.value = k; e.form.requestSubmit(); return true })(`+string(js)+`)`)
	f.waitFor("sign in", visibleJS(ready))
}

// shot saves a screenshot of the whole page as firefox-NN-name.png.
func (f *ffTab) shot(name string) {
	f.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	f.b.call("browsingContext.captureScreenshot", map[string]any{"context": f.id, "origin": "document"}, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		f.t.Fatalf("screenshot %s: %v", name, err)
	}
	f.n++
	path := filepath.Join(f.shots, fmt.Sprintf("firefox-%02d-%s.png", f.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.t.Logf("screenshot %s", path)
}

// newTab opens another tab of the browser, sharing its cookies.
func (f *ffTab) newTab() *ffTab {
	f.t.Helper()
	var r struct {
		Context string `json:"context"`
	}
	f.b.call("browsingContext.create", map[string]any{"type": "tab", "background": true}, &r)
	return &ffTab{t: f.t, b: f.b, id: r.Context, base: f.base, shots: f.shots}
}

// The WebDriver codes of the Tab and Enter keys.
const (
	tabKey   = "\uE004"
	enterKey = "\uE007"
)

// keys presses and releases each key in turn, as a keyboard does.
func (f *ffTab) keys(keys ...string) {
	f.t.Helper()
	var acts []map[string]string
	for _, k := range keys {
		acts = append(acts, map[string]string{"type": "keyDown", "value": k}, map[string]string{"type": "keyUp", "value": k})
	}
	f.b.call("input.performActions", map[string]any{"context": f.id,
		"actions": []any{map[string]any{"type": "key", "id": "keyboard", "actions": acts}}}, nil)
}

func (f *ffTab) viewport(w, h int) {
	f.t.Helper()
	f.b.call("browsingContext.setViewport", map[string]any{"context": f.id, "viewport": map[string]int{"width": w, "height": h}}, nil)
}

// firefoxShots is screenshotDir for this test's shots: those of an
// earlier run go.
func firefoxShots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BULKID_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "firefox-[0-9][0-9]-*.png"))
	for _, f := range old {
		os.Remove(f)
	}
	return dir
}

// promptProbe is the message of the alert the test opens itself.
const promptProbe = "bulkid-test-probe"

func TestFirefox(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	seedOtherApp(t, s) // app B has a company of its own, which app A must not find

	b := startFirefox(t)
	// Each user prompt (an alert) is counted, then closed: a prompt would
	// stop the page. The count is taken on the read loop, so a prompt a
	// page opens while loading is counted before its navigation answers.
	var prompts, probes atomic.Int32
	b.on("browsingContext.userPromptOpened", func(params json.RawMessage) {
		var p struct {
			Context string `json:"context"`
			Message string `json:"message"`
		}
		json.Unmarshal(params, &p)
		if p.Message == promptProbe {
			probes.Add(1)
		} else {
			prompts.Add(1)
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b.send(ctx, "browsingContext.handleUserPrompt", map[string]any{"context": p.Context, "accept": true})
		}()
	})
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	b.call("browsingContext.getTree", map[string]any{"maxDepth": 0}, &tree)
	if len(tree.Contexts) == 0 {
		t.Fatal("Firefox has no browsing context")
	}
	f := &ffTab{t: t, b: b, id: tree.Contexts[0].Context, base: s.URL, shots: firefoxShots(t)}
	f.viewport(1280, 900)

	// Signed out, the dashboard sends the browser to sign in; a wrong key
	// is refused there.
	f.open("/", "#key")
	if loc := ffEval[string](f, "location.href"); loc != s.URL+"/ui/signin" {
		t.Fatalf("signed out, / led to %s, want /ui/signin", loc)
	}
	// The prompt watch works: an alert of the test's own is seen (the
	// evaluation returns once the prompt is closed).
	ffEval[bool](f, `(alert("`+promptProbe+`"), true)`)
	if n := probes.Load(); n != 1 {
		t.Fatalf("the test's own alert was seen %d times, want 1: the prompt watch does not work", n)
	}
	f.signIn("not-the-key-of-any-app-0000", "#signin-message")
	if msg := f.text("#signin-message"); msg != "That is not the API key of any app." {
		t.Errorf("after a wrong key the page says %q", msg)
	}
	f.shot("signin-refused")
	f.signIn(keyA, "#visible-count")

	// A second tab watches the jobs page while there is no job: when one
	// is submitted, the page shows it (the script reloads it).
	watcher := f.newTab()
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
	watcher.waitFor("the watching tab shows the new job", visibleJS(row))
	// A third tab is on the job's page: once the job ends, it shows the
	// failed records (the script reloads it).
	jobTab := f.newTab()
	jobTab.open("/ui/job?id="+jobID, ".card")
	if ffEval[bool](jobTab, `document.querySelector("table.errors") !== null`) {
		t.Fatal("the page of a queued job lists failed records")
	}
	f.open("/ui/jobs", row)
	if st := f.text(row + ` [data-field=status]`); st != "queued" {
		t.Fatalf("the new job's status on the jobs page is %q, want queued", st)
	}
	ffEval[bool](f, `window.stillThisPage = true`)
	s.startWorker()
	f.waitFor("the jobs page shows the job completed",
		`document.querySelector('`+row+` [data-field=status]').textContent === "completed"`)
	if !ffEval[bool](f, `window.stillThisPage === true`) {
		t.Error("the jobs page reloaded to show progress; it should have updated in place")
	}
	if got := ffEval[string](f, `document.querySelector('`+row+` svg[data-bar]').getAttribute("aria-valuenow")`); got != "3" {
		t.Errorf("the progress bar's value is %q, want 3 (2 completed and 1 failed of 3)", got)
	}
	if got := f.text(row + ` [data-count=failed]`); got != "1" {
		t.Errorf("failed count on the jobs page = %q, want 1", got)
	}
	jobTab.waitFor("the job's page shows its failed record once the job ends", visibleJS("table.errors"))
	f.shot("jobs")

	f.click(row+` a[href^="/ui/job?id="]`, "table.errors")
	if got := f.text("table.errors tbody td.mono"); got != "broken" {
		t.Errorf("the failed record's id on the job page = %q, want broken", got)
	}
	f.shot("job")

	// The companies: without users, none is listed, and both are counted
	// as hidden.
	f.open("/ui/companies", "#hidden-count")
	if got := f.text("#hidden-count"); got != "2" {
		t.Errorf("hidden companies before users = %s, want 2", got)
	}
	if ffEval[bool](f, `document.querySelector('a[href="/ui/company?id=acme"]') !== null`) {
		t.Error("acme is listed before any user is associated with it")
	}
	f.shot("companies-no-users")

	s.run("users",
		map[string]any{"user_id": "ann@acme.example", "company_id": "acme", "metadata": map[string]any{"name": "Ann", "role": "admin"}},
		map[string]any{"user_id": "bob@acme.example", "company_id": "acme", "metadata": map[string]any{"name": "Bob"}})
	f.open("/ui/companies", "#hidden-count")
	if got := f.text("#hidden-count"); got != "1" {
		t.Errorf("hidden companies after users = %s, want 1", got)
	}
	acmeRow := `tr:has(a[href="/ui/company?id=acme"])`
	if got := f.text(acmeRow + ` [data-users]`); got != "2" {
		t.Errorf("acme's user count on the companies page = %q, want 2", got)
	}
	f.shot("companies")
	f.click("#hidden-link", `a[href="/ui/company?id=lonely"]`)
	f.shot("companies-hidden")
	f.open("/ui/companies", "#hidden-count")

	f.click(`a[href="/ui/company?id=acme"]`, "#company-id")
	props := ffEval[map[string][2]string](f, `Object.fromEntries([...document.querySelectorAll("table.props tbody tr")].map(
		tr => [tr.querySelector("th").textContent, [tr.querySelector("td.val").textContent, tr.querySelector(".type").textContent]]))`)
	for key, want := range map[string][2]string{
		"name": {evil, "string"}, "seats": {"12", "number"}, "active": {"true", "boolean"},
		"since": {"2024-05-06T07:08:09Z", "date"}, "plan": {"enterprise", "string"},
	} {
		if props[key] != want {
			t.Errorf("acme's property %s shows %q, want %q", key, props[key], want)
		}
	}
	if ffEval[bool](f, `document.querySelectorAll("script:not([src])").length > 0`) {
		t.Error("the company page has an inline script element")
	}
	f.shot("company")

	f.open("/ui/users", "table")
	f.shot("users")
	f.click(`a[href^="/ui/user?id=ann"]`, "#user-id")
	f.shot("user")

	// Another app's company answers as one that does not exist.
	f.open("/ui/company?id=b-only", "#error-message")
	if got := f.text("#error-message"); got != `No company with the id "b-only" exists in this app.` {
		t.Errorf("another app's company: %q", got)
	}
	f.shot("other-apps-company")

	f.open("/ui/", "#visible-count")
	f.shot("overview")

	// By keyboard: the first Tab reaches the skip link; Tab, Tab, Tab,
	// Enter then follows the fourth link (skip link, brand, Overview,
	// Jobs).
	f.keys(tabKey)
	if !ffEval[bool](f, `document.activeElement.classList.contains("skip")`) {
		t.Error("the first Tab does not reach the skip link")
	}
	f.keys(tabKey, tabKey, tabKey, enterKey)
	f.waitFor("Tab, Tab, Tab, Tab, Enter leads to the jobs page", visibleJS("#jobs-title"))

	// At a phone's width the pages still read.
	f.viewport(390, 844)
	f.open("/ui/companies", "#hidden-count")
	// The search form's fields go two to a row, as in Chromium: Firefox's
	// wider intrinsic input width once put each on a row of its own.
	if rows := ffEval[[]float64](f, `["q", "prop", "value", "sort"].map(n => Math.round(document.querySelector("form.search [name=" + n + "]").getBoundingClientRect().bottom))`); len(rows) != 4 || rows[0] != rows[1] || rows[2] != rows[3] || rows[1] == rows[2] {
		t.Errorf("at a phone's width the search fields' bottoms are %v, want two rows of two", rows)
	}
	f.shot("companies-phone")
	f.open("/ui/jobs", "#jobs-title")
	f.shot("jobs-phone")

	if n := prompts.Load(); n != 0 {
		t.Errorf("%d user prompts opened; a value from a record ran as script", n)
	}
}
