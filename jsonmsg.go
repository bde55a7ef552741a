package bulkid

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// malformedMessage is the message of a malformed_json record error: where
// raw stops being JSON and why, in words rather than the parser's (which
// would show a byte of binary data or of a UTF-8 character as another
// character).
func malformedMessage(raw []byte) string {
	const msg = "the record is not valid JSON"
	var v any
	var se *json.SyntaxError
	if !errors.As(json.Unmarshal(raw, &v), &se) {
		return msg
	}
	text, at := se.Error(), se.Offset // at: the 1-based byte where it fails
	if text == "unexpected end of JSON input" {
		return msg + ": it ends too early, with a string, object or array still open"
	}
	if !strings.HasPrefix(text, "invalid character ") || at < 1 || at > int64(len(raw)) {
		return fmt.Sprintf("%s (at byte %d)", msg, at)
	}
	what := fmt.Sprintf("byte 0x%02X", raw[at-1])
	if r, _ := utf8.DecodeRune(raw[at-1:]); r != utf8.RuneError && unicode.IsGraphic(r) && r != ' ' {
		what = fmt.Sprintf("character %q", r)
	}
	where := ""
	for tail, words := range jsonSyntaxTails {
		if strings.HasSuffix(text, tail) {
			where = " " + words
			break
		}
	}
	return fmt.Sprintf("%s: unexpected %s at byte %d%s", msg, what, at, where)
}

// jsonSyntaxTails puts encoding/json's reasons in plainer words.
var jsonSyntaxTails = map[string]string{
	"looking for beginning of value":             "where a value should begin",
	"looking for beginning of object key string": "where a member name in quotes should begin",
	"after object key":                           "after a member name, where a colon should be",
	"after object key:value pair":                "after a member, where a comma or } should be",
	"after array element":                        "after an array element, where a comma or ] should be",
	"after top-level value":                      "after the end of the record",
	"in string literal":                          "inside a string (control characters must be escaped)",
	"in string escape code":                      "in a string's backslash escape",
	"in numeric literal":                         "in a number",
}
