package ingest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
)

// fuzzLimits are small so that fuzzing reaches ETOOMANY.
var fuzzLimits = ingest.Limits{MaxRecords: 5, MaxBytes: 1 << 20}

// outcome is what a reader returned, comparable across runs.
type outcome struct {
	recs []rec
	code string
}

func outcomeOf(t *testing.T, recs []bulkid.RawRecord, err error) outcome {
	t.Helper()
	if err != nil {
		if recs != nil {
			t.Fatalf("%d records returned with error %v", len(recs), err)
		}
		return outcome{code: errCode(t, err)}
	}
	return outcome{recs: recsOf(recs)}
}

// checkReaders runs read on data as a whole, one byte at a time, and through
// LimitReaders at len(data) and len(data)-1, and checks that the results
// agree: the outcome depends on the bytes, not on how they arrive, and a
// limit a byte short of a readable input is always ETOOLARGE.
func checkReaders(t *testing.T, data []byte, read func(io.Reader) ([]bulkid.RawRecord, error)) outcome {
	t.Helper()
	recs, err := read(bytes.NewReader(data))
	want := outcomeOf(t, recs, err)
	if want.code == bulkid.ETOOLARGE {
		t.Fatalf("ETOOLARGE without a LimitReader")
	}

	recs, err = read(iotest.OneByteReader(bytes.NewReader(data)))
	if got := outcomeOf(t, recs, err); !reflect.DeepEqual(got, want) {
		t.Fatalf("one byte at a time = %+v, want %+v", got, want)
	}

	var n int64
	recs, err = read(ingest.LimitReader(bytes.NewReader(data), int64(len(data)), &n))
	if got := outcomeOf(t, recs, err); !reflect.DeepEqual(got, want) {
		t.Fatalf("limit %d = %+v, want %+v", len(data), got, want)
	}
	if n > int64(len(data)) {
		t.Fatalf("n = %d, more than the %d bytes there are", n, len(data))
	}

	if len(data) > 0 {
		recs, err = read(ingest.LimitReader(bytes.NewReader(data), int64(len(data)-1), nil))
		got := outcomeOf(t, recs, err)
		switch {
		case want.code == "" && got.code != bulkid.ETOOLARGE:
			t.Fatalf("limit %d of %d bytes = %+v, want %s", len(data)-1, len(data), got, bulkid.ETOOLARGE)
		case want.code != "" && got.code != want.code && got.code != bulkid.ETOOLARGE:
			t.Fatalf("limit %d of %d bytes = %s, want %s or %s", len(data)-1, len(data), got.code, want.code, bulkid.ETOOLARGE)
		}
	}
	return want
}

func checkSeq(t *testing.T, recs []rec) {
	t.Helper()
	if len(recs) == 0 || len(recs) > fuzzLimits.MaxRecords {
		t.Fatalf("%d records, want 1 to %d", len(recs), fuzzLimits.MaxRecords)
	}
	for i, r := range recs {
		if r.Seq != i {
			t.Fatalf("record %d has Seq %d", i, r.Seq)
		}
	}
}

func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{
		`{"companies":[{"company_id":"a"},{"company_id":"b","metadata":{"n":1}}]}`,
		`{"x":{"companies":[1]},"companies":[1,"2",null,[3],{}],"y":[]}`,
		`{"companies":[1,2,3,4,5,6]}`,
		`{"companies":[]}`,
		`{"companies":null}`,
		`{"companies":[{}],"companies":[{}]}`,
		`{"compan\u0069es":[{}]}`,
		`{"companies":[{}]} x`,
		`{"companies":[{},]}`,
		`{"companies":[{"a":`,
		`[{"company_id":"a"}]`,
		"\n {\"companies\" : [ {} ] } \n",
		"\xef\xbb\xbf{\"companies\":[{}]}",
		`{"companies":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]],"x":[[[[[[[[]]]]]]]]}`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := checkReaders(t, data, func(r io.Reader) ([]bulkid.RawRecord, error) {
			return ingest.ReadJSON(r, "companies", fuzzLimits)
		})
		// A leading BOM is skipped; encoding/json, the oracle, refuses it.
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		// Values nested deeper than bulkid.MaxDepth are refused, where
		// encoding/json allows 10,000 levels. The body's own braces add one
		// level to other members and two to records.
		deep := nesting(data) > bulkid.MaxDepth+1
		if got.code != "" {
			switch got.code {
			case bulkid.EINVALIDJSON, bulkid.EMISSINGRECORDS, bulkid.EEMPTY, bulkid.ETOOMANY:
			default:
				t.Fatalf("ReadJSON(%q) code = %q, want a documented one", data, got.code)
			}
			if got.code == bulkid.EEMPTY && !json.Valid(data) {
				t.Fatalf("ReadJSON(%q) = %s for invalid JSON", data, got.code)
			}
			if deep && got.code == bulkid.EINVALIDJSON {
				return
			}
			if json.Valid(data) && got.code == bulkid.EINVALIDJSON && countMembers(t, data, "companies") < 2 {
				t.Fatalf("ReadJSON(%q) = %s for valid JSON with the member at most once", data, got.code)
			}
			if want := oracleJSON(t, data); want != nil {
				t.Fatalf("ReadJSON(%q) = %s, want %d records", data, got.code, len(want))
			}
			return
		}
		checkSeq(t, got.recs)
		for i, r := range got.recs {
			if r.Pos != i {
				t.Fatalf("record %d has Pos %d", i, r.Pos)
			}
			if !json.Valid([]byte(r.Raw)) {
				t.Fatalf("record %d = %q, not valid JSON", i, r.Raw)
			}
		}
		// What encoding/json reads from the same bytes, element for element.
		want := oracleJSON(t, data)
		if want == nil {
			t.Fatalf("ReadJSON(%q) = %v, but the body is not an object with one companies array of 1 to %d", data, got.recs, fuzzLimits.MaxRecords)
		}
		if len(want) != len(got.recs) {
			t.Fatalf("ReadJSON(%q) = %d records, encoding/json finds %d", data, len(got.recs), len(want))
		}
		for i := range want {
			if got.recs[i].Raw != string(want[i]) {
				t.Fatalf("record %d = %q, encoding/json finds %q", i, got.recs[i].Raw, want[i])
			}
		}
	})
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

// oracleJSON returns the elements of the companies array of data when data
// is a valid JSON object with that member exactly once, holding an array of
// 1 to MaxRecords elements; otherwise nil.
func oracleJSON(t *testing.T, data []byte) []json.RawMessage {
	t.Helper()
	if !json.Valid(data) || countMembers(t, data, "companies") != 1 {
		return nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil // not an object
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(top["companies"], &elems); err != nil || elems == nil {
		return nil // not an array, or null
	}
	if len(elems) == 0 || len(elems) > fuzzLimits.MaxRecords {
		return nil
	}
	return elems
}

// countMembers counts the members named field of the top-level object of
// data, which must be valid JSON; 0 if it is not an object.
func countMembers(t *testing.T, data []byte, field string) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0
	}
	n := 0
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatalf("valid JSON %q: %v", data, err)
		}
		if key == field {
			n++
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("valid JSON %q: %v", data, err)
		}
	}
	return n
}

func FuzzReadNDJSON(f *testing.F) {
	for _, s := range []string{
		"{\"company_id\":\"a\"}\n{\"company_id\":\"b\"}\n",
		"\xef\xbb\xbf{}\r\n\r\n{}",
		"a\n\nb\n  \n\t\nc",
		"a\r\r\nb\rc\n",
		"{}\n{}\n{}\n{}\n{}\n{}\n",
		"{\"a\":\nnot json\n\xff\n",
		"\n\n\n",
		"\xef\xbb\xbf",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := checkReaders(t, data, func(r io.Reader) ([]bulkid.RawRecord, error) {
			return ingest.ReadNDJSON(r, fuzzLimits)
		})
		want, many := oracleNDJSON(data)
		switch {
		case many:
			if got.code != bulkid.ETOOMANY {
				t.Fatalf("ReadNDJSON(%q) = %+v, want %s", data, got, bulkid.ETOOMANY)
			}
			return
		case len(want) == 0:
			if got.code != bulkid.EEMPTY {
				t.Fatalf("ReadNDJSON(%q) = %+v, want %s", data, got, bulkid.EEMPTY)
			}
			return
		case got.code != "":
			t.Fatalf("ReadNDJSON(%q) = %s, want %d records", data, got.code, len(want))
		}
		checkSeq(t, got.recs)
		for i, r := range got.recs {
			if i > 0 && r.Pos <= got.recs[i-1].Pos {
				t.Fatalf("record %d has Pos %d after %d", i, r.Pos, got.recs[i-1].Pos)
			}
			if r.Pos < 1 {
				t.Fatalf("record %d has Pos %d, want a 1-based line", i, r.Pos)
			}
			if bytes.ContainsRune([]byte(r.Raw), '\n') {
				t.Fatalf("record %d = %q holds a newline", i, r.Raw)
			}
			if len(bytes.TrimSpace([]byte(r.Raw))) == 0 {
				t.Fatalf("record %d = %q is blank", i, r.Raw)
			}
		}
		if !reflect.DeepEqual(got.recs, want) {
			t.Fatalf("ReadNDJSON(%q) = %v, want %v", data, got.recs, want)
		}
	})
}

// oracleNDJSON splits data into records the plain way, and reports whether
// there are more than fuzzLimits.MaxRecords.
func oracleNDJSON(data []byte) (recs []rec, tooMany bool) {
	for i, line := range bytes.Split(data, []byte("\n")) {
		if i == 0 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(recs) == fuzzLimits.MaxRecords {
			return nil, true
		}
		recs = append(recs, rec{Seq: len(recs), Pos: i + 1, Raw: string(line)})
	}
	return recs, false
}
