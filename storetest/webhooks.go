package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

// createWebhook stores a webhook of app sent events.
func (e *env) createWebhook(app *bulkid.App, url string, events ...string) *bulkid.Webhook {
	e.t.Helper()
	w := &bulkid.Webhook{ID: bulkid.NewWebhookID(), AppID: app.ID, URL: url, Events: events, Secret: bulkid.NewWebhookSecret()}
	e.must("CreateWebhook", e.s.CreateWebhook(e.ctx, w))
	return w
}

// finish runs a new job of app to status through FinishJob.
func (e *env) finish(app *bulkid.App, status bulkid.JobStatus) *bulkid.Job {
	e.t.Helper()
	job := e.submit(app, bulkid.JobCompanies, `{"company_id":"c1"}`)
	l := e.startJob("runner", job)
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, status, "a reason"))
	return job
}

// deliveries lists all of a webhook's deliveries, newest first.
func (e *env) deliveries(app *bulkid.App, w *bulkid.Webhook) []*bulkid.Delivery {
	e.t.Helper()
	ds, err := e.s.Deliveries(e.ctx, app.ID, w.ID, bulkid.Page{Limit: 100})
	e.must("Deliveries", err)
	return ds
}

// claimDeliveries claims every due delivery as owner.
func (e *env) claimDeliveries(owner string) []*bulkid.Delivery {
	e.t.Helper()
	ds, err := e.s.ClaimDeliveries(e.ctx, owner, ttl, 100)
	e.must(fmt.Sprintf("ClaimDeliveries(%q)", owner), err)
	return ds
}

// wantDelivery fails the test unless got has want's fields.
func wantDelivery(t *testing.T, what string, got, want *bulkid.Delivery) {
	t.Helper()
	if got.ID != want.ID || got.WebhookID != want.WebhookID || got.AppID != want.AppID || got.JobID != want.JobID ||
		got.Event != want.Event || got.Status != want.Status || got.Attempts != want.Attempts ||
		got.LastStatusCode != want.LastStatusCode || got.LastError != want.LastError ||
		got.URL != want.URL || got.Secret != want.Secret {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	wantTime(t, what+": NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt)
	wantTime(t, what+": DeliveredAt", got.DeliveredAt, want.DeliveredAt)
	wantTime(t, what+": CreatedAt", got.CreatedAt, want.CreatedAt)
}

func testWebhooks(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	all := e.createWebhook(a, "https://example.com/all", bulkid.WebhookEvents...)
	wantTime(t, "CreatedAt set by CreateWebhook", all.CreatedAt, start)
	e.clock.Advance(time.Second)
	failed := e.createWebhook(a, "https://example.com/failed", bulkid.EventJobFailed)
	other := e.createWebhook(b, "https://example.com/b", bulkid.EventJobCompleted)

	got, err := e.s.ListWebhooks(e.ctx, a.ID)
	e.must("ListWebhooks", err)
	if len(got) != 2 {
		t.Fatalf("ListWebhooks = %d webhooks, want 2 (oldest first)", len(got))
	}
	for i, want := range []*bulkid.Webhook{all, failed} {
		g := got[i]
		if g.ID != want.ID || g.AppID != a.ID || g.URL != want.URL || g.Secret != want.Secret || !slices.Equal(g.Events, want.Events) {
			t.Errorf("ListWebhooks[%d] = %+v, want %+v", i, g, want)
		}
		wantTime(t, fmt.Sprintf("ListWebhooks[%d].CreatedAt", i), g.CreatedAt, want.CreatedAt)
	}

	wantCode(t, "DeleteWebhook of another app's webhook", e.s.DeleteWebhook(e.ctx, a.ID, other.ID), bulkid.ENOTFOUND)
	wantCode(t, "DeleteWebhook of an unknown id", e.s.DeleteWebhook(e.ctx, a.ID, "wh_nope"), bulkid.ENOTFOUND)
	_, err = e.s.Deliveries(e.ctx, a.ID, other.ID, bulkid.Page{Limit: 10})
	wantCode(t, "Deliveries of another app's webhook", err, bulkid.ENOTFOUND)

	e.must("DeleteWebhook", e.s.DeleteWebhook(e.ctx, a.ID, all.ID))
	wantCode(t, "DeleteWebhook again", e.s.DeleteWebhook(e.ctx, a.ID, all.ID), bulkid.ENOTFOUND)
	got, err = e.s.ListWebhooks(e.ctx, a.ID)
	e.must("ListWebhooks", err)
	if len(got) != 1 || got[0].ID != failed.ID {
		t.Errorf("ListWebhooks after DeleteWebhook = %v, want only %s", got, failed.ID)
	}
	got, err = e.s.ListWebhooks(e.ctx, b.ID)
	e.must("ListWebhooks", err)
	if len(got) != 1 || got[0].ID != other.ID {
		t.Errorf("ListWebhooks of app b = %v, want only %s", got, other.ID)
	}
}

// testFinishJobDelivers: FinishJob creates one pending delivery, due at
// once, for each webhook of the job's app subscribed to its event.
func testFinishJobDelivers(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	all := e.createWebhook(a, "https://example.com/all", bulkid.WebhookEvents...)
	onlyFailed := e.createWebhook(a, "https://example.com/failed", bulkid.EventJobFailed)
	ofB := e.createWebhook(b, "https://example.com/b", bulkid.WebhookEvents...)

	ended := e.clock.Advance(time.Minute)
	completed := e.finish(a, bulkid.StatusCompleted)
	e.clock.Advance(time.Minute)
	failed := e.finish(a, bulkid.StatusFailed)

	ds := e.deliveries(a, all)
	if len(ds) != 2 {
		t.Fatalf("deliveries of the webhook of every event = %d, want 2", len(ds))
	}
	wantDelivery(t, "newest delivery", ds[0], &bulkid.Delivery{ID: ds[0].ID, WebhookID: all.ID, AppID: a.ID, JobID: failed.ID,
		Event: bulkid.EventJobFailed, Status: bulkid.DeliveryPending, NextAttemptAt: ended.Add(time.Minute), CreatedAt: ended.Add(time.Minute)})
	wantDelivery(t, "oldest delivery", ds[1], &bulkid.Delivery{ID: ds[1].ID, WebhookID: all.ID, AppID: a.ID, JobID: completed.ID,
		Event: bulkid.EventJobCompleted, Status: bulkid.DeliveryPending, NextAttemptAt: ended, CreatedAt: ended})
	if ds := e.deliveries(a, onlyFailed); len(ds) != 1 || ds[0].JobID != failed.ID || ds[0].Event != bulkid.EventJobFailed {
		t.Errorf("deliveries of the job.failed webhook = %+v, want one of job %s", ds, failed.ID)
	}
	if ds := e.deliveries(b, ofB); len(ds) != 0 {
		t.Errorf("deliveries of another app's webhook = %+v, want none", ds)
	}
	if ds[0].ID == ds[1].ID || len(ds[0].ID) != len("dlv_")+24 {
		t.Errorf("delivery ids %q and %q, want distinct dlv_ ids", ds[0].ID, ds[1].ID)
	}

	// A refused FinishJob creates none.
	job := e.submit(a, bulkid.JobCompanies, `{"company_id":"c1"}`)
	l := e.startJob("w1", job)
	wantCode(t, "FinishJob of a lost lease", e.s.FinishJob(e.ctx, bulkid.Lease{JobID: job.ID, Owner: "w2", TTL: ttl},
		bulkid.StatusCompleted, ""), bulkid.ELEASELOST)
	if ds := e.deliveries(a, all); len(ds) != 2 {
		t.Errorf("deliveries after a refused FinishJob = %d, want still 2", len(ds))
	}
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	if ds := e.deliveries(a, all); len(ds) != 3 {
		t.Errorf("deliveries after the third job = %d, want 3", len(ds))
	}
}

// testCancelQueuedDelivers: a queued job canceled through CancelJob ends
// without FinishJob; its job.canceled deliveries are created all the same,
// in the cancel's transaction, and a cancel of a running job creates them
// once, when the worker finishes it.
func testCancelQueuedDelivers(t *testing.T, e *env) {
	a := e.createApp("a")
	w := e.createWebhook(a, "https://example.com/canceled", bulkid.EventJobCanceled)
	queued := e.submit(a, bulkid.JobCompanies, `{"company_id":"c1"}`)
	if _, err := e.s.CancelJob(e.ctx, a.ID, queued.ID); err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	ds := e.deliveries(a, w)
	if len(ds) != 1 || ds[0].JobID != queued.ID || ds[0].Event != bulkid.EventJobCanceled || ds[0].Status != bulkid.DeliveryPending {
		t.Fatalf("deliveries after canceling a queued job = %+v, want one pending job.canceled of job %s", ds, queued.ID)
	}
	// Asked again: already canceled, no second delivery.
	if _, err := e.s.CancelJob(e.ctx, a.ID, queued.ID); err != nil {
		t.Fatalf("CancelJob again: %v", err)
	}
	if ds := e.deliveries(a, w); len(ds) != 1 {
		t.Errorf("deliveries after a second cancel = %d, want still 1", len(ds))
	}
}

// testDeliveryLifecycle: claim, lease expiry, a failed attempt and its
// retry, delivery, and giving up.
func testDeliveryLifecycle(t *testing.T, e *env) {
	a := e.createApp("a")
	w := e.createWebhook(a, "https://example.com/hook", bulkid.WebhookEvents...)
	if got := e.claimDeliveries("d1"); len(got) != 0 {
		t.Fatalf("ClaimDeliveries with none = %v, want none", got)
	}
	created := e.clock.Now()
	job := e.finish(a, bulkid.StatusCompleted)

	got := e.claimDeliveries("d1")
	if len(got) != 1 {
		t.Fatalf("ClaimDeliveries = %d deliveries, want 1", len(got))
	}
	d := got[0]
	want := &bulkid.Delivery{ID: d.ID, WebhookID: w.ID, AppID: a.ID, JobID: job.ID, Event: bulkid.EventJobCompleted,
		Status: bulkid.DeliveryPending, NextAttemptAt: created, CreatedAt: created, URL: w.URL, Secret: w.Secret}
	wantDelivery(t, "claimed delivery", d, want)
	if got := e.claimDeliveries("d2"); len(got) != 0 {
		t.Errorf("ClaimDeliveries while leased = %v, want none", got)
	}

	// d1 vanished: its lease expires and d2 takes the delivery over.
	e.clock.Advance(ttl + time.Second)
	if got := e.claimDeliveries("d2"); len(got) != 1 || got[0].ID != d.ID {
		t.Fatalf("ClaimDeliveries after the lease expired = %v, want %s", got, d.ID)
	}
	l1, l2 := bulkid.DeliveryLease{DeliveryID: d.ID, Owner: "d1"}, bulkid.DeliveryLease{DeliveryID: d.ID, Owner: "d2"}
	wantCode(t, "RecordAttempt of a lost lease", e.s.RecordAttempt(e.ctx, l1, bulkid.DeliveryAttempt{Delivered: true}), bulkid.ELEASELOST)

	next := e.clock.Now().Add(10 * time.Second)
	e.must("RecordAttempt", e.s.RecordAttempt(e.ctx, l2, bulkid.DeliveryAttempt{StatusCode: 500, Error: "HTTP 500", Next: next}))
	want.Attempts, want.LastStatusCode, want.LastError, want.NextAttemptAt, want.URL, want.Secret = 1, 500, "HTTP 500", next, "", ""
	wantDelivery(t, "delivery after a failed attempt", e.deliveries(a, w)[0], want)
	wantCode(t, "RecordAttempt twice on one lease", e.s.RecordAttempt(e.ctx, l2, bulkid.DeliveryAttempt{Delivered: true}), bulkid.ELEASELOST)
	if got := e.claimDeliveries("d3"); len(got) != 0 {
		t.Errorf("ClaimDeliveries before the next attempt is due = %v, want none", got)
	}

	e.clock.Advance(10 * time.Second)
	if got := e.claimDeliveries("d3"); len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("ClaimDeliveries once due again = %+v, want the delivery with 1 attempt", got)
	}
	delivered := e.clock.Advance(time.Second)
	e.must("RecordAttempt", e.s.RecordAttempt(e.ctx, bulkid.DeliveryLease{DeliveryID: d.ID, Owner: "d3"},
		bulkid.DeliveryAttempt{StatusCode: 204, Delivered: true}))
	want.Status, want.Attempts, want.LastStatusCode, want.LastError = bulkid.DeliveryDelivered, 2, 204, ""
	want.NextAttemptAt, want.DeliveredAt = time.Time{}, delivered
	wantDelivery(t, "delivered delivery", e.deliveries(a, w)[0], want)
	e.clock.Advance(time.Hour)
	if got := e.claimDeliveries("d4"); len(got) != 0 {
		t.Errorf("ClaimDeliveries of a delivered delivery = %v, want none", got)
	}

	// Giving up: no next attempt.
	e.finish(a, bulkid.StatusFailed)
	got = e.claimDeliveries("d5")
	if len(got) != 1 {
		t.Fatalf("ClaimDeliveries = %d, want the job.failed delivery", len(got))
	}
	e.must("RecordAttempt", e.s.RecordAttempt(e.ctx, bulkid.DeliveryLease{DeliveryID: got[0].ID, Owner: "d5"},
		bulkid.DeliveryAttempt{Error: "connection refused"}))
	last := e.deliveries(a, w)[0]
	if last.ID != got[0].ID || last.Status != bulkid.DeliveryFailed || last.Attempts != 1 || last.LastStatusCode != 0 ||
		last.LastError != "connection refused" || !last.NextAttemptAt.IsZero() || !last.DeliveredAt.IsZero() {
		t.Errorf("delivery given up on = %+v, want failed after 1 attempt, no next attempt", last)
	}
	e.clock.Advance(48 * time.Hour)
	if got := e.claimDeliveries("d6"); len(got) != 0 {
		t.Errorf("ClaimDeliveries of a failed delivery = %v, want none", got)
	}
}

// testDeliveriesPaging: newest first, after a cursor.
func testDeliveriesPaging(t *testing.T, e *env) {
	a := e.createApp("a")
	w := e.createWebhook(a, "https://example.com/hook", bulkid.WebhookEvents...)
	var jobs []string
	for range 5 {
		e.clock.Advance(time.Second)
		jobs = append(jobs, e.finish(a, bulkid.StatusCompleted).ID)
	}
	var got []string
	after := ""
	for {
		ds, err := e.s.Deliveries(e.ctx, a.ID, w.ID, bulkid.Page{Limit: 2, After: after})
		e.must("Deliveries", err)
		for _, d := range ds {
			got = append(got, d.JobID)
		}
		if len(ds) < 2 {
			break
		}
		after = ds[len(ds)-1].ID
	}
	slices.Reverse(jobs)
	if !slices.Equal(got, jobs) {
		t.Errorf("Deliveries paged by 2 = jobs %v, want %v (newest first)", got, jobs)
	}
	_, err := e.s.Deliveries(e.ctx, a.ID, w.ID, bulkid.Page{Limit: 2, After: "dlv_unknown"})
	wantCode(t, "Deliveries after an unknown cursor", err, bulkid.EINVALID)
}

// testDeleteWebhookStopsDeliveries: a deleted webhook's pending deliveries
// are gone, a claimed one too.
func testDeleteWebhookStopsDeliveries(t *testing.T, e *env) {
	a := e.createApp("a")
	w := e.createWebhook(a, "https://example.com/hook", bulkid.WebhookEvents...)
	kept := e.createWebhook(a, "https://example.com/kept", bulkid.WebhookEvents...)
	e.finish(a, bulkid.StatusCompleted)
	claimed := e.claimDeliveries("d1")
	if len(claimed) != 2 {
		t.Fatalf("ClaimDeliveries = %d, want 2", len(claimed))
	}
	e.finish(a, bulkid.StatusCompleted)
	e.must("DeleteWebhook", e.s.DeleteWebhook(e.ctx, a.ID, w.ID))
	for _, d := range claimed {
		err := e.s.RecordAttempt(e.ctx, bulkid.DeliveryLease{DeliveryID: d.ID, Owner: "d1"}, bulkid.DeliveryAttempt{Delivered: true})
		if d.WebhookID == w.ID {
			wantCode(t, "RecordAttempt of a deleted webhook's delivery", err, bulkid.ELEASELOST)
		} else {
			e.must("RecordAttempt", err)
		}
	}
	e.clock.Advance(2 * ttl)
	for _, d := range e.claimDeliveries("d2") {
		if d.WebhookID != kept.ID {
			t.Errorf("ClaimDeliveries after DeleteWebhook claimed %+v of the deleted webhook", d)
		}
	}
	if ds := e.deliveries(a, kept); len(ds) != 2 {
		t.Errorf("deliveries of the kept webhook = %d, want 2", len(ds))
	}
}

// testClaimDeliveriesConcurrent: deliverers claiming at once (on
// PostgreSQL, over connections of their own, as processes do) never get
// one delivery twice.
func testClaimDeliveriesConcurrent(t *testing.T, e *env) {
	const hooks, claimers = 20, 6
	a := e.createApp("a")
	for i := range hooks {
		e.createWebhook(a, fmt.Sprintf("https://example.com/%d", i), bulkid.WebhookEvents...)
	}
	e.finish(a, bulkid.StatusCompleted)

	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for c := range claimers {
		owner := fmt.Sprintf("d%d", c)
		wg.Go(func() {
			for range hooks + 1 { // bounded: a store that hands a delivery out again never runs dry
				ds, err := e.s.ClaimDeliveries(e.ctx, owner, ttl, 3)
				if err != nil {
					t.Errorf("ClaimDeliveries(%s): %v", owner, err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					if prev, ok := seen[d.ID]; ok {
						t.Errorf("delivery %s claimed by %s and %s", d.ID, prev, owner)
					}
					seen[d.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != hooks {
		t.Errorf("claimed %d deliveries, want %d", len(seen), hooks)
	}
}
