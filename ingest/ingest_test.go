package ingest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
)

// errCode returns the code of err, failing the test unless err is or wraps
// a *bulkid.Error.
func errCode(t *testing.T, err error) string {
	t.Helper()
	var be *bulkid.Error
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T) is not a *bulkid.Error", err, err)
	}
	if be.Message == "" {
		t.Errorf("error %s has an empty message", be.Code)
	}
	return be.Code
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := errCode(t, err); got != code {
		t.Fatalf("code = %q (%v), want %q", got, err, code)
	}
}

// rec is the part of a RawRecord tests compare.
type rec struct {
	Seq, Pos int
	Raw      string
}

func (r rec) String() string { return fmt.Sprintf("{seq %d pos %d %q}", r.Seq, r.Pos, r.Raw) }

func recsOf(rs []bulkid.RawRecord) []rec {
	out := make([]rec, len(rs))
	for i, r := range rs {
		out[i] = rec{r.Seq, r.Pos, string(r.Raw)}
	}
	return out
}

func checkRecs(t *testing.T, got []bulkid.RawRecord, want []rec) {
	t.Helper()
	g := recsOf(got)
	if len(g) != len(want) {
		t.Fatalf("got %d records %v, want %d %v", len(g), g, len(want), want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("record %d = %v, want %v", i, g[i], want[i])
		}
	}
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// repeatReader yields prefix, then unit over and over up to total bytes.
type repeatReader struct {
	prefix, unit []byte
	left         int64
	off          int // into prefix, then into unit
	inUnit       bool
}

func newRepeatReader(prefix, unit string, total int64) *repeatReader {
	return &repeatReader{prefix: []byte(prefix), unit: []byte(unit), left: total}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.left > 0 {
		src := r.prefix
		if r.inUnit {
			src = r.unit
		}
		if r.off == len(src) {
			r.inUnit, r.off = true, 0
			continue
		}
		c := copy(p[n:], src[r.off:])
		if int64(c) > r.left {
			c = int(r.left)
		}
		n, r.off, r.left = n+c, r.off+c, r.left-int64(c)
	}
	if n == 0 && r.left == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func small(n int) ingest.Limits { return ingest.Limits{MaxRecords: n, MaxBytes: bulkid.MaxBytes} }

func TestReadJSONPositions(t *testing.T) {
	t.Parallel()
	body := `{"companies": [ {"company_id":"a"} , 5,"x" ,null, [1, 2],
		{ "company_id" : "b", "metadata": {"x": [1]} },{}]}`
	recs, err := ingest.ReadJSON(strings.NewReader(body), "companies", small(10))
	if err != nil {
		t.Fatalf("ReadJSON: %v", err)
	}
	// Each element is kept byte for byte, inner spaces included.
	checkRecs(t, recs, []rec{
		{0, 0, `{"company_id":"a"}`},
		{1, 1, `5`},
		{2, 2, `"x"`},
		{3, 3, `null`},
		{4, 4, `[1, 2]`},
		{5, 5, `{ "company_id" : "b", "metadata": {"x": [1]} }`},
		{6, 6, `{}`},
	})
}

func TestReadJSONIgnoresOtherMembers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, field, body string
		want              []rec
	}{
		{"before and after", "companies", `{"meta":{"companies":[1,2]},"companies":[{"company_id":"a"}],"x":[1,{"a":null}],"y":"z","n":1.5,"b":false,"z":null}`,
			[]rec{{0, 0, `{"company_id":"a"}`}}},
		{"users", "users", `{"companies":[{"company_id":"a"}],"users":[{"user_id":"u"},{"user_id":"v"}]}`,
			[]rec{{0, 0, `{"user_id":"u"}`}, {1, 1, `{"user_id":"v"}`}}},
		{"escaped member name", "companies", `{"compan\u0069es":[7]}`, []rec{{0, 0, `7`}}},
		{"spaces everywhere", "companies", " \n{ \"companies\" :\t[ 1 ,\r\n2 ] }\n \n", []rec{{0, 0, `1`}, {1, 1, `2`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs, err := ingest.ReadJSON(strings.NewReader(tc.body), tc.field, small(10))
			if err != nil {
				t.Fatalf("ReadJSON(%s): %v", tc.body, err)
			}
			checkRecs(t, recs, tc.want)
		})
	}
}

func TestReadJSONErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, code string
	}{
		{"member missing", `{}`, bulkid.EMISSINGRECORDS},
		{"only other members", `{"users":[{"user_id":"u"}],"other":[]}`, bulkid.EMISSINGRECORDS},
		{"member name is case-sensitive", `{"Companies":[{}]}`, bulkid.EMISSINGRECORDS},
		{"member only nested", `{"data":{"companies":[{}]}}`, bulkid.EMISSINGRECORDS},
		{"member null", `{"companies":null}`, bulkid.EMISSINGRECORDS},
		{"member object", `{"companies":{"company_id":"a"}}`, bulkid.EMISSINGRECORDS},
		{"member string", `{"companies":"[]"}`, bulkid.EMISSINGRECORDS},
		{"member number", `{"companies":5}`, bulkid.EMISSINGRECORDS},
		{"member boolean", `{"companies":true}`, bulkid.EMISSINGRECORDS},
		{"array body", `[{"company_id":"a"}]`, bulkid.EMISSINGRECORDS},
		{"empty array body", `[]`, bulkid.EMISSINGRECORDS},
		{"string body", `"companies"`, bulkid.EMISSINGRECORDS},
		{"number body", `5`, bulkid.EMISSINGRECORDS},
		{"null body", `null`, bulkid.EMISSINGRECORDS},

		{"empty body", ``, bulkid.EINVALIDJSON},
		{"blank body", " \n\t ", bulkid.EINVALIDJSON},
		{"just a brace", `{`, bulkid.EINVALIDJSON},
		{"truncated after array", `{"companies":[{}]`, bulkid.EINVALIDJSON},
		{"truncated in element", `{"companies":[{"company_id":"a`, bulkid.EINVALIDJSON},
		{"truncated after element", `{"companies":[{}`, bulkid.EINVALIDJSON},
		{"truncated after comma", `{"companies":[{},`, bulkid.EINVALIDJSON},
		{"truncated empty array", `{"companies":[]`, bulkid.EINVALIDJSON},
		{"invalid in element", `{"companies":[{"company_id":}]}`, bulkid.EINVALIDJSON},
		{"invalid in second element", `{"companies":[{},{"a" 1}]}`, bulkid.EINVALIDJSON},
		{"control character in element", "{\"companies\":[{\"a\":\"\x01\"}]}", bulkid.EINVALIDJSON},
		{"bare word element", `{"companies":[{},nope]}`, bulkid.EINVALIDJSON},
		{"trailing comma in array", `{"companies":[{},]}`, bulkid.EINVALIDJSON},
		{"leading comma in array", `{"companies":[,{}]}`, bulkid.EINVALIDJSON},
		{"double comma in array", `{"companies":[{},,{}]}`, bulkid.EINVALIDJSON},
		{"missing comma in array", `{"companies":[{} {}]}`, bulkid.EINVALIDJSON},
		{"trailing comma in object", `{"companies":[{}],}`, bulkid.EINVALIDJSON},
		{"missing comma in object", `{"companies":[{}] "x":1}`, bulkid.EINVALIDJSON},
		{"missing colon", `{"companies" [{}]}`, bulkid.EINVALIDJSON},
		{"bare member name", `{companies:[{}]}`, bulkid.EINVALIDJSON},
		{"invalid member before", `{"x":tru,"companies":[{}]}`, bulkid.EINVALIDJSON},
		{"invalid member after", `{"companies":[{}],"x":nul}`, bulkid.EINVALIDJSON},
		{"truncated member after", `{"companies":[{}],"x":"abc`, bulkid.EINVALIDJSON},
		{"trailing garbage", `{"companies":[{}]} x`, bulkid.EINVALIDJSON},
		{"trailing second object", `{"companies":[{}]}{"companies":[{}]}`, bulkid.EINVALIDJSON},
		{"trailing number", `{"companies":[{}]} 5`, bulkid.EINVALIDJSON},
		{"trailing bracket", `{"companies":[{}]}]`, bulkid.EINVALIDJSON},
		{"trailing brace", `{"companies":[{}]}}`, bulkid.EINVALIDJSON},
		{"trailing comma", `{"companies":[{}]},`, bulkid.EINVALIDJSON},
		{"trailing NUL", "{\"companies\":[{}]}\x00", bulkid.EINVALIDJSON},
		{"member twice", `{"companies":[{}],"companies":[{}]}`, bulkid.EINVALIDJSON},
		{"member twice, second null", `{"companies":[{}],"companies":null}`, bulkid.EINVALIDJSON},
		{"member twice, other between", `{"companies":[{}],"x":1,"compan\u0069es":[{}]}`, bulkid.EINVALIDJSON},

		{"empty array", `{"companies":[]}`, bulkid.EEMPTY},
		{"empty array with spaces", "{\"companies\":[ \n ]}", bulkid.EEMPTY},
		{"empty array and other members", `{"x":[1],"companies":[],"y":{}}`, bulkid.EEMPTY},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs, err := ingest.ReadJSON(strings.NewReader(tc.body), "companies", small(10))
			if err == nil {
				t.Fatalf("ReadJSON(%q) = %v, want %s", tc.body, recsOf(recs), tc.code)
			}
			if recs != nil {
				t.Errorf("ReadJSON(%q) = %d records with the error, want none", tc.body, len(recs))
			}
			wantCode(t, err, tc.code)
		})
	}
}

// jsonBody returns a companies body of n records.
func jsonBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"companies":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"company_id":"c%d"}`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

func TestReadJSONMaxRecords(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 3; n++ {
		recs, err := ingest.ReadJSON(strings.NewReader(jsonBody(n)), "companies", small(3))
		if err != nil {
			t.Fatalf("%d records, MaxRecords 3: %v", n, err)
		}
		if len(recs) != n {
			t.Fatalf("%d records, MaxRecords 3: got %d", n, len(recs))
		}
	}
	for _, n := range []int{4, 5, 100} {
		_, err := ingest.ReadJSON(strings.NewReader(jsonBody(n)), "companies", small(3))
		wantCode(t, err, bulkid.ETOOMANY)
	}
	// A broken tail behind the extra record is not read.
	_, err := ingest.ReadJSON(strings.NewReader(`{"companies":[1,2,3,4,`), "companies", small(3))
	wantCode(t, err, bulkid.ETOOMANY)
}

func TestReadJSONDefaultMaxRecords(t *testing.T) {
	t.Parallel()
	recs, err := ingest.ReadJSON(strings.NewReader(jsonBody(bulkid.MaxRecords)), "companies", ingest.DefaultLimits)
	if err != nil {
		t.Fatalf("%d records: %v", bulkid.MaxRecords, err)
	}
	if len(recs) != bulkid.MaxRecords {
		t.Fatalf("got %d records, want %d", len(recs), bulkid.MaxRecords)
	}
	for i, r := range recs {
		if r.Seq != i || r.Pos != i || string(r.Raw) != `{"company_id":"c`+strconv.Itoa(i)+`"}` {
			t.Fatalf("record %d = %v", i, rec{r.Seq, r.Pos, string(r.Raw)})
		}
	}
	_, err = ingest.ReadJSON(strings.NewReader(jsonBody(bulkid.MaxRecords+1)), "companies", ingest.DefaultLimits)
	wantCode(t, err, bulkid.ETOOMANY)
}

func TestReadJSONStopsAtTooMany(t *testing.T) {
	t.Parallel()
	const total = 50 << 20
	src := newRepeatReader(`{"companies":[`, `{"company_id":"acme","metadata":{"plan":"pro"}},`, total)
	cr := &countingReader{r: src}
	_, err := ingest.ReadJSON(cr, "companies", small(3))
	wantCode(t, err, bulkid.ETOOMANY)
	if cr.n > 64<<10 {
		t.Errorf("read %d bytes of %d before failing, want at most %d", cr.n, total, 64<<10)
	}
}

func TestReadJSONByteLimit(t *testing.T) {
	t.Parallel()
	body := `{"x":"abc","companies":[{"company_id":"a","metadata":{"n":12}},{"company_id":"b"}],"y":[1,2]}` + "\n"
	size := int64(len(body))

	var n int64
	recs, err := ingest.ReadJSON(ingest.LimitReader(strings.NewReader(body), size, &n), "companies", small(10))
	if err != nil {
		t.Fatalf("exactly %d bytes: %v", size, err)
	}
	if len(recs) != 2 || n != size {
		t.Errorf("exactly %d bytes: got %d records and n = %d, want 2 and %d", size, len(recs), n, size)
	}

	// Whatever byte the limit falls on, the error is the limit.
	for max := range size {
		_, err := ingest.ReadJSON(ingest.LimitReader(strings.NewReader(body), max, nil), "companies", small(10))
		if err == nil {
			t.Fatalf("limit %d of %d bytes: err = nil, want %s", max, size, bulkid.ETOOLARGE)
		}
		if got := errCode(t, err); got != bulkid.ETOOLARGE {
			t.Fatalf("limit %d of %d bytes: code = %q (%v), want %q", max, size, got, err, bulkid.ETOOLARGE)
		}
	}
}

func TestReadJSONReadPatterns(t *testing.T) {
	t.Parallel()
	body := `{"companies":[{"company_id":"a","metadata":{"s":"x y"}}, 12345678901234567890 ,"z"]}`
	want := []rec{{0, 0, `{"company_id":"a","metadata":{"s":"x y"}}`}, {1, 1, `12345678901234567890`}, {2, 2, `"z"`}}
	readers := map[string]func() io.Reader{
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(body)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(strings.NewReader(body)) },
	}
	for name, r := range readers {
		recs, err := ingest.ReadJSON(r(), "companies", small(10))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkRecs(t, recs, want)
	}
}

func TestReadJSONReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader(`{"companies":[{}`), iotest.ErrReader(boom))
	_, err := ingest.ReadJSON(r, "companies", small(10))
	if err == nil {
		t.Fatalf("err = nil, want an error")
	}
	// A failing connection is not the client's JSON: the read error comes
	// back as it is, for the caller to answer, not as invalid_json.
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the read error itself", err)
	}
}

func TestReadNDJSONLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []rec
	}{
		{"blank lines counted", "a\n\nb\n  \n\t\n \r\nc\n", []rec{{0, 1, "a"}, {1, 3, "b"}, {2, 7, "c"}}},
		{"leading blank lines", "\n\n{}\n", []rec{{0, 3, "{}"}}},
		{"last line without newline", "{\"a\":1}\n{\"b\":2}", []rec{{0, 1, `{"a":1}`}, {1, 2, `{"b":2}`}}},
		{"single line without newline", "{}", []rec{{0, 1, "{}"}}},
		{"CRLF", "{\"a\":1}\r\n\r\n{\"b\":2}\r\n", []rec{{0, 1, `{"a":1}`}, {1, 3, `{"b":2}`}}},
		{"CR on last line", "{}\r", []rec{{0, 1, "{}"}}},
		{"one CR stripped", "a\r\r\nb\n", []rec{{0, 1, "a\r"}, {1, 2, "b"}}},
		{"CR inside kept", "a\rb\n", []rec{{0, 1, "a\rb"}}},
		{"BOM on line 1", "\xef\xbb\xbf{\"a\":1}\n{}\n", []rec{{0, 1, `{"a":1}`}, {1, 2, "{}"}}},
		{"BOM with CRLF", "\xef\xbb\xbf{}\r\n", []rec{{0, 1, "{}"}}},
		{"BOM alone on line 1", "\xef\xbb\xbf\n{}", []rec{{0, 2, "{}"}}},
		{"BOM on line 2 kept", "{}\n\xef\xbb\xbf{}\n", []rec{{0, 1, "{}"}, {1, 2, "\xef\xbb\xbf{}"}}},
		{"only one BOM stripped", "\xef\xbb\xbf\xef\xbb\xbf{}", []rec{{0, 1, "\xef\xbb\xbf{}"}}},
		{"malformed lines kept", "{\"a\":\nnot json\n[1,2]\n\"x\"\n\xff\xfe\n", []rec{{0, 1, `{"a":`}, {1, 2, "not json"}, {2, 3, "[1,2]"}, {3, 4, `"x"`}, {4, 5, "\xff\xfe"}}},
		{"spaces around kept", "  {\"a\":1}\t \n", []rec{{0, 1, "  {\"a\":1}\t "}}},
		{"JSON array body is one line", "{\"companies\":[{}]}", []rec{{0, 1, `{"companies":[{}]}`}}},
		{"pretty JSON is many lines", "{\n  \"a\": 1\n}\n", []rec{{0, 1, "{"}, {1, 2, `  "a": 1`}, {2, 3, "}"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs, err := ingest.ReadNDJSON(strings.NewReader(tc.in), small(10))
			if err != nil {
				t.Fatalf("ReadNDJSON(%q): %v", tc.in, err)
			}
			checkRecs(t, recs, tc.want)
			// The result does not depend on how the input arrives.
			recs, err = ingest.ReadNDJSON(iotest.OneByteReader(strings.NewReader(tc.in)), small(10))
			if err != nil {
				t.Fatalf("ReadNDJSON(%q) one byte at a time: %v", tc.in, err)
			}
			checkRecs(t, recs, tc.want)
		})
	}
}

func TestReadNDJSONEmpty(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "\n", "\n\n\n", " \t\r\n\r\n  ", "\xef\xbb\xbf", "\xef\xbb\xbf\r\n\n"} {
		recs, err := ingest.ReadNDJSON(strings.NewReader(in), small(10))
		if err == nil {
			t.Fatalf("ReadNDJSON(%q) = %v, want %s", in, recsOf(recs), bulkid.EEMPTY)
		}
		wantCode(t, err, bulkid.EEMPTY)
	}
}

func TestReadNDJSONLongLines(t *testing.T) {
	t.Parallel()
	const buf = 64 * 1024 // ReadNDJSON's buffer
	line := func(n int) string {
		b := []byte(strings.Repeat("x", n))
		for i := 0; i < n; i += 997 {
			b[i] = byte('a' + i%26) // no two regions alike
		}
		return string(b)
	}
	for _, n := range []int{buf - 2, buf - 1, buf, buf + 1, 2 * buf, bulkid.MaxRecordBytes} {
		long := line(n)
		for _, tail := range []string{"", "\n", "\r\n", "\n\n{}\n"} {
			in := "{}\n" + long + tail
			want := []rec{{0, 1, "{}"}, {1, 2, long}}
			if tail == "\n\n{}\n" {
				want = append(want, rec{2, 4, "{}"})
			}
			recs, err := ingest.ReadNDJSON(strings.NewReader(in), small(10))
			if err != nil {
				t.Fatalf("line of %d bytes, tail %q: %v", n, tail, err)
			}
			g := recsOf(recs)
			if len(g) != len(want) {
				t.Fatalf("line of %d bytes, tail %q: got %d records, want %d", n, tail, len(g), len(want))
			}
			for i := range want {
				if g[i] != want[i] {
					t.Fatalf("line of %d bytes, tail %q: record %d = seq %d pos %d, %d bytes; want seq %d pos %d, %d bytes",
						n, tail, i, g[i].Seq, g[i].Pos, len(g[i].Raw), want[i].Seq, want[i].Pos, len(want[i].Raw))
				}
			}
		}
	}
	// A BOM on a long first line goes too.
	long := line(3 * buf)
	recs, err := ingest.ReadNDJSON(strings.NewReader("\xef\xbb\xbf"+long+"\n"), small(10))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || string(recs[0].Raw) != long {
		t.Errorf("long first line with BOM: got %d records, first %d bytes; want 1 of %d bytes", len(recs), len(recs[0].Raw), len(long))
	}
}

func TestReadNDJSONRecordsAreCopies(t *testing.T) {
	t.Parallel()
	in := strings.Repeat(`{"company_id":"abcdefgh"}`+"\n", 5000) // several buffer fills
	recs, err := ingest.ReadNDJSON(strings.NewReader(in), small(5000))
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].Raw[0] = 'X'
	}
	for i, r := range recs {
		if string(r.Raw) != `X"company_id":"abcdefgh"}` {
			t.Fatalf("record %d = %q after writing to each record's first byte; records share memory", i, r.Raw)
		}
	}
}

func ndjsonBody(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"company_id\":\"c%d\"}\n", i)
	}
	return b.String()
}

func TestReadNDJSONMaxRecords(t *testing.T) {
	t.Parallel()
	recs, err := ingest.ReadNDJSON(strings.NewReader("\n{}\n\n{}\n  \n{}\n\n\n"), small(3))
	if err != nil {
		t.Fatalf("3 records and blank lines, MaxRecords 3: %v", err)
	}
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	for _, in := range []string{"{}\n{}\n{}\n{}\n", "{}\n{}\n{}\n{}", "a\nb\nc\nd\ne\n"} {
		_, err := ingest.ReadNDJSON(strings.NewReader(in), small(3))
		wantCode(t, err, bulkid.ETOOMANY)
	}

	recs, err = ingest.ReadNDJSON(strings.NewReader(ndjsonBody(bulkid.MaxRecords)), ingest.DefaultLimits)
	if err != nil {
		t.Fatalf("%d records: %v", bulkid.MaxRecords, err)
	}
	if len(recs) != bulkid.MaxRecords {
		t.Fatalf("got %d records, want %d", len(recs), bulkid.MaxRecords)
	}
	for i, r := range recs {
		if r.Seq != i || r.Pos != i+1 || string(r.Raw) != `{"company_id":"c`+strconv.Itoa(i)+`"}` {
			t.Fatalf("record %d = %v", i, rec{r.Seq, r.Pos, string(r.Raw)})
		}
	}
	_, err = ingest.ReadNDJSON(strings.NewReader(ndjsonBody(bulkid.MaxRecords+1)), ingest.DefaultLimits)
	wantCode(t, err, bulkid.ETOOMANY)
}

func TestReadNDJSONStopsAtTooMany(t *testing.T) {
	t.Parallel()
	const total = 50 << 20
	cr := &countingReader{r: newRepeatReader("", `{"company_id":"acme","metadata":{"plan":"pro"}}`+"\n", total)}
	_, err := ingest.ReadNDJSON(cr, small(3))
	wantCode(t, err, bulkid.ETOOMANY)
	if cr.n > 128<<10 {
		t.Errorf("read %d bytes of %d before failing, want at most %d", cr.n, total, 128<<10)
	}
}

func TestReadNDJSONByteLimit(t *testing.T) {
	t.Parallel()
	body := "{\"company_id\":\"a\"}\r\n\n{\"company_id\":\"b\"}\n"
	size := int64(len(body))
	var n int64
	recs, err := ingest.ReadNDJSON(ingest.LimitReader(strings.NewReader(body), size, &n), small(10))
	if err != nil {
		t.Fatalf("exactly %d bytes: %v", size, err)
	}
	if len(recs) != 2 || n != size {
		t.Errorf("exactly %d bytes: got %d records and n = %d, want 2 and %d", size, len(recs), n, size)
	}
	for max := range size {
		_, err := ingest.ReadNDJSON(ingest.LimitReader(strings.NewReader(body), max, nil), small(10))
		if err == nil {
			t.Fatalf("limit %d of %d bytes: err = nil, want %s", max, size, bulkid.ETOOLARGE)
		}
		if got := errCode(t, err); got != bulkid.ETOOLARGE {
			t.Fatalf("limit %d of %d bytes: code = %q, want %q", max, size, got, bulkid.ETOOLARGE)
		}
	}
	// Over the limit inside a line longer than the buffer.
	long := strings.Repeat("x", 200<<10)
	_, err = ingest.ReadNDJSON(ingest.LimitReader(strings.NewReader(long), 100<<10, nil), small(10))
	wantCode(t, err, bulkid.ETOOLARGE)
}

func TestReadNDJSONReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, head := range []string{"", "{}\n", "{}\n{\"a\":", strings.Repeat("x", 100<<10)} {
		r := io.MultiReader(strings.NewReader(head), iotest.ErrReader(boom))
		recs, err := ingest.ReadNDJSON(r, small(10))
		if !errors.Is(err, boom) {
			t.Errorf("after %d bytes: err = %v, want %v", len(head), err, boom)
		}
		if recs != nil {
			t.Errorf("after %d bytes: got %d records with the error, want none", len(head), len(recs))
		}
	}
}

// recordingReader serves data and fails the test if asked for bytes past
// stop.
type recordingReader struct {
	t     *testing.T
	data  []byte
	off   int
	stop  int
	calls int
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.calls++
	if r.off+len(p) > r.stop {
		r.t.Errorf("asked for bytes %d to %d, want none past %d", r.off, r.off+len(p), r.stop)
	}
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}

func TestLimitReader(t *testing.T) {
	t.Parallel()
	const max = 1000
	data := bytes.Repeat([]byte("0123456789"), max) // 10*max bytes

	t.Run("exactly max", func(t *testing.T) {
		t.Parallel()
		var n int64
		got, err := io.ReadAll(ingest.LimitReader(bytes.NewReader(data[:max]), max, &n))
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if !bytes.Equal(got, data[:max]) {
			t.Errorf("read %d bytes, want the %d sent", len(got), max)
		}
		if n != max {
			t.Errorf("n = %d, want %d", n, max)
		}
	})
	t.Run("max plus one", func(t *testing.T) {
		t.Parallel()
		var n int64
		_, err := io.ReadAll(ingest.LimitReader(bytes.NewReader(data[:max+1]), max, &n))
		wantCode(t, err, bulkid.ETOOLARGE)
		if n != max+1 {
			t.Errorf("n = %d, want %d", n, max+1)
		}
	})
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		var n int64
		got, err := io.ReadAll(ingest.LimitReader(bytes.NewReader(nil), 0, &n))
		if err != nil || len(got) != 0 || n != 0 {
			t.Errorf("ReadAll = %q, %v, n = %d; want empty, nil, 0", got, err, n)
		}
		_, err = io.ReadAll(ingest.LimitReader(strings.NewReader("x"), 0, nil))
		wantCode(t, err, bulkid.ETOOLARGE)
	})
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"big reads": func(r io.Reader) io.Reader { return r },
		"one byte":  iotest.OneByteReader,
		"half":      iotest.HalfReader,
	} {
		t.Run("never reads past max+1/"+name, func(t *testing.T) {
			t.Parallel()
			src := &recordingReader{t: t, data: data, stop: max + 1}
			var n int64
			lr := ingest.LimitReader(wrap(src), max, &n)
			buf := make([]byte, 4*max)
			var got []byte
			var err error
			for err == nil {
				var k int
				k, err = lr.Read(buf)
				got = append(got, buf[:k]...)
			}
			wantCode(t, err, bulkid.ETOOLARGE)
			if src.off != max+1 {
				t.Errorf("read %d bytes from the source, want %d", src.off, max+1)
			}
			if n != max+1 {
				t.Errorf("n = %d, want %d", n, max+1)
			}
			if len(got) > max || !bytes.Equal(got, data[:len(got)]) {
				t.Errorf("passed on %d bytes, want at most %d, in order", len(got), max)
			}
			// Once over, it stays over without touching the source.
			calls := src.calls
			for range 3 {
				k, err := lr.Read(buf)
				if k != 0 {
					t.Errorf("Read after the limit = %d bytes, want 0", k)
				}
				wantCode(t, err, bulkid.ETOOLARGE)
			}
			if src.calls != calls {
				t.Errorf("source read %d more times after the limit, want 0", src.calls-calls)
			}
		})
	}
	t.Run("source error passes", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		_, err := io.ReadAll(ingest.LimitReader(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), max, nil))
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want %v", err, boom)
		}
	})
}

func TestLimitError(t *testing.T) {
	t.Parallel()
	err := ingest.LimitError(bulkid.MaxBytes)
	wantCode(t, err, bulkid.ETOOLARGE)
	if !strings.Contains(err.Error(), strconv.Itoa(bulkid.MaxBytes)) {
		t.Errorf("message %q does not name the limit %d", err.Error(), bulkid.MaxBytes)
	}
}

// A number too large for float64 is still valid JSON, wherever it stands.
func TestReadJSONHugeNumbers(t *testing.T) {
	t.Parallel()
	huge := "2" + strings.Repeat("0", 400)
	recs, err := ingest.ReadJSON(strings.NewReader(`{"count":`+huge+`,"companies":[{"company_id":"a","metadata":{"n":`+huge+`}}]}`), "companies", small(10))
	if err != nil || len(recs) != 1 {
		t.Fatalf("ReadJSON with a huge number beside the array: %d records, %v", len(recs), err)
	}
	_, err = ingest.ReadJSON(strings.NewReader(huge), "companies", small(10))
	var be *bulkid.Error
	if !errors.As(err, &be) || be.Code != bulkid.EMISSINGRECORDS {
		t.Fatalf("a huge number as the body: %v, want missing_records", err)
	}
}

// A UTF-8 byte-order mark may start a JSON body, as it may an NDJSON file;
// only one, only at the very start, and offsets in messages count it.
func TestReadJSONByteOrderMark(t *testing.T) {
	t.Parallel()
	recs, err := ingest.ReadJSON(strings.NewReader("\xef\xbb\xbf{\"companies\":[{\"company_id\":\"a\"}]}\r\n"), "companies", small(10))
	if err != nil {
		t.Fatalf("BOM before the body: %v", err)
	}
	checkRecs(t, recs, []rec{{0, 0, `{"company_id":"a"}`}})
	for _, tc := range []struct{ name, body, code string }{
		{"two BOMs", "\xef\xbb\xbf\xef\xbb\xbf{\"companies\":[{}]}", bulkid.EINVALIDJSON},
		{"BOM after a space", " \xef\xbb\xbf{\"companies\":[{}]}", bulkid.EINVALIDJSON},
		{"BOM inside", "{\xef\xbb\xbf\"companies\":[{}]}", bulkid.EINVALIDJSON},
		{"BOM alone", "\xef\xbb\xbf", bulkid.EINVALIDJSON},
		{"half a BOM", "\xef\xbb{\"companies\":[{}]}", bulkid.EINVALIDJSON},
		{"BOM then an empty array", "\xef\xbb\xbf{\"companies\":[]}", bulkid.EEMPTY},
	} {
		_, err := ingest.ReadJSON(strings.NewReader(tc.body), "companies", small(10))
		if got := errCode(t, err); got != tc.code {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.code)
		}
	}
	// Byte offsets are of the body as sent, BOM included.
	_, err = ingest.ReadJSON(strings.NewReader("\xef\xbb\xbf{\"companies\":[{}] x}"), "companies", small(10))
	if err == nil || !strings.Contains(err.Error(), "at byte 22") {
		t.Errorf("error %v, want the offset of x counted from the BOM (byte 22)", err)
	}
}

// JSON nested deeper than bulkid.MaxDepth is refused without recursion;
// within the limit it is read. An NDJSON line is not parsed here at all:
// a deep line is a record, and fails alone when the job validates it.
func TestReadJSONDeepNesting(t *testing.T) {
	t.Parallel()
	nest := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }
	ok := `{"companies":[` + nest(bulkid.MaxDepth) + `],"other":` + nest(bulkid.MaxDepth) + `}`
	if recs, err := ingest.ReadJSON(strings.NewReader(ok), "companies", small(10)); err != nil || len(recs) != 1 {
		t.Fatalf("values nested exactly %d deep: %d records, %v", bulkid.MaxDepth, len(recs), err)
	}
	for _, tc := range []struct{ name, body string }{
		{"element one level too deep", `{"companies":[` + nest(bulkid.MaxDepth+1) + `]}`},
		{"element 10,000 deep in metadata", `{"companies":[{"company_id":"c","metadata":{"x":` + nest(10000) + `}}]}`},
		{"element 500,000 deep", `{"companies":[` + nest(500_000) + `]}`},
		{"other member 500,000 deep", `{"other":` + nest(500_000) + `,"companies":[{}]}`},
	} {
		_, err := ingest.ReadJSON(strings.NewReader(tc.body), "companies", small(10))
		wantCode(t, err, bulkid.EINVALIDJSON)
		if !strings.Contains(err.Error(), strconv.Itoa(bulkid.MaxDepth)+" levels deep") {
			t.Errorf("%s: message %q does not name the depth limit", tc.name, err)
		}
	}
	line := nest(500_000)
	recs, err := ingest.ReadNDJSON(strings.NewReader("{}\n"+line+"\n{}\n"), small(10))
	if err != nil || len(recs) != 3 || len(recs[1].Raw) != len(line) {
		t.Fatalf("a deep NDJSON line: %d records, %v; want 3, the deep one as sent", len(recs), err)
	}
}

// Messages name the 1-based byte offset of the offending byte.
func TestReadJSONErrorOffsets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		at   int
	}{
		{`{"companies":[{}] x}`, 19},
		{`{"companies":[{}}]}`, 17},
		{`{"x":1 "companies":[{}]}`, 8},
		{`{"x":tru,"companies":[{}]}`, 6},
		{`{"companies":[{}, {"a" 1}]}`, 19},
		{`{"companies":[{}]}  }`, 21},
	} {
		_, err := ingest.ReadJSON(strings.NewReader(tc.body), "companies", small(10))
		wantCode(t, err, bulkid.EINVALIDJSON)
		if want := fmt.Sprintf("byte %d)", tc.at); !strings.Contains(err.Error(), want) && !strings.Contains(err.Error(), fmt.Sprintf("byte %d ", tc.at)) {
			t.Errorf("%s: %v, want the offset %d", tc.body, err, tc.at)
		}
	}
}

// An NDJSON line over bulkid.MaxRecordBytes is read to its end but kept as
// a stand-in holding its size and first kilobyte, so it fails alone as
// record_too_large; the lines after it are read as usual.
func TestReadNDJSONOversizedLine(t *testing.T) {
	t.Parallel()
	for _, n := range []int{bulkid.MaxRecordBytes + 1, 5 << 20, 40 << 20} {
		line := `{"company_id":"big","metadata":{"pad":"` + strings.Repeat("p", n-len(`{"company_id":"big","metadata":{"pad":""}}`)) + `"}}`
		for _, end := range []string{"\n", "\r\n", ""} {
			in := "{}\n" + line + end
			if end != "" {
				in += `{"company_id":"after"}` + "\n"
			}
			recs, err := ingest.ReadNDJSON(strings.NewReader(in), small(10))
			if err != nil {
				t.Fatalf("line of %d bytes: %v", n, err)
			}
			want := 3
			if end == "" {
				want = 2
			}
			if len(recs) != want {
				t.Fatalf("line of %d bytes, end %q: %d records, want %d", n, end, len(recs), want)
			}
			big := recs[1]
			if big.Pos != 2 || len(big.Raw) > 2048 {
				t.Fatalf("line of %d bytes: kept %d bytes at line %d, want a stand-in of about a kilobyte at line 2", n, len(big.Raw), big.Pos)
			}
			_, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, big.Raw)
			if rerr == nil || rerr.Code != bulkid.RRecordTooLarge || !strings.Contains(rerr.Message, fmt.Sprintf("is %d bytes", n)) {
				t.Fatalf("line of %d bytes, end %q: validation = %+v, want record_too_large naming %d bytes", n, end, rerr, n)
			}
			if string(rerr.Raw) != line[:1024] {
				t.Errorf("line of %d bytes: the report shows %q…, want the line's first kilobyte", n, rerr.Raw[:min(40, len(rerr.Raw))])
			}
			if end != "" && string(recs[2].Raw) != `{"company_id":"after"}` {
				t.Errorf("the line after the long one = %q", recs[2].Raw)
			}
		}
	}
	// A line of exactly the limit is a record like any other.
	line := `{"company_id":"c","metadata":{"pad":"` + strings.Repeat("p", bulkid.MaxRecordBytes-len(`{"company_id":"c","metadata":{"pad":""}}`)) + `"}}`
	recs, err := ingest.ReadNDJSON(strings.NewReader(line+"\r\n"), small(10))
	if err != nil || len(recs) != 1 || string(recs[0].Raw) != line {
		t.Fatalf("a line of exactly %d bytes: %d records, %v", bulkid.MaxRecordBytes, len(recs), err)
	}
	if _, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, recs[0].Raw); rerr != nil {
		t.Errorf("a line of exactly %d bytes: %+v", bulkid.MaxRecordBytes, rerr)
	}
}

// A JSON body whose element, member name or other member is over
// bulkid.MaxRecordBytes is refused with payload_too_large naming it, and
// reading stops right after the limit: the rest of the body is not read.
func TestReadJSONOversizedValue(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("p", 20<<20)
	for _, tc := range []struct{ name, body, what string }{
		{"element", `{"companies":[{"company_id":"a"},{"company_id":"b","metadata":{"pad":"` + huge + `"}}]}`, "In the body, record 1 at byte 34 is larger"},
		{"element, a bare string", `{"companies":["` + huge + `"]}`, "In the body, record 0 at byte 15 is larger"},
		{"element, a bare number", `{"companies":[1` + strings.Repeat("0", 2<<20) + `]}`, "In the body, record 0 at byte 15 is larger"},
		{"other member", `{"x":{"pad":"` + huge + `"},"companies":[{}]}`, "In the body, the value at byte 6 is larger"},
		{"member name", `{"` + huge + `":1,"companies":[{}]}`, "In the body, the member name at byte 2 is larger"},
	} {
		cr := &countingReader{r: strings.NewReader(tc.body)}
		_, err := ingest.ReadJSON(cr, "companies", small(10))
		wantCode(t, err, bulkid.ETOOLARGE)
		if !strings.Contains(err.Error(), tc.what) || !strings.Contains(err.Error(), "1 MiB") || strings.Contains(err.Error(), "body's") {
			t.Errorf("%s: message %q, want it to name the %s and the 1 MiB limit", tc.name, err, tc.what)
		}
		if cr.n > 2*bulkid.MaxRecordBytes {
			t.Errorf("%s: read %d bytes of the body before refusing it; want at most about the limit", tc.name, cr.n)
		}
	}
	// An element of exactly the limit is read.
	elem := `{"company_id":"c","metadata":{"pad":"` + strings.Repeat("p", bulkid.MaxRecordBytes-len(`{"company_id":"c","metadata":{"pad":""}}`)) + `"}}`
	recs, err := ingest.ReadJSON(strings.NewReader(`{"companies":[`+elem+`]}`), "companies", small(10))
	if err != nil || len(recs) != 1 || string(recs[0].Raw) != elem {
		t.Fatalf("an element of exactly %d bytes: %d records, %v", bulkid.MaxRecordBytes, len(recs), err)
	}
}

// A record behind more than bulkid.MaxRecordBytes of leading white space
// is not blank: its line is a record (over the limit, so record_too_large,
// as bulkid push calls it), never skipped. Issue 10: such lines vanished,
// and a file of only such lines was empty_payload. A line of nothing but
// that much white space is still blank.
func TestReadNDJSONRecordBehindLongWhitespace(t *testing.T) {
	t.Parallel()
	n := bulkid.MaxRecordBytes + 1
	for _, pad := range []string{" ", "\t", "\u00a0", "\u3000", " \r\t"} {
		ws := strings.Repeat(pad, n/len(pad)+1)
		line := ws + `{"company_id":"lost"}`
		for _, bom := range []string{"", "\xef\xbb\xbf"} {
			in := bom + `{"company_id":"first"}` + "\n" + line + "\n" + ws + "\n" + `{"company_id":"last"}`
			recs, err := ingest.ReadNDJSON(strings.NewReader(in), small(10))
			if err != nil {
				t.Fatalf("pad %q: %v", pad, err)
			}
			if len(recs) != 3 || recs[0].Pos != 1 || recs[1].Pos != 2 || recs[2].Pos != 4 {
				t.Fatalf("pad %q: %d records (lines %v), want lines 1, 2 and 4", pad, len(recs), positions(recs))
			}
			_, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, recs[1].Raw)
			if rerr == nil || rerr.Code != bulkid.RRecordTooLarge || !strings.Contains(rerr.Message, fmt.Sprintf("is %d bytes", len(line))) {
				t.Fatalf("pad %q: line 2 validates as %+v, want record_too_large naming %d bytes", pad, rerr, len(line))
			}
		}
		// The same lines alone, first line included: records, not an empty payload.
		for _, in := range []string{line, line + "\n", "\xef\xbb\xbf" + line + "\r\n" + line} {
			recs, err := ingest.ReadNDJSON(strings.NewReader(in), small(10))
			if err != nil || len(recs) == 0 {
				t.Fatalf("pad %q: a file of only long-padded records: %d records, %v", pad, len(recs), err)
			}
		}
		// Only white space, however long, is still blank.
		_, err := ingest.ReadNDJSON(strings.NewReader("\xef\xbb\xbf"+ws+"\n"+ws+"\r\n"+ws), small(10))
		wantCode(t, err, bulkid.EEMPTY)
	}
	// A character that is not a space, split across the reader's buffer
	// or kept part, still counts; so do invalid bytes.
	for _, tail := range []string{"x", "\xff", "\xe3\x80", "é", "\u2028x"} {
		for _, k := range []int{64<<10 - 1, 64<<10 - 2, n - 1, n, n + 1, 3 << 20} {
			in := strings.Repeat(" ", k) + tail
			recs, err := ingest.ReadNDJSON(strings.NewReader(in), small(10))
			if err != nil || len(recs) != 1 {
				t.Fatalf("%d spaces then %q: %d records, %v, want 1", k, tail, len(recs), err)
			}
		}
	}
}

func positions(recs []bulkid.RawRecord) []int {
	var p []int
	for _, r := range recs {
		p = append(p, r.Pos)
	}
	return p
}

// White space of any length between the elements of a JSON body is not
// part of a record: the records around it are all read.
func TestReadJSONLongWhitespaceBetweenRecords(t *testing.T) {
	t.Parallel()
	ws := strings.Repeat(" \t\r\n", bulkid.MaxRecordBytes/4+1)
	body := `{"companies":[` + ws + `{"company_id":"a"}` + ws + `,` + ws + `{"company_id":"b"}` + ws + `]` + ws + `}` + ws
	recs, err := ingest.ReadJSON(strings.NewReader(body), "companies", small(10))
	if err != nil || len(recs) != 2 || string(recs[0].Raw) != `{"company_id":"a"}` || string(recs[1].Raw) != `{"company_id":"b"}` {
		t.Fatalf("records around long white space: %d records, %v", len(recs), err)
	}
}
