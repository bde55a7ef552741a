package bulkid_test

import (
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct{ raw, id, code string }{
		{`"u1"`, "u1", ""},
		{`42`, "42", ""},
		{`-7`, "-7", ""},
		{`123456789012345678901234567890`, "123456789012345678901234567890", ""},
		{`"\u00e9"`, "é", ""},
		{`"\ud83d\ude00"`, "😀", ""},
		{`" "`, " ", ""},
		{`""`, "", bulkid.RMissingID},
		{`null`, "", bulkid.RMissingID},
		{`1.5`, "", bulkid.RInvalidID},
		{`1e3`, "", bulkid.RInvalidID},
		{`true`, "", bulkid.RInvalidID},
		{`{"id":"u"}`, "", bulkid.RInvalidID},
		{`["u"]`, "", bulkid.RInvalidID},
		{`"\ud800"`, "", bulkid.RInvalidID},
		{`"a\u0000"`, "", bulkid.RInvalidID},
		{"\"\xff\"", "", bulkid.RInvalidID},
		{`"` + strings.Repeat("a", bulkid.MaxIDLen+1) + `"`, "", bulkid.RInvalidID},
		{`"` + strings.Repeat("a", bulkid.MaxIDLen) + `"`, strings.Repeat("a", bulkid.MaxIDLen), ""},
		{`"open`, "", bulkid.RMalformedJSON},
	} {
		id, rerr := bulkid.ParseID("users[3]", []byte(tc.raw))
		code := ""
		if rerr != nil {
			code = rerr.Code
			if !strings.Contains(rerr.Message, "users[3]") {
				t.Errorf("ParseID(%.40s): message %q does not name users[3]", tc.raw, rerr.Message)
			}
		}
		if id != tc.id || code != tc.code {
			t.Errorf("ParseID(%.40s) = %q, %q; want %q, %q", tc.raw, id, code, tc.id, tc.code)
		}
	}
}
