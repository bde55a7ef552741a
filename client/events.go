package client

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// Event is one call of the track endpoint.
type Event struct {
	UserID    string         `json:"user_id,omitempty"` // "" for an event of no user
	EventName string         `json:"event_name"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	// Timestamp, if set, is sent as the event's own time (RFC 3339).
	Timestamp time.Time `json:"-"`
}

// StoredEvent is an event as the events listing returns it (a bulkid
// extension).
type StoredEvent struct {
	UserID     *string         `json:"user_id"` // nil for an event of no user
	EventName  string          `json:"event_name"`
	Metadata   json.RawMessage `json:"metadata"`
	ReceivedAt time.Time       `json:"received_at"`
	Timestamp  *time.Time      `json:"timestamp"` // nil when the client sent none
}

// EventTotals is how many events the app holds, by name (a bulkid
// extension).
type EventTotals struct {
	Total  int64 `json:"total"`
	Events []struct {
		EventName      string    `json:"event_name"`
		Count          int64     `json:"count"`
		LastReceivedAt time.Time `json:"last_received_at"`
	} `json:"events"`
}

// Track stores one event at once. An event with no UserID is stored as an
// event of no user; one of an unknown user creates the user.
func (c *Client) Track(ctx context.Context, e Event) error {
	body := map[string]any{"event_name": e.EventName}
	if e.UserID != "" {
		body["user_id"] = e.UserID
	}
	if e.Metadata != nil {
		body["metadata"] = e.Metadata
	}
	if !e.Timestamp.IsZero() {
		body["timestamp"] = e.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	return c.postJSON(ctx, "/v1/track", body, nil)
}

// UserEvents returns a page of a user's events, newest first, only those
// named eventName unless it is "", and the cursor of the next page (""
// on the last).
func (c *Client) UserEvents(ctx context.Context, userID, eventName string, o ListOptions) ([]StoredEvent, string, error) {
	var extra url.Values
	if eventName != "" {
		extra = url.Values{"event_name": {eventName}}
	}
	var evs []StoredEvent
	h, err := c.getJSON(ctx, "/v1/users/"+url.PathEscape(userID)+"/events"+o.query(extra), &evs)
	if err != nil {
		return nil, "", err
	}
	return evs, nextCursor(h), nil
}

// EventTotals returns the app's event counts by name.
func (c *Client) EventTotals(ctx context.Context) (*EventTotals, error) {
	var t EventTotals
	if _, err := c.getJSON(ctx, "/v1/events/totals", &t); err != nil {
		return nil, err
	}
	return &t, nil
}
