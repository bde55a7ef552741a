package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestEventsSurviveCrash: an event answered 202 is on disk: the server is
// killed (SIGKILL) at once after the answer, and after a restart the
// event, the user it created and the totals are there.
func TestEventsSurviveCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	for _, body := range []string{
		`{"user_id":"u1","event_name":"Signed Up","metadata":{"plan":"pro"},"timestamp":"2025-02-01T10:20:30Z"}`,
		`{"event_name":"Signed Up"}`,
	} {
		if r := s.Do("POST", "/v1/track", s.Key, "application/json", strings.NewReader(body)); r.Status != http.StatusAccepted {
			t.Fatalf("POST /v1/track %s = %d %s", body, r.Status, r.Body)
		}
	}
	s.Kill()

	s = startServer(t, dir)
	r := s.Get("/v1/users/u1/events")
	var evs []struct {
		EventName string          `json:"event_name"`
		UserID    string          `json:"user_id"`
		Metadata  json.RawMessage `json:"metadata"`
		Timestamp string          `json:"timestamp"`
	}
	r.JSON(t, &evs)
	if r.Status != http.StatusOK || len(evs) != 1 || evs[0].EventName != "Signed Up" || string(evs[0].Metadata) != `{"plan":"pro"}` ||
		evs[0].Timestamp != "2025-02-01T10:20:30.000Z" {
		t.Fatalf("events of u1 after the crash = %d %s, want the one sent", r.Status, r.Body)
	}
	if u := getJSON(t, s, "/v1/users/u1"); u["user_id"] != "u1" {
		t.Errorf("the user the event created, after the crash = %v", u)
	}
	tot := getJSON(t, s, "/v1/events/totals")
	if tot["total"] != 2.0 {
		t.Errorf("totals after the crash = %v, want 2 events", tot)
	}
}
