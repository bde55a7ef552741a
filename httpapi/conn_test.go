package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
)

// ctxStore fails every call whose context is done, as the stores do.
type ctxStore struct{ keepStore }

func (*ctxStore) AppByKeyHash(ctx context.Context, _ []byte) (*bulkid.App, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &bulkid.App{ID: 1, Name: "a"}, nil
}

func (*ctxStore) ListJobs(ctx context.Context, _ int64, _ bulkid.Page) ([]*bulkid.Job, error) {
	return nil, ctx.Err()
}

// TestClientGoneNotAnError: an HTTP/1 request whose own context net/http
// has cancelled (the client half-closed, or left) is served to the end;
// an HTTP/2 request whose stream is gone fails its store call, which is
// answered 503, not 500, and logged at debug level, not as an error.
func TestClientGoneNotAnError(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	h := httpapi.NewServer(httpapi.Config{Store: &ctxStore{}, Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	for _, major := range []int{1, 2} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, "GET", "/v1/background_jobs", nil)
		req.ProtoMajor = major
		req.Header.Set("Authorization", "Token k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := http.StatusOK
		if major == 2 {
			want = http.StatusServiceUnavailable
		}
		if rec.Code != want {
			t.Errorf("HTTP/%d, context cancelled: %d %s, want %d", major, rec.Code, rec.Body, want)
		}
	}
	if strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "client went away") {
		t.Errorf("log:\n%s\nwant no error, and the gone client at debug level", log.String())
	}
}
