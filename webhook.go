package bulkid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Webhook events: one for each final job status, named "job." + status.
const (
	EventJobCompleted = "job.completed"
	EventJobFailed    = "job.failed"
	EventJobCanceled  = "job.canceled"
)

// WebhookEvents are the events a webhook may subscribe to, in the order
// they are listed; a webhook registered without events gets all of them.
var WebhookEvents = []string{EventJobCompleted, EventJobFailed, EventJobCanceled}

// JobEvent is the webhook event of a job reaching status.
func JobEvent(status JobStatus) string { return "job." + string(status) }

// Webhook is an endpoint of an app that is sent a POST when one of the
// app's jobs ends with one of Events.
type Webhook struct {
	ID        string // "wh_" and 24 hex digits
	AppID     int64
	URL       string
	Events    []string // a subset of WebhookEvents, in their order
	Secret    string   // "whsec_…": the key of the deliveries' HMAC signatures
	CreatedAt time.Time
}

// Subscribes reports whether w is sent event.
func (w *Webhook) Subscribes(event string) bool {
	for _, e := range w.Events {
		if e == event {
			return true
		}
	}
	return false
}

// DeliveryStatus is where a delivery stands: pending until it is
// delivered or given up on (failed).
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Delivery is one event sent, or to be sent, to one webhook.
type Delivery struct {
	ID             string // "dlv_" and 24 hex digits
	WebhookID      string
	AppID          int64
	JobID          string
	Event          string
	Status         DeliveryStatus
	Attempts       int
	LastStatusCode int       // of the last attempt's response; 0 if none came
	LastError      string    // why the last attempt failed; "" if it did not
	NextAttemptAt  time.Time // while pending; zero otherwise
	DeliveredAt    time.Time // zero until delivered
	CreatedAt      time.Time
	// URL and Secret are those of the webhook, filled by ClaimDeliveries
	// for the deliverer.
	URL    string
	Secret string
}

// DeliveryLease is a deliverer's claim on a delivery, as ClaimDeliveries
// gave it.
type DeliveryLease struct {
	DeliveryID string
	Owner      string
}

// DeliveryAttempt is the outcome of one attempt at a delivery.
type DeliveryAttempt struct {
	StatusCode int    // of the response; 0 if none came
	Error      string // "" if delivered
	Delivered  bool
	// Next is when to try again if not delivered; zero gives up: the
	// delivery becomes failed.
	Next time.Time
}

// WebhookStore keeps webhooks and their deliveries. Deliveries are
// created by WorkStore.FinishJob, in the transaction that ends the job, one
// for each webhook of the job's app subscribed to its event, due at once.
type WebhookStore interface {
	// CreateWebhook stores w, whose ID and Secret the caller chose, and
	// sets w.CreatedAt.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// ListWebhooks returns the app's webhooks, oldest first.
	ListWebhooks(ctx context.Context, appID int64) ([]*Webhook, error)
	// DeleteWebhook removes the app's webhook and its deliveries, pending
	// ones too. Returns ENOTFOUND if the app has no webhook id.
	DeleteWebhook(ctx context.Context, appID int64, id string) error
	// Deliveries returns the webhook's deliveries newest first, after the
	// cursor p.After (a delivery ID, "" for the first page); URL and
	// Secret are not filled. Returns ENOTFOUND if the app has no webhook
	// webhookID, EINVALID if p.After is not one of its deliveries.
	Deliveries(ctx context.Context, appID int64, webhookID string, p Page) ([]*Delivery, error)
	// ClaimDeliveries leases up to limit pending deliveries that are due
	// (NextAttemptAt not after now) and that no live lease holds, for ttl,
	// earliest due first. Concurrent callers, of any process, never get
	// the same delivery while its lease lives. None due is no error.
	ClaimDeliveries(ctx context.Context, owner string, ttl time.Duration, limit int) ([]*Delivery, error)
	// RecordAttempt records the outcome of an attempt at a leased
	// delivery, counting it, and ends the lease: delivered, pending again
	// until a.Next, or failed if a.Next is zero. Returns ELEASELOST if the
	// lease is no longer held by l.Owner (expired and claimed by another,
	// or the webhook deleted).
	RecordAttempt(ctx context.Context, l DeliveryLease, a DeliveryAttempt) error
}

// NewDeliveryID returns a new delivery ID; stores call it in FinishJob.
func NewDeliveryID() string { return "dlv_" + randomHex(12) }

// NewWebhookID returns a new webhook ID.
func NewWebhookID() string { return "wh_" + randomHex(12) }

// NewWebhookSecret returns a new signing secret of 32 random bytes.
func NewWebhookSecret() string { return "whsec_" + randomHex(32) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
