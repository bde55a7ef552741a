package bulkid_test

import (
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

// TestMalformedJSONMessage: a malformed_json record error says in words
// where the record stops being JSON and why, with its byte, never in
// encoding/json's phrasing ("invalid character 'ÿ'", "unexpected end of
// JSON input"), which shows binary bytes as other characters.
func TestMalformedJSONMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, want string }{
		{"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", "unexpected byte 0x1F at byte 1 where a value should begin"},
		{"\xff\xfe{}", "unexpected byte 0xFF at byte 1"},
		{`{"company_id":"c"`, "it ends too early"},
		{`{"company_id":é}`, "unexpected character 'é' at byte 15 where a value should begin"},
		{`{"company_id" "c"}`, "at byte 15 after a member name, where a colon should be"},
		{`{"company_id":"c"}x`, "unexpected character 'x' at byte 19 after the end of the record"},
		{"{\"company_id\":\"a\x01\"}", "unexpected byte 0x01 at byte 17 inside a string"},
	} {
		_, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(tc.raw))
		if rerr == nil || rerr.Code != bulkid.RMalformedJSON {
			t.Fatalf("%q: %+v, want malformed_json", tc.raw, rerr)
		}
		if !strings.HasPrefix(rerr.Message, "the record is not valid JSON: ") || !strings.Contains(rerr.Message, tc.want) {
			t.Errorf("%q: message %q, want it to say %q", tc.raw, rerr.Message, tc.want)
		}
		for _, bad := range []string{"invalid character", "JSON input", "ÿ", "looking for"} {
			if strings.Contains(rerr.Message, bad) {
				t.Errorf("%q: message %q has the parser's words %q", tc.raw, rerr.Message, bad)
			}
		}
	}
}
