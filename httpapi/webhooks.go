package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/bulkid/bulkid"
)

// maxWebhooksPerApp bounds the deliveries one ended job makes.
const maxWebhooksPerApp = 20

// JobBody is the job object of j exactly as GET
// /v1/background_jobs/{job_id} answers it at now, for the body of a
// webhook delivery (the job is final, so rowsPerMinute, which only
// estimates the end of a running job, changes nothing).
func JobBody(j *bulkid.Job, rowsPerMinute int, now time.Time) ([]byte, error) {
	s := &server{rpm: rowsPerMinute, now: func() time.Time { return now }}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s.jobJSON(j)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// webhookJSON is a webhook on the wire; Secret only in the answer of its
// creation.
type webhookJSON struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"secret,omitempty"`
	CreatedAt string   `json:"created_at"`
}

func webhookOf(w *bulkid.Webhook) webhookJSON {
	return webhookJSON{ID: w.ID, URL: w.URL, Events: w.Events, CreatedAt: timeString(w.CreatedAt)}
}

// deliveryJSON is a delivery on the wire.
type deliveryJSON struct {
	ID             string  `json:"id"`
	WebhookID      string  `json:"webhook_id"`
	JobID          string  `json:"job_id"`
	Event          string  `json:"event"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastStatusCode *int    `json:"last_status_code"`
	LastError      *string `json:"last_error"`
	NextAttemptAt  *string `json:"next_attempt_at"`
	DeliveredAt    *string `json:"delivered_at"`
	CreatedAt      string  `json:"created_at"`
}

// handleCreateWebhook registers {"url": "...", "events": [...]}; events
// are optional (every event) and kept in bulkid.WebhookEvents' order.
func (s *server) handleCreateWebhook(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	_, m, err := s.readIdentify(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hook, err := s.parseWebhook(r.Context(), app, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hooks, err := s.store.ListWebhooks(r.Context(), app.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(hooks) >= maxWebhooksPerApp {
		s.writeError(w, r, bulkid.Errorf(bulkid.EINVALID, "This app has %d webhooks, the most it may have; delete one first.", len(hooks)))
		return
	}
	if err := s.store.CreateWebhook(r.Context(), hook); err != nil {
		s.writeError(w, r, err)
		return
	}
	out := webhookOf(hook)
	out.Secret = hook.Secret
	w.Header().Set("Location", "/v1/webhooks/"+hook.ID)
	writeJSON(w, http.StatusCreated, out)
}

// parseWebhook reads a registration's members into a new webhook.
func (s *server) parseWebhook(ctx context.Context, app *bulkid.App, m map[string]json.RawMessage) (*bulkid.Webhook, error) {
	for name := range m {
		if name != "url" && name != "events" {
			return nil, bulkid.Errorf(bulkid.EINVALID, "Unknown field %q: a webhook has url and events.", name)
		}
	}
	var url string
	if err := json.Unmarshal(m["url"], &url); err != nil || url == "" {
		return nil, bulkid.Errorf(bulkid.EINVALID, "url is required: the http:// or https:// URL to POST job events to.")
	}
	events := bulkid.WebhookEvents
	if raw, ok := m["events"]; ok && string(raw) != "null" {
		var names []string
		if err := json.Unmarshal(raw, &names); err != nil || len(names) == 0 {
			return nil, bulkid.Errorf(bulkid.EINVALID, "events must be a non-empty array of event names: %v.", bulkid.WebhookEvents)
		}
		events = nil
		for _, e := range bulkid.WebhookEvents {
			if slices.Contains(names, e) {
				events = append(events, e)
			}
		}
		for _, n := range names {
			if !slices.Contains(bulkid.WebhookEvents, n) {
				return nil, &bulkid.Error{Code: bulkid.EINVALID, Message: "Unknown event " + quote(n) + "; the events are job.completed, job.failed and job.canceled."}
			}
		}
	}
	check := s.checkWebhookURL
	if check == nil {
		return nil, bulkid.Errorf(bulkid.EINVALID, "This server does not send webhooks.")
	}
	if err := check(ctx, url); err != nil {
		return nil, &bulkid.Error{Code: bulkid.EINVALID, Message: err.Error() + "."}
	}
	return &bulkid.Webhook{ID: bulkid.NewWebhookID(), AppID: app.ID, URL: url, Events: slices.Clone(events), Secret: bulkid.NewWebhookSecret()}, nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (s *server) handleListWebhooks(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	hooks, err := s.store.ListWebhooks(r.Context(), app.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]webhookJSON, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, webhookOf(h))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (s *server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	id := pathValue(r, "webhook_id")
	if !bulkid.Storable(id) {
		s.writeError(w, r, notFound(bulkid.Errorf(bulkid.ENOTFOUND, "no such id"), "webhook", id))
		return
	}
	if err := s.store.DeleteWebhook(r.Context(), app.ID, id); err != nil {
		s.writeError(w, r, notFound(err, "webhook", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleDeliveries lists a webhook's deliveries newest first, paged by
// ?limit= and ?cursor= as the other listings are (Link header).
func (s *server) handleDeliveries(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	page, err := pageOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := pathValue(r, "webhook_id")
	if !bulkid.Storable(id) {
		s.writeError(w, r, notFound(bulkid.Errorf(bulkid.ENOTFOUND, "no such id"), "webhook", id))
		return
	}
	ds, err := s.store.Deliveries(r.Context(), app.ID, id, page)
	if err != nil {
		s.writeError(w, r, notFound(err, "webhook", id))
		return
	}
	out := make([]deliveryJSON, 0, len(ds))
	for _, d := range ds {
		dj := deliveryJSON{ID: d.ID, WebhookID: d.WebhookID, JobID: d.JobID, Event: d.Event, Status: string(d.Status),
			Attempts: d.Attempts, NextAttemptAt: optTime(d.NextAttemptAt), DeliveredAt: optTime(d.DeliveredAt), CreatedAt: timeString(d.CreatedAt)}
		if d.LastStatusCode != 0 {
			dj.LastStatusCode = &d.LastStatusCode
		}
		if d.LastError != "" {
			dj.LastError = &d.LastError
		}
		out = append(out, dj)
	}
	if len(ds) == page.Limit {
		setNextLink(w, r, page.Limit, ds[len(ds)-1].ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}
