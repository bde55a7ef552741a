package bulkid_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
)

func TestValidateEvent(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", bulkid.MaxEventNameLen)
	tests := []struct {
		body     string
		user     string
		name     string
		metadata string
		sentAt   time.Time
		code     string // record error code; "" for valid
	}{
		{body: `{"user_id":"u1","event_name":"Signed Up","metadata":{"plan":"pro","seats":3}}`, user: "u1", name: "Signed Up", metadata: `{"plan":"pro","seats":3}`},
		{body: `{"user_id":42,"event_name":"e"}`, user: "42", name: "e"},
		{body: `{"event_name":"anonymous"}`, name: "anonymous"},
		{body: `{"user_id":null,"event_name":"anonymous","metadata":null}`, name: "anonymous"},
		{body: `{"user_id":"u","event_name":"` + long + `"}`, user: "u", name: long},
		{body: `{"user_id":"u","event_name":"e","timestamp":"2025-02-01T10:20:30Z"}`, user: "u", name: "e",
			sentAt: time.Date(2025, 2, 1, 10, 20, 30, 0, time.UTC)},
		{body: `{"user_id":"u","event_name":"e","timestamp":"2025-02-01T12:20:30.123456+02:00"}`, user: "u", name: "e",
			sentAt: time.Date(2025, 2, 1, 10, 20, 30, 123e6, time.UTC)},
		{body: `{"user_id":"u","event_name":"e","timestamp":null}`, user: "u", name: "e"},
		// Only the exact names are fields; of duplicates the last wins.
		{body: `{"user_id":"a","user_id":"b","Event_Name":"x","event_name":"e"}`, user: "b", name: "e"},

		{body: `{"user_id":"","event_name":"e"}`, code: bulkid.RMissingID},
		{body: `{"user_id":true,"event_name":"e"}`, code: bulkid.RInvalidID},
		{body: `{"user_id":1.5,"event_name":"e"}`, code: bulkid.RInvalidID},
		{body: `{"user_id":"` + strings.Repeat("u", bulkid.MaxIDLen+1) + `","event_name":"e"}`, code: bulkid.RInvalidID},
		{body: `{"user_id":"u"}`, code: bulkid.RMissingEventName},
		{body: `{"user_id":"u","event_name":null}`, code: bulkid.RMissingEventName},
		{body: `{"user_id":"u","event_name":""}`, code: bulkid.RMissingEventName},
		{body: `{"user_id":"u","event_name":7}`, code: bulkid.RInvalidEventName},
		{body: `{"user_id":"u","event_name":"` + long + `n"}`, code: bulkid.RInvalidEventName},
		{body: `{"user_id":"u","event_name":"a\u0000b"}`, code: bulkid.RInvalidEventName},
		{body: `{"user_id":"u","event_name":"a\ud800b"}`, code: bulkid.RInvalidEventName},
		{body: "{\"user_id\":\"u\",\"event_name\":\"a\xffb\"}", code: bulkid.RInvalidEventName},
		{body: `{"user_id":"u","event_name":"e","timestamp":1738405230}`, code: bulkid.RInvalidTimestamp},
		{body: `{"user_id":"u","event_name":"e","timestamp":"2025-02-01"}`, code: bulkid.RInvalidTimestamp},
		{body: `{"user_id":"u","event_name":"e","timestamp":"2025-02-01 10:20:30Z"}`, code: bulkid.RInvalidTimestamp},
		{body: `{"user_id":"u","event_name":"e","timestamp":"1969-12-31T23:59:59Z"}`, code: bulkid.RInvalidTimestamp},
		{body: `{"user_id":"u","event_name":"e","timestamp":"9999-12-31T23:00:00-02:00"}`, code: bulkid.RInvalidTimestamp},
		{body: `{"user_id":"u","event_name":"e","metadata":"x"}`, code: bulkid.RInvalidMetadata},
		{body: `{"user_id":"u","event_name":"e","metadata":{"":1}}`, code: bulkid.RInvalidMetadata},
		{body: `{"user_id":"u","event_name":"e","metadata":{"k\ud800":1}}`, code: bulkid.RInvalidMetadata},
		{body: `[1]`, code: bulkid.RNotObject},
		{body: `{"user_id":`, code: bulkid.RMalformedJSON},
		{body: strings.Repeat("[", bulkid.MaxDepth+1), code: bulkid.RMalformedJSON},
		{body: `{"event_name":"e","metadata":{"k":"` + strings.Repeat("x", bulkid.MaxRecordBytes) + `"}}`, code: bulkid.RRecordTooLarge},
	}
	for _, tc := range tests {
		ev, rerr := bulkid.ValidateEvent([]byte(tc.body))
		what := tc.body
		if len(what) > 80 {
			what = what[:80] + "…"
		}
		if tc.code != "" {
			if rerr == nil || rerr.Code != tc.code {
				t.Errorf("ValidateEvent(%s) = %+v, %+v; want error %s", what, ev, rerr, tc.code)
			} else if rerr.Message == "" {
				t.Errorf("ValidateEvent(%s): error %s without a message", what, rerr.Code)
			}
			continue
		}
		if rerr != nil {
			t.Errorf("ValidateEvent(%s): %s: %s", what, rerr.Code, rerr.Message)
			continue
		}
		if ev.UserID != tc.user || ev.Name != tc.name || string(ev.Metadata) != tc.metadata || !ev.SentAt.Equal(tc.sentAt) {
			t.Errorf("ValidateEvent(%s) = {%q %q %s %v}, want {%q %q %s %v}", what,
				ev.UserID, ev.Name, ev.Metadata, ev.SentAt, tc.user, tc.name, tc.metadata, tc.sentAt)
		}
	}
}

// The metadata of an event follows the rule of a real-time record's, by
// the same call: the same body gives the same verdict and the same stored
// form (nested values flattened, as on /v1/identify).
func TestValidateEventMetadataAsRecord(t *testing.T) {
	t.Parallel()
	for _, md := range []string{
		`{"b":1,"a":"x","a":"y","n":null,"t":true}`,
		`{"address":{"city":"Paris"}}`,
		`{"tags":["a","b"]}`,
		`{"big":1e400}`,
		`{"s":"caf\u00e9 \"q\""}`,
	} {
		rec, recErr := bulkid.ValidateRecordOpts(bulkid.JobUsers, []byte(`{"user_id":"u","metadata":`+md+`}`), bulkid.RealtimeOptions())
		ev, evErr := bulkid.ValidateEvent([]byte(`{"user_id":"u","event_name":"e","metadata":` + md + `}`))
		if (recErr == nil) != (evErr == nil) || recErr != nil && recErr.Code != evErr.Code {
			t.Errorf("metadata %s: record error %+v, event error %+v", md, recErr, evErr)
			continue
		}
		if string(rec.Metadata) != string(ev.Metadata) {
			t.Errorf("metadata %s: record stores %s, event %s", md, rec.Metadata, ev.Metadata)
		}
	}
}

// FuzzValidateEvent: any body gets a verdict without a panic, and an
// accepted one is what every store can hold.
func FuzzValidateEvent(f *testing.F) {
	for _, seed := range []string{
		`{"user_id":"u1","event_name":"Signed Up","metadata":{"plan":"pro"},"timestamp":"2025-02-01T10:20:30.5Z"}`,
		`{"event_name":"e","user_id":null}`,
		`{"user_id":7,"event_name":"\ud83d\ude00","metadata":{"a\u00e9":"\u0041"}}`,
		`{"user_id":"u","event_name":"e","timestamp":"1970-01-01T00:00:00+00:00"}`,
		`{"event_name":"e\ud800"}`,
		`[]`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, rerr := bulkid.ValidateEvent(raw)
		if rerr != nil {
			if rerr.Code == "" || rerr.Message == "" || !utf8.ValidString(rerr.Message) {
				t.Fatalf("ValidateEvent(%q): error %+v without a code or a valid message", raw, rerr)
			}
			return
		}
		if ev.Name == "" || len(ev.Name) > bulkid.MaxEventNameLen || !bulkid.Storable(ev.Name) {
			t.Fatalf("ValidateEvent(%q) accepted the name %q", raw, ev.Name)
		}
		if len(ev.UserID) > bulkid.MaxIDLen || !bulkid.Storable(ev.UserID) {
			t.Fatalf("ValidateEvent(%q) accepted the user_id %q", raw, ev.UserID)
		}
		if ev.Metadata != nil {
			var m map[string]any
			if err := json.Unmarshal(ev.Metadata, &m); err != nil || m == nil {
				t.Fatalf("ValidateEvent(%q): metadata %s is not a JSON object: %v", raw, ev.Metadata, err)
			}
		}
		if !ev.SentAt.IsZero() && (ev.SentAt.Year() < 1970 || ev.SentAt.Year() > 9999 || ev.SentAt.Nanosecond()%1e6 != 0 || ev.SentAt.Location() != time.UTC) {
			t.Fatalf("ValidateEvent(%q): timestamp %v", raw, ev.SentAt)
		}
	})
}
