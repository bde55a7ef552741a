package client_test

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/client"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/sqlite"
	"github.com/bulkid/bulkid/webhook"
	"github.com/bulkid/bulkid/worker"
)

// TestWebhooksAgainstServer: the webhook methods against the real API,
// private targets allowed, with a worker so that a job makes a delivery.
func TestWebhooksAgainstServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, sqlite.Config{Path: t.TempDir() + "/db", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateApp(ctx, "a", bulkid.HashAPIKey("key-webhooks")); err != nil {
		t.Fatal(err)
	}
	pool, err := worker.New(worker.Config{Store: db, Logger: quiet, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { pool.Run(wctx); close(done) }()
	defer func() { cancel(); <-done }()
	ts := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: db, Notify: pool.Notify, Logger: quiet,
		CheckWebhookURL: func(ctx context.Context, url string) error {
			return webhook.CheckURL(ctx, url, true, net.DefaultResolver)
		}}))
	defer ts.Close()
	c := client.New(ts.URL, "key-webhooks")
	c.Retry.BaseDelay = 10 * time.Millisecond

	w, err := c.CreateWebhook(ctx, "http://127.0.0.1:9/hook", []string{client.EventJobFailed, client.EventJobCompleted})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.ID, "wh_") || !strings.HasPrefix(w.Secret, "whsec_") || w.CreatedAt.IsZero() ||
		!slices.Equal(w.Events, []string{"job.completed", "job.failed"}) {
		t.Errorf("CreateWebhook = %+v", w)
	}
	if _, err := c.CreateWebhook(ctx, "ftp://example.com/", nil); !client.IsCode(err, "invalid_request") {
		t.Errorf("CreateWebhook of ftp://: %v, want invalid_request", err)
	}
	hooks, err := c.ListWebhooks(ctx)
	if err != nil || len(hooks) != 1 || hooks[0].ID != w.ID || hooks[0].Secret != "" {
		t.Fatalf("ListWebhooks = %+v, %v; want the one webhook without its secret", hooks, err)
	}

	j, err := c.BulkIdentifyCompanies(ctx, []client.Company{{CompanyID: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitJob(ctx, j.JobID, 10*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	ds, next, err := c.Deliveries(ctx, w.ID, client.ListOptions{})
	if err != nil || len(ds) != 1 || next != "" {
		t.Fatalf("Deliveries = %+v, %q, %v; want one", ds, next, err)
	}
	if d := ds[0]; d.JobID != j.JobID || d.Event != "job.completed" || d.Status != "pending" || d.NextAttemptAt == nil || d.LastStatusCode != nil {
		t.Errorf("delivery = %+v, want the pending job.completed delivery of %s", d, j.JobID)
	}

	if err := c.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteWebhook(ctx, w.ID); !client.IsCode(err, "not_found") {
		t.Errorf("DeleteWebhook again: %v, want not_found", err)
	}
	if _, _, err := c.Deliveries(ctx, w.ID, client.ListOptions{}); !client.IsCode(err, "not_found") {
		t.Errorf("Deliveries of a deleted webhook: %v, want not_found", err)
	}
}
