package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulkid/bulkid/client"
)

// TestValidate: Validate sends GET /v1/validate with the key and returns
// the app's name; a 401 is an *Error, not retried; a 2xx without a body
// (the hosted service's answer is not documented) is a valid key.
func TestValidate(t *testing.T) {
	t.Parallel()
	calls := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		switch {
		case r.Method != "GET" || r.URL.Path != "/v1/validate":
			writeError(w, 404, "not_found", "no", "")
		case r.Header.Get("Authorization") == "Token good":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"valid":true,"app":"crm"}`))
		case r.Header.Get("Authorization") == "Token bodiless":
			w.WriteHeader(http.StatusNoContent)
		default:
			writeError(w, 401, "unauthorized", "The API key is not valid.", "")
		}
	}))
	defer ts.Close()
	ctx := context.Background()
	if app, err := client.New(ts.URL, "good").Validate(ctx); err != nil || app != "crm" {
		t.Errorf("a good key: %q, %v; want crm", app, err)
	}
	if app, err := client.New(ts.URL, "bodiless").Validate(ctx); err != nil || app != "" {
		t.Errorf("a 204: %q, %v; want a valid key of no name", app, err)
	}
	calls = 0
	_, err := client.New(ts.URL, "bad").Validate(ctx)
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != "unauthorized" || calls != 1 {
		t.Errorf("a bad key: %v after %d calls, want one 401 unauthorized", err, calls)
	}
}
