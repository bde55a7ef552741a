package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/internal/wiretest"
)

// keyStore knows the keys "good-key-of-app-1" (app 1) and
// "good-key-of-app-2" (app 2), and counts its key lookups.
type keyStore struct {
	bulkid.Store
	lookups atomic.Int64
}

func (s *keyStore) AppByKeyHash(_ context.Context, hash []byte) (*bulkid.App, error) {
	s.lookups.Add(1)
	for id, key := range map[int64]string{1: "good-key-of-app-1", 2: "good-key-of-app-2"} {
		if string(hash) == string(bulkid.HashAPIKey(key)) {
			return &bulkid.App{ID: id, Name: key}, nil
		}
	}
	return nil, bulkid.Errorf(bulkid.ENOTFOUND, "no such key")
}

func (*keyStore) ListJobs(context.Context, int64, bulkid.Page) ([]*bulkid.Job, error) {
	return nil, nil
}

type wireError struct {
	Errors []struct {
		Error     string `json:"error"`
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
		Details   string `json:"details"`
	} `json:"errors"`
}

// callURL sends GET /v1/background_jobs with the Authorization headers
// given (from the address of the test's client) and returns the status,
// headers and error code.
func callURL(t *testing.T, url string, auth ...string) (int, http.Header, string) {
	t.Helper()
	return callWith(t, http.DefaultClient, url, auth...)
}

// callWith is callURL through the client c.
func callWith(t *testing.T, c *http.Client, url string, auth ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/v1/background_jobs", nil)
	for _, a := range auth {
		req.Header.Add("Authorization", a)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := wiretest.ReadResponse(t, resp).Body
	if resp.StatusCode == 200 {
		return 200, resp.Header, ""
	}
	var e wireError
	if err := json.Unmarshal(raw, &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Message == "" {
		t.Fatalf("answer %d is not one error in the documented shape: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header, e.Errors[0].ErrorCode
}

// TestTwoAuthorizationHeaders: a request with two Authorization headers is
// refused 400 whichever of them holds a valid key; neither is looked up.
func TestTwoAuthorizationHeaders(t *testing.T) {
	t.Parallel()
	store := &keyStore{}
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: store, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	for _, pair := range [][]string{
		{"Token good-key-of-app-1", "Token wrong"},
		{"Token wrong", "Token good-key-of-app-1"},
		{"Token good-key-of-app-1", "Token good-key-of-app-2"},
		{"Token good-key-of-app-1", "Token good-key-of-app-1"},
		{"Token good-key-of-app-1", ""},
	} {
		if status, _, code := callURL(t, srv.URL, pair...); status != http.StatusBadRequest || code != bulkid.EINVALID {
			t.Errorf("headers %q: %d %s, want 400 %s", pair, status, code, bulkid.EINVALID)
		}
	}
	if n := store.lookups.Load(); n != 0 {
		t.Errorf("%d keys were looked up from requests with two Authorization headers, want none", n)
	}
	if status, _, _ := callURL(t, srv.URL, "Token good-key-of-app-1"); status != 200 {
		t.Errorf("one header with a good key: %d, want 200", status)
	}
}

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// from returns a client whose connections come from the loopback address ip.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// callFrom sends key through the client c, from its address.
func callFrom(t *testing.T, c *http.Client, url, key string) (int, http.Header, string) {
	t.Helper()
	return callWith(t, c, url, "Token "+key)
}

// TestFailedAuthIsThrottled (issue 10, item 15): an address that has used
// up its failed attempts is answered 429 with Retry-After for every key
// it has not used successfully before, valid or not, without a lookup, so
// a guesser learns nothing; a key that worked from it before is served
// all along; it regains an attempt per refill; other addresses are not
// affected.
func TestFailedAuthIsThrottled(t *testing.T) {
	t.Parallel()
	store := &keyStore{}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: store, Logger: slog.New(slog.DiscardHandler),
		Now: clk.Now, AuthFailBurst: 3, AuthFailRefill: time.Minute}))
	defer srv.Close()
	a, b := from("127.0.0.1"), from("127.0.0.2")

	if status, _, _ := callFrom(t, a, srv.URL, "good-key-of-app-1"); status != 200 {
		t.Fatalf("app 1's key: %d", status)
	}
	for i := range 3 {
		if status, _, code := callFrom(t, a, srv.URL, fmt.Sprintf("guess-%d", i)); status != 401 || code != bulkid.EUNAUTHORIZED {
			t.Fatalf("wrong key %d within the budget: %d %s, want 401", i, status, code)
		}
	}
	lookups := store.lookups.Load()
	for _, key := range []string{"guess-3", "good-key-of-app-2", "guess-4"} {
		status, h, code := callFrom(t, a, srv.URL, key)
		if status != http.StatusTooManyRequests || code != bulkid.ETOOMANYFAILED || h.Get("Retry-After") != "60" {
			t.Errorf("key %q over the budget: %d %s Retry-After %q, want 429 %s with Retry-After 60",
				key, status, code, h.Get("Retry-After"), bulkid.ETOOMANYFAILED)
		}
	}
	if n := store.lookups.Load() - lookups; n != 0 {
		t.Errorf("%d keys were looked up while the address was over its budget, want none", n)
	}
	// A key that worked from the address is never slowed.
	for range 5 {
		if status, _, _ := callFrom(t, a, srv.URL, "good-key-of-app-1"); status != 200 {
			t.Errorf("app 1's key, which worked from the address before: %d, want 200", status)
		}
	}
	// Another address has its own budget.
	if status, _, _ := callFrom(t, b, srv.URL, "good-key-of-app-2"); status != 200 {
		t.Errorf("app 2's key from another address: %d, want 200", status)
	}
	if status, _, code := callFrom(t, b, srv.URL, "guess-b"); status != 401 {
		t.Errorf("a wrong key from another address: %d %s, want 401", status, code)
	}
	// A refill gives back one attempt, no more.
	clk.Advance(time.Minute)
	if status, _, _ := callFrom(t, a, srv.URL, "good-key-of-app-2"); status != 200 {
		t.Errorf("app 2's key after a refill: %d, want 200", status)
	}
	if status, _, _ := callFrom(t, a, srv.URL, "guess-5"); status != 401 {
		t.Errorf("a wrong key after a refill: %d, want 401 (the valid key got its attempt back)", status)
	}
	if status, _, _ := callFrom(t, a, srv.URL, "guess-6"); status != http.StatusTooManyRequests {
		t.Errorf("a second wrong key after one refill: %d, want 429", status)
	}
	if status, _, _ := callFrom(t, a, srv.URL, "good-key-of-app-2"); status != 200 {
		t.Errorf("app 2's key, which has now worked from the address: %d, want 200", status)
	}
}

// TestFailedAuthThrottleHoldsUnderConcurrency: of many wrong keys sent at
// once from one address, exactly the burst is looked up.
func TestFailedAuthThrottleHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	store := &keyStore{}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: store, Logger: slog.New(slog.DiscardHandler), Now: clk.Now}))
	defer srv.Close()
	var mu sync.Mutex
	count := map[int]int{}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			status, _, _ := callURL(t, srv.URL, fmt.Sprintf("Token guess-%d", i))
			mu.Lock()
			count[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if count[401] != 20 || count[429] != 80 || store.lookups.Load() != 20 {
		t.Errorf("100 wrong keys at once with the default burst of 20: statuses %v, %d lookups; want 20 401, 80 429, 20 lookups",
			count, store.lookups.Load())
	}
}
