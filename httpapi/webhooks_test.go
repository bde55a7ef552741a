package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
)

type webhookObject struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    *string  `json:"secret"`
	CreatedAt string   `json:"created_at"`
}

type deliveryObject struct {
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

func TestWebhookRegistration(t *testing.T) {
	t.Parallel()
	strict := startServer(t, "")
	for _, url := range []string{"http://127.0.0.1:9/hook", "http://localhost/", "http://[::1]/", "http://169.254.169.254/", "http://10.0.0.1/"} {
		r := strict.PostJSON("/v1/webhooks", map[string]any{"url": url})
		if e := expectError(t, r, http.StatusBadRequest, "invalid_request"); !strings.Contains(e.Errors[0].Message, "private") {
			t.Errorf("POST /v1/webhooks %s without --webhook-allow-private: message %q, want it to say the target is private", url, e.Errors[0].Message)
		}
	}

	s := startServer(t, "", "--webhook-allow-private")
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer recv.Close()
	for name, body := range map[string]string{
		"no url":         `{}`,
		"url not a text": `{"url":1}`,
		"ftp":            `{"url":"ftp://example.com/x"}`,
		"relative":       `{"url":"/hook"}`,
		"unknown event":  `{"url":"` + recv.URL + `","events":["job.started"]}`,
		"no events":      `{"url":"` + recv.URL + `","events":[]}`,
		"events a text":  `{"url":"` + recv.URL + `","events":"job.failed"}`,
		"unknown field":  `{"url":"` + recv.URL + `","event":["job.failed"]}`,
	} {
		r := s.Do("POST", "/v1/webhooks", s.Key, "application/json", strings.NewReader(body))
		if r.Status != http.StatusBadRequest {
			t.Errorf("POST /v1/webhooks with %s = %d %s, want 400", name, r.Status, r.Body)
			continue
		}
		expectError(t, r, http.StatusBadRequest, "invalid_request")
	}
	expectError(t, s.Do("POST", "/v1/webhooks", s.Key, "application/json", strings.NewReader(`[`)), http.StatusBadRequest, "invalid_json")
	expectError(t, s.Do("POST", "/v1/webhooks", s.Key, "text/plain", strings.NewReader(`{}`)), http.StatusUnsupportedMediaType, "unsupported_media_type")
	expectError(t, s.Do("POST", "/v1/webhooks", "", "application/json", strings.NewReader(`{}`)), http.StatusUnauthorized, "unauthorized")

	r := s.PostJSON("/v1/webhooks", map[string]any{"url": recv.URL + "/all"})
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /v1/webhooks = %d %s, want 201", r.Status, r.Body)
	}
	var all webhookObject
	r.JSON(t, &all)
	if !strings.HasPrefix(all.ID, "wh_") || all.URL != recv.URL+"/all" || all.Secret == nil || !strings.HasPrefix(*all.Secret, "whsec_") ||
		!slices.Equal(all.Events, []string{"job.completed", "job.failed", "job.canceled"}) {
		t.Errorf("created webhook = %s, want a wh_ id, the url, a whsec_ secret and every event", r.Body)
	}
	if _, err := time.Parse(time.RFC3339, all.CreatedAt); err != nil {
		t.Errorf("created_at %q: %v", all.CreatedAt, err)
	}
	r = s.PostJSON("/v1/webhooks", map[string]any{"url": recv.URL + "/failed", "events": []string{"job.failed", "job.canceled", "job.failed"}})
	var failed webhookObject
	r.JSON(t, &failed)
	if r.Status != http.StatusCreated || !slices.Equal(failed.Events, []string{"job.failed", "job.canceled"}) {
		t.Errorf("POST /v1/webhooks with events = %d %s, want 201 with job.failed and job.canceled once each", r.Status, r.Body)
	}

	var list struct{ Data []webhookObject }
	s.Get("/v1/webhooks").JSON(t, &list)
	if len(list.Data) != 2 || list.Data[0].ID != all.ID || list.Data[1].ID != failed.ID || list.Data[0].Secret != nil {
		t.Errorf("GET /v1/webhooks = %+v, want both, oldest first, without their secrets", list.Data)
	}

	other := createApp(t, s, "other")
	other.Get("/v1/webhooks").JSON(t, &list)
	if len(list.Data) != 0 {
		t.Errorf("GET /v1/webhooks of another app = %+v, want none", list.Data)
	}
	expectError(t, other.Do("DELETE", "/v1/webhooks/"+all.ID, other.Key, "", nil), http.StatusNotFound, "not_found")
	expectError(t, other.Get("/v1/webhooks/"+all.ID+"/deliveries"), http.StatusNotFound, "not_found")

	if r := s.Do("DELETE", "/v1/webhooks/"+failed.ID, s.Key, "", nil); r.Status != http.StatusNoContent {
		t.Errorf("DELETE /v1/webhooks/%s = %d %s, want 204", failed.ID, r.Status, r.Body)
	}
	expectError(t, s.Do("DELETE", "/v1/webhooks/"+failed.ID, s.Key, "", nil), http.StatusNotFound, "not_found")
	expectError(t, s.Get("/v1/webhooks/"+failed.ID+"/deliveries"), http.StatusNotFound, "not_found")
	s.Get("/v1/webhooks").JSON(t, &list)
	if len(list.Data) != 1 || list.Data[0].ID != all.ID {
		t.Errorf("GET /v1/webhooks after DELETE = %+v, want only %s", list.Data, all.ID)
	}
}

// TestWebhookDeliveriesListed: an ended job makes a pending delivery of
// each subscribed webhook, listed newest first; its body is the job
// object as GET answers it.
func TestWebhookDeliveriesListed(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--webhook-allow-private", "--rows-per-minute", "0", "--poll-interval", "10ms")
	var hook webhookObject
	s.PostJSON("/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook"}).JSON(t, &hook)
	var onlyFailed webhookObject
	s.PostJSON("/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/failed", "events": []string{"job.failed"}}).JSON(t, &onlyFailed)

	first := run1(t, s, "/v1/companies/bulk_identify", companies(2, "a"))
	second := run1(t, s, "/v1/companies/bulk_identify", companies(1, "b"))

	var got struct{ Data []deliveryObject }
	s.Get("/v1/webhooks/"+hook.ID+"/deliveries").JSON(t, &got)
	if len(got.Data) != 2 {
		t.Fatalf("deliveries = %+v, want 2", got.Data)
	}
	for i, want := range []string{second.JobID, first.JobID} {
		d := got.Data[i]
		if d.JobID != want || d.WebhookID != hook.ID || d.Event != "job.completed" || d.Status != "pending" || d.Attempts != 0 ||
			d.LastStatusCode != nil || d.LastError != nil || d.NextAttemptAt == nil || d.DeliveredAt != nil || !strings.HasPrefix(d.ID, "dlv_") {
			t.Errorf("deliveries[%d] = %+v, want the pending job.completed delivery of job %s, not yet attempted", i, d, want)
		}
	}
	r := s.Get("/v1/webhooks/" + hook.ID + "/deliveries?limit=1")
	r.JSON(t, &got)
	if len(got.Data) != 1 || got.Data[0].JobID != second.JobID || !strings.Contains(r.Header.Get("Link"), "cursor="+got.Data[0].ID) {
		t.Errorf("deliveries?limit=1 = %+v, Link %q; want the newest and a next link", got.Data, r.Header.Get("Link"))
	}
	s.Get("/v1/webhooks/"+onlyFailed.ID+"/deliveries").JSON(t, &got)
	if len(got.Data) != 0 {
		t.Errorf("deliveries of a job.failed webhook after completed jobs = %+v, want none", got.Data)
	}

	// The body a delivery sends is the job object of GET.
	app, err := s.store.AppByKeyHash(t.Context(), bulkid.HashAPIKey(s.Key))
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.store.Job(t.Context(), app.ID, first.JobID)
	if err != nil {
		t.Fatal(err)
	}
	body, err := httpapi.JobBody(j, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var fromBody, fromGET map[string]any
	if err := json.Unmarshal(body, &fromBody); err != nil {
		t.Fatalf("JobBody is not JSON: %v\n%s", err, body)
	}
	s.Get("/v1/background_jobs/"+first.JobID).JSON(t, &fromGET)
	a, _ := json.Marshal(fromBody)
	b, _ := json.Marshal(fromGET)
	if string(a) != string(b) {
		t.Errorf("JobBody = %s\nGET answers %s", a, b)
	}
}

// TestWebhookLimitPerApp: an app has at most 20 webhooks; deleting one
// makes room.
func TestWebhookLimitPerApp(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--webhook-allow-private")
	var last webhookObject
	for i := range 20 {
		r := s.PostJSON("/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/" + string(rune('a'+i)), "events": nil})
		if r.Status != http.StatusCreated {
			t.Fatalf("webhook %d: %d %s, want 201", i+1, r.Status, r.Body)
		}
		r.JSON(t, &last)
	}
	if len(last.Events) != 3 {
		t.Errorf("events null: %v, want every event", last.Events)
	}
	r := s.PostJSON("/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/one-more"})
	if e := expectError(t, r, http.StatusBadRequest, "invalid_request"); !strings.Contains(e.Errors[0].Message, "20") {
		t.Errorf("21st webhook: %q, want the message to name the limit", e.Errors[0].Message)
	}
	if other := createApp(t, s, "other"); other.PostJSON("/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/x"}).Status != http.StatusCreated {
		t.Errorf("another app's first webhook refused: the limit is per app")
	}
	if r := s.Do("DELETE", "/v1/webhooks/"+last.ID, s.Key, "", nil); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE = %d", r.Status)
	}
	if r := s.PostJSON("/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/one-more"}); r.Status != http.StatusCreated {
		t.Errorf("webhook after a delete: %d %s, want 201", r.Status, r.Body)
	}
}
