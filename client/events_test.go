package client_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/bulkid/bulkid/client"
)

// TestEventsAgainstServer: Track, UserEvents and EventTotals against the
// real server.
func TestEventsAgainstServer(t *testing.T) {
	t.Parallel()
	s := startReal(t, 0)
	c := s.client()
	ctx := context.Background()
	sent := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i, e := range []client.Event{
		{UserID: "u/1", EventName: "Signed Up", Metadata: map[string]any{"plan": "pro", "address": map[string]any{"city": "Paris"}}, Timestamp: sent},
		{UserID: "u/1", EventName: "Viewed"},
		{UserID: "u/1", EventName: "Viewed"},
		{EventName: "Viewed"}, // of no user
	} {
		if err := c.Track(ctx, e); err != nil {
			t.Fatalf("Track %d: %v", i, err)
		}
	}
	evs, next, err := c.UserEvents(ctx, "u/1", "", client.ListOptions{Limit: 2})
	if err != nil || len(evs) != 2 || next == "" || evs[0].EventName != "Viewed" {
		t.Fatalf("UserEvents page 1 = %+v, %q, %v; want 2 Viewed events and a next page", evs, next, err)
	}
	evs, next, err = c.UserEvents(ctx, "u/1", "", client.ListOptions{Limit: 2, Cursor: next})
	if err != nil || len(evs) != 1 || next != "" {
		t.Fatalf("UserEvents page 2 = %+v, %q, %v; want the last event and no next page", evs, next, err)
	}
	var md map[string]any
	if e := evs[0]; e.EventName != "Signed Up" || e.Timestamp == nil || !e.Timestamp.Equal(sent) || e.UserID == nil || *e.UserID != "u/1" ||
		json.Unmarshal(e.Metadata, &md) != nil || md["address.city"] != "Paris" || md["plan"] != "pro" {
		t.Errorf("Signed Up = %+v (metadata %s); want its timestamp, user and flattened metadata", e, e.Metadata)
	}
	if evs, _, err := c.UserEvents(ctx, "u/1", "Signed Up", client.ListOptions{}); err != nil || len(evs) != 1 {
		t.Errorf("UserEvents by name = %d events, %v; want 1", len(evs), err)
	}
	if _, err := c.User(ctx, "u/1"); err != nil {
		t.Errorf("the user the events created: %v", err)
	}
	tot, err := c.EventTotals(ctx)
	if err != nil || tot.Total != 4 || len(tot.Events) != 2 || tot.Events[1].EventName != "Viewed" || tot.Events[1].Count != 3 {
		t.Errorf("EventTotals = %+v, %v; want 4 in all, Viewed 3", tot, err)
	}
	if _, _, err := c.UserEvents(ctx, "nobody", "", client.ListOptions{}); !client.IsCode(err, "not_found") {
		t.Errorf("UserEvents of an unknown user: %v, want not_found", err)
	}
}
