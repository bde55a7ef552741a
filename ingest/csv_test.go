package ingest_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
	"github.com/bulkid/bulkid/input"
)

// readCSV is ScanCSV into a slice.
func readCSV(r io.Reader, lim ingest.Limits) (bulkid.JobType, []bulkid.RawRecord, error) {
	var recs []bulkid.RawRecord
	kind, n, err := ingest.ScanCSV(r, lim, func(pos int, raw []byte) error {
		recs = append(recs, bulkid.RawRecord{Seq: len(recs), Pos: pos, Raw: bytes.Clone(raw)})
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	if n != len(recs) {
		return "", nil, io.ErrUnexpectedEOF
	}
	return kind, recs, nil
}

// verdict is how the worker will see a record ScanCSV passed on.
func verdict(t *testing.T, kind bulkid.JobType, raw string) *bulkid.RecordError {
	t.Helper()
	_, rerr := bulkid.ValidateRecord(kind, []byte(raw))
	return rerr
}

func TestScanCSVUsersAndCompanies(t *testing.T) {
	t.Parallel()
	// The kind is told by the header: user_id makes users, with company_id
	// associating them; company_id alone makes companies. Lines count the
	// header, CRLF, empty lines and the lines of a quoted field.
	users := "\xef\xbb\xbfemail,user_id,company_id,seats\r\n" +
		"a@x.test,u1,c1,3\r\n" +
		"\r\n" +
		"\"two\nlines\",u2,,00501\r\n" +
		",u3,,\r\n"
	kind, recs, err := readCSV(strings.NewReader(users), ingest.DefaultLimits)
	if err != nil || kind != bulkid.JobUsers {
		t.Fatalf("users: kind %q, err %v", kind, err)
	}
	checkRecs(t, recs, []rec{
		{0, 2, `{"company_id":"c1","metadata":{"email":"a@x.test","seats":3},"user_id":"u1"}`},
		{1, 4, `{"metadata":{"email":"two\nlines","seats":"00501"},"user_id":"u2"}`},
		{2, 6, `{"user_id":"u3"}`},
	})
	kind, recs, err = readCSV(strings.NewReader("name,company_id\nAcme,c1\nGlobex,c2"), ingest.DefaultLimits)
	if err != nil || kind != bulkid.JobCompanies {
		t.Fatalf("companies: kind %q, err %v", kind, err)
	}
	checkRecs(t, recs, []rec{
		{0, 2, `{"company_id":"c1","metadata":{"name":"Acme"}}`},
		{1, 3, `{"company_id":"c2","metadata":{"name":"Globex"}}`},
	})
}

// Rows that cannot be made into records but can be told apart from the
// rows around them fail alone as malformed_row, showing the row as sent;
// the rows after them are read as usual.
func TestScanCSVMalformedRows(t *testing.T) {
	t.Parallel()
	content := "company_id,name\n" +
		"c1,a,extra\n" + // more fields than the header
		"c2,b\"ad\n" + // a quote inside an unquoted field
		"c3,\"x\"y\n" + // text after a closing quote
		"c4,fine\n" +
		"c5,\"multi\nline\"x\n" + // text after a quoted field of two lines
		"c6,\"open"
	kind, recs, err := readCSV(strings.NewReader(content), ingest.DefaultLimits)
	if err != nil || kind != bulkid.JobCompanies {
		t.Fatalf("kind %q, err %v", kind, err)
	}
	want := []struct {
		line       int
		code, raw  string
		msgHolding string
	}{
		{2, bulkid.RMalformedRow, "c1,a,extra", "3 fields but the header names 2 columns"},
		{3, bulkid.RMalformedRow, "c2,b\"ad", "line 3, column 5"},
		{4, bulkid.RMalformedRow, "c3,\"x\"y", "followed by other text"},
		{5, "", `{"company_id":"c4","metadata":{"name":"fine"}}`, ""},
		{6, bulkid.RMalformedRow, "c5,\"multi\nline\"x", "ends at line 7, column 5 is followed by other text"},
		{8, bulkid.RMalformedRow, "c6,\"open", "not closed before the end of the file"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records %v, want %d", len(recs), recsOf(recs), len(want))
	}
	for i, w := range want {
		r := recs[i]
		if r.Pos != w.line {
			t.Errorf("record %d at line %d, want %d", i, r.Pos, w.line)
		}
		rerr := verdict(t, kind, string(r.Raw))
		switch {
		case w.code == "" && (rerr != nil || string(r.Raw) != w.raw):
			t.Errorf("line %d = %q (%+v), want the record %s", w.line, r.Raw, rerr, w.raw)
		case w.code != "" && (rerr == nil || rerr.Code != w.code || string(rerr.Raw) != w.raw || !strings.Contains(rerr.Message, w.msgHolding)):
			t.Errorf("line %d fails as %+v, want %s showing %q with a message holding %q", w.line, rerr, w.code, w.raw, w.msgHolding)
		}
	}
}

func TestScanCSVRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, content, code, msg string }{
		{"empty file", "", bulkid.EEMPTY, "user_id column (users) or a company_id column"},
		{"only empty lines", "\r\n\n", bulkid.EEMPTY, "The file is empty"},
		{"header only", "user_id,name\n", bulkid.EEMPTY, "header row (line 1) but no rows"},
		{"no id column", "id,name\n1,a\n", bulkid.EINVALID, "no user_id or company_id column"},
		{"repeated column", "user_id,name,name\nu,a,b\n", bulkid.EINVALID, `names the column "name" twice`},
		{"unnamed column", "company_id,,x\nc,a,b\n", bulkid.EINVALID, "column 2 of the header has no name"},
		{"header with a stray quote", "user_id,na\"me\nu,a\n", bulkid.EINVALID, "The CSV file's header row (line 1) cannot be read: a quote"},
		{"quote open to the end", "company_id,note\nc1,\"open\nc2,x\nc3,y\n", bulkid.EINVALID, "line 2 has a quoted field that is not closed before the end of the file (line 4)"},
	} {
		_, _, err := readCSV(strings.NewReader(tc.content), ingest.DefaultLimits)
		if err == nil {
			t.Errorf("%s: no error, want %s", tc.name, tc.code)
			continue
		}
		if got := errCode(t, err); got != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %s holding %q", tc.name, err, tc.code, tc.msg)
		}
	}
}

func TestScanCSVMaxRecords(t *testing.T) {
	t.Parallel()
	body := "company_id\nc1\nc2\nc3\n"
	if _, recs, err := readCSV(strings.NewReader(body), small(3)); err != nil || len(recs) != 3 {
		t.Fatalf("3 rows at a limit of 3: %d records, %v", len(recs), err)
	}
	_, _, err := readCSV(strings.NewReader(body+"c4\n"), small(3))
	wantCode(t, err, bulkid.ETOOMANY)
}

// A row over 1 MiB as sent refuses the file, naming its line, having read
// no more than about a megabyte of it: the row cannot be told from the
// rows after it without reading it to its end.
func TestScanCSVRowTooLarge(t *testing.T) {
	t.Parallel()
	src := &countingReader{r: newRepeatReader("company_id,note\nc1,x\nc2,\"", "y", 1<<30)}
	_, _, err := readCSV(src, ingest.DefaultLimits)
	wantCode(t, err, bulkid.ETOOLARGE)
	if !strings.Contains(err.Error(), "row at line 3") {
		t.Errorf("error %v does not name line 3", err)
	}
	if src.n > bulkid.MaxRecordBytes+256<<10 {
		t.Errorf("read %d bytes of a row over 1 MiB, want little more than 1 MiB", src.n)
	}
	// So is a row just over it that encoding/csv refuses for a stray quote:
	// it is no stand-in of over 1 MiB.
	stray := "c,a\"b" + strings.Repeat("x", bulkid.MaxRecordBytes)
	_, _, err = readCSV(strings.NewReader("company_id,n\n"+stray+"\n"), ingest.DefaultLimits)
	wantCode(t, err, bulkid.ETOOLARGE)
	// A row of exactly the limit is a record.
	row := "c," + strings.Repeat("z", bulkid.MaxRecordBytes-2)
	if _, recs, err := readCSV(strings.NewReader("company_id,n\n"+row+"\n"), ingest.DefaultLimits); err != nil || len(recs) != 1 {
		t.Fatalf("a row of exactly MaxRecordBytes: %d records, %v", len(recs), err)
	}
}

// A row within 1 MiB whose record is over it (control characters written
// as \u escapes) is kept as the oversized stand-in and fails alone.
func TestScanCSVRecordTooLarge(t *testing.T) {
	t.Parallel()
	row := "c1," + strings.Repeat("\x01", 200<<10)
	kind, recs, err := readCSV(strings.NewReader("company_id,n\n"+row+"\nc2,ok\n"), ingest.DefaultLimits)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if rerr := verdict(t, kind, string(recs[0].Raw)); rerr == nil || rerr.Code != bulkid.RRecordTooLarge || len(recs[0].Raw) > 2<<10 {
		t.Errorf("the long record: %d bytes kept, %+v; want record_too_large, about a KiB kept", len(recs[0].Raw), rerr)
	}
	if rerr := verdict(t, kind, string(recs[1].Raw)); rerr != nil {
		t.Errorf("the row after it: %+v", rerr)
	}
}

// The records a file converts to are bounded in all: long column names
// repeated on every row would otherwise turn a small file into gigabytes.
func TestScanCSVConvertedBytes(t *testing.T) {
	t.Parallel()
	const cols = 1000
	var header, row strings.Builder
	header.WriteString("company_id")
	row.WriteString("c")
	for i := range cols {
		fmt.Fprintf(&header, ",%s%04d", strings.Repeat("k", 990), i) // 994 bytes
		row.WriteString(",1")
	}
	perRecord := cols*(994+len(`"":1,`)) + 30 // a member a column, and the id
	rows := ingest.MaxCSVRecordBytes/perRecord + 2
	file := header.String() + "\n" + strings.Repeat(row.String()+"\n", rows)
	_, _, err := readCSV(strings.NewReader(file), ingest.DefaultLimits)
	wantCode(t, err, bulkid.ETOOLARGE)
	if !strings.Contains(err.Error(), "bytes of records as JSON") {
		t.Errorf("a %d-byte file: %v, want one saying its records are too large", len(file), err)
	}
}

// A read error is passed on as it is, and so is the byte limit of a
// LimitReader, even when encoding/csv saw a stray quote first.
func TestScanCSVReadErrors(t *testing.T) {
	t.Parallel()
	_, _, err := readCSV(iotest.TimeoutReader(strings.NewReader("company_id\nc1\n")), ingest.DefaultLimits)
	if err != iotest.ErrTimeout {
		t.Errorf("a read error: %v, want it as it is", err)
	}
	cut := io.MultiReader(strings.NewReader("company_id,n\nc1,a\"b"), iotest.ErrReader(ingest.LimitError(10)))
	_, _, err = readCSV(cut, ingest.DefaultLimits)
	wantCode(t, err, bulkid.ETOOLARGE)
}

// FuzzReadCSV reads any bytes as an imported CSV file: the outcome does not
// depend on how the bytes arrive; every record passed on is a JSON object
// or a stand-in that fails alone, at increasing lines; and each row that
// `bulkid push` reads from the same file (package input, up to the first
// row it cannot read) is the same record at the same line: one conversion.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"user_id,company_id,email,seats\nu1,c1,a@b.test,3\nu2,,\"x, y\",00501\n",
		"\xef\xbb\xbfname,company_id\r\nAcme,c1\r\n\r\nGlobex,c2",
		"company_id,n\nc1,a,extra\nc2,b\"ad\nc3,\"x\"y\nc4,\"multi\nline\"\n",
		"company_id,n\nc1,\"open\nc2,x\n",
		"company_id,n,n\nc1,1,2\n",
		"id,name\n1,a\n",
		"user_id\n",
		"company_id\nc1\nc2\nc3\nc4\nc5\nc6\n",
		"company_id,caf\xe9\nc,1\n",
		"company_id,v\ncaf\xe9,\x00\x01\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		type result struct {
			kind bulkid.JobType
			recs []rec
			code string
		}
		read := func(r io.Reader) result {
			kind, recs, err := readCSV(r, fuzzLimits)
			if err != nil {
				return result{code: errCode(t, err)}
			}
			return result{kind: kind, recs: recsOf(recs)}
		}
		got := read(bytes.NewReader(data))
		if slow := read(iotest.OneByteReader(bytes.NewReader(data))); !reflect.DeepEqual(slow, got) {
			t.Fatalf("one byte at a time = %+v, want %+v", slow, got)
		}
		if got.code != "" {
			switch got.code {
			case bulkid.EINVALID, bulkid.EEMPTY, bulkid.ETOOMANY:
			default:
				t.Fatalf("ScanCSV(%q) = %s, want a documented code", data, got.code)
			}
			return
		}
		checkSeq(t, got.recs)
		for i, r := range got.recs {
			if i > 0 && r.Pos <= got.recs[i-1].Pos {
				t.Fatalf("record %d at line %d, after line %d", i, r.Pos, got.recs[i-1].Pos)
			}
			if !json.Valid([]byte(r.Raw)) {
				if rerr := verdict(t, got.kind, r.Raw); rerr == nil || (rerr.Code != bulkid.RMalformedRow && rerr.Code != bulkid.RRecordTooLarge) {
					t.Fatalf("record %d %q is neither JSON nor a stand-in: %+v", i, r.Raw, rerr)
				}
			}
		}
		pushed, err := input.Open("-", input.Options{Kind: got.kind, Format: input.CSV, Stdin: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("push cannot open a file ScanCSV read: %v", err)
		}
		defer pushed.Close()
		for i := 0; ; i++ {
			p, err := pushed.Next()
			if err != nil {
				if err == io.EOF && i != len(got.recs) {
					t.Fatalf("push read %d records, ScanCSV %d", i, len(got.recs))
				}
				return // push stops at a row it cannot read; ScanCSV went on
			}
			if i == len(got.recs) {
				t.Fatalf("push read more records than ScanCSV's %d", len(got.recs))
			}
			g := got.recs[i]
			if g.Pos != p.Line {
				t.Fatalf("record %d: ScanCSV at line %d, push at %d", i, g.Pos, p.Line)
			}
			if p.Err != "" {
				if rerr := verdict(t, got.kind, g.Raw); rerr == nil || rerr.Code != bulkid.RMalformedRow || rerr.Message != p.Err {
					t.Fatalf("line %d: push says %q, ScanCSV passed %q (%+v)", p.Line, p.Err, g.Raw, rerr)
				}
				continue
			}
			if g.Raw != string(p.Raw) && !(len(p.Raw) > bulkid.MaxRecordBytes && verdict(t, got.kind, g.Raw).Code == bulkid.RRecordTooLarge) {
				t.Fatalf("line %d: ScanCSV passed %q, push %q", p.Line, g.Raw, p.Raw)
			}
		}
	})
}

// BenchmarkScanCSV reads 10,000 companies of the benchmark's 14 metadata
// columns as a CSV file, turning each row into its record.
func BenchmarkScanCSV(b *testing.B) {
	cols := []string{"company_id", "name", "plan", "seats", "arr", "is_trial", "region", "renewal", "nps",
		"industry", "owner", "health", "churn_risk", "employees", "website"}
	var file bytes.Buffer
	file.WriteString(strings.Join(cols, ",") + "\n")
	for i := range bulkid.MaxRecords {
		fmt.Fprintf(&file, "co-%06d,Company %d,enterprise,%d,%g,%v,eu-west,2026-03-31T00:00:00Z,%d,Software & Services,someone@example.com,0.87,,%d,https://c%d.example.com/about\n",
			i, i, i%5000, float64(i)*10.25, i%3 == 0, i%200-100, i*7, i)
	}
	b.SetBytes(int64(file.Len()))
	for b.Loop() {
		if _, _, err := ingest.ScanCSV(bytes.NewReader(file.Bytes()), ingest.DefaultLimits, func(int, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

var oracleNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// oracleRecord is a row's record as the conversion wrote it when it
// encoded a map with encoding/json: what CSVColumns.Record must write.
func oracleRecord(t *testing.T, header, row []string, kind bulkid.JobType, keepStrings bool) string {
	t.Helper()
	str := func(v string) json.RawMessage {
		if !utf8.ValidString(v) {
			b := []byte{'"'}
			for i := 0; i < len(v); i++ {
				switch c := v[i]; {
				case c == '"' || c == '\\':
					b = append(b, '\\', c)
				case c < 0x20:
					b = append(b, fmt.Sprintf(`\u%04x`, c)...)
				default:
					b = append(b, c)
				}
			}
			return append(b, '"')
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	}
	obj := map[string]any{}
	md := map[string]json.RawMessage{}
	for i, v := range row {
		name := strings.TrimSpace(header[i])
		switch {
		case v == "":
		case name == kind.IDField():
			obj[name] = str(v)
		case kind == bulkid.JobUsers && name == "company_id":
			obj[name] = str(v)
		case !keepStrings && oracleNumber.MatchString(v):
			md[name] = json.RawMessage(v)
		case !keepStrings && (strings.EqualFold(v, "true") || strings.EqualFold(v, "false")):
			md[name] = json.RawMessage(strings.ToLower(v))
		default:
			md[name] = str(v)
		}
	}
	if len(md) > 0 {
		obj["metadata"] = md
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// FuzzCSVRecord checks that a row's record is the one encoding/json
// writes for the map of its members, byte for byte, so the direct writer
// changed nothing that push sent before.
func FuzzCSVRecord(f *testing.F) {
	for _, s := range []string{
		"user_id,company_id,b,a,c\nu1,c1,1.50,TRUE,x\n",
		"company_id,n,s\n\"c\u2028\",\"a\"\"b\\c\t\x01\x7f<&>\",-0.5e+10\n",
		"company_id,x,y\ncaf\xe9,\xff\x00,00501\n",
		"company_id, z , a\nc,,0\n",
		"name,company_id,user_id\nn,,\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, keepStrings bool) {
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord, r.LazyQuotes = -1, true
		header, err := r.Read()
		if err != nil {
			return
		}
		for _, kind := range []bulkid.JobType{bulkid.JobCompanies, bulkid.JobUsers} {
			cols, err := ingest.NewCSVColumns(header, kind, keepStrings)
			if err != nil {
				continue
			}
			r := csv.NewReader(bytes.NewReader(data))
			r.FieldsPerRecord, r.LazyQuotes = -1, true
			r.Read()
			for {
				row, err := r.Read()
				if err != nil {
					break
				}
				got, err := cols.Record(row)
				if len(row) > len(header) {
					if err == nil {
						t.Fatalf("a row of %d fields under %d columns made %s", len(row), len(header), got)
					}
					continue
				}
				if want := oracleRecord(t, header, row, kind, keepStrings); err != nil || string(got) != want {
					t.Fatalf("%s row %q of %q:\n got %s (%v)\nwant %s", kind, row, header, got, err, want)
				}
			}
		}
	})
}
