package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
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
	defer resp.Body.Close()
	var body struct {
		Errors []struct {
			Error, ErrorCode, Message string
		} `json:"errors"`
	}
	raw, _ := io.ReadAll(resp.Body)
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
