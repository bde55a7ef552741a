package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/wiretest"
)

// eventOut is an event of the listing, every field kept as sent.
type eventOut struct {
	EventName  string          `json:"event_name"`
	UserID     *string         `json:"user_id"`
	Metadata   json.RawMessage `json:"metadata"`
	ReceivedAt string          `json:"received_at"`
	Timestamp  *string         `json:"timestamp"`
}

type totalsOut struct {
	Total  *int64 `json:"total"`
	Events []struct {
		EventName      string `json:"event_name"`
		Count          int64  `json:"count"`
		LastReceivedAt string `json:"last_received_at"`
	} `json:"events"`
}

// track posts body as a track call and fails the test unless it is 202
// {"status":"accepted"}.
func track(t *testing.T, s *server, body string) {
	t.Helper()
	r := s.Do("POST", "/v1/track", s.Key, "application/json", strings.NewReader(body))
	if r.Status != http.StatusAccepted || strings.TrimSpace(string(r.Body)) != `{"status":"accepted"}` {
		t.Fatalf("POST /v1/track %s = %d %s, want 202 {\"status\":\"accepted\"}", body, r.Status, r.Body)
	}
}

// userEvents reads one page of a user's events and the Link header.
func userEvents(t *testing.T, s *server, path string) ([]eventOut, string) {
	t.Helper()
	r := s.Get(path)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, r.Status, r.Body)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(r.Body), []byte("[")) {
		t.Fatalf("GET %s = %s, want a JSON array", path, r.Body)
	}
	var evs []eventOut
	r.JSON(t, &evs)
	return evs, r.Header.Get("Link")
}

func totals(t *testing.T, s *server) totalsOut {
	t.Helper()
	r := s.Get("/v1/events/totals")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/events/totals = %d %s", r.Status, r.Body)
	}
	var out totalsOut
	r.JSON(t, &out)
	if out.Total == nil || out.Events == nil {
		t.Fatalf("GET /v1/events/totals = %s, want total and an events array", r.Body)
	}
	return out
}

var millisUTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// TestTrack: a track call is 202 and its event reads back with every
// field; an unknown user is created, a known one left as it is; an event
// without user_id is counted and listed for no one.
func TestTrack(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	track(t, s, `{"user_id":"u1","event_name":"Signed Up","metadata":{"plan":"pro","seats":3},"timestamp":"2025-02-01T12:20:30.1234+02:00"}`)
	u := getJSON(t, s, "/v1/users/u1")
	if md, _ := json.Marshal(u["metadata"]); string(md) != `{}` || u["company_id"] != nil {
		t.Errorf("the user an event created = %v, want metadata {} and no company", u)
	}
	evs, link := userEvents(t, s, "/v1/users/u1/events")
	if len(evs) != 1 || link != "" {
		t.Fatalf("events of u1 = %+v (Link %q), want 1 and no Link", evs, link)
	}
	ev := evs[0]
	if ev.EventName != "Signed Up" || ev.UserID == nil || *ev.UserID != "u1" || string(ev.Metadata) != `{"plan":"pro","seats":3}` {
		t.Errorf("event = %+v, want Signed Up of u1 with its metadata", ev)
	}
	if ev.Timestamp == nil || *ev.Timestamp != "2025-02-01T10:20:30.123Z" {
		t.Errorf("timestamp = %v, want the one sent in UTC to the millisecond, 2025-02-01T10:20:30.123Z", ev.Timestamp)
	}
	if !millisUTC.MatchString(ev.ReceivedAt) {
		t.Errorf("received_at = %q, want RFC 3339 UTC with milliseconds", ev.ReceivedAt)
	}

	// A known user: its metadata stays; an integer user_id is its decimal id.
	if r := s.PostJSON("/v1/identify", map[string]any{"user_id": 42, "metadata": map[string]any{"name": "Ann"}}); r.Status != http.StatusAccepted {
		t.Fatalf("identify: %d %s", r.Status, r.Body)
	}
	track(t, s, `{"user_id":42,"event_name":"Clicked","metadata":{"name":"Bob"}}`)
	if md := s.MetadataOf("/v1/users/42"); string(md["name"]) != `"Ann"` || len(md) != 1 {
		t.Errorf("user 42's metadata after an event = %v, want {name: Ann}", md)
	}
	evs, _ = userEvents(t, s, "/v1/users/42/events")
	if len(evs) != 1 || evs[0].Timestamp != nil || *evs[0].UserID != "42" {
		t.Errorf("events of 42 = %+v, want one with timestamp null", evs)
	}

	// No user_id, or null: 202, counted, listed for no one, no user made.
	track(t, s, `{"event_name":"Signed Up","metadata":{"anonymous":true}}`)
	track(t, s, `{"user_id":null,"event_name":"Viewed"}`)
	// Segment's shape: headers and a body with more fields than ours.
	r := s.Do("POST", "/v1/track", s.Key, "application/json; charset=utf-8", strings.NewReader(
		`{"user_id":"seg-1","event_name":"Order Completed","metadata":{"revenue":"19.99","currency":"USD"},"type":"track"}`))
	if r.Status != http.StatusAccepted {
		t.Fatalf("a Segment-shaped track = %d %s", r.Status, r.Body)
	}
	got := totals(t, s)
	want := map[string]int64{"Clicked": 1, "Order Completed": 1, "Signed Up": 2, "Viewed": 1}
	if *got.Total != 5 || len(got.Events) != len(want) {
		t.Fatalf("totals = %+v, want total 5 and %v", got, want)
	}
	for i, e := range got.Events {
		if want[e.EventName] != e.Count || !millisUTC.MatchString(e.LastReceivedAt) {
			t.Errorf("totals event %+v, want count %d and a time", e, want[e.EventName])
		}
		if i > 0 && got.Events[i-1].EventName >= e.EventName {
			t.Errorf("totals not ordered by name: %q before %q", got.Events[i-1].EventName, e.EventName)
		}
	}
	if evs, _ := userEvents(t, s, "/v1/users/u1/events"); len(evs) != 1 {
		t.Errorf("u1 has %d events after events of no user, want 1", len(evs))
	}
	expectError(t, s.Get("/v1/users/%2F/events"), http.StatusNotFound, bulkid.ENOTFOUND)

	// gzip, as identify takes it.
	req, _ := http.NewRequest("POST", s.URL+"/v1/track", bytes.NewReader(gzipped(t, []byte(`{"user_id":"gz","event_name":"zipped"}`))))
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wiretest.ReadResponse(t, resp)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("gzip track = %d, want 202", resp.StatusCode)
	}
	if evs, _ := userEvents(t, s, "/v1/users/gz/events"); len(evs) != 1 || evs[0].EventName != "zipped" {
		t.Errorf("events of gz = %+v, want the zipped one", evs)
	}
}

// TestTrackRefusals: every refusal of a track call is in the error shape,
// with the record error code as details for a body that fails validation,
// and stores nothing.
func TestTrackRefusals(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	tests := []struct {
		contentType, body string
		status            int
		code, details     string
	}{
		{"text/plain", `{"user_id":"u","event_name":"e"}`, http.StatusUnsupportedMediaType, bulkid.EUNSUPPORTED, ""},
		{"application/json", `[{"user_id":"u","event_name":"e"}]`, http.StatusBadRequest, bulkid.EINVALIDJSON, ""},
		{"application/json", `{"user_id":"u",`, http.StatusBadRequest, bulkid.EINVALIDJSON, ""},
		{"application/json", ``, http.StatusBadRequest, bulkid.EINVALIDJSON, ""},
		{"application/json", `{"user_id":"u","event_name":"e","metadata":{"k":"` + strings.Repeat("x", bulkid.MaxRecordBytes) + `"}}`,
			http.StatusRequestEntityTooLarge, bulkid.ETOOLARGE, ""},
		{"application/json", `{"user_id":"u"}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RMissingEventName},
		{"application/json", `{"user_id":"u","event_name":""}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RMissingEventName},
		{"application/json", `{"user_id":"u","event_name":["e"]}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RInvalidEventName},
		{"application/json", `{"user_id":"u","event_name":"` + strings.Repeat("e", 513) + `"}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RInvalidEventName},
		{"application/json", `{"user_id":"u","event_name":"a\u0000"}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RInvalidEventName},
		{"application/json", `{"user_id":"","event_name":"e"}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RMissingID},
		{"application/json", `{"user_id":{"id":1},"event_name":"e"}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RInvalidID},
		{"application/json", `{"user_id":"u","event_name":"e","timestamp":"yesterday"}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RInvalidTimestamp},
		{"application/json", `{"user_id":"u","event_name":"e","timestamp":1738405230}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RInvalidTimestamp},
		{"application/json", `{"user_id":"u","event_name":"e","metadata":[1]}`, http.StatusBadRequest, bulkid.EINVALIDRECORD, bulkid.RInvalidMetadata},
	}
	for _, tc := range tests {
		r := s.Do("POST", "/v1/track", s.Key, tc.contentType, strings.NewReader(tc.body))
		e := expectError(t, r, tc.status, tc.code)
		if e.Errors[0].Details != tc.details {
			t.Errorf("POST /v1/track %.60s: details %q, want %q", tc.body, e.Errors[0].Details, tc.details)
		}
	}
	expectError(t, s.Do("POST", "/v1/track", "", "application/json", strings.NewReader(`{"user_id":"u","event_name":"e"}`)),
		http.StatusUnauthorized, bulkid.EUNAUTHORIZED)
	expectError(t, s.Do("POST", "/v1/track", "not-a-key", "application/json", strings.NewReader(`{"user_id":"u","event_name":"e"}`)),
		http.StatusUnauthorized, bulkid.EUNAUTHORIZED)
	r := s.Get("/v1/track")
	expectError(t, r, http.StatusMethodNotAllowed, bulkid.EMETHOD)
	if r.Header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/track: Allow %q, want POST", r.Header.Get("Allow"))
	}
	r = s.Do("POST", "/v1/events/totals", s.Key, "application/json", strings.NewReader(`{}`))
	expectError(t, r, http.StatusMethodNotAllowed, bulkid.EMETHOD)
	if r.Header.Get("Allow") != "GET" {
		t.Errorf("POST /v1/events/totals: Allow %q, want GET", r.Header.Get("Allow"))
	}
	if got := totals(t, s); *got.Total != 0 || len(got.Events) != 0 {
		t.Errorf("totals after refusals only = %+v, want none", got)
	}
	expectError(t, s.Get("/v1/users/u/events"), http.StatusNotFound, bulkid.ENOTFOUND)
}

// TestUserEventsPaging: a user's events list newest first, page by page
// through the Link header with no gap and no duplicate, the filter kept;
// the listing's own refusals are in the error shape.
func TestUserEventsPaging(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	const n = 11
	for i := range n {
		name := "view"
		if i%3 == 0 {
			name = "buy"
		}
		track(t, s, fmt.Sprintf(`{"user_id":"a/b","event_name":%q,"metadata":{"i":%d}}`, name, i))
		track(t, s, fmt.Sprintf(`{"user_id":"other","event_name":%q,"metadata":{"i":%d}}`, name, i))
	}
	walk := func(path string) []int {
		t.Helper()
		var seen []int
		for range 20 {
			evs, link := userEvents(t, s, path)
			for _, ev := range evs {
				if *ev.UserID != "a/b" {
					t.Fatalf("GET %s listed an event of %q", path, *ev.UserID)
				}
				var md struct{ I int }
				json.Unmarshal(ev.Metadata, &md)
				seen = append(seen, md.I)
			}
			if link == "" {
				return seen
			}
			m := regexp.MustCompile(`^<(/[^>]+)>; rel="next"$`).FindStringSubmatch(link)
			if m == nil {
				t.Fatalf("Link %q is not one next link", link)
			}
			path = m[1]
		}
		t.Fatalf("more than 20 pages")
		return nil
	}
	var all, buys []int
	for i := n - 1; i >= 0; i-- {
		all = append(all, i)
		if i%3 == 0 {
			buys = append(buys, i)
		}
	}
	for _, limit := range []int{1, 3, 4, 11, 100} {
		if got := walk(fmt.Sprintf("/v1/users/a%%2Fb/events?limit=%d", limit)); fmt.Sprint(got) != fmt.Sprint(all) {
			t.Errorf("events by %d: %v, want %v", limit, got, all)
		}
		if got := walk(fmt.Sprintf("/v1/users/a%%2Fb/events?event_name=buy&limit=%d", limit)); fmt.Sprint(got) != fmt.Sprint(buys) {
			t.Errorf("buy events by %d: %v, want %v", limit, got, buys)
		}
	}
	evs, _ := userEvents(t, s, "/v1/users/a%2Fb/events")
	if len(evs) != n {
		t.Errorf("default page = %d events, want all %d", len(evs), n)
	}
	if evs, _ := userEvents(t, s, "/v1/users/a%2Fb/events?event_name="+url.QueryEscape("no such")); len(evs) != 0 {
		t.Errorf("events of a name never sent = %+v", evs)
	}
	// The id routes take odd ids as sent.
	track(t, s, `{"user_id":"..","event_name":"dots"}`)
	track(t, s, `{"user_id":"..","event_name":"dots"}`)
	evs, link := userEvents(t, s, "/v1/users/%2E%2E/events?limit=1")
	if len(evs) != 1 || evs[0].EventName != "dots" || !strings.HasPrefix(link, "</v1/users/%2E%2E/events?") {
		t.Errorf("events of the user \"..\" = %+v, Link %q", evs, link)
	}
	if evs, link := userEvents(t, s, strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)); len(evs) != 1 || link == "" {
		t.Errorf("second page of the user \"..\" = %+v, Link %q", evs, link)
	}

	for _, q := range []string{"cursor=x", "cursor=-1", "cursor=1.5", "cursor=%FF", "limit=0", "limit=x", "event_name=%00"} {
		expectError(t, s.Get("/v1/users/a%2Fb/events?"+q), http.StatusBadRequest, bulkid.EINVALID)
	}
	e := expectError(t, s.Get("/v1/users/nobody/events"), http.StatusNotFound, bulkid.ENOTFOUND)
	if !strings.Contains(e.Errors[0].Message, `"nobody"`) {
		t.Errorf("404 message %q does not name the user", e.Errors[0].Message)
	}
	expectError(t, s.Get("/v1/users/%FF/events"), http.StatusNotFound, bulkid.ENOTFOUND)
	expectError(t, s.Do("GET", "/v1/users/a%2Fb/events", "", "", nil), http.StatusUnauthorized, bulkid.EUNAUTHORIZED)
}

// TestEventTenancy: another app's key sees none of an app's events,
// totals or the users its events created, and its own stay apart.
func TestEventTenancy(t *testing.T) {
	t.Parallel()
	a := startServer(t, "")
	b := createApp(t, a, "other")
	track(t, a, `{"user_id":"only-a","event_name":"view"}`)
	track(t, a, `{"user_id":"shared","event_name":"view"}`)
	track(t, a, `{"event_name":"view"}`)
	expectError(t, b.Get("/v1/users/only-a"), http.StatusNotFound, bulkid.ENOTFOUND)
	expectError(t, b.Get("/v1/users/only-a/events"), http.StatusNotFound, bulkid.ENOTFOUND)
	if got := totals(t, b); *got.Total != 0 || len(got.Events) != 0 {
		t.Errorf("the other app's totals = %+v, want none", got)
	}
	track(t, b, `{"user_id":"shared","event_name":"buy"}`)
	if evs, _ := userEvents(t, b, "/v1/users/shared/events"); len(evs) != 1 || evs[0].EventName != "buy" {
		t.Errorf("the other app's events of shared = %+v, want its buy alone", evs)
	}
	if evs, _ := userEvents(t, a, "/v1/users/shared/events"); len(evs) != 1 || evs[0].EventName != "view" {
		t.Errorf("app a's events of shared = %+v, want its view alone", evs)
	}
	if got := totals(t, a); *got.Total != 3 || len(got.Events) != 1 || got.Events[0].Count != 3 {
		t.Errorf("app a's totals = %+v, want view: 3", got)
	}
}

// TestTrackMetadataAsIdentify: /v1/track judges metadata as real-time
// /v1/identify does, on the shapes Segment and RudderStack send (nested
// traits, arrays, strings for everything), and stores what identify
// would store into a new user. Whatever the real-time rule for metadata
// is, the two endpoints must keep it together (ValidateEvent reads
// metadata with the call record validation uses).
func TestTrackMetadataAsIdentify(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	for i, md := range []string{
		`{"plan":"pro","seats":3,"trial":false}`,
		`{"revenue":"19.99","is_admin":"True","tags":"['a', 'b']","none":"None"}`,
		`{"address":{"city":"Paris","postalCode":"75001"},"name":"Ann"}`,
		`{"company":{"id":"acme","name":"Acme"},"email":"ann@acme.test"}`,
		`{"tags":["a","b"],"scores":[1,2]}`,
		`{"products":[{"sku":"x","price":1}]}`,
		`{"big":1e400}`,
		`"not an object"`,
	} {
		user := fmt.Sprintf("user-%d", i)
		idr := s.Do("POST", "/v1/identify", s.Key, "application/json", strings.NewReader(fmt.Sprintf(`{"user_id":%q,"metadata":%s}`, user, md)))
		trk := s.Do("POST", "/v1/track", s.Key, "application/json", strings.NewReader(fmt.Sprintf(`{"user_id":"ev-%s","event_name":"e","metadata":%s}`, user, md)))
		if idr.Status != trk.Status {
			t.Errorf("metadata %s: identify %d %s, track %d %s", md, idr.Status, idr.Body, trk.Status, trk.Body)
			continue
		}
		if idr.Status != http.StatusAccepted {
			var a, b apiError
			json.Unmarshal(idr.Body, &a)
			json.Unmarshal(trk.Body, &b)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("metadata %s: identify refused %s, track %s", md, idr.Body, trk.Body)
			}
			continue
		}
		stored := s.MetadataOf("/v1/users/" + user)
		evs, _ := userEvents(t, s, "/v1/users/ev-"+user+"/events")
		var got map[string]json.RawMessage
		if len(evs) == 1 {
			json.Unmarshal(evs[0].Metadata, &got)
		}
		if fmt.Sprint(got) != fmt.Sprint(stored) {
			t.Errorf("metadata %s: identify stored %s, the event %s", md, stored, got)
		}
	}
}
