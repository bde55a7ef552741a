package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulkid/bulkid/internal/pgtest"
)

// Text that a store cannot hold as sent fails its record alone, on both
// stores alike, and never the job or the request (issue 10, items 2, 3
// and 12). On PostgreSQL one record with \u0000 failed the whole job after
// 5,000 rows, and the rows after it were never applied.
func TestUnstorableTextFailsAloneSQLite(t *testing.T) {
	t.Parallel()
	testUnstorableText(t, startServer(t, "", "--rows-per-minute", "0"))
}

func TestUnstorableTextFailsAlonePostgres(t *testing.T) {
	t.Parallel()
	testUnstorableText(t, startServer(t, t.TempDir(), "--database-url", pgtest.URL(t), "--rows-per-minute", "0"))
}

func testUnstorableText(t *testing.T, s *server) {
	ndjson := func(lines []string) job {
		t.Helper()
		j := accepted(t, s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")+"\n")))
		return s.WaitJob(j.JobID)
	}

	// One NUL record in the middle of 6,001: it fails, every other row
	// before and after it is applied.
	var lines []string
	for i := range 6000 {
		if i == 3000 {
			lines = append(lines, `{"company_id":"nul\u0000","metadata":{"i":3000}}`)
		}
		lines = append(lines, fmt.Sprintf(`{"company_id":"n%d","metadata":{"i":%d}}`, i, i))
	}
	j := ndjson(lines)
	if j.Status != "completed" || j.TotalRows != 6001 || j.CompletedRows != 6000 || j.FailedRows != 1 || len(j.Errors) != 1 ||
		*j.Errors[0].Line != 3001 || j.Errors[0].ErrorCode != "invalid_id" || !strings.Contains(j.Errors[0].Message, "U+0000") {
		t.Fatalf("job with a NUL record = %+v, want completed with 6000 rows applied and line 3001 failed as invalid_id", j)
	}
	for _, id := range []string{"n0", "n2999", "n3000", "n5999"} {
		if r := s.Get("/v1/companies/" + id + "?all=true"); r.Status != http.StatusOK {
			t.Errorf("company %s after a NUL record: %d %s", id, r.Status, r.Body)
		}
	}

	// Each record here fails alone, or is stored as sent.
	bad := []struct{ line, code string }{
		{`{"company_id":"c","metadata":{"k\u0000":1}}`, "invalid_metadata"},
		{`{"company_id":"c","metadata":{"k":"a\u0000"}}`, "invalid_metadata"},
		{`{"company_id":"\ud800"}`, "invalid_id"},
		{`{"company_id":"c","metadata":{"\udc00":1}}`, "invalid_metadata"},
		{`{"company_id":"c","metadata":{"k":"\ud800\u0041"}}`, "invalid_metadata"},
		{"{\"company_id\":\"\xff\"}", "invalid_id"},
		{"{\"company_id\":\"c\",\"metadata\":{\"k\":\"\xfe\"}}", "invalid_metadata"},
		{`{"company_id":{"k":"` + strings.Repeat("a", 34) + `é"}}`, "invalid_id"}, // its message quotes 40 bytes, é split
		{"{\"company_id\":[\"\xc3\"]}", "invalid_id"},
		{"not json \xff", "malformed_json"},
	}
	lines = []string{`{"company_id":"\\ud800","metadata":{"\ud83d\ude00":"\ud83d\ude00"}}`}
	for _, b := range bad {
		lines = append(lines, b.line)
	}
	j = ndjson(lines)
	if j.Status != "completed" || j.CompletedRows != 1 || j.FailedRows != len(bad) {
		t.Fatalf("job of bad text = %+v, want completed with 1 row applied and %d failed", j, len(bad))
	}
	for i, e := range j.Errors {
		if e.ErrorCode != bad[i].code {
			t.Errorf("line %d %q: %s (%s), want %s", *e.Line, bad[i].line, e.ErrorCode, e.Message, bad[i].code)
		}
	}
	var c struct {
		CompanyID string          `json:"company_id"`
		Metadata  json.RawMessage `json:"metadata"`
	}
	s.Get("/v1/companies/"+url.PathEscape(`\ud800`)+"?all=true").JSON(t, &c)
	if c.CompanyID != `\ud800` || string(c.Metadata) != `{"😀": "😀"}` && string(c.Metadata) != `{"😀":"😀"}` {
		t.Errorf(`company "\\ud800" = %+v, want the six characters \ud800 with metadata {"😀":"😀"}`, c)
	}

	// The errors stream is UTF-8 JSON a line, and gives each record back
	// exactly; so does "bulkid jobs errors".
	checkStream := func(what string, body []byte) {
		t.Helper()
		if !utf8.Valid(body) {
			t.Fatalf("%s is not valid UTF-8: %q", what, body)
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		n := 0
		for ; sc.Scan(); n++ {
			var e struct {
				Line      int             `json:"line"`
				Record    json.RawMessage `json:"record"`
				Raw       *string         `json:"raw"`
				RawBase64 string          `json:"raw_base64"`
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("%s line %q: %v", what, sc.Bytes(), err)
			}
			sent := bad[e.Line-2].line
			switch {
			case e.RawBase64 != "":
				got, err := base64.StdEncoding.DecodeString(e.RawBase64)
				if err != nil || string(got) != sent || e.Raw == nil || *e.Raw != strings.ToValidUTF8(sent, "\uFFFD") {
					t.Errorf("%s line %d: raw %v, raw_base64 %q; want %q back", what, e.Line, e.Raw, got, sent)
				}
			case e.Record != nil:
				if string(e.Record) != sent {
					t.Errorf("%s line %d: record %s, want %s", what, e.Line, e.Record, sent)
				}
			default:
				t.Errorf("%s line %d holds no record: %s", what, e.Line, sc.Bytes())
			}
		}
		if n != len(bad) {
			t.Errorf("%s has %d lines, want %d", what, n, len(bad))
		}
	}
	r := s.Get("/v1/background_jobs/" + j.JobID + "/errors")
	checkStream("the errors stream", r.Body)
	out, errOut, code := cli(t, nil, "jobs", "errors", j.JobID, "--url", s.URL, "--token", s.Key)
	if code != 0 {
		t.Fatalf("bulkid jobs errors: exit %d: %s", code, errOut)
	}
	checkStream("bulkid jobs errors", []byte(out))

	// Real time gives the same verdicts, as 400 invalid_record.
	for _, tc := range []struct{ path, body, code string }{
		{"/v1/companies/identify", `{"company_id":"a\u0000"}`, "invalid_id"},
		{"/v1/companies/identify", `{"company_id":"c","metadata":{"k":"\u0000"}}`, "invalid_metadata"},
		{"/v1/companies/identify", `{"company_id":"\udbff"}`, "invalid_id"},
		{"/v1/identify", `{"user_id":"u\u0000"}`, "invalid_id"},
		{"/v1/identify", `{"user_id":"u","company":{"id":"c","k\u0000":1}}`, "invalid_metadata"},
		{"/v1/identify", `{"user_id":"u","company":{"id":"c","\ud800":1}}`, "invalid_metadata"},
		{"/v1/identify", "{\"user_id\":\"u\",\"company\":{\"id\":\"c\",\"\xff\":1}}", "invalid_metadata"},
	} {
		e := expectError(t, s.Do("POST", tc.path, s.Key, "application/json", strings.NewReader(tc.body)), http.StatusBadRequest, "invalid_record")
		if e.Errors[0].Details != tc.code {
			t.Errorf("POST %s %q: details %q, want %q", tc.path, tc.body, e.Errors[0].Details, tc.code)
		}
	}
	// Reads of ids no record can have are not found; such a cursor is refused.
	for _, path := range []string{"/v1/companies/%00", "/v1/companies/%FF", "/v1/users/a%00", "/v1/background_jobs/%00", "/v1/background_jobs/%00/errors"} {
		expectError(t, s.Get(path), http.StatusNotFound, "not_found")
	}
	for _, path := range []string{"/v1/companies?cursor=%00", "/v1/companies?cursor=%FF", "/v1/background_jobs?cursor=%00"} {
		expectError(t, s.Get(path), http.StatusBadRequest, "invalid_request")
	}
}

// bulkid push writes a record that is not UTF-8 to --failed-out as the
// server's errors stream does: raw for reading, raw_base64 exact.
func TestPushFailedOutIsUTF8(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	dir := t.TempDir()
	bad := "{\"company_id\":\"\xff\"}"
	file := filepath.Join(dir, "c.ndjson")
	os.WriteFile(file, []byte(`{"company_id":"ok"}`+"\n"+bad+"\n"), 0o600)
	failedOut := filepath.Join(dir, "failed.ndjson")
	out, stderr, _ := push(t, s, nil, "companies", "--skip-invalid", "--failed-out", failedOut, file)
	b, err := os.ReadFile(failedOut)
	if err != nil {
		t.Fatalf("no failed-out (%s %s): %v", out, stderr, err)
	}
	var e struct {
		Line      int    `json:"line"`
		Raw       string `json:"raw"`
		RawBase64 string `json:"raw_base64"`
	}
	if !utf8.Valid(b) || json.Unmarshal(b, &e) != nil {
		t.Fatalf("failed-out = %q, want one line of UTF-8 JSON", b)
	}
	if got, err := base64.StdEncoding.DecodeString(e.RawBase64); err != nil || string(got) != bad || e.Line != 2 || e.Raw != "{\"company_id\":\"\uFFFD\"}" {
		t.Errorf("failed-out = %s, want line 2 with raw_base64 giving back %q", b, bad)
	}
}

// An app name is text every store holds: one that is not UTF-8 is refused
// with a reason before any store is opened (PostgreSQL would refuse it with
// an internal error, SQLite would keep it).
func TestAppNameIsUTF8(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, errOut, code := cli(t, nil, "apps", "create", "bad\xffname", "--data-dir", dir)
	if code == 0 || !strings.Contains(errOut, "not valid UTF-8") {
		t.Fatalf("apps create of a name that is not UTF-8: exit %d, %q; want a refusal naming UTF-8", code, errOut)
	}
	if out, errOut, code := cli(t, nil, "apps", "list", "--data-dir", dir); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("apps list after the refusal = %q %q, want only the header", out, errOut)
	}
}
