package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
)

// TestReleaseAllLeasesFreesDeliveries: serve's ReleaseAllLeases at start
// gives back the deliveries a crashed run was attempting, so they are
// tried again at once, not a lease later.
func TestReleaseAllLeasesFreesDeliveries(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	db := open(t, filepath.Join(t.TempDir(), "bulkid.db"), func() time.Time { return now })
	defer db.Close()
	app, err := db.CreateApp(ctx, "a", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	hook := &bulkid.Webhook{ID: bulkid.NewWebhookID(), AppID: app.ID, URL: "https://example.com/", Events: bulkid.WebhookEvents, Secret: "whsec_x"}
	if err := db.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	job := &bulkid.Job{ID: "00000000-0000-0000-0000-000000000001", AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
	if err := db.CreateJob(ctx, job, recordpack.FromRecords([]bulkid.RawRecord{{Raw: []byte(`{"company_id":"c"}`)}})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ClaimJob(ctx, "w", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishJob(ctx, bulkid.Lease{JobID: job.ID, Owner: "w", TTL: time.Minute}, bulkid.StatusCompleted, ""); err != nil {
		t.Fatal(err)
	}
	if ds, err := db.ClaimDeliveries(ctx, "crashed", time.Hour, 10); err != nil || len(ds) != 1 {
		t.Fatalf("ClaimDeliveries = %v, %v; want the one delivery", ds, err)
	}
	if ds, err := db.ClaimDeliveries(ctx, "next", time.Hour, 10); err != nil || len(ds) != 0 {
		t.Fatalf("ClaimDeliveries while leased = %v, %v; want none", ds, err)
	}
	if _, err := db.ReleaseAllLeases(ctx); err != nil {
		t.Fatal(err)
	}
	if ds, err := db.ClaimDeliveries(ctx, "next", time.Hour, 10); err != nil || len(ds) != 1 {
		t.Errorf("ClaimDeliveries after ReleaseAllLeases = %v, %v; want the delivery back", ds, err)
	}
}
