package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Webhook events.
const (
	EventJobCompleted = "job.completed"
	EventJobFailed    = "job.failed"
	EventJobCanceled  = "job.canceled"
)

// Webhook is a registered endpoint that is sent a POST when one of the
// app's jobs ends (a bulkid extension). Secret is set only in the answer
// of CreateWebhook: keep it to verify deliveries (webhook.Verify on the
// server's side of this repository, or the snippet in docs/API.md).
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Delivery is one event sent, or to be sent, to a webhook, with the
// outcome of its last attempt. Status is "pending", "delivered" or
// "failed" (given up on).
type Delivery struct {
	ID             string     `json:"id"`
	WebhookID      string     `json:"webhook_id"`
	JobID          string     `json:"job_id"`
	Event          string     `json:"event"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      *string    `json:"last_error"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

// CreateWebhook registers url for events (nil: every event). It is
// sent once, without retries: a retry after a lost answer could register
// the webhook twice.
func (c *Client) CreateWebhook(ctx context.Context, url string, events []string) (*Webhook, error) {
	b, err := json.Marshal(struct {
		URL    string   `json:"url"`
		Events []string `json:"events,omitempty"`
	}{url, events})
	if err != nil {
		return nil, err
	}
	resp, err := c.once(ctx, request{method: http.MethodPost, path: "/v1/webhooks", contentType: "application/json",
		body: func() (io.Reader, error) { return bytes.NewReader(b), nil }, length: int64(len(b))})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var w Webhook
	if err := json.NewDecoder(resp.Body).Decode(&w); err != nil {
		return nil, fmt.Errorf("client: decode the created webhook: %w", err)
	}
	return &w, nil
}

// ListWebhooks returns the app's webhooks, oldest first, without secrets.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var out struct{ Data []Webhook }
	if _, err := c.getJSON(ctx, "/v1/webhooks", &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// DeleteWebhook removes a webhook; its pending deliveries are not sent.
// An unknown id is an *Error with Code "not_found".
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	resp, err := c.do(ctx, request{method: http.MethodDelete, path: "/v1/webhooks/" + url.PathEscape(id)})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Deliveries returns a page of the webhook's deliveries, newest first,
// and the cursor of the next page ("" on the last).
func (c *Client) Deliveries(ctx context.Context, webhookID string, o ListOptions) ([]Delivery, string, error) {
	var out struct{ Data []Delivery }
	h, err := c.getJSON(ctx, "/v1/webhooks/"+url.PathEscape(webhookID)+"/deliveries"+o.query(nil), &out)
	if err != nil {
		return nil, "", err
	}
	return out.Data, nextCursor(h), nil
}
