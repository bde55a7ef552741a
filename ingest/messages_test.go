package ingest_test

import (
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
)

// TestReadJSONSyntaxMessages: a syntax error names the byte it found as a
// character when it is printable ASCII and in hex otherwise, so binary
// data (gzip bytes sent without Content-Encoding) is not shown as 'ÿ'.
func TestReadJSONSyntaxMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, want string }{
		{"\x1f\x8b\x08\x00\x00\x00", "the byte 0x1F where a value should begin (at byte 1)"},
		{`{"companies":[{}]}` + "\xff", "the byte 0xFF at byte 19"},
		{`{"companies":[{}]` + "\xc3\xa9", "the byte 0xC3 after a member"},
		{`{"companies" [{}]}`, "the character '[' after a member name, where a colon should be (at byte 14)"},
		{`{"companies":[{} {}]}`, "the character '{' after an array element"},
		{`{companies:[]}`, "the character 'c' where a member name in quotes should begin"},
	} {
		_, err := ingest.ReadJSON(strings.NewReader(tc.body), "companies", ingest.DefaultLimits)
		wantCode(t, err, bulkid.EINVALIDJSON)
		msg := bulkid.ErrorMessage(err)
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "ÿ") || strings.Contains(msg, "invalid character") {
			t.Errorf("%q: message %q, want it to say %q", tc.body, msg, tc.want)
		}
	}
}
