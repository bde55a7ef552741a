package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/bulkid/bulkid/internal/pgtest"
)

// The dashboard as serve mounts it (the pages themselves are tested in
// dashboard/): its flags, the redirect of a browser's /, --ui=false and the
// worker role, and sessions across processes that share a secret.

func TestServeUIFlagsRefused(t *testing.T) {
	t.Parallel()
	for flag, want := range map[string]string{
		"--ui-session-secret=short":  "--ui-session-secret must have at least 32 characters",
		"--ui-session-ttl=30s":       "--ui-session-ttl must be at least 1m",
		"--ui-session-ttl=-1h":       "--ui-session-ttl must be at least 1m",
		"--ui=maybe":                 "invalid boolean",
		"--ui-secure-cookies=sortof": "invalid boolean",
	} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a serve that did not refuse would stop at once
		var out, errOut bytes.Buffer
		err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), flag},
			func(string) string { return "" }, nil, &out, &errOut)
		if err == nil || !strings.Contains(err.Error()+errOut.String(), want) {
			t.Errorf("serve %s: %v %s; want an error saying %q", flag, err, errOut.String(), want)
		}
	}
}

// uiClient is a browser's cookie jar, without following redirects.
func uiClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func uiGet(t *testing.T, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

var csrfToken = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// uiSignIn signs c in to the dashboard at base with key; it returns the
// status of the form's answer.
func uiSignIn(t *testing.T, c *http.Client, base, key string) int {
	t.Helper()
	_, _, body := uiGet(t, c, base+"/ui/signin")
	m := csrfToken.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no sign-in form at %s:\n%s", base, body)
	}
	resp, err := c.PostForm(base+"/ui/signin", url.Values{"csrf": {m[1]}, "key": {key}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeDashboard(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	c := uiClient()
	status, h, _ := uiGet(t, c, s.URL+"/")
	if status != http.StatusSeeOther || h.Get("Location") != "/ui/" {
		t.Errorf("a browser's GET /: %d to %q, want 303 to /ui/", status, h.Get("Location"))
	}
	expectError(t, s.Get("/"), http.StatusNotFound, "not_found") // an API client's
	if got := uiSignIn(t, c, s.URL, testKey); got != http.StatusSeeOther {
		t.Fatalf("sign-in with the first app's key: %d, want 303", got)
	}
	status, h, body := uiGet(t, c, s.URL+"/ui/")
	if status != http.StatusOK || !strings.Contains(body, "Overview") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("overview after sign-in: %d %v\n%s", status, h, body)
	}

	for _, args := range [][]string{{"--ui=false"}, {"--role", "worker"}} {
		off := startServer(t, "", args...)
		status, _, body := uiGet(t, uiClient(), off.URL+"/ui/signin")
		if status != http.StatusNotFound || !strings.Contains(body, `"error_code":"not_found"`) {
			t.Errorf("serve %v: /ui/signin answered %d, want the API's 404:\n%s", args, status, body)
		}
	}
}

// TestDashboardSessionsAcrossProcesses: two API processes on one database
// take each other's sessions when they share --ui-session-secret, and
// refuse them (sign in again) when each has its own random secret.
func TestDashboardSessionsAcrossProcesses(t *testing.T) {
	t.Parallel()
	db := pgtest.URL(t)
	secret := "a-shared-secret-of-at-least-32-characters"
	a := startServer(t, "", "--database-url", db, "--role", "api", "--ui-session-secret", secret)
	b := startServer(t, "", "--database-url", db, "--role", "api", "--ui-session-secret", secret)
	other := startServer(t, "", "--database-url", db, "--role", "api")

	c := uiClient()
	if got := uiSignIn(t, c, a.URL, testKey); got != http.StatusSeeOther {
		t.Fatalf("sign-in on the first process: %d", got)
	}
	// The cookie jar keys cookies by host, and every process is on
	// 127.0.0.1: the session signed in on a is sent to b and other.
	if status, _, body := uiGet(t, c, b.URL+"/ui/jobs"); status != http.StatusOK {
		t.Errorf("the session on a process with the same secret: %d, want 200:\n%s", status, body)
	}
	status, h, _ := uiGet(t, c, other.URL+"/ui/jobs")
	if status != http.StatusSeeOther || h.Get("Location") != "/ui/signin?session=ended" {
		t.Errorf("the session on a process with its own secret: %d to %q, want 303 to /ui/signin?session=ended", status, h.Get("Location"))
	}
}
