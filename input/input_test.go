package input_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/input"
)

type got struct {
	line int
	raw  string
	err  string
}

func readAll(t *testing.T, name string, opts input.Options) []got {
	t.Helper()
	r, err := input.Open(name, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	defer r.Close()
	var out []got
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, got{rec.Line, string(rec.Raw), rec.Err})
	}
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func check(t *testing.T, got []got, want []got) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCSV(t *testing.T) {
	t.Parallel()
	csv := "\xef\xbb\xbfcompany_id,name,seats,arr,active,zip,note\n" +
		"c1,Acme,40,1234.50,true,00501,\n" +
		"c2,\"Multi\nline\",-3,1e3,FALSE,90210,<b>&\n" +
		"c3,,,,,,\n" +
		",no id,1,,,,\n" +
		"c4,a,b,c,d,e,f,g\n"
	check(t, readAll(t, write(t, "a.csv", csv), input.Options{Kind: bulkid.JobCompanies}), []got{
		{2, `{"company_id":"c1","metadata":{"active":true,"arr":1234.50,"name":"Acme","seats":40,"zip":"00501"}}`, ""},
		{3, `{"company_id":"c2","metadata":{"active":false,"arr":1e3,"name":"Multi\nline","note":"<b>&","seats":-3,"zip":90210}}`, ""},
		{5, `{"company_id":"c3"}`, ""},
		{6, `{"metadata":{"name":"no id","seats":1}}`, ""},
		{7, `c4,a,b,c,d,e,f,g`, "the row has 8 fields but the header names 7 columns"},
	})
	// --csv-strings keeps every value a string.
	check(t, readAll(t, write(t, "b.csv", "company_id,seats,active\nc1,40,true\n"), input.Options{Kind: bulkid.JobCompanies, CSVStrings: true}), []got{
		{2, `{"company_id":"c1","metadata":{"active":"true","seats":"40"}}`, ""},
	})
	// On users, company_id associates and user_id is the id; ids stay strings.
	check(t, readAll(t, write(t, "u.csv", "user_id,company_id,email\n42,7,a@b.test\n"), input.Options{Kind: bulkid.JobUsers}), []got{
		{2, `{"company_id":"7","metadata":{"email":"a@b.test"},"user_id":"42"}`, ""},
	})
}

func TestCSVHeaderErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, content, want string }{
		{"no id column", "name,seats\nAcme,1\n", `no "company_id" column`},
		{"duplicate column", "company_id,name,name\n", `names the column "name" twice`},
		{"empty column name", "company_id,,x\n", "column 2 of the header has no name"},
		{"empty file", "", "header row"},
	} {
		_, err := input.Open(write(t, "x.csv", tc.content), input.Options{Kind: bulkid.JobCompanies})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestNDJSON(t *testing.T) {
	t.Parallel()
	content := "{\"company_id\":\"a\"}\r\n\n  \n{not json}\n{\"company_id\":\"b\"}"
	check(t, readAll(t, write(t, "x.ndjson", content), input.Options{Kind: bulkid.JobCompanies}), []got{
		{1, `{"company_id":"a"}`, ""},
		{4, `{not json}`, ""},
		{5, `{"company_id":"b"}`, ""},
	})
}

func TestJSONArrayAndDocument(t *testing.T) {
	t.Parallel()
	arr := "[\n  {\"company_id\": \"a\",\n   \"metadata\": {\"n\": 1}},\n  {\"company_id\": \"b\"},\n\n  5\n]\n"
	check(t, readAll(t, write(t, "x.json", arr), input.Options{Kind: bulkid.JobCompanies}), []got{
		{2, "{\"company_id\": \"a\",\n   \"metadata\": {\"n\": 1}}", ""},
		{4, `{"company_id": "b"}`, ""},
		{6, `5`, ""},
	})
	doc := "{\"meta\": {\"x\": [1,2]},\n \"users\": [\n {\"user_id\": \"u1\"},\n {\"user_id\": \"u2\"}]}"
	check(t, readAll(t, write(t, "x.json", doc), input.Options{Kind: bulkid.JobUsers}), []got{
		{3, `{"user_id": "u1"}`, ""},
		{4, `{"user_id": "u2"}`, ""},
	})
	if _, err := input.Open(write(t, "y.json", `{"companies": []}`), input.Options{Kind: bulkid.JobUsers}); err == nil || !strings.Contains(err.Error(), `no "users" array`) {
		t.Errorf("a document without the kind's member: %v", err)
	}
	// A broken element stops the read with the line it is on.
	r, err := input.Open(write(t, "z.json", "[{\"company_id\":\"a\"},\n{oops}]"), input.Options{Kind: bulkid.JobCompanies})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Next()
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("broken element: %v, want an error naming line 2", err)
	}
}

func TestGzipAndSniffing(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write([]byte("company_id,n\nc1,1\n"))
	gz.Close()
	p := filepath.Join(t.TempDir(), "export.csv.gz")
	os.WriteFile(p, buf.Bytes(), 0o600)
	check(t, readAll(t, p, input.Options{Kind: bulkid.JobCompanies}), []got{{2, `{"company_id":"c1","metadata":{"n":1}}`, ""}})

	// Standard input has no name: the content tells the format, gzipped or not.
	for _, tc := range []struct {
		name, content string
		want          []got
	}{
		{"ndjson", `{"company_id":"a"}` + "\n" + `{"company_id":"b"}`, []got{{1, `{"company_id":"a"}`, ""}, {2, `{"company_id":"b"}`, ""}}},
		{"array", `[{"company_id":"a"}]`, []got{{1, `{"company_id":"a"}`, ""}}},
		{"document", `{"companies":[{"company_id":"a"}]}`, []got{{1, `{"company_id":"a"}`, ""}}},
		{"csv", "company_id\na\n", []got{{2, `{"company_id":"a"}`, ""}}},
		{"gzipped csv", string(buf.Bytes()), []got{{2, `{"company_id":"c1","metadata":{"n":1}}`, ""}}},
	} {
		check(t, readAll(t, "-", input.Options{Kind: bulkid.JobCompanies, Stdin: strings.NewReader(tc.content)}), tc.want)
	}
	// --format overrides the name.
	check(t, readAll(t, write(t, "data.txt", "company_id\nx\n"), input.Options{Kind: bulkid.JobCompanies, Format: input.CSV}), []got{{2, `{"company_id":"x"}`, ""}})
}

// A record behind more than 1 MiB of white space is a record at its line,
// which bulkid.ValidateRecord fails as record_too_large, as the server's
// reader (ingest.ScanNDJSON) has it; a line of only white space is skipped.
// The same holds between the elements of a JSON file.
func TestLongWhitespaceBeforeRecord(t *testing.T) {
	t.Parallel()
	ws := strings.Repeat(" ", bulkid.MaxRecordBytes+1)
	content := `{"company_id":"first"}` + "\n" + ws + `{"company_id":"lost"}` + "\n" + ws + "\n" + `{"company_id":"last"}`
	recs := readAll(t, write(t, "x.ndjson", content), input.Options{Kind: bulkid.JobCompanies})
	check(t, recs, []got{
		{1, `{"company_id":"first"}`, ""},
		{2, ws + `{"company_id":"lost"}`, ""},
		{4, `{"company_id":"last"}`, ""},
	})
	if _, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(recs[1].raw)); rerr == nil || rerr.Code != bulkid.RRecordTooLarge {
		t.Errorf("the padded line validates as %+v, want record_too_large", rerr)
	}
	arr := `[{"company_id":"a"},` + ws + `{"company_id":"b"}` + ws + `]`
	check(t, readAll(t, write(t, "x.json", arr), input.Options{Kind: bulkid.JobCompanies}), []got{
		{1, `{"company_id":"a"}`, ""},
		{1, `{"company_id":"b"}`, ""},
	})
}

// A CSV cell that is not UTF-8 (a file saved as Latin-1) keeps its bytes,
// so its record fails as not UTF-8, as in an NDJSON file: encoding/json
// wrote U+FFFD for them, making "café" and "cafè" one company. A header
// that is not UTF-8 is refused with the fix.
func TestCSVNotUTF8(t *testing.T) {
	t.Parallel()
	content := "company_id,name\ncaf\xe9,x\ncaf\xe8,y\nc,\"\xff\"\"q\"\"\"\nd,a\x00b\n"
	recs := readAll(t, write(t, "l.csv", content), input.Options{Kind: bulkid.JobCompanies})
	check(t, recs, []got{
		{2, "{\"company_id\":\"caf\xe9\",\"metadata\":{\"name\":\"x\"}}", ""},
		{3, "{\"company_id\":\"caf\xe8\",\"metadata\":{\"name\":\"y\"}}", ""},
		{4, "{\"company_id\":\"c\",\"metadata\":{\"name\":\"\xff\\\"q\\\"\"}}", ""},
		{5, `{"company_id":"d","metadata":{"name":"a\u0000b"}}`, ""},
	})
	for i, want := range []string{bulkid.RInvalidID, bulkid.RInvalidID, bulkid.RInvalidMetadata, bulkid.RInvalidMetadata} {
		if _, rerr := bulkid.ValidateRecord(bulkid.JobCompanies, []byte(recs[i].raw)); rerr == nil || rerr.Code != want {
			t.Errorf("line %d validates as %+v, want %s", recs[i].line, rerr, want)
		}
	}
	users := readAll(t, write(t, "u.csv", "user_id,company_id\nu,caf\xe9\n"), input.Options{Kind: bulkid.JobUsers})
	if _, rerr := bulkid.ValidateRecord(bulkid.JobUsers, []byte(users[0].raw)); rerr == nil || rerr.Code != bulkid.RInvalidCompanyID {
		t.Errorf("a user's Latin-1 company_id validates as %+v, want invalid_company_id", rerr)
	}
	if _, err := input.Open(write(t, "h.csv", "company_id,caf\xe9\nc,1\n"), input.Options{Kind: bulkid.JobCompanies}); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Errorf("a header that is not UTF-8: %v, want a refusal naming UTF-8", err)
	}
}
