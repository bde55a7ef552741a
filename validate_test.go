package bulkid_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
)

// validCase is a record that must validate, and what it must give.
type validCase struct {
	name      string
	raw       string
	id        string
	companyID string
	metadata  string // "" means nil; otherwise compared as a JSON object
}

// invalidCase is a record that must fail, and how.
type invalidCase struct {
	name string
	raw  string
	code string
	id   string // RecordError.ID: the record's id when it could be read
	msg  string // a substring the message must contain, if not ""
}

func TestValidateRecordCompanies(t *testing.T) {
	t.Parallel()
	valid := []validCase{
		{name: "string id", raw: `{"company_id":"acme"}`, id: "acme"},
		{name: "spaces around", raw: " \t\r\n{ \"company_id\" : \"acme\" }\n", id: "acme"},
		{name: "integer id", raw: `{"company_id":42}`, id: "42"},
		{name: "negative integer id", raw: `{"company_id":-7}`, id: "-7"},
		{name: "zero id", raw: `{"company_id":0}`, id: "0"},
		{name: "integer beyond int64 keeps its digits", raw: `{"company_id":123456789012345678901234567890}`, id: "123456789012345678901234567890"},
		{name: "string of digits", raw: `{"company_id":"007"}`, id: "007"},
		{name: "escapes decoded", raw: `{"company_id":"a\"b\\c\u00e9"}`, id: "a\"b\\cé"},
		{name: "unicode id", raw: `{"company_id":"société 株式会社"}`, id: "société 株式会社"},
		{name: "space is an id", raw: `{"company_id":" "}`, id: " "},
		{name: "id of MaxIDLen bytes", raw: `{"company_id":"` + strings.Repeat("a", bulkid.MaxIDLen) + `"}`, id: strings.Repeat("a", bulkid.MaxIDLen)},
		{name: "id of MaxIDLen bytes in 2-byte runes", raw: `{"company_id":"` + strings.Repeat("é", bulkid.MaxIDLen/2) + `"}`, id: strings.Repeat("é", bulkid.MaxIDLen/2)},
		{name: "integer id of MaxIDLen digits", raw: `{"company_id":` + strings.Repeat("9", bulkid.MaxIDLen) + `}`, id: strings.Repeat("9", bulkid.MaxIDLen)},
		{name: "duplicate id last wins", raw: `{"company_id":"a","company_id":"b"}`, id: "b"},
		{name: "user_id ignored for companies", raw: `{"company_id":"c","user_id":5}`, id: "c"},
		{name: "other fields ignored", raw: `{"company_id":"c","name":{"x":[1]},"extra":[1,2]}`, id: "c"},
		{name: "metadata absent", raw: `{"company_id":"c"}`, id: "c"},
		{name: "metadata null", raw: `{"company_id":"c","metadata":null}`, id: "c"},
		{name: "metadata empty", raw: `{"company_id":"c","metadata":{}}`, id: "c", metadata: `{}`},
		{name: "metadata primitives", raw: `{"company_id":"c","metadata":{"plan":"pro","seats":10,"active":true,"trial":false,"churned":null,"mrr":99.5}}`,
			id: "c", metadata: `{"plan":"pro","seats":10,"active":true,"trial":false,"churned":null,"mrr":99.5}`},
		{name: "metadata compacted", raw: "{\"company_id\":\"c\",\"metadata\":{ \"a\" :\t1 ,\n\"b\" : \"x y\" }}", id: "c", metadata: `{"a":1,"b":"x y"}`},
		{name: "metadata duplicate key last wins", raw: `{"company_id":"c","metadata":{"a":1,"b":2,"a":3}}`, id: "c", metadata: `{"a":3,"b":2}`},
		{name: "metadata duplicate key nested then primitive", raw: `{"company_id":"c","metadata":{"a":{"x":1},"a":"flat"}}`, id: "c", metadata: `{"a":"flat"}`},
		{name: "metadata big integer kept", raw: `{"company_id":"c","metadata":{"n":12345678901234567890}}`, id: "c", metadata: `{"n":12345678901234567890}`},
		{name: "metadata long decimal kept", raw: `{"company_id":"c","metadata":{"x":0.1000000000000000055511151231257827}}`, id: "c", metadata: `{"x":0.1000000000000000055511151231257827}`},
		{name: "metadata number forms kept", raw: `{"company_id":"c","metadata":{"a":1E+2,"b":-0.0,"c":1e-5,"d":-0,"e":0e-999}}`, id: "c", metadata: `{"a":1E+2,"b":-0.0,"c":1e-5,"d":-0,"e":0e-999}`},
		{name: "metadata of MaxMetadataKeys keys", raw: `{"company_id":"c","metadata":{` + manyKeys(bulkid.MaxMetadataKeys) + `}}`, id: "c", metadata: `{` + manyKeys(bulkid.MaxMetadataKeys) + `}`},
		{name: "metadata integer beyond 2^53 kept", raw: `{"company_id":"c","metadata":{"n":12345678901234567890123,"m":-9007199254740993}}`, id: "c", metadata: `{"n":12345678901234567890123,"m":-9007199254740993}`},
		{name: "metadata numbers at the float64 range kept", raw: `{"company_id":"c","metadata":{"max":1.7976931348623157e308,"min":5e-324,"neg":-1.7976931348623157E+308,"z":0.000e+000}}`,
			id: "c", metadata: `{"max":1.7976931348623157e308,"min":5e-324,"neg":-1.7976931348623157E+308,"z":0.000e+000}`},
		{name: "metadata number of MaxNumberLen characters kept", raw: `{"company_id":"c","metadata":{"n":0.` + strings.Repeat("1", bulkid.MaxNumberLen-2) + `}}`,
			id: "c", metadata: `{"n":0.` + strings.Repeat("1", bulkid.MaxNumberLen-2) + `}`},
		{name: "metadata user fields are plain keys", raw: `{"company_id":"c","metadata":{"company_id":"other","user_id":1}}`, id: "c", metadata: `{"company_id":"other","user_id":1}`},
		{name: "metadata duplicate member last wins", raw: `{"company_id":"c","metadata":[1],"metadata":{"a":1}}`, id: "c", metadata: `{"a":1}`},
	}
	invalid := []invalidCase{
		{name: "missing id", raw: `{}`, code: bulkid.RMissingID, msg: "company_id"},
		{name: "missing id with metadata", raw: `{"metadata":{"a":1}}`, code: bulkid.RMissingID},
		{name: "user_id is not company_id", raw: `{"user_id":"u"}`, code: bulkid.RMissingID},
		{name: "field names are case-sensitive", raw: `{"Company_ID":"c"}`, code: bulkid.RMissingID},
		{name: "upper-case field name", raw: `{"COMPANY_ID":"c","metadata":{"a":1}}`, code: bulkid.RMissingID},
		{name: "null id", raw: `{"company_id":null}`, code: bulkid.RMissingID},
		{name: "empty id", raw: `{"company_id":""}`, code: bulkid.RMissingID},
		{name: "duplicate id last is null", raw: `{"company_id":"a","company_id":null}`, code: bulkid.RMissingID},
		{name: "fraction", raw: `{"company_id":1.5}`, code: bulkid.RInvalidID, msg: "1.5"},
		{name: "exponent", raw: `{"company_id":1e3}`, code: bulkid.RInvalidID},
		{name: "integral fraction", raw: `{"company_id":1.0}`, code: bulkid.RInvalidID},
		{name: "negative fraction", raw: `{"company_id":-0.5}`, code: bulkid.RInvalidID},
		{name: "true", raw: `{"company_id":true}`, code: bulkid.RInvalidID},
		{name: "false", raw: `{"company_id":false}`, code: bulkid.RInvalidID},
		{name: "object", raw: `{"company_id":{"id":"c"}}`, code: bulkid.RInvalidID},
		{name: "empty object", raw: `{"company_id":{}}`, code: bulkid.RInvalidID},
		{name: "array", raw: `{"company_id":["c"]}`, code: bulkid.RInvalidID},
		{name: "empty array", raw: `{"company_id":[]}`, code: bulkid.RInvalidID},
		{name: "id over MaxIDLen bytes", raw: `{"company_id":"` + strings.Repeat("a", bulkid.MaxIDLen+1) + `"}`, code: bulkid.RInvalidID, msg: strconv.Itoa(bulkid.MaxIDLen)},
		{name: "id over MaxIDLen bytes in 2-byte runes", raw: `{"company_id":"` + strings.Repeat("é", bulkid.MaxIDLen/2+1) + `"}`, code: bulkid.RInvalidID},
		{name: "integer id over MaxIDLen digits", raw: `{"company_id":` + strings.Repeat("9", bulkid.MaxIDLen+1) + `}`, code: bulkid.RInvalidID},
		{name: "id not UTF-8", raw: "{\"company_id\":\"ab\xffcd\"}", code: bulkid.RInvalidID, msg: "UTF-8"},
		{name: "metadata string", raw: `{"company_id":"c","metadata":"x"}`, code: bulkid.RInvalidMetadata, id: "c", msg: "object"},
		{name: "metadata number", raw: `{"company_id":"c","metadata":5}`, code: bulkid.RInvalidMetadata, id: "c"},
		{name: "metadata true", raw: `{"company_id":"c","metadata":true}`, code: bulkid.RInvalidMetadata, id: "c"},
		{name: "metadata array", raw: `{"company_id":"c","metadata":[]}`, code: bulkid.RInvalidMetadata, id: "c"},
		{name: "metadata array of objects", raw: `{"company_id":"c","metadata":[{"a":1}]}`, code: bulkid.RInvalidMetadata, id: "c"},
		{name: "metadata empty key", raw: `{"company_id":"c","metadata":{"":1}}`, code: bulkid.RInvalidMetadata, id: "c", msg: "empty key"},
		{name: "metadata nested object", raw: `{"company_id":"c","metadata":{"ok":1,"plan":{"name":"pro"}}}`, code: bulkid.RNestedMetadata, id: "c", msg: `"plan"`},
		{name: "metadata nested array", raw: `{"company_id":"c","metadata":{"tags":["a","b"]}}`, code: bulkid.RNestedMetadata, id: "c", msg: `"tags"`},
		{name: "metadata nested empty object", raw: `{"company_id":"c","metadata":{"x":{}}}`, code: bulkid.RNestedMetadata, id: "c", msg: `"x"`},
		{name: "metadata nested after spaces", raw: `{"company_id":"c","metadata":{"arr" :   [ 1 ]}}`, code: bulkid.RNestedMetadata, id: "c", msg: `"arr"`},
		{name: "metadata nested key quoted", raw: `{"company_id":"c","metadata":{"a \"b\"":[1]}}`, code: bulkid.RNestedMetadata, id: "c", msg: strconv.Quote(`a "b"`)},
		{name: "metadata nested duplicate last wins", raw: `{"company_id":"c","metadata":{"a":1,"a":[1]}}`, code: bulkid.RNestedMetadata, id: "c", msg: `"a"`},
		{name: "metadata number over float64", raw: `{"company_id":"c","metadata":{"n":1e400}}`, code: bulkid.RInvalidMetadata, id: "c", msg: `"n" is the number 1e400, beyond the range`},
		{name: "metadata negative number over float64", raw: `{"company_id":"c","metadata":{"n":-1.8e308}}`, code: bulkid.RInvalidMetadata, id: "c", msg: "range"},
		{name: "metadata integer over float64", raw: `{"company_id":"c","metadata":{"n":1` + strings.Repeat("0", 309) + `}}`, code: bulkid.RInvalidMetadata, id: "c", msg: "range"},
		{name: "metadata number under float64", raw: `{"company_id":"c","metadata":{"n":1e-400}}`, code: bulkid.RInvalidMetadata, id: "c", msg: "too small"},
		{name: "metadata number under float64 in decimals", raw: `{"company_id":"c","metadata":{"n":0.` + strings.Repeat("0", 400) + `1}}`, code: bulkid.RInvalidMetadata, id: "c", msg: "too small"},
		{name: "metadata zero with a 5-digit exponent", raw: `{"company_id":"c","metadata":{"n":0e-99999}}`, code: bulkid.RInvalidMetadata, id: "c", msg: "exponent"},
		{name: "metadata number over MaxNumberLen characters", raw: `{"company_id":"c","metadata":{"n":0.` + strings.Repeat("1", bulkid.MaxNumberLen-1) + `}}`, code: bulkid.RInvalidMetadata, id: "c", msg: strconv.Itoa(bulkid.MaxNumberLen)},
		{name: "metadata over MaxMetadataKeys keys", raw: `{"company_id":"c","metadata":{` + manyKeys(bulkid.MaxMetadataKeys+1) + `}}`, code: bulkid.RInvalidMetadata, id: "c", msg: strconv.Itoa(bulkid.MaxMetadataKeys)},
		{name: "metadata from integer id", raw: `{"company_id":42,"metadata":"x"}`, code: bulkid.RInvalidMetadata, id: "42"},
	}
	runValid(t, bulkid.JobCompanies, valid)
	runInvalid(t, bulkid.JobCompanies, invalid)
	runInvalid(t, bulkid.JobCompanies, malformedCases)
}

func TestValidateRecordUsers(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("u", bulkid.MaxIDLen)
	valid := []validCase{
		{name: "string id", raw: `{"user_id":"u1"}`, id: "u1"},
		{name: "integer id", raw: `{"user_id":42}`, id: "42"},
		{name: "negative integer id", raw: `{"user_id":-7}`, id: "-7"},
		{name: "id of MaxIDLen bytes", raw: `{"user_id":"` + long + `"}`, id: long},
		{name: "company id string", raw: `{"user_id":"u1","company_id":"acme"}`, id: "u1", companyID: "acme"},
		{name: "company id integer", raw: `{"user_id":"u1","company_id":42}`, id: "u1", companyID: "42"},
		{name: "company id negative integer", raw: `{"user_id":"u1","company_id":-7}`, id: "u1", companyID: "-7"},
		{name: "company id null", raw: `{"user_id":"u1","company_id":null}`, id: "u1"},
		{name: "company id absent", raw: `{"user_id":"u1","metadata":{"a":1}}`, id: "u1", metadata: `{"a":1}`},
		{name: "company id of MaxIDLen bytes", raw: `{"user_id":"u1","company_id":"` + long + `"}`, id: "u1", companyID: long},
		{name: "company id duplicate last wins", raw: `{"user_id":"u1","company_id":"a","company_id":"b"}`, id: "u1", companyID: "b"},
		{name: "company id field name is case-sensitive", raw: `{"user_id":"u1","Company_Id":"acme"}`, id: "u1"},
		{name: "everything", raw: `{"metadata":{"email":"a@b.c","age":30},"company_id":7,"user_id":"u1"}`, id: "u1", companyID: "7", metadata: `{"email":"a@b.c","age":30}`},
		{name: "metadata null", raw: `{"user_id":"u1","metadata":null}`, id: "u1"},
		{name: "metadata big numbers kept", raw: `{"user_id":"u1","metadata":{"a":12345678901234567890,"b":0.1000000000000000055511151231257827}}`,
			id: "u1", metadata: `{"a":12345678901234567890,"b":0.1000000000000000055511151231257827}`},
	}
	invalid := []invalidCase{
		{name: "missing id", raw: `{}`, code: bulkid.RMissingID, msg: "user_id"},
		{name: "company_id is not user_id", raw: `{"company_id":"acme"}`, code: bulkid.RMissingID, msg: "user_id"},
		{name: "field names are case-sensitive", raw: `{"User_ID":"u1"}`, code: bulkid.RMissingID},
		{name: "null id", raw: `{"user_id":null,"company_id":"acme"}`, code: bulkid.RMissingID},
		{name: "empty id", raw: `{"user_id":""}`, code: bulkid.RMissingID},
		{name: "fraction", raw: `{"user_id":1.5}`, code: bulkid.RInvalidID},
		{name: "exponent", raw: `{"user_id":1e3}`, code: bulkid.RInvalidID},
		{name: "boolean", raw: `{"user_id":true}`, code: bulkid.RInvalidID},
		{name: "object", raw: `{"user_id":{}}`, code: bulkid.RInvalidID},
		{name: "array", raw: `{"user_id":["u"]}`, code: bulkid.RInvalidID},
		{name: "id over MaxIDLen bytes", raw: `{"user_id":"` + long + `u"}`, code: bulkid.RInvalidID},
		{name: "id not UTF-8", raw: "{\"user_id\":\"\xfe\"}", code: bulkid.RInvalidID},
		{name: "user id checked before company id", raw: `{"user_id":1.5,"company_id":1.5}`, code: bulkid.RInvalidID},
		{name: "company id fraction", raw: `{"user_id":"u1","company_id":1.5}`, code: bulkid.RInvalidCompanyID, id: "u1", msg: "company_id"},
		{name: "company id exponent", raw: `{"user_id":"u1","company_id":1e3}`, code: bulkid.RInvalidCompanyID, id: "u1"},
		{name: "company id boolean", raw: `{"user_id":"u1","company_id":false}`, code: bulkid.RInvalidCompanyID, id: "u1"},
		{name: "company id object", raw: `{"user_id":"u1","company_id":{"id":"acme"}}`, code: bulkid.RInvalidCompanyID, id: "u1"},
		{name: "company id array", raw: `{"user_id":"u1","company_id":["acme"]}`, code: bulkid.RInvalidCompanyID, id: "u1"},
		{name: "company id empty", raw: `{"user_id":"u1","company_id":""}`, code: bulkid.RInvalidCompanyID, id: "u1"},
		{name: "company id too long", raw: `{"user_id":"u1","company_id":"` + long + `x"}`, code: bulkid.RInvalidCompanyID, id: "u1"},
		{name: "company id not UTF-8", raw: "{\"user_id\":\"u1\",\"company_id\":\"\xc3\"}", code: bulkid.RInvalidCompanyID, id: "u1"},
		{name: "company id checked before metadata", raw: `{"user_id":"u1","company_id":true,"metadata":5}`, code: bulkid.RInvalidCompanyID, id: "u1"},
		{name: "metadata not an object", raw: `{"user_id":"u1","metadata":"x"}`, code: bulkid.RInvalidMetadata, id: "u1"},
		{name: "metadata empty key", raw: `{"user_id":"u1","metadata":{"":"x"}}`, code: bulkid.RInvalidMetadata, id: "u1"},
		{name: "metadata nested", raw: `{"user_id":"u1","company_id":"c","metadata":{"address":{"city":"x"}}}`, code: bulkid.RNestedMetadata, id: "u1", msg: `"address"`},
	}
	runValid(t, bulkid.JobUsers, valid)
	runInvalid(t, bulkid.JobUsers, invalid)
	runInvalid(t, bulkid.JobUsers, malformedCases)
}

// malformedCases fail the same way for both job types.
var malformedCases = []invalidCase{
	{name: "empty", raw: ``, code: bulkid.RMalformedJSON},
	{name: "blank", raw: " \t\r\n", code: bulkid.RMalformedJSON},
	{name: "truncated", raw: `{"company_id":"c","user_id":"u"`, code: bulkid.RMalformedJSON, msg: "not valid JSON"},
	{name: "single quotes", raw: `{'company_id':'c'}`, code: bulkid.RMalformedJSON},
	{name: "bare key", raw: `{company_id:"c"}`, code: bulkid.RMalformedJSON},
	{name: "trailing comma", raw: `{"company_id":"c","user_id":"u",}`, code: bulkid.RMalformedJSON},
	{name: "two objects", raw: `{"company_id":"c","user_id":"u"} {}`, code: bulkid.RMalformedJSON},
	{name: "trailing garbage", raw: `{"company_id":"c","user_id":"u"}x`, code: bulkid.RMalformedJSON},
	{name: "leading zero", raw: `{"company_id":01,"user_id":01}`, code: bulkid.RMalformedJSON},
	{name: "control character in string", raw: "{\"company_id\":\"a\x01\",\"user_id\":\"a\x01\"}", code: bulkid.RMalformedJSON},
	{name: "string", raw: `"x"`, code: bulkid.RNotObject},
	{name: "number", raw: `5`, code: bulkid.RNotObject},
	{name: "empty array", raw: `[]`, code: bulkid.RNotObject},
	{name: "array of records", raw: `[{"company_id":"c","user_id":"u"}]`, code: bulkid.RNotObject},
	{name: "null", raw: `null`, code: bulkid.RNotObject},
	{name: "true", raw: `true`, code: bulkid.RNotObject},
	{name: "string with spaces", raw: ` "x" `, code: bulkid.RNotObject},
}

func runValid(t *testing.T, typ bulkid.JobType, cases []validCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			t.Parallel()
			rec, rerr := bulkid.ValidateRecord(typ, []byte(tc.raw))
			if rerr != nil {
				t.Fatalf("ValidateRecord(%s, %q) = error %s: %s; want a record", typ, tc.raw, rerr.Code, rerr.Message)
			}
			if rec.ID != tc.id {
				t.Errorf("ID = %q, want %q", rec.ID, tc.id)
			}
			if rec.CompanyID != tc.companyID {
				t.Errorf("CompanyID = %q, want %q", rec.CompanyID, tc.companyID)
			}
			if tc.metadata == "" {
				if rec.Metadata != nil {
					t.Errorf("Metadata = %s, want nil", rec.Metadata)
				}
				return
			}
			checkCompactObject(t, rec.Metadata)
			if got, want := rawFields(t, rec.Metadata), rawFields(t, []byte(tc.metadata)); !reflect.DeepEqual(got, want) {
				t.Errorf("Metadata = %s, want %s", rec.Metadata, tc.metadata)
			}
		})
	}
}

func runInvalid(t *testing.T, typ bulkid.JobType, cases []invalidCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			t.Parallel()
			rec, rerr := bulkid.ValidateRecord(typ, []byte(tc.raw))
			if rerr == nil {
				t.Fatalf("ValidateRecord(%s, %q) = %+v, want error %s", typ, tc.raw, rec, tc.code)
			}
			if rerr.Code != tc.code {
				t.Errorf("Code = %q (%s), want %q", rerr.Code, rerr.Message, tc.code)
			}
			if rerr.ID != tc.id {
				t.Errorf("ID = %q, want %q", rerr.ID, tc.id)
			}
			if rerr.Message == "" {
				t.Errorf("Message is empty")
			}
			if tc.msg != "" && !strings.Contains(rerr.Message, tc.msg) {
				t.Errorf("Message = %q, want it to contain %q", rerr.Message, tc.msg)
			}
		})
	}
}

// checkCompactObject fails unless md is a valid JSON object in compact form.
func checkCompactObject(t *testing.T, md []byte) {
	t.Helper()
	if !json.Valid(md) {
		t.Fatalf("Metadata %q is not valid JSON", md)
	}
	if len(md) == 0 || md[0] != '{' {
		t.Fatalf("Metadata %s is not an object", md)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, md); err != nil {
		t.Fatalf("Compact(%s): %v", md, err)
	}
	if !bytes.Equal(buf.Bytes(), md) {
		t.Errorf("Metadata = %s, want it compact: %s", md, buf.Bytes())
	}
}

// rawFields decodes a JSON object into its members' raw text, so numbers
// compare digit for digit and key order does not matter.
func rawFields(t *testing.T, obj []byte) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatalf("Unmarshal(%s): %v", obj, err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func TestValidateRecordMetadataStringsKeepTheirValue(t *testing.T) {
	t.Parallel()
	// Escaping may change (HTML characters, say), the decoded text must not.
	want := map[string]any{"html": "<b>&</b>", "unicode": "é\u2028😀", "quote": `"q"\`, "date": "2025-02-01T10:20:30Z", "deal_size": "$50,000"}
	in, err := json.Marshal(map[string]any{"company_id": "c", "metadata": want})
	if err != nil {
		t.Fatal(err)
	}
	rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, in)
	if rerr != nil {
		t.Fatalf("ValidateRecord(%s) = error %s: %s", in, rerr.Code, rerr.Message)
	}
	checkCompactObject(t, rec.Metadata)
	var got map[string]any
	if err := json.Unmarshal(rec.Metadata, &got); err != nil {
		t.Fatalf("Unmarshal(%s): %v", rec.Metadata, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Metadata decodes to %v, want %v", got, want)
	}
}

func TestValidateRecordMetadataNestedNamesEachKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"a", "plan", "with space", "ключ", "x\ty"} {
		for _, val := range []string{`{}`, `[]`, `{"k":1}`, `[1,2]`} {
			md, _ := json.Marshal(map[string]json.RawMessage{"ok": json.RawMessage(`1`), key: json.RawMessage(val)})
			raw := `{"company_id":"c","metadata":` + string(md) + `}`
			_, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(raw))
			if rerr == nil {
				t.Errorf("ValidateRecord(%s) = ok, want %s", raw, bulkid.RNestedMetadata)
				continue
			}
			if rerr.Code != bulkid.RNestedMetadata {
				t.Errorf("ValidateRecord(%s) code = %q, want %q", raw, rerr.Code, bulkid.RNestedMetadata)
			}
			if q := strconv.Quote(key); !strings.Contains(rerr.Message, q) {
				t.Errorf("ValidateRecord(%s) message = %q, want it to name %s", raw, rerr.Message, q)
			}
		}
	}
}

func TestValidateRecordDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	raw := []byte(` {"company_id":"c","metadata":{ "a" : 1 , "a" : 2 }} `)
	orig := bytes.Clone(raw)
	rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, raw)
	if rerr != nil {
		t.Fatalf("ValidateRecord = error %s", rerr.Code)
	}
	if !bytes.Equal(raw, orig) {
		t.Errorf("input changed to %q, want %q", raw, orig)
	}
	if string(rec.Metadata) != `{"a":2}` {
		t.Errorf("Metadata = %s, want %s", rec.Metadata, `{"a":2}`)
	}
}

func TestValidateRecordKeepsHTMLCharacters(t *testing.T) {
	t.Parallel()
	rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(`{"company_id":"a","metadata":{"note":"<b>Tom & Jerry</b>"}}`))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if got, want := string(rec.Metadata), `{"note":"<b>Tom & Jerry</b>"}`; got != want {
		t.Errorf("Metadata = %s, want %s", got, want)
	}
}

func TestValidateRecordStrictJSONAndUTF8(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw, code string
	}{
		{"control character in a string", "{\"company_id\":\"a\x01b\"}", bulkid.RMalformedJSON},
		{"raw newline in a string", "{\"company_id\":\"a\nb\"}", bulkid.RMalformedJSON},
		{"unicode space is not JSON whitespace", "\u2000{\"company_id\":\"a\"}", bulkid.RMalformedJSON},
		{"invalid UTF-8 in a metadata value", "{\"company_id\":\"a\",\"metadata\":{\"k\":\"\xff\"}}", bulkid.RInvalidMetadata},
		{"invalid UTF-8 in a metadata key", "{\"company_id\":\"a\",\"metadata\":{\"\xfe\":1}}", bulkid.RInvalidMetadata},
	} {
		if _, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(tc.raw)); rerr == nil || rerr.Code != tc.code {
			t.Errorf("%s: got %v, want %s", tc.name, rerr, tc.code)
		}
	}
	// JSON whitespace, and escapes of control characters, are fine.
	rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte("{\n\t\"company_id\": \"a\",\r\n \"metadata\": {\"note\": \"line\\nbreak\\u0001\"}}"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if got, want := string(rec.Metadata), `{"note":"line\nbreak\u0001"}`; got != want {
		t.Errorf("Metadata = %s, want %s", got, want)
	}
}

// nest wraps inner in depth arrays.
func nest(depth int, inner string) string {
	return strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
}

// Deeply nested JSON is refused before any parser recurses into it: a
// recursive validator would overflow the stack on a few million levels and
// kill the process, which no recover catches.
func TestValidateRecordDepth(t *testing.T) {
	t.Parallel()
	// The record's own braces count: the ignored field adds MaxDepth-1 levels.
	atLimit := `{"company_id":"c","extra":` + nest(bulkid.MaxDepth-1, "1") + `}`
	if !bulkid.WellFormed([]byte(atLimit)) || bulkid.TooDeep([]byte(atLimit)) {
		t.Fatalf("a record nested exactly %d deep is not well-formed", bulkid.MaxDepth)
	}
	if rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(atLimit)); rerr != nil || rec.ID != "c" {
		t.Fatalf("a record nested exactly %d deep: %v", bulkid.MaxDepth, rerr)
	}
	// Brackets inside strings are not nesting.
	inString := `{"company_id":"c","metadata":{"s":"` + strings.Repeat("[{", 10000) + `\"]"}}`
	if rec, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(inString)); rerr != nil || !strings.HasPrefix(string(rec.Metadata), `{"s":"[{[{`) {
		t.Fatalf("brackets in a string: %v", rerr)
	}
	for _, tc := range []struct{ name, raw string }{
		{"one level too deep", `{"company_id":"c","extra":` + nest(bulkid.MaxDepth, "1") + `}`},
		{"10,000 levels in metadata", `{"company_id":"c","metadata":{"x":` + nest(10000, "") + `}}`},
		{"10,000 levels of objects in metadata", `{"company_id":"c","metadata":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `}`},
		{"10,000 levels as the record", nest(10000, "")},
		{"500,000 levels as the record (1 MB, under MaxRecordBytes)", nest(500_000, "")},
		{"1,000,000 levels, never closed", strings.Repeat("[", 1_000_000)},
		{"deep with a tab", "{\"company_id\":\"c\",\t\"x\":" + nest(10000, "") + "}"},
	} {
		if bulkid.WellFormed([]byte(tc.raw)) {
			t.Errorf("%s: WellFormed = true", tc.name)
		}
		_, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(tc.raw))
		if rerr == nil || rerr.Code != bulkid.RMalformedJSON || !strings.Contains(rerr.Message, strconv.Itoa(bulkid.MaxDepth)+" levels") {
			t.Errorf("%s: got %v, want %s naming the limit of %d levels", tc.name, rerr, bulkid.RMalformedJSON, bulkid.MaxDepth)
		}
	}
}

// manyKeys returns n metadata members "k0":0,"k1":1,...
func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":` + strconv.Itoa(i))
	}
	return b.String()
}

// A record over MaxRecordBytes fails as record_too_large, whether it comes
// whole (a client validating a file) or as the stand-in a reader keeps of
// a longer line, whose report shows the line's first kilobyte.
func TestValidateRecordTooLarge(t *testing.T) {
	t.Parallel()
	pad := func(n int) string {
		return `{"company_id":"c","metadata":{"p":"` + strings.Repeat("x", n-len(`{"company_id":"c","metadata":{"p":""}}`)) + `"}}`
	}
	if _, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(pad(bulkid.MaxRecordBytes))); rerr != nil {
		t.Fatalf("a record of exactly MaxRecordBytes: %+v", rerr)
	}
	over := pad(bulkid.MaxRecordBytes + 1)
	_, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(over))
	if rerr == nil || rerr.Code != bulkid.RRecordTooLarge || !strings.Contains(rerr.Message, strconv.Itoa(bulkid.MaxRecordBytes+1)+" bytes") {
		t.Fatalf("a record of MaxRecordBytes+1: %+v, want record_too_large naming its size", rerr)
	}
	standIn := bulkid.OversizedRecord([]byte(over), 41943040)
	if len(standIn) > 1100 {
		t.Fatalf("the stand-in holds %d bytes, want about a kilobyte", len(standIn))
	}
	_, rerr = bulkid.ValidateRecord(bulkid.JobUsers, standIn)
	if rerr == nil || rerr.Code != bulkid.RRecordTooLarge || !strings.Contains(rerr.Message, "41943040 bytes") || string(rerr.Raw) != over[:1024] {
		t.Fatalf("the stand-in: %+v, want record_too_large of 41943040 bytes showing the first kilobyte", rerr)
	}
	// A line that forges the mark is no record either way.
	forged := "\x00record_too_large:12\x00{\"user_id\":\"u\"}"
	if _, rerr := bulkid.ValidateRecord(bulkid.JobUsers, []byte(forged)); rerr == nil {
		t.Fatalf("a forged stand-in validated")
	}
	if _, rerr := bulkid.ValidateRecord(bulkid.JobUsers, []byte("\x00record_too_large:x\x00{}")); rerr == nil || rerr.Code != bulkid.RMalformedJSON {
		t.Fatalf("a broken stand-in: %+v, want malformed_json", rerr)
	}
}

// An unpaired UTF-16 surrogate escape stands for no character: a decoder
// makes it some other text, so "\ud800" and "\\ud800" became one company
// (issue 10). It fails the record in ids, company ids, metadata keys and
// string values; a pair is one character and is fine.
func TestValidateRecordLoneSurrogates(t *testing.T) {
	t.Parallel()
	const unpaired = "unpaired UTF-16 surrogate escape"
	valid := []validCase{
		{name: "pair in id", raw: `{"company_id":"\ud83d\ude00"}`, id: "😀"},
		{name: "pair upper-case hex", raw: `{"company_id":"a\uD83D\uDE00b"}`, id: "a😀b"},
		{name: "escaped backslash before u", raw: `{"company_id":"\\ud800"}`, id: `\ud800`},
		{name: "escaped backslash twice", raw: `{"company_id":"\\\\ud800"}`, id: `\\ud800`},
		{name: "pair in metadata key and value", raw: `{"company_id":"c","metadata":{"\ud83d\ude00":"\ud83d\ude00"}}`, id: "c", metadata: `{"😀":"😀"}`},
		{name: "escaped backslash in metadata", raw: `{"company_id":"c","metadata":{"\\ud800":"\\udc00"}}`, id: "c", metadata: `{"\\ud800":"\\udc00"}`},
		{name: "in an ignored field", raw: `{"company_id":"c","name":"\ud800","\udc00":1}`, id: "c"},
		{name: "in a value a later duplicate replaces", raw: `{"company_id":"\ud800","company_id":"c","metadata":{"k":"\ud800","k":"ok"}}`, id: "c", metadata: `{"k":"ok"}`},
		{name: "in a metadata member a later one replaces", raw: `{"company_id":"c","metadata":{"k":"\ud800"},"metadata":{"k":1}}`, id: "c", metadata: `{"k":1}`},
		{name: "non-surrogate escapes", raw: `{"company_id":"\u00e9\ud7ff\ue000"}`, id: "é\ud7ff\ue000"},
	}
	invalid := []invalidCase{
		{name: "high alone", raw: `{"company_id":"\ud800"}`, code: bulkid.RInvalidID, msg: unpaired + ` \ud800`},
		{name: "low alone", raw: `{"company_id":"x\udc00"}`, code: bulkid.RInvalidID, msg: `\udc00`},
		{name: "upper-case hex", raw: `{"company_id":"\uDBFF"}`, code: bulkid.RInvalidID, msg: `\uDBFF`},
		{name: "high then non-low", raw: `{"company_id":"\ud800\u0041"}`, code: bulkid.RInvalidID},
		{name: "high then high", raw: `{"company_id":"\ud800\ud800\udc00"}`, code: bulkid.RInvalidID},
		{name: "low then high", raw: `{"company_id":"\udc00\ud800"}`, code: bulkid.RInvalidID},
		{name: "high then escaped backslash", raw: `{"company_id":"\ud800\\udc00"}`, code: bulkid.RInvalidID},
		{name: "at the end after a pair", raw: `{"company_id":"\ud83d\ude00\ud83d"}`, code: bulkid.RInvalidID},
		{name: "escaped field name", raw: `{"company\u005fid":"\ud800"}`, code: bulkid.RInvalidID},
		{name: "last duplicate", raw: `{"company_id":"c","company_id":"\ud800"}`, code: bulkid.RInvalidID},
		{name: "metadata key", raw: `{"company_id":"c","metadata":{"\ud800":1}}`, code: bulkid.RInvalidMetadata, id: "c", msg: `metadata key "\ud800" holds the ` + unpaired},
		{name: "metadata key that would read as a valid one", raw: `{"company_id":"c","metadata":{"a\ud800\u0041":1}}`, code: bulkid.RInvalidMetadata, id: "c"},
		{name: "metadata value", raw: `{"company_id":"c","metadata":{"k":"x\udfff"}}`, code: bulkid.RInvalidMetadata, id: "c", msg: `the value of metadata key "k" holds the ` + unpaired},
		{name: "metadata value, last duplicate", raw: `{"company_id":"c","metadata":{"k":"ok","k":"\ud800"}}`, code: bulkid.RInvalidMetadata, id: "c"},
		{name: "metadata value, escaped key", raw: `{"company_id":"c","metadata":{"\u006b":"\ud800"}}`, code: bulkid.RInvalidMetadata, id: "c", msg: `"k"`},
	}
	runValid(t, bulkid.JobCompanies, valid)
	runInvalid(t, bulkid.JobCompanies, invalid)
	runInvalid(t, bulkid.JobUsers, []invalidCase{
		{name: "user id", raw: `{"user_id":"\ud800"}`, code: bulkid.RInvalidID, msg: "user_id holds the " + unpaired},
		{name: "company id", raw: `{"user_id":"u","company_id":"\udc00"}`, code: bulkid.RInvalidCompanyID, id: "u", msg: "company_id holds the " + unpaired},
		{name: "metadata", raw: `{"user_id":"u","metadata":{"k":"\ud800"}}`, code: bulkid.RInvalidMetadata, id: "u"},
	})
	// The two ids of the issue are two companies, or one is refused: never one.
	a, aerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(`{"company_id":"\ud800"}`))
	b, berr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(`{"company_id":"\\ud800"}`))
	if aerr == nil && berr == nil && a.ID == b.ID {
		t.Errorf(`"\ud800" and "\\ud800" both give the company %q`, a.ID)
	}
}

// U+0000 can be sent only as the escape \u0000, and PostgreSQL's text and
// jsonb cannot hold it: it failed the whole job there (issue 10). Every
// store gets the same verdict: the record fails, naming the field.
func TestValidateRecordNUL(t *testing.T) {
	t.Parallel()
	runInvalid(t, bulkid.JobCompanies, []invalidCase{
		{name: "id", raw: `{"company_id":"a\u0000b"}`, code: bulkid.RInvalidID, msg: "company_id holds the character U+0000"},
		{name: "id only NUL", raw: `{"company_id":"\u0000"}`, code: bulkid.RInvalidID, msg: `\u0000`},
		{name: "metadata key", raw: `{"company_id":"c","metadata":{"k\u0000":1}}`, code: bulkid.RInvalidMetadata, id: "c", msg: `metadata key "k\x00" holds the character U+0000`},
		{name: "metadata value", raw: `{"company_id":"c","metadata":{"k":"\u0000"}}`, code: bulkid.RInvalidMetadata, id: "c", msg: `the value of metadata key "k" holds the character U+0000`},
	})
	runInvalid(t, bulkid.JobUsers, []invalidCase{
		{name: "user id", raw: `{"user_id":"\u0000"}`, code: bulkid.RInvalidID, msg: "user_id"},
		{name: "company id", raw: `{"user_id":"u","company_id":"\u0000x"}`, code: bulkid.RInvalidCompanyID, id: "u", msg: "company_id"},
		{name: "metadata value", raw: `{"user_id":"u","metadata":{"a":"x\u0000"}}`, code: bulkid.RInvalidMetadata, id: "u"},
	})
	// Other control characters are text like any other.
	runValid(t, bulkid.JobCompanies, []validCase{
		{name: "U+0001", raw: `{"company_id":"\u0001","metadata":{"\u0001":"\u001f"}}`, id: "\x01", metadata: `{"\u0001":"\u001f"}`},
		{name: "NUL in an ignored field", raw: `{"company_id":"c","name":"\u0000"}`, id: "c"},
	})
}

// Messages quote parts of a record. They are stored in text columns
// (PostgreSQL's refuses invalid UTF-8, which failed the job) and sent as
// JSON, so they are valid UTF-8 whatever the record holds: a quote is cut
// between characters, and bytes that are not UTF-8 are shown as U+FFFD.
func TestValidateRecordMessagesAreUTF8(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		`{"company_id":{"k":"` + strings.Repeat("a", 36) + `é"}}`, // é split at byte 40
		`{"company_id":["` + strings.Repeat("😀", 12) + `"]}`,      // a 4-byte character split
		"{\"company_id\":{\"k\":\"\xff\xfe\"}}",                   // not UTF-8, quoted
		"{\"company_id\":\"c\",\"metadata\":[\"\xff\"]}",          // metadata not an object
		"{\"company_id\":\"c\",\"metadata\":{\"\xff\":1}}",        // key not UTF-8
		"{\"company_id\":\"c\",\"metadata\":{\"" + strings.Repeat("é", 30) + "\xff\":[1]}}",
		`{"company_id":"c","metadata":{"` + strings.Repeat("é", 100) + `":[1]}}`, // long key, cut
		"{\"company_id\":\"c\",\"metadata\":{\"\\ud800\xff\":1}}",
		"{\"company_id\":1.\xff}",
		"\xff{",
	} {
		_, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(raw))
		if rerr == nil {
			t.Fatalf("ValidateRecord(%q) passed", raw)
		}
		if !utf8.ValidString(rerr.Message) || strings.ContainsRune(rerr.Message, 0) || !utf8.ValidString(rerr.ID) {
			t.Errorf("ValidateRecord(%q): message %q is not valid UTF-8 without NUL", raw, rerr.Message)
		}
	}
}

// A CSV row that cannot be made into a record is kept as MalformedRow's
// stand-in, which fails as malformed_row with the row as sent; a stand-in
// that lost its separator is no record either.
func TestValidateRecordMalformedRow(t *testing.T) {
	t.Parallel()
	row := "c1,a,\"b\"x"
	_, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, bulkid.MalformedRow("a stray quote", []byte(row)))
	if rerr == nil || rerr.Code != bulkid.RMalformedRow || rerr.Message != "a stray quote" || string(rerr.Raw) != row || rerr.ID != "" {
		t.Fatalf("the stand-in: %+v, want malformed_row \"a stray quote\" showing the row", rerr)
	}
	if _, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte("\x00malformed_row:no separator")); rerr == nil || rerr.Code != bulkid.RMalformedJSON {
		t.Fatalf("a broken stand-in: %+v, want malformed_json", rerr)
	}
}
