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

func FuzzValidateRecord(f *testing.F) {
	for _, s := range []string{
		`{"company_id":"acme","metadata":{"plan":"pro","seats":10}}`,
		`{"user_id":42,"company_id":-7,"metadata":{"a":null,"b":true}}`,
		`{"user_id":"u","company_id":1.5}`,
		`{"company_id":1e3}`,
		`{"company_id":"","user_id":null}`,
		`{"Company_ID":"x","USER_ID":"y"}`,
		`{"company_id":"c","user_id":"u","metadata":{"a":1,"a":[1]}}`,
		`{"company_id":"c","user_id":"u","metadata":{"":1}}`,
		`{"company_id":"c","user_id":"u","metadata":{"n":12345678901234567890,"x":0.1000000000000000055511151231257827}}`,
		`{"company_id":"c","user_id":"u","metadata":"x"}`,
		"{\"company_id\":\"\xff\",\"user_id\":\"\\ud800\"}",
		`{"company_id":"\ud800","user_id":"\\ud800","metadata":{"\udc00":"\ud83d\ude00","k":"\ud800\u0041"}}`,
		`{"company_id":"a\u0000","user_id":"u","metadata":{"k\u0000":"\u0000"}}`,
		"{\"company_id\":{\"k\":\"" + strings.Repeat("a", 34) + "\u00e9\u00e9\"},\"user_id\":[\"\xff\xfe\"]}",
		`{"company_id":"c"`,
		`{"company_id":"c","user_id":"u","metadata":{"big":1e400,"small":1e-400,"z":0e-9999,"ok":5e-324}}`,
		`{"company_id":"c","user_id":"u","x":[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]}`,
		`{"company_id":"c","metadata":{"address":{"city":"Paris","geo":{"lat":1.50}},"tags":["a", "b"],"e":{},"a.b":1,"a":{"b":2}}}`,
		`{"user_id":"u","metadata":{"company":{"id":"c1","name":"Acme","plan":null}},"company":{"id":"c1"}}`,
		`{"company_id":"c","metadata":{"a":{"x":1},"a":"flat","l":["\u0000","\ud800",{"k":[]}]}}`,
		`[]`, `"x"`, `5`, `null`, ``, ` `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		orig := bytes.Clone(raw)
		// Whitespace is JSON's own (space, tab, CR, LF), not Unicode's.
		// JSON nested deeper than bulkid.MaxDepth counts as malformed.
		wellFormed := json.Valid(raw) && nesting(raw) <= bulkid.MaxDepth
		for _, typ := range []bulkid.JobType{bulkid.JobCompanies, bulkid.JobUsers} {
			rec, rerr := bulkid.ValidateRecord(typ, raw)
			if !bytes.Equal(raw, orig) {
				t.Fatalf("ValidateRecord changed its input")
			}
			frec, ferr := bulkid.ValidateRecordOpts(typ, raw, bulkid.ValidateOptions{Nested: bulkid.NestedFlatten})
			if !bytes.Equal(raw, orig) {
				t.Fatalf("ValidateRecordOpts(flatten) changed its input")
			}
			checkFuzzFlatten(t, typ, raw, wellFormed, rec, rerr, frec, ferr)
			if bulkid.WellFormed(raw) {
				// Told it is well-formed, as a JSON body's records are,
				// it gives what checking gives.
				for _, o := range []bulkid.ValidateOptions{{}, {Nested: bulkid.NestedFlatten}} {
					want, wantErr := bulkid.ValidateRecordOpts(typ, raw, o)
					o.WellFormed = true
					got, gotErr := bulkid.ValidateRecordOpts(typ, raw, o)
					if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotErr, wantErr) {
						t.Fatalf("ValidateRecordOpts(%s, %q, %+v) = %+v, %+v; without WellFormed %+v, %+v", typ, raw, o, got, gotErr, want, wantErr)
					}
				}
			}
			if rerr != nil {
				checkFuzzRecordError(t, typ, raw, wellFormed, rerr)
				continue
			}
			if !wellFormed {
				t.Fatalf("ValidateRecord(%s, %q) accepted malformed JSON", typ, raw)
			}
			checkFuzzRecord(t, typ, raw, rec, false)
		}
	})
}

func checkFuzzRecordError(t *testing.T, typ bulkid.JobType, raw []byte, wellFormed bool, rerr *bulkid.RecordError) {
	t.Helper()
	switch rerr.Code {
	case bulkid.RMalformedJSON, bulkid.RNotObject, bulkid.RMissingID, bulkid.RInvalidID,
		bulkid.RInvalidCompanyID, bulkid.RInvalidMetadata, bulkid.RNestedMetadata:
	default:
		t.Fatalf("ValidateRecord(%s, %q) code = %q, want a documented record error code", typ, raw, rerr.Code)
	}
	if rerr.Message == "" {
		t.Fatalf("ValidateRecord(%s, %q) code %s has an empty message", typ, raw, rerr.Code)
	}
	// Both go to text columns, which in PostgreSQL refuse invalid UTF-8
	// and NUL, and to JSON on the wire.
	if !storable(rerr.Message) || !storable(rerr.ID) {
		t.Fatalf("ValidateRecord(%s, %q) error %s: message %q or ID %q is not valid UTF-8 without NUL", typ, raw, rerr.Code, rerr.Message, rerr.ID)
	}
	if got := rerr.Code == bulkid.RMalformedJSON; got != !wellFormed {
		t.Fatalf("ValidateRecord(%s, %q) code = %s, but json.Valid = %v", typ, raw, rerr.Code, wellFormed)
	}
	if rerr.Code == bulkid.RInvalidCompanyID && typ != bulkid.JobUsers {
		t.Fatalf("ValidateRecord(%s, %q) = %s for a company", typ, raw, rerr.Code)
	}
	// Errors after the id is read carry it.
	switch rerr.Code {
	case bulkid.RInvalidCompanyID, bulkid.RInvalidMetadata, bulkid.RNestedMetadata:
		if rerr.ID == "" {
			t.Fatalf("ValidateRecord(%s, %q) code %s without the record's id", typ, raw, rerr.Code)
		}
	default:
		if rerr.ID != "" {
			t.Fatalf("ValidateRecord(%s, %q) code %s with ID %q, want none", typ, raw, rerr.Code, rerr.ID)
		}
	}
}

// checkFuzzFlatten checks the flatten rule's result against the default's
// (rec, rerr) and, when it is a record, as checkFuzzRecord does.
func checkFuzzFlatten(t *testing.T, typ bulkid.JobType, raw []byte, wellFormed bool, rec bulkid.Record, rerr *bulkid.RecordError, frec bulkid.Record, ferr *bulkid.RecordError) {
	t.Helper()
	switch {
	case rerr == nil:
		// What the default takes, flatten takes as it is.
		if ferr != nil || !reflect.DeepEqual(frec, rec) {
			t.Fatalf("ValidateRecordOpts(%s, %q, flatten) = %+v, %+v; want %+v as by default", typ, raw, frec, ferr, rec)
		}
	case rerr.Code != bulkid.RInvalidMetadata && rerr.Code != bulkid.RNestedMetadata:
		// Failures before the metadata are the same.
		if ferr == nil || !reflect.DeepEqual(ferr, rerr) {
			t.Fatalf("ValidateRecordOpts(%s, %q, flatten) = %+v, %+v; want %+v as by default", typ, raw, frec, ferr, rerr)
		}
	}
	// The metadata alone validates as in its record.
	var fields map[string]json.RawMessage
	if ferr == nil || ferr.Code == bulkid.RInvalidMetadata {
		if json.Unmarshal(raw, &fields) == nil {
			md, merr := bulkid.ValidateMetadata(fields["metadata"], bulkid.ValidateOptions{Nested: bulkid.NestedFlatten})
			if ferr == nil && (merr != nil || !bytes.Equal(md, frec.Metadata)) {
				t.Fatalf("ValidateMetadata(%s) = %s, %+v; want %s as in the record %q", fields["metadata"], md, merr, frec.Metadata, raw)
			}
			if ferr != nil && (merr == nil || merr.Code != ferr.Code || merr.Message != ferr.Message) {
				t.Fatalf("ValidateMetadata(%s) = %s, %+v; want %+v as in the record %q", fields["metadata"], md, merr, ferr, raw)
			}
		}
	}
	if ferr != nil {
		if ferr.Code == bulkid.RNestedMetadata {
			t.Fatalf("ValidateRecordOpts(%s, %q, flatten) = %s", typ, raw, ferr.Code)
		}
		checkFuzzRecordError(t, typ, raw, wellFormed, ferr)
		return
	}
	checkFuzzRecord(t, typ, raw, frec, true)
}

// flattenOracle is the flatten rule written again over encoding/json:
// the members of the object obj, as key and decoded value, in the order
// they are written (the last of colliding keys wins).
func flattenOracle(t *testing.T, obj json.RawMessage, prefix string, out *[]flatMember) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		t.Fatalf("oracle: %s: %v", obj, err)
	}
	type member struct {
		name string
		raw  json.RawMessage
	}
	var members []member
	last := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("oracle: %s: %v", obj, err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("oracle: %s: %v", obj, err)
		}
		last[tok.(string)] = len(members)
		members = append(members, member{tok.(string), v})
	}
	for i, m := range members {
		if last[m.name] != i {
			continue // of one object's duplicates the last wins
		}
		key := m.name
		if prefix != "" {
			key = prefix[1:] + "." + m.name
		}
		switch m.raw[0] {
		case '{':
			flattenOracle(t, m.raw, "."+key, out)
		case '[':
			var compact bytes.Buffer
			if err := json.Compact(&compact, m.raw); err != nil {
				t.Fatalf("oracle: %s: %v", m.raw, err)
			}
			*out = append(*out, flatMember{key, compact.String()})
		default:
			d := json.NewDecoder(bytes.NewReader(m.raw))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				t.Fatalf("oracle: %s: %v", m.raw, err)
			}
			*out = append(*out, flatMember{key, v})
		}
	}
}

type flatMember struct {
	key   string
	value any
}

func checkFuzzRecord(t *testing.T, typ bulkid.JobType, raw []byte, rec bulkid.Record, flattened bool) {
	t.Helper()
	if rec.ID == "" || len(rec.ID) > bulkid.MaxIDLen || !utf8.ValidString(rec.ID) {
		t.Fatalf("ValidateRecord(%s, %q) ID = %q, want 1 to %d bytes of UTF-8", typ, raw, rec.ID, bulkid.MaxIDLen)
	}
	if len(rec.CompanyID) > bulkid.MaxIDLen || !utf8.ValidString(rec.CompanyID) {
		t.Fatalf("ValidateRecord(%s, %q) CompanyID = %q", typ, raw, rec.CompanyID)
	}
	// (An array flattened holds its text as sent, which may spell \u0000.)
	if !storable(rec.ID) || !storable(rec.CompanyID) || !utf8.Valid(rec.Metadata) || !flattened && bytes.Contains(rec.Metadata, []byte(`\u0000`)) {
		t.Fatalf("ValidateRecord(%s, %q) = %+v: not valid UTF-8 without NUL, which every store holds", typ, raw, rec)
	}
	if typ == bulkid.JobCompanies && rec.CompanyID != "" {
		t.Fatalf("ValidateRecord(%s, %q) CompanyID = %q for a company, want \"\"", typ, raw, rec.CompanyID)
	}

	// The fields the record was read from exist under their exact names.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(raw), &fields); err != nil {
		t.Fatalf("ValidateRecord(%s, %q) accepted what json.Unmarshal rejects: %v", typ, raw, err)
	}
	idRaw, ok := fields[typ.IDField()]
	if !ok {
		t.Fatalf("ValidateRecord(%s, %q) = ID %q without a %s field", typ, raw, rec.ID, typ.IDField())
	}
	cidRaw, ok := fields["company_id"]
	if rec.CompanyID != "" && !ok {
		t.Fatalf("ValidateRecord(%s, %q) = CompanyID %q without a company_id field", typ, raw, rec.CompanyID)
	}
	// Invalid UTF-8 is refused, not silently replaced by U+FFFD.
	if !utf8.Valid(idRaw) || rec.CompanyID != "" && !utf8.Valid(cidRaw) {
		t.Fatalf("ValidateRecord(%s, %q) accepted an id that is not UTF-8", typ, raw)
	}
	// A string id is the text the standard decoder reads: an unpaired
	// surrogate escape, which it reads as U+FFFD, is refused, not read as
	// other text.
	for _, f := range []struct {
		raw json.RawMessage
		id  string
	}{{idRaw, rec.ID}, {cidRaw, rec.CompanyID}} {
		var s string
		if f.id != "" && json.Unmarshal(f.raw, &s) == nil && s != f.id {
			t.Fatalf("ValidateRecord(%s, %q) read the id %s as %q, want %q", typ, raw, f.raw, f.id, s)
		}
	}
	for k, v := range decodeUseNumber(t, rec.Metadata) {
		if s, ok := v.(string); !storable(k) || ok && !storable(s) {
			t.Fatalf("ValidateRecord(%s, %q) Metadata = %s: key %q or its value is not valid UTF-8 without NUL", typ, raw, rec.Metadata, k)
		}
	}

	if rec.Metadata != nil {
		if !json.Valid(rec.Metadata) || rec.Metadata[0] != '{' {
			t.Fatalf("ValidateRecord(%s, %q) Metadata = %q, want a JSON object", typ, raw, rec.Metadata)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, rec.Metadata); err != nil || !bytes.Equal(compact.Bytes(), rec.Metadata) {
			t.Fatalf("ValidateRecord(%s, %q) Metadata = %s, not compact", typ, raw, rec.Metadata)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(rec.Metadata, &m); err != nil {
			t.Fatalf("Metadata %s: %v", rec.Metadata, err)
		}
		for k, v := range m {
			if k == "" || v[0] == '{' || v[0] == '[' {
				t.Fatalf("ValidateRecord(%s, %q) Metadata = %s: key %q or its value %s is not allowed", typ, raw, rec.Metadata, k, v)
			}
			// Numbers are within a float64's range.
			if v[0] == '-' || v[0] >= '0' && v[0] <= '9' {
				if _, err := strconv.ParseFloat(string(v), 64); err != nil || len(v) > bulkid.MaxNumberLen {
					t.Fatalf("ValidateRecord(%s, %q) Metadata = %s: number %s out of range", typ, raw, rec.Metadata, v)
				}
			}
		}
		// Same content as sent, the last duplicate winning.
		want := decodeUseNumber(t, fields["metadata"])
		if flattened {
			// encoding/json reads a name that is not UTF-8, or an unpaired
			// surrogate escape, as U+FFFD; bulkid tells them apart.
			if !utf8.Valid(raw) || bytes.Contains(bytes.ToLower(raw), []byte(`\ud`)) {
				want = nil
			} else {
				var members []flatMember
				flattenOracle(t, fields["metadata"], "", &members)
				want = map[string]any{}
				for _, m := range members {
					want[m.key] = m.value
				}
			}
		}
		if got := decodeUseNumber(t, rec.Metadata); want != nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("ValidateRecord(%s, %q) Metadata = %s, decodes to %v, want %v", typ, raw, rec.Metadata, got, want)
		}
	} else if md, ok := fields["metadata"]; ok && string(md) != "null" {
		t.Fatalf("ValidateRecord(%s, %q) Metadata = nil, but the record has metadata %s", typ, raw, md)
	}

	// A record rebuilt from the result validates to the same result.
	canon := map[string]any{typ.IDField(): rec.ID}
	if rec.CompanyID != "" {
		canon["company_id"] = rec.CompanyID
	}
	if rec.Metadata != nil {
		canon["metadata"] = rec.Metadata
	}
	again, err := json.Marshal(canon)
	if err != nil {
		t.Fatalf("Marshal(%v): %v", canon, err)
	}
	rec2, rerr := bulkid.ValidateRecord(typ, again)
	if rerr != nil {
		t.Fatalf("ValidateRecord(%s, %s) rebuilt from %q = error %s: %s", typ, again, raw, rerr.Code, rerr.Message)
	}
	if !reflect.DeepEqual(rec2, rec) {
		t.Fatalf("ValidateRecord(%s, %s) = %+v, want %+v as from %q", typ, again, rec2, rec, raw)
	}
}

// storable reports whether s is text every store holds: valid UTF-8
// without NUL.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func decodeUseNumber(t *testing.T, data []byte) map[string]any {
	t.Helper()
	if data == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return m
}

// nesting returns how deeply arrays and objects nest in data, brackets in
// strings not counted.
func nesting(data []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = c == '\\'
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
