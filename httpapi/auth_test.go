package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
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

// call sends GET /v1/background_jobs with the Authorization headers given
// (from the address of the test's client) and returns the status, headers
// and error code.
func call(t *testing.T, url string, auth ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/v1/background_jobs", nil)
	for _, a := range auth {
		req.Header.Add("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
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
		if status, _, code := call(t, srv.URL, pair...); status != http.StatusBadRequest || code != bulkid.EINVALID {
			t.Errorf("headers %q: %d %s, want 400 %s", pair, status, code, bulkid.EINVALID)
		}
	}
	if n := store.lookups.Load(); n != 0 {
		t.Errorf("%d keys were looked up from requests with two Authorization headers, want none", n)
	}
	if status, _, _ := call(t, srv.URL, "Token good-key-of-app-1"); status != 200 {
		t.Errorf("one header with a good key: %d, want 200", status)
	}
}
