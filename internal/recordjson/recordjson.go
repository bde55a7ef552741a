// Package recordjson is the wire form of a failed record, written once for
// the API's job object and errors stream (httpapi) and the dashboard's
// NDJSON download (dashboard), so the two never differ.
package recordjson

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
)

// Error is one failed record: in the job object without the record, on
// the errors endpoint and in the dashboard's download with it.
type Error struct {
	Index     *int            `json:"index,omitempty"` // JSON bodies: 0-based array index
	Line      *int            `json:"line,omitempty"`  // NDJSON and CSV files: 1-based line
	CompanyID string          `json:"company_id,omitempty"`
	UserID    string          `json:"user_id,omitempty"`
	ErrorCode string          `json:"error_code"`
	Message   string          `json:"message"`
	Record    json.RawMessage `json:"record,omitempty"` // the record as sent, when it is JSON
	Raw       *string         `json:"raw,omitempty"`    // the line as sent, when it is not
	// RawBase64 is the record as sent, byte for byte, when it is not valid
	// UTF-8; Raw then shows it with U+FFFD for the bytes that are not.
	RawBase64 string `json:"raw_base64,omitempty"`
}

// Of is the record error e of job j on the wire, with the record as sent
// if withRecord.
func Of(j *bulkid.Job, e bulkid.RecordError, withRecord bool) Error {
	out := Error{ErrorCode: e.Code, Message: e.Message}
	pos := e.Pos
	if j.Source == bulkid.SourceJSON {
		out.Index = &pos
	} else {
		out.Line = &pos
	}
	if j.Type == bulkid.JobUsers {
		out.UserID = e.ID
	} else {
		out.CompanyID = e.ID
	}
	if withRecord {
		switch {
		case !utf8.Valid(e.Raw):
			// JSON text is UTF-8: the exact bytes go in base64.
			raw := strings.ToValidUTF8(string(e.Raw), "\uFFFD")
			out.Raw, out.RawBase64 = &raw, base64.StdEncoding.EncodeToString(e.Raw)
		case json.Valid(e.Raw):
			out.Record = e.Raw
		default:
			raw := string(e.Raw)
			out.Raw = &raw
		}
	}
	return out
}
