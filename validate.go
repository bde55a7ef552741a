package bulkid

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Record error codes: why one record of a job was not applied.
const (
	RMalformedJSON    = "malformed_json"     // the NDJSON line is not valid JSON
	RNotObject        = "not_an_object"      // the record is valid JSON but not an object
	RMissingID        = "missing_id"         // company_id / user_id absent, null or empty
	RInvalidID        = "invalid_id"         // the id is neither a string nor an integer, or too long
	RInvalidCompanyID = "invalid_company_id" // a user's company_id is not a valid id
	RInvalidMetadata  = "invalid_metadata"   // metadata is not an object, or has an empty key
	RNestedMetadata   = "nested_metadata"    // a metadata value is an object or an array
)

// Record is a validated record, ready to be applied.
type Record struct {
	ID string
	// CompanyID associates a user with a company; "" leaves the user's
	// association as it is. Always "" for companies.
	CompanyID string
	// Metadata is a compact JSON object of primitives to merge into the
	// stored metadata (a null value removes the key), or nil for none.
	Metadata json.RawMessage
}

var integerRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// ValidateRecord checks one raw record of a job of type t and returns it
// ready to apply, or the reason it cannot be applied. It is the one
// validation both the server and clients use.
func ValidateRecord(t JobType, raw []byte) (Record, *RecordError) {
	var rec Record
	trimmed := bytes.TrimSpace(raw)
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		msg := "the record is not valid JSON"
		if err != nil {
			msg += ": " + err.Error()
		}
		return rec, &RecordError{Code: RMalformedJSON, Message: msg}
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return rec, &RecordError{Code: RNotObject, Message: fmt.Sprintf("each record must be a JSON object with a %q field", t.IDField())}
	}
	// A map, not a struct: encoding/json matches struct fields case-
	// insensitively, and only the exact names are fields of a record
	// ({"Company_ID": "x"} has no company_id). The last duplicate wins.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return rec, &RecordError{Code: RMalformedJSON, Message: "the record is not valid JSON: " + err.Error()}
	}

	idField, idRaw := "company_id", fields["company_id"]
	if t == JobUsers {
		idField, idRaw = "user_id", fields["user_id"]
	}
	id, code, msg := parseID(idField, idRaw)
	if code != "" {
		return rec, &RecordError{Code: code, Message: msg}
	}
	rec.ID = id

	if cidRaw := fields["company_id"]; t == JobUsers && len(cidRaw) > 0 && string(cidRaw) != "null" {
		cid, code, msg := parseID("company_id", cidRaw)
		if code != "" {
			return rec, &RecordError{ID: id, Code: RInvalidCompanyID, Message: msg}
		}
		rec.CompanyID = cid
	}

	md, rerr := parseMetadata(fields["metadata"])
	if rerr != nil {
		rerr.ID = id
		return rec, rerr
	}
	rec.Metadata = md
	return rec, nil
}

// parseID reads an id: a non-empty string, or an integer taken as its
// decimal string. It returns a record error code and message on failure.
func parseID(field string, raw json.RawMessage) (id, code, msg string) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", RMissingID, fmt.Sprintf("%s is required", field)
	}
	switch {
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", RInvalidID, fmt.Sprintf("%s is not a valid string", field)
		}
		if id == "" {
			return "", RMissingID, fmt.Sprintf("%s must not be empty", field)
		}
	case integerRE.Match(raw):
		id = string(raw)
	default:
		return "", RInvalidID, fmt.Sprintf("%s must be a string or an integer, got %s", field, preview(raw))
	}
	if len(id) > MaxIDLen {
		return "", RInvalidID, fmt.Sprintf("%s is %d bytes long; at most %d are allowed", field, len(id), MaxIDLen)
	}
	// Checked on the raw bytes: encoding/json has already replaced invalid
	// UTF-8 in id with U+FFFD, which would merge distinct ids into one.
	if !utf8.Valid(raw) {
		return "", RInvalidID, fmt.Sprintf("%s is not valid UTF-8", field)
	}
	return id, "", ""
}

// parseMetadata checks that raw is absent, null or an object of primitives,
// and returns it compacted with duplicate keys resolved (the last wins).
func parseMetadata(raw json.RawMessage) (json.RawMessage, *RecordError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf("metadata must be an object, got %s", preview(raw))}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &RecordError{Code: RInvalidMetadata, Message: "metadata is not a valid object: " + err.Error()}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" {
			return nil, &RecordError{Code: RInvalidMetadata, Message: "metadata has an empty key"}
		}
		if v := m[k]; v[0] == '{' || v[0] == '[' {
			kind := "an object"
			if v[0] == '[' {
				kind = "an array"
			}
			return nil, &RecordError{Code: RNestedMetadata, Message: fmt.Sprintf(
				"metadata key %s is %s; only string, number, boolean or null values are allowed", strconv.Quote(k), kind)}
		}
	}
	// Without HTML escaping, strings are stored as sent ("<", not "\u003c").
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, &RecordError{Code: RInvalidMetadata, Message: "metadata cannot be encoded: " + err.Error()}
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// preview returns the start of a JSON value for an error message.
func preview(raw []byte) string {
	const max = 40
	if len(raw) > max {
		return string(raw[:max]) + "…"
	}
	return string(raw)
}
