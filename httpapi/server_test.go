package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/internal/wiretest"
)

// panicStore panics on every key lookup for the key "boom".
type panicStore struct{ bulkid.Store }

func (panicStore) AppByKeyHash(ctx context.Context, hash []byte) (*bulkid.App, error) {
	if string(hash) == string(bulkid.HashAPIKey("boom")) {
		panic("store exploded")
	}
	return &bulkid.App{ID: 1, Name: "a"}, nil
}

func (panicStore) ListJobs(context.Context, int64, bulkid.Page) ([]*bulkid.Job, error) {
	return nil, nil
}

// TestPanicAnswers500: a panic in a handler answers 500 in the documented
// shape, without the panic's text, and the server keeps serving.
func TestPanicAnswers500(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: panicStore{}, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	get := func(key string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/background_jobs", nil)
		req.Header.Set("Authorization", "Token "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get("boom")
	var body struct {
		Errors []struct {
			Error, ErrorCode, Message string
		} `json:"errors"`
	}
	raw := wiretest.ReadResponse(t, resp).Body
	json.Unmarshal(raw, &body)
	if resp.StatusCode != 500 || len(body.Errors) != 1 || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("panic answered %d %+v, want 500 in the error shape with x-request-id", resp.StatusCode, body)
	}
	if strings.Contains(string(raw), "exploded") || strings.Contains(string(raw), "goroutine") {
		t.Errorf("the 500 tells the panic: %+v", body.Errors[0])
	}
	if next := get("fine"); next.StatusCode != 200 {
		t.Errorf("after a panic the server answered %d, want 200", next.StatusCode)
	}
}

// errStore fails every job listing with the error it holds.
type errStore struct {
	bulkid.Store
	err error
}

func (errStore) AppByKeyHash(context.Context, []byte) (*bulkid.App, error) {
	return &bulkid.App{ID: 1, Name: "a"}, nil
}

func (s errStore) ListJobs(context.Context, int64, bulkid.Page) ([]*bulkid.Job, error) {
	return nil, s.err
}

// TestStoreErrorsTellNoInternals: whatever a store's error holds (SQL, a
// file path, a driver's words), a 5xx body carries only the documented
// shape and a generic message; the detail goes to the log alone.
func TestStoreErrorsTellNoInternals(t *testing.T) {
	t.Parallel()
	const secret = `SELECT id FROM jobs WHERE app_id = $1: /var/lib/bulkid/bulkid.db: disk I/O error`
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{errors.New(secret), 500, bulkid.EINTERNAL},
		{&bulkid.Error{Code: bulkid.EINTERNAL, Message: "ok", Details: secret}, 500, bulkid.EINTERNAL},
		{&bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "The store is unavailable; try again later.", Details: secret}, 503, bulkid.EUNAVAILABLE},
	} {
		var logged strings.Builder
		log := slog.New(slog.NewTextHandler(&logged, nil))
		srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: errStore{err: tc.err}, Logger: log}))
		req, _ := http.NewRequest("GET", srv.URL+"/v1/background_jobs", nil)
		req.Header.Set("Authorization", "Token k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw := wiretest.ReadResponse(t, resp).Body
		srv.Close()
		var body struct {
			Errors []struct {
				Error     string `json:"error"`
				ErrorCode string `json:"error_code"`
				Message   string `json:"message"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != tc.status || len(body.Errors) != 1 ||
			body.Errors[0].ErrorCode != tc.code || body.Errors[0].Message == "" {
			t.Fatalf("%v answered %d %s, want %d %s in the error shape", tc.err, resp.StatusCode, raw, tc.status, tc.code)
		}
		for _, word := range []string{"SELECT", "jobs", "/var/lib", "bulkid.db", "I/O"} {
			if strings.Contains(string(raw), word) {
				t.Errorf("the %d body tells %q: %s", tc.status, word, raw)
			}
		}
		if !strings.Contains(logged.String(), "disk I/O error") {
			t.Errorf("the log lacks the error's detail: %s", logged.String())
		}
	}
}
