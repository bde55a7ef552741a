package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/client"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/internal/wiretest"
	"github.com/bulkid/bulkid/sqlite"
)

// limitedServer is the API over a real SQLite store with two apps and a
// clock the test moves, with cfg's rate limit settings.
type limitedServer struct {
	a, b wiretest.Target // the two apps
	clk  *clock
	db   *sqlite.DB
}

func startLimited(t *testing.T, cfg httpapi.Config) *limitedServer {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "bulkid.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.CreateFirstApp(ctx, "first", bulkid.HashAPIKey(testKey)); err != nil {
		t.Fatal(err)
	}
	other := bulkid.NewAPIKey()
	if _, err := db.CreateApp(ctx, "second", bulkid.HashAPIKey(other)); err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Now, cfg.Logger = db, clk.Now, slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(httpapi.NewServer(cfg))
	t.Cleanup(srv.Close)
	return &limitedServer{a: wiretest.Target{T: t, URL: srv.URL, Key: testKey}, b: wiretest.Target{T: t, URL: srv.URL, Key: other}, clk: clk, db: db}
}

// sendIdentify sends one real-time identify of the user id with app s.
func sendIdentify(s wiretest.Target, path, id string) response {
	s.T.Helper()
	body := `{"user_id":"` + id + `","company_id":"c-` + id + `"}`
	if strings.Contains(path, "companies") {
		body = `{"company_id":"` + id + `"}`
	}
	return s.Do("POST", path, s.Key, "application/json", strings.NewReader(body))
}

// rateHeaders reads the X-RateLimit headers, failing if one is missing.
func rateHeaders(t *testing.T, r response) (limit, remaining, reset int) {
	t.Helper()
	var out [3]int
	for i, name := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		v, err := strconv.Atoi(r.Header.Get(name))
		if err != nil {
			t.Fatalf("%s = %q on a %d answer, want a number", name, r.Header.Get(name), r.Status)
		}
		out[i] = v
	}
	return out[0], out[1], out[2]
}

// TestRealtimeRateLimit: at the default 600 a minute, an app may send 60
// real-time requests at once, across both identify endpoints; the 61st is
// answered 429 rate_limited with Retry-After, before its body is read,
// and nothing of it is stored; another app is not affected, nor are the
// app's bulk and read endpoints; and the budget comes back at 10 a second.
// Every real-time answer carries the X-RateLimit headers.
func TestRealtimeRateLimit(t *testing.T) {
	t.Parallel()
	s := startLimited(t, httpapi.Config{})
	for i := range 60 {
		path := []string{"/v1/identify", "/v1/companies/identify"}[i%2]
		r := sendIdentify(s.a, path, "u"+strconv.Itoa(i))
		if r.Status != http.StatusAccepted {
			t.Fatalf("request %d of the burst: %d %s", i+1, r.Status, r.Body)
		}
		if limit, remaining, reset := rateHeaders(t, r); limit != 600 || remaining != 59-i || reset != (i+1+9)/10 {
			t.Errorf("request %d: limit %d, remaining %d, reset %d; want 600, %d, %d", i+1, limit, remaining, reset, 59-i, (i+1+9)/10)
		}
	}
	r := sendIdentify(s.a, "/v1/identify", "over")
	e := expectError(t, r, http.StatusTooManyRequests, bulkid.ERATELIMITED)
	if r.Header.Get("Retry-After") != "1" || !strings.Contains(e.Errors[0].Message, "600") {
		t.Errorf("the 429: Retry-After %q, message %q; want 1 (a request fits in 100ms, rounded up) and the limit named", r.Header.Get("Retry-After"), e.Errors[0].Message)
	}
	if limit, remaining, reset := rateHeaders(t, r); limit != 600 || remaining != 0 || reset != 6 {
		t.Errorf("the 429: limit %d, remaining %d, reset %d; want 600, 0, 6", limit, remaining, reset)
	}
	if r := s.a.Get("/v1/users/over"); r.Status != http.StatusNotFound {
		t.Errorf("the refused user: GET %d %s, want 404: nothing of a refused request is stored", r.Status, r.Body)
	}
	// A request over the limit is refused whatever its body: it is not read.
	expectError(t, s.a.Do("POST", "/v1/companies/identify", s.a.Key, "text/plain", strings.NewReader("{")), http.StatusTooManyRequests, bulkid.ERATELIMITED)
	// Track and the deletes spend from the same budget.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/track", `{"user_id":"u1","event_name":"e"}`},
		{"DELETE", "/v1/users", `{"users":["u0"]}`},
		{"DELETE", "/v1/companies", `{"companies":["u1"]}`},
	} {
		r := s.a.Do(c.method, c.path, s.a.Key, "application/json", strings.NewReader(c.body))
		expectError(t, r, http.StatusTooManyRequests, bulkid.ERATELIMITED)
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 429 without Retry-After", c.method, c.path)
		}
	}
	if r := s.a.Get("/v1/users/u0"); r.Status != http.StatusOK {
		t.Errorf("u0 after a refused delete: GET %d %s, want 200: a refused delete deletes nothing", r.Status, r.Body)
	}

	if r := sendIdentify(s.b, "/v1/identify", "b1"); r.Status != http.StatusAccepted {
		t.Errorf("the other app meanwhile: %d %s, want 202: each app has its own budget", r.Status, r.Body)
	}
	if r := s.a.Get("/v1/background_jobs"); r.Status != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "6000" {
		t.Errorf("a job read meanwhile: %d, X-RateLimit-Limit %q; want 200 and the job reads' own limit, 6000", r.Status, r.Header.Get("X-RateLimit-Limit"))
	}
	if r := s.a.PostJSON("/v1/companies/bulk_identify", companies(3, "bulk")); r.Status != http.StatusAccepted {
		t.Errorf("a bulk request meanwhile: %d %s, want 202: bulk endpoints are not limited", r.Status, r.Body)
	}
	if r := s.a.Get("/v1/validate"); r.Status != http.StatusOK {
		t.Errorf("the key test meanwhile: %d %s, want 200", r.Status, r.Body)
	}

	s.clk.Advance(100 * time.Millisecond)
	if r := sendIdentify(s.a, "/v1/identify", "later"); r.Status != http.StatusAccepted {
		t.Errorf("100ms later: %d %s, want 202", r.Status, r.Body)
	}
	expectError(t, sendIdentify(s.a, "/v1/identify", "again"), http.StatusTooManyRequests, bulkid.ERATELIMITED)
	s.clk.Advance(time.Minute)
	for i := range 60 {
		if r := sendIdentify(s.a, "/v1/companies/identify", "m"+strconv.Itoa(i)); r.Status != http.StatusAccepted {
			t.Fatalf("a minute later, request %d: %d %s, want the whole burst back", i+1, r.Status, r.Body)
		}
	}
	// A refused request does not spend the budget: after 100ms exactly one fits.
	for range 5 {
		sendIdentify(s.a, "/v1/identify", "refused")
	}
	s.clk.Advance(100 * time.Millisecond)
	if r := sendIdentify(s.a, "/v1/identify", "one"); r.Status != http.StatusAccepted {
		t.Errorf("100ms after refusals: %d %s, want 202: refusals cost nothing", r.Status, r.Body)
	}
}

// TestRealtimeRateLimitAnswersCarryHeaders: an answer of a real-time
// endpoint that is an error of the request (400, 415) is counted and
// carries the headers too.
func TestRealtimeRateLimitAnswersCarryHeaders(t *testing.T) {
	t.Parallel()
	s := startLimited(t, httpapi.Config{RealtimeRate: 120, RealtimeBurst: 5})
	for i, tc := range []struct {
		contentType, body string
		status            int
	}{
		{"application/json", `{"user_id":"u1"}`, 202},
		{"application/json", `{"metadata":{}}`, 400},
		{"text/plain", `{}`, 415},
		{"application/json", `{"user_id":`, 400},
		{"application/json", `{"user_id":"u2"}`, 202},
	} {
		r := s.a.Do("POST", "/v1/identify", s.a.Key, tc.contentType, strings.NewReader(tc.body))
		if r.Status != tc.status {
			t.Fatalf("%s %s: %d %s, want %d", tc.contentType, tc.body, r.Status, r.Body, tc.status)
		}
		if limit, remaining, _ := rateHeaders(t, r); limit != 120 || remaining != 4-i {
			t.Errorf("answer %d (%d): limit %d, remaining %d; want 120, %d", i+1, r.Status, limit, remaining, 4-i)
		}
	}
	r := sendIdentify(s.a, "/v1/identify", "u3")
	expectError(t, r, http.StatusTooManyRequests, bulkid.ERATELIMITED)
	if r.Header.Get("Retry-After") != "1" { // 2 a second: 500ms, rounded up
		t.Errorf("Retry-After = %q, want 1", r.Header.Get("Retry-After"))
	}
	// A key that is not valid is a 401 before the limit, and costs no budget.
	expectError(t, s.a.Do("POST", "/v1/identify", "wrong-key", "application/json", strings.NewReader(`{"user_id":"x"}`)), 401, bulkid.EUNAUTHORIZED)
}

// TestRealtimeRateLimitOff: a negative RealtimeRate (serve's
// --realtime-rate 0) serves every request, without rate headers.
func TestRealtimeRateLimitOff(t *testing.T) {
	t.Parallel()
	s := startLimited(t, httpapi.Config{RealtimeRate: -1})
	for i := range 100 {
		r := sendIdentify(s.a, "/v1/companies/identify", "c"+strconv.Itoa(i))
		if r.Status != http.StatusAccepted || r.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("request %d with the limit off: %d, X-RateLimit-Limit %q; want 202 and no header", i+1, r.Status, r.Header.Get("X-RateLimit-Limit"))
		}
	}
}

// TestSDKRetriesRateLimited: the SDK waits out a 429 for its Retry-After
// and sends the identify again, which then applies.
func TestSDKRetriesRateLimited(t *testing.T) {
	t.Parallel()
	s := startLimited(t, httpapi.Config{RealtimeRate: 60, RealtimeBurst: 1})
	c := client.New(s.a.URL, s.a.Key)
	var retries []error
	c.Retry.OnRetry = func(_ int, wait time.Duration, err error) {
		retries = append(retries, err)
		s.clk.Advance(wait) // the server's clock follows the client's wait
	}
	ctx := context.Background()
	if err := c.IdentifyCompany(ctx, client.Company{CompanyID: "first"}); err != nil {
		t.Fatal(err)
	}
	if err := c.IdentifyUser(ctx, client.User{UserID: "second"}, nil); err != nil {
		t.Fatalf("identify over the limit: %v, want it retried until it applies", err)
	}
	var e *client.Error
	if len(retries) != 1 || !errors.As(retries[0], &e) || e.StatusCode != 429 || e.Code != bulkid.ERATELIMITED || e.RetryAfter != time.Second {
		t.Errorf("retries %v, want one, of a 429 rate_limited with Retry-After 1s", retries)
	}
	if r := s.a.Get("/v1/users/second"); r.Status != http.StatusOK {
		t.Errorf("the retried user: %d %s, want it stored", r.Status, r.Body)
	}
}
