package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/pgtest"
)

// The integration tests replay what Segment's Userpilot destination,
// RudderStack's Userpilot destination and the Singer target for Userpilot
// send (docs/INTEGRATIONS.md says where each request comes from), byte for
// byte as each puts it on the wire: the request line, the headers in the
// integration's order, the body as its JSON encoder writes it. Each
// request is a file in testdata/integrations/; the tests then read back
// through the API that the data is stored as docs/API.md documents.

// replay sends the request of testdata/integrations/name.http to s as is,
// with key as the API key, and returns the answer. In the file, lines
// starting with "#" before the request line are its provenance; {{HOST}},
// {{KEY}} and {{LENGTH}} (the body's length in bytes) are filled in; lines
// end in CRLF on the wire; the body is the rest after the blank line, its
// final newline not included.
func replay(t *testing.T, s *server, name, key string) (*http.Response, []byte) {
	t.Helper()
	resp, answer := rawExchange(t, strings.TrimPrefix(s.URL, "http://"), replayRequest(t, s, name, key), false)
	return resp, gunzipped(t, name, resp, answer)
}

// replayRequest is the request of testdata/integrations/name.http as
// replay sends it.
func replayRequest(t *testing.T, s *server, name, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "integrations", name+".http"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
		lines = lines[1:]
	}
	var head []string
	for len(lines) > 0 && lines[0] != "" {
		head, lines = append(head, lines[0]), lines[1:]
	}
	if len(lines) == 0 {
		t.Fatalf("%s: no blank line after the headers", name)
	}
	body := strings.TrimSuffix(strings.Join(lines[1:], "\n"), "\n")
	addr := strings.TrimPrefix(s.URL, "http://")
	return strings.NewReplacer("{{HOST}}", addr, "{{KEY}}", key, "{{LENGTH}}", strconv.Itoa(len(body))).
		Replace(strings.Join(head, "\r\n")) + "\r\n\r\n" + body
}

// gunzipped is answer decoded if resp says it is gzip, which all three
// integrations accept.
func gunzipped(t *testing.T, name string, resp *http.Response, answer []byte) []byte {
	t.Helper()
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(answer))
		if err != nil {
			t.Fatalf("%s: answer is not gzip: %v", name, err)
		}
		if answer, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: answer is not gzip: %v", name, err)
		}
	}
	return answer
}

// replayWant replays name with s's key and checks that it is answered
// status, a JSON body, as the integration needs to count it a success.
func replayWant(t *testing.T, s *server, name string, status int) {
	t.Helper()
	resp, body := replay(t, s, name, s.Key)
	if resp.StatusCode != status {
		t.Fatalf("%s: answered %d %s, want %d", name, resp.StatusCode, body, status)
	}
	if !json.Valid(body) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: answered %q %s, want a JSON body", name, resp.Header.Get("Content-Type"), body)
	}
}

// replayRefused replays name with key and checks that it is answered
// 401 unauthorized in the error shape, which every integration shows as a
// bad key (and never a 404, which Segment shows as one too).
func replayRefused(t *testing.T, s *server, name, key string) {
	t.Helper()
	resp, body := replay(t, s, name, key)
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusUnauthorized ||
		len(e.Errors) != 1 || e.Errors[0].ErrorCode != "unauthorized" {
		t.Errorf("%s with key %q: answered %d %s, want 401 unauthorized in the error shape", name, key, resp.StatusCode, body)
	}
}

// profile is a user or company read back, its metadata values as raw JSON.
type profile struct {
	CompanyID *string                    `json:"company_id"`
	Metadata  map[string]json.RawMessage `json:"metadata"`
	UserCount int                        `json:"user_count"`
	Visible   bool                       `json:"visible"`
}

// readProfile reads /v1/users/{id} or /v1/companies/{id} (kind "users"
// or "companies"), failing the test unless it is 200.
func readProfile(t *testing.T, s *server, kind, id string) profile {
	t.Helper()
	r := s.Get("/v1/" + kind + "/" + url.PathEscape(id))
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/%s/%s: %d %s, want 200", kind, id, r.Status, r.Body)
	}
	var p profile
	r.JSON(t, &p)
	return p
}

// event is an event of GET /v1/users/{id}/events as the tests read it.
type event struct {
	EventName string                     `json:"event_name"`
	UserID    *string                    `json:"user_id"`
	Metadata  map[string]json.RawMessage `json:"metadata"`
}

// userEvents reads the first page of a user's events, newest first.
func userEvents(t *testing.T, s *server, id string) []event {
	t.Helper()
	r := s.Get("/v1/users/" + url.PathEscape(id) + "/events")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/users/%s/events: %d %s, want 200", id, r.Status, r.Body)
	}
	var evs []event
	r.JSON(t, &evs)
	return evs
}

// eventTotals is GET /v1/events/totals.
type eventTotals struct {
	Total  int64 `json:"total"`
	Events []struct {
		EventName      string `json:"event_name"`
		Count          int64  `json:"count"`
		LastReceivedAt string `json:"last_received_at"`
	} `json:"events"`
}

// checkTotals checks the app's event totals: want is the count of each
// event name, and the total is their sum. A name absent from want has no
// events (it is absent, or counted 0).
func checkTotals(t *testing.T, s *server, want map[string]int64) {
	t.Helper()
	r := s.Get("/v1/events/totals")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/events/totals: %d %s, want 200", r.Status, r.Body)
	}
	var got eventTotals
	r.JSON(t, &got)
	var sum int64
	counts := map[string]int64{}
	for _, e := range got.Events {
		if e.Count == 0 {
			continue
		}
		counts[e.EventName] = e.Count
		if _, err := time.Parse(time.RFC3339Nano, e.LastReceivedAt); err != nil {
			t.Errorf("totals: %q has last_received_at %q, want an RFC 3339 time", e.EventName, e.LastReceivedAt)
		}
	}
	for _, n := range want {
		sum += n
	}
	if !reflect.DeepEqual(counts, want) || got.Total != sum {
		t.Errorf("totals = %s, want total %d and counts %v", r.Body, sum, want)
	}
}

// sameMetadata checks that got holds exactly the keys of want, each with
// the value of its JSON text in want (numbers compared as written).
func sameMetadata(t *testing.T, what string, got map[string]json.RawMessage, want map[string]string) {
	t.Helper()
	decode := func(raw []byte) any {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%s: %q is not JSON: %v", what, raw, err)
		}
		return v
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, inGot := got[k]
		w, inWant := want[k]
		switch {
		case !inWant:
			t.Errorf("%s: metadata has %q = %s, want no such key", what, k, g)
		case !inGot:
			t.Errorf("%s: metadata has no %q, want %s", what, k, w)
		case !reflect.DeepEqual(decode(g), decode([]byte(w))):
			t.Errorf("%s: metadata %q = %s, want %s", what, k, g, w)
		}
	}
}

// checkUser reads a user and checks its company and metadata; company
// "" means the user has none.
func checkUser(t *testing.T, s *server, id, company string, metadata map[string]string) {
	t.Helper()
	u := readProfile(t, s, "users", id)
	if got := u.CompanyID; (company == "") != (got == nil) || got != nil && *got != company {
		t.Errorf("user %q: company_id = %v, want %q", id, strDeref(got), company)
	}
	sameMetadata(t, "user "+id, u.Metadata, metadata)
}

// checkCompany reads a company and checks its metadata and user count.
func checkCompany(t *testing.T, s *server, id string, users int, metadata map[string]string) {
	t.Helper()
	c := readProfile(t, s, "companies", id)
	if c.UserCount != users || c.Visible != (users > 0) {
		t.Errorf("company %q: user_count %d, visible %v; want %d, %v", id, c.UserCount, c.Visible, users, users > 0)
	}
	sameMetadata(t, "company "+id, c.Metadata, metadata)
}

// checkEvents checks a user's events, newest first: names and metadata.
func checkEvents(t *testing.T, s *server, id string, want []event) {
	t.Helper()
	got := userEvents(t, s, id)
	if len(got) != len(want) {
		t.Fatalf("user %q has %d events %+v, want %d", id, len(got), got, len(want))
	}
	for i := range want {
		if u := got[i].UserID; u == nil || *u != id {
			t.Errorf("user %q event %d: user_id %v", id, i, strDeref(u))
		}
		if got[i].EventName != want[i].EventName {
			t.Errorf("user %q event %d: %q, want %q (newest first)", id, i, got[i].EventName, want[i].EventName)
			continue
		}
		meta := map[string]string{}
		for k, v := range want[i].Metadata {
			meta[k] = string(v)
		}
		sameMetadata(t, "event "+want[i].EventName+" of "+id, got[i].Metadata, meta)
	}
}

// ev is an expected event: a name and its metadata as JSON texts.
func ev(name string, metadata map[string]string) event {
	m := map[string]json.RawMessage{}
	for k, v := range metadata {
		m[k] = json.RawMessage(v)
	}
	return event{EventName: name, Metadata: m}
}

func strDeref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// expectGone checks that GET path answers 404 not_found.
func expectGone(t *testing.T, s *server, path string) {
	t.Helper()
	r := s.Get(path)
	if r.Status != http.StatusNotFound {
		t.Errorf("GET %s: %d %s, want 404", path, r.Status, r.Body)
		return
	}
	expectError(t, r, http.StatusNotFound, "not_found")
}

// TestSegmentDestination{SQLite,Postgres} replay Segment's Userpilot
// destination (actions identifyUser, identifyCompany, trackEvent, its key
// test and its deletion): every request succeeds as Segment counts success
// (any 2xx), and what it sent is stored.
func TestSegmentDestinationSQLite(t *testing.T) {
	t.Parallel()
	testSegmentDestination(t, startServer(t, ""))
}

func TestSegmentDestinationPostgres(t *testing.T) {
	t.Parallel()
	testSegmentDestination(t, startServer(t, "", "--database-url", pgtest.URL(t)))
}

func testSegmentDestination(t *testing.T, s *server) {
	t.Run("key test", func(t *testing.T) {
		// Segment's "Test connection" and the saving of its settings: a
		// 404 or 401 is shown as "Credentials are invalid".
		replayRefused(t, s, "segment/validate", "not-a-key-of-any-app-0000")
		replayWant(t, s, "segment/validate", http.StatusOK)
	})

	t.Run("endpoint setting ending in //", func(t *testing.T) {
		replayRefused(t, s, "segment/validate-doubleslash", "not-a-key-of-any-app-0000")
		replayWant(t, s, "segment/validate-doubleslash", http.StatusOK)
		replayWant(t, s, "segment/identify-doubleslash", http.StatusAccepted)
		checkUser(t, s, "user5678", "", map[string]string{"logins": `5`, "plan": `"free"`})
	})

	t.Run("identify", func(t *testing.T) {
		replayWant(t, s, "segment/identify", http.StatusAccepted)
		checkUser(t, s, "fake-user-id", "", map[string]string{"name": `""`, "email": `""`, "createdAt": `""`})
		replayWant(t, s, "segment/identify-snapshot", http.StatusAccepted)
		checkUser(t, s, "M$1cygYLnFIAN[odj0", "", map[string]string{
			"testType": `"M$1cygYLnFIAN[odj0"`, "created_at": `"2021-02-01T00:00:00.000Z"`})
		// An identify with no traits sends metadata {}: it keeps what is stored.
		replayWant(t, s, "segment/identify-required", http.StatusAccepted)
		checkUser(t, s, "M$1cygYLnFIAN[odj0", "", map[string]string{
			"testType": `"M$1cygYLnFIAN[odj0"`, "created_at": `"2021-02-01T00:00:00.000Z"`})
	})

	t.Run("identify with object and array traits", func(t *testing.T) {
		replayWant(t, s, "segment/identify-nested", http.StatusAccepted)
		u := readProfile(t, s, "users", "user1234")
		sameMetadata(t, "user user1234", u.Metadata, map[string]string{
			"name": `"Peter Gibbons"`, "email": `"peter@example.com"`, "plan": `"premium"`, "logins": `5`,
			"address.street": `"6th St"`, "address.city": `"San Francisco"`, "address.state": `"CA"`,
			"address.postalCode": `"94103"`, "address.country": `"USA"`,
			"company.id": `"initech"`, "company.name": `"Initech"`, "company.industry": `"Technology"`,
			"company.employee_count": `123`, "company.plan": `"enterprise"`,
			"roles": `"[\"admin\",\"editor\"]"`, "preferences.topics": `"[]"`,
			"preferences.notifications.email": `true`, "preferences.notifications.sms": `false`,
			"created_at": `"2021-02-01T00:00:00.000Z"`,
		})
	})

	t.Run("group", func(t *testing.T) {
		replayWant(t, s, "segment/group", http.StatusAccepted)
		checkCompany(t, s, "fake-company-id", 0, map[string]string{"name": `"Company Name"`, "primary_email": `"company@example.com"`})
		replayWant(t, s, "segment/group-snapshot", http.StatusAccepted)
		checkCompany(t, s, "%F6H5r8FNR", 0, map[string]string{"testType": `"%F6H5r8FNR"`, "created_at": `"2021-02-01T00:00:00.000Z"`})
		replayWant(t, s, "segment/group-required", http.StatusAccepted)
		checkCompany(t, s, "%F6H5r8FNR", 0, map[string]string{"testType": `"%F6H5r8FNR"`, "created_at": `"2021-02-01T00:00:00.000Z"`})
		replayWant(t, s, "segment/group-nested", http.StatusAccepted)
		checkCompany(t, s, "initech", 0, map[string]string{
			"name": `"Initech"`, "industry": `"Technology"`, "employees": `329`, "plan": `"enterprise"`,
			"address.city": `"Austin"`, "address.state": `"TX"`, "tags": `"[\"b2b\",\"saas\"]"`,
			"created_at": `"2021-02-01T00:00:00.000Z"`,
		})
	})

	testEvent := ev("test", map[string]string{"name": `"test"`, "email": `""`})
	t.Run("track", func(t *testing.T) {
		replayWant(t, s, "segment/track", http.StatusAccepted)
		checkEvents(t, s, "fake-user-id", []event{testEvent})
		// An event of a user no identify named creates the user.
		replayWant(t, s, "segment/track-snapshot", http.StatusAccepted)
		checkUser(t, s, "ddp1]2QQKul0]eJ", "", map[string]string{})
		// An event with no user_id is kept and counted, under no user.
		replayWant(t, s, "segment/track-no-user", http.StatusAccepted)
		checkEvents(t, s, "ddp1]2QQKul0]eJ", []event{ev("ddp1]2QQKul0]eJ", map[string]string{"testType": `"ddp1]2QQKul0]eJ"`})})
		checkTotals(t, s, map[string]int64{"test": 1, "ddp1]2QQKul0]eJ": 2})
	})

	t.Run("track with object and array properties", func(t *testing.T) {
		replayWant(t, s, "segment/track-nested", http.StatusAccepted)
		checkEvents(t, s, "fake-user-id", []event{
			ev("Order Completed", map[string]string{
				"order_id": `"50314b8e9bcf000000000000"`, "total": `27.5`, "currency": `"USD"`,
				"products":        `"[{\"product_id\":\"507f1f77bcf86cd799439011\",\"sku\":\"45790-32\",\"price\":19,\"quantity\":1}]"`,
				"shipping.method": `"ground"`, "shipping.cost": `5`,
			}),
			testEvent,
		})
		checkTotals(t, s, map[string]int64{"test": 1, "Order Completed": 1, "ddp1]2QQKul0]eJ": 2})
	})

	t.Run("deletion", func(t *testing.T) {
		replayWant(t, s, "segment/delete", http.StatusAccepted)
		expectGone(t, s, "/v1/users/fake-user-id")
		expectGone(t, s, "/v1/users/fake-user-id/events")
		checkTotals(t, s, map[string]int64{"ddp1]2QQKul0]eJ": 2})
		readProfile(t, s, "users", "M$1cygYLnFIAN[odj0") // only the user named is deleted
		// A deleted user sent again starts fresh.
		replayWant(t, s, "segment/track", http.StatusAccepted)
		checkUser(t, s, "fake-user-id", "", map[string]string{})
		checkEvents(t, s, "fake-user-id", []event{testEvent})
	})
}

// TestRudderStackDestination{SQLite,Postgres} replay RudderStack's
// Userpilot destination (identify, track, group). RudderStack aborts on
// any 4xx but 429 and drops the event, so every one must be 2xx, the
// identify that carries a company object inside its metadata too.
func TestRudderStackDestinationSQLite(t *testing.T) {
	t.Parallel()
	testRudderStackDestination(t, startServer(t, ""))
}

func TestRudderStackDestinationPostgres(t *testing.T) {
	t.Parallel()
	testRudderStackDestination(t, startServer(t, "", "--database-url", pgtest.URL(t)))
}

func testRudderStackDestination(t *testing.T, s *server) {
	john := map[string]string{
		"city": `"Austin"`, "country": `"US"`, "email": `"name.surname@domain.com"`, "name": `"John Doe"`,
		"phone": `"123-456-7890"`, "postalCode": `"12345"`, "rating": `"Hot"`, "state": `"TX"`,
		"street": `"Sample Address"`, "title": `"CEO"`,
		"company.id": `"12345"`, "company.name": `"Company123"`,
	}

	t.Run("identify with a company", func(t *testing.T) {
		replayWant(t, s, "rudderstack/identify-company", http.StatusAccepted)
		checkUser(t, s, "customUserID", "12345", john)
		checkCompany(t, s, "12345", 1, map[string]string{"name": `"Company123"`})
		// The same user without a company: metadata merges, the company stays.
		replayWant(t, s, "rudderstack/identify-nocompany", http.StatusAccepted)
		checkUser(t, s, "customUserID", "12345", john)
		checkCompany(t, s, "12345", 1, map[string]string{"name": `"Company123"`})
	})

	t.Run("identify with object, array and nested null traits", func(t *testing.T) {
		replayWant(t, s, "rudderstack/identify-nested", http.StatusAccepted)
		// company.plan was null: a null removes a key, nested or not, and
		// is never stored.
		checkUser(t, s, "rs-user-2", "globex", map[string]string{
			"address.city": `"Berlin"`, "address.country": `"DE"`,
			"company.employee_count": `120`, "company.id": `"globex"`, "company.name": `"Globex"`,
			"created_at": `"2024-03-01T09:00:00.000Z"`, "email": `"ada@globex.test"`,
			"tags": `"[\"beta\",\"vip\"]"`,
		})
		checkCompany(t, s, "globex", 1, map[string]string{"employee_count": `120`, "name": `"Globex"`})
	})

	t.Run("identify with a numeric company id, and a company with no id", func(t *testing.T) {
		replayWant(t, s, "rudderstack/identify-numeric-company", http.StatusAccepted)
		checkUser(t, s, "rs-user-4", "42", map[string]string{
			"company.id": `42`, "company.name": `"Numeric Co"`, "name": `"Numa"`})
		checkCompany(t, s, "42", 1, map[string]string{"name": `"Numeric Co"`})
		replayWant(t, s, "rudderstack/identify-company-noid", http.StatusAccepted)
		checkUser(t, s, "rs-user-5", "", map[string]string{
			"company.name": `"No Id Inc"`, "email": `"kim@noid.test"`})
	})

	t.Run("track", func(t *testing.T) {
		replayWant(t, s, "rudderstack/track", http.StatusAccepted)
		checkEvents(t, s, "customUserID", []event{ev("test track event 1", map[string]string{
			"currency": `"USD"`, "revenue": `30`, "user_actual_id": `12345`})})
		checkTotals(t, s, map[string]int64{"test track event 1": 1})
	})

	t.Run("track at //v1 with object and array properties", func(t *testing.T) {
		// An event of a user no identify named, with object and array
		// properties, sent by an apiEndpoint setting ending in "//".
		replayWant(t, s, "rudderstack/track-doubleslash", http.StatusAccepted)
		checkUser(t, s, "rs-user-3", "", map[string]string{})
		checkEvents(t, s, "rs-user-3", []event{ev("Product Viewed", map[string]string{
			"product.id": `"p-1"`, "product.price": `9.5`, "variants": `"[\"red\",\"blue\"]"`})})
		checkTotals(t, s, map[string]int64{"test track event 1": 1, "Product Viewed": 1})
	})

	t.Run("group", func(t *testing.T) {
		replayWant(t, s, "rudderstack/group", http.StatusAccepted)
		checkCompany(t, s, "sample_group_id", 0, map[string]string{"location": `"USA"`, "name": `"Apple Inc."`})
	})
}

// TestSingerTarget{SQLite,Postgres} replay the Singer target for
// Userpilot, which turns every metadata value into a Python string
// ("True", "None", "['a', 'b']") and never reads the answer: the strings
// must be stored as sent, never read back as booleans, nulls or lists.
func TestSingerTargetSQLite(t *testing.T) {
	t.Parallel()
	testSingerTarget(t, startServer(t, ""))
}

func TestSingerTargetPostgres(t *testing.T) {
	t.Parallel()
	testSingerTarget(t, startServer(t, "", "--database-url", pgtest.URL(t)))
}

func testSingerTarget(t *testing.T, s *server) {
	ann := map[string]string{
		"name": `"Ann Lee"`, "first_name": `"Ann"`, "last_name": `"Lee"`, "orga_creation_date": `"2019-05-06T10:00:00Z"`,
		"is_email_campaign_validated": `"True"`, "is_transactional_email_validated": `"False"`,
		"is_profile_completed": `"None"`, "enabled_internal_apps": `"['crm', 'conversations']"`,
		"is_bot": `"False"`, "is_receive_newsletter": `"True"`, "all_plan_names": `"['free', 'enterprise']"`,
	}
	replayWant(t, s, "singer/identify", http.StatusAccepted)
	checkUser(t, s, "2370546", "", ann)

	replayWant(t, s, "singer/identify-nulls", http.StatusAccepted)
	checkUser(t, s, "2370547", "", map[string]string{
		"name": `"Zoë None"`, "first_name": `"Zoë"`, "last_name": `"None"`, "orga_creation_date": `"None"`,
		"is_email_campaign_validated": `"None"`, "is_transactional_email_validated": `"None"`,
		"is_profile_completed": `"None"`, "enabled_internal_apps": `"[]"`,
		"is_bot": `"None"`, "is_receive_newsletter": `"None"`, "all_plan_names": `"['free']"`,
	})

	replayWant(t, s, "singer/identify-update", http.StatusAccepted)
	ann["is_transactional_email_validated"] = `"True"`
	ann["is_profile_completed"] = `"True"`
	ann["enabled_internal_apps"] = `"['crm', 'conversations', 'meetings']"`
	ann["is_receive_newsletter"] = `"False"`
	checkUser(t, s, "2370546", "", ann)
}

// TestIntegrationFixtures keeps the replayed requests what the
// integrations send: each has the headers all three send, a body exactly
// when it says its length, and a body as its integration's encoder writes
// it: JSON.stringify's compact text (Segment), Go's encoding of a map,
// keys sorted (RudderStack, through rudder-server), json.dumps with its
// default separators and ASCII escapes (Singer).
func TestIntegrationFixtures(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "integrations", "*", "*.http"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		head, body, ok := strings.Cut(text, "\n\n")
		if !ok || !strings.HasPrefix(text, "# ") {
			t.Errorf("%s: want provenance lines, the request, a blank line and the body", f)
			continue
		}
		body = strings.TrimSuffix(body, "\n")
		for _, h := range []string{"\nAuthorization: Token {{KEY}}\n", "\nContent-Type: application/json\n"} {
			if !strings.Contains(head+"\n", h) {
				t.Errorf("%s: no header %q", f, strings.TrimSpace(h))
			}
		}
		if !strings.Contains(strings.ToLower(head+"\n"), "\nx-api-version: 2020-09-22\n") {
			t.Errorf("%s: no X-API-Version: 2020-09-22", f)
		}
		if (body != "") != strings.Contains(head, "\nContent-Length: {{LENGTH}}\n") {
			t.Errorf("%s: a body %q, but Content-Length present = %v", f, body, !strings.Contains(head, "Content-Length"))
		}
		if body == "" {
			continue
		}
		if !json.Valid([]byte(body)) {
			t.Errorf("%s: the body is not JSON", f)
			continue
		}
		switch filepath.Base(filepath.Dir(f)) {
		case "segment":
			var compact bytes.Buffer
			json.Compact(&compact, []byte(body))
			if compact.String() != body {
				t.Errorf("%s: JSON.stringify writes compact JSON:\n%s", f, compact.String())
			}
		case "rudderstack":
			var m map[string]any
			json.Unmarshal([]byte(body), &m)
			out, _ := json.Marshal(m)
			if string(out) != body {
				t.Errorf("%s: rudder-server writes a Go map:\n%s", f, out)
			}
		case "singer":
			var compact bytes.Buffer
			json.Compact(&compact, []byte(body))
			spaced := strings.NewReplacer(`","`, `", "`, `":"`, `": "`, `":{`, `": {`).Replace(compact.String())
			if spaced != body || strings.ContainsFunc(body, func(r rune) bool { return r > 0x7e }) {
				t.Errorf("%s: json.dumps writes \", \" and \": \" and escapes non-ASCII:\n%s", f, spaced)
			}
		default:
			t.Errorf("%s: which integration?", f)
		}
	}
}

// TestIntegrationsRateLimited: over the real-time rate, identify and
// track are answered 429 with Retry-After, which Segment (errors.ts) and
// RudderStack (isJobTerminated) retry, and never a 4xx they would drop;
// the refused requests store nothing, and the key test is not limited.
func TestIntegrationsRateLimited(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--realtime-rate", "1") // a burst of one, then one a minute
	replayWant(t, s, "segment/identify", http.StatusAccepted)
	for _, name := range []string{"segment/identify-snapshot", "segment/track", "segment/group", "rudderstack/track", "rudderstack/identify-company"} {
		resp, body := replay(t, s, name, s.Key)
		var e apiError
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusTooManyRequests ||
			len(e.Errors) != 1 || e.Errors[0].ErrorCode != "rate_limited" {
			t.Errorf("%s over the rate: answered %d %s, want 429 rate_limited in the error shape", name, resp.StatusCode, body)
			continue
		}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("%s over the rate: Retry-After %q, want whole seconds, at least 1", name, resp.Header.Get("Retry-After"))
		}
	}
	replayWant(t, s, "segment/validate", http.StatusOK)

	// node-fetch and rudder-server keep connections alive: a refusal
	// answered before its body was read must leave the connection fit for
	// the next request (or close it, saying so), never read the unread
	// body as a request.
	addr := strings.TrimPrefix(s.URL, "http://")
	var conn net.Conn
	var br *bufio.Reader
	for i, step := range []struct {
		name   string
		status int
	}{
		{"segment/track-nested", 429}, {"segment/validate", 200}, {"rudderstack/identify-nested", 429},
		{"segment/validate", 200}, {"segment/delete", 429}, {"segment/validate", 200},
	} {
		if conn == nil {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			conn, br = c, bufio.NewReader(c)
		}
		if _, err := io.WriteString(conn, replayRequest(t, s, step.name, s.Key)); err != nil {
			t.Fatalf("step %d, %s: %v", i, step.name, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("step %d, %s on a kept-alive connection: no answer: %v", i, step.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != step.status {
			t.Errorf("step %d, %s on a kept-alive connection: %d %s (%v), want %d", i, step.name, resp.StatusCode, body, err, step.status)
		}
		if resp.Close {
			conn.Close()
			conn = nil
		}
	}
	checkEvents(t, s, "fake-user-id", nil)
	checkTotals(t, s, map[string]int64{})
	expectGone(t, s, "/v1/users/M$1cygYLnFIAN%5Bodj0")
	expectGone(t, s, "/v1/users/customUserID")
	expectGone(t, s, "/v1/companies/fake-company-id")
}
