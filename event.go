package bulkid

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// MaxEventNameLen is the most bytes an event_name may have, as an id may.
const MaxEventNameLen = 512

// Error codes of a track body that ValidateEvent refuses, beside the
// record codes it shares with ValidateRecord (malformed_json,
// not_an_object, invalid_id, missing_id, invalid_metadata,
// nested_metadata, record_too_large).
const (
	RMissingEventName = "missing_event_name" // event_name absent, null or empty
	RInvalidEventName = "invalid_event_name" // event_name not a string, too long, or text no store holds
	RInvalidTimestamp = "invalid_timestamp"  // timestamp not an RFC 3339 string or null, or out of range
)

// EventRecord is a validated track body, ready to store as an Event.
type EventRecord struct {
	UserID   string          // "" for an event sent without a user_id (or with null)
	Name     string          // the event_name
	Metadata json.RawMessage // compact JSON object, or nil for none
	SentAt   time.Time       // the client's timestamp; zero if none was sent
}

// Earliest and latest client timestamps an event may carry: a tracked
// event's time comes from a computer's clock, and these are the instants
// every store and client reads alike.
var (
	minEventTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEventTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ValidateEvent checks one body of POST /v1/track, {"user_id",
// "event_name", "metadata", "timestamp"}, and returns it ready to store,
// or the reason it cannot be. user_id follows the id rules of a record
// (a non-empty string or an integer) except that absent or null is an
// event of no user. Its metadata is read by the same call as a record's
// (metadataOf) with the real-time endpoints' options (RealtimeOptions:
// nested objects and arrays flattened), so track and identify follow one
// rule (httpapi's TestTrackMetadataAsIdentify fails if they part).
func ValidateEvent(raw []byte) (EventRecord, *RecordError) {
	var ev EventRecord
	if size, head, ok := oversized(raw); ok {
		e := tooLargeRecord(size)
		e.Raw = head
		return ev, e
	}
	if len(raw) > MaxRecordBytes {
		return ev, tooLargeRecord(int64(len(raw)))
	}
	if !WellFormed(raw) {
		if TooDeep(raw) {
			return ev, &RecordError{Code: RMalformedJSON, Message: tooDeepMessage}
		}
		return ev, &RecordError{Code: RMalformedJSON, Message: malformedMessage(raw)}
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return ev, &RecordError{Code: RMalformedJSON, Message: malformedMessage(raw)}
	}
	obj, err := v.Object()
	if err != nil {
		return ev, &RecordError{Code: RNotObject, Message: `the body must be a JSON object with an "event_name" field`}
	}
	// As in a record, only the exact names are fields; of duplicates the
	// last wins.
	var idV, nameV, metadataV, timeV *fastjson.Value
	obj.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "user_id":
			idV = v
		case "event_name":
			nameV = v
		case "metadata":
			metadataV = v
		case "timestamp":
			timeV = v
		}
	})
	// The decoders replace an unpaired surrogate escape with other text,
	// so the fields that may hold one are read again as written.
	var idRaw, nameRaw, metadataRaw []byte
	if mayHoldSurrogate(raw) {
		ObjectMembers(raw, func(name, value []byte) {
			switch MemberName(name) {
			case "user_id":
				idRaw = value
			case "event_name":
				nameRaw = value
			case "metadata":
				metadataRaw = value
			}
		})
	}
	if idV != nil && idV.Type() != fastjson.TypeNull {
		id, code, msg := parseID("user_id", idV, idRaw)
		if code == RMissingID {
			msg += "; leave it out, or send null, for an event of no user"
		}
		if code != "" {
			return ev, &RecordError{Code: code, Message: msg}
		}
		ev.UserID = id
	}
	name, rerr := parseEventName(nameV, nameRaw)
	if rerr != nil {
		rerr.ID = ev.UserID
		return ev, rerr
	}
	ev.Name = name
	if ev.SentAt, rerr = parseTimestamp(timeV); rerr != nil {
		rerr.ID = ev.UserID
		return ev, rerr
	}
	md, rerr := metadataOf(metadataV, metadataRaw, func() []byte { return rawFieldsOf(raw).metadata }, RealtimeOptions())
	if rerr != nil {
		rerr.ID = ev.UserID
		return ev, rerr
	}
	ev.Metadata = md
	return ev, nil
}

// parseEventName reads event_name: a non-empty string of at most
// MaxEventNameLen bytes that every store can hold. raw is the value as
// written, if the body may hold a surrogate escape.
func parseEventName(v *fastjson.Value, raw []byte) (string, *RecordError) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return "", &RecordError{Code: RMissingEventName, Message: "event_name is required"}
	}
	if v.Type() != fastjson.TypeString {
		return "", &RecordError{Code: RInvalidEventName, Message: fmt.Sprintf("event_name must be a string, got %s", preview(v.MarshalTo(nil)))}
	}
	b := v.GetStringBytes()
	switch {
	case len(b) == 0:
		return "", &RecordError{Code: RMissingEventName, Message: "event_name must not be empty"}
	case len(b) > MaxEventNameLen:
		return "", &RecordError{Code: RInvalidEventName, Message: fmt.Sprintf("event_name is %d bytes long; at most %d are allowed", len(b), MaxEventNameLen)}
	case !utf8.Valid(b):
		return "", &RecordError{Code: RInvalidEventName, Message: "event_name is not valid UTF-8"}
	case bytes.IndexByte(b, 0) >= 0:
		return "", &RecordError{Code: RInvalidEventName, Message: nulMessage("event_name")}
	}
	if esc := loneSurrogate(raw); esc != "" {
		return "", &RecordError{Code: RInvalidEventName, Message: surrogateMessage("event_name", esc)}
	}
	return string(b), nil
}

// parseTimestamp reads timestamp: absent or null (zero time), or an RFC
// 3339 string, with or without fractional seconds, from 1970 to 9999 in
// UTC. It is kept to the millisecond, as the stores keep every time.
func parseTimestamp(v *fastjson.Value) (time.Time, *RecordError) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return time.Time{}, nil
	}
	if v.Type() != fastjson.TypeString {
		return time.Time{}, &RecordError{Code: RInvalidTimestamp, Message: fmt.Sprintf(
			`timestamp must be an ISO 8601 (RFC 3339) string such as "2025-02-01T10:20:30.123Z", or null; got %s`, preview(v.MarshalTo(nil)))}
	}
	s := v.GetStringBytes()
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return time.Time{}, &RecordError{Code: RInvalidTimestamp, Message: fmt.Sprintf(
			`timestamp %s is not an ISO 8601 (RFC 3339) date and time such as "2025-02-01T10:20:30.123Z"`, preview(v.MarshalTo(nil)))}
	}
	if t.Before(minEventTime) || !t.Before(maxEventTime) {
		return time.Time{}, &RecordError{Code: RInvalidTimestamp, Message: fmt.Sprintf(
			"timestamp %s is outside the years 1970 to 9999 (UTC)", preview(v.MarshalTo(nil)))}
	}
	return t.UTC().Truncate(time.Millisecond), nil
}
