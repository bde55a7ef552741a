package httpapi_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime/multipart"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/wiretest"
)

// Bad input: every case gets an answer in the documented shape (or is
// accepted, where that is right), the server stays up, and what is
// accepted is applied.

func nested(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

// writeRepeat, metadataOf and recordErrors are wiretest's.
func metadataOf(t *testing.T, s *server, path string) map[string]json.RawMessage {
	t.Helper()
	return s.target(t).MetadataOf(path)
}

var (
	writeRepeat  = wiretest.WriteRepeat
	recordErrors = wiretest.RecordErrors
)

// TestBadInputBodies covers odd but possible bodies, JSON and NDJSON: what
// is refused is refused whole with a clear code, what is accepted is
// applied and reads back as documented.
func TestBadInputBodies(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	post := func(path, contentType, body string) response {
		return s.Do("POST", path, s.Key, contentType, strings.NewReader(body))
	}
	const companies, users = "/v1/companies/bulk_identify", "/v1/users/bulk_identify"

	// Refused whole, no job created.
	for _, tc := range []struct {
		name, path, contentType, body, code string
		status                              int
	}{
		{"JSON 10,000 levels deep in metadata", companies, "application/json", `{"companies":[{"company_id":"d","metadata":{"x":` + nested(10000) + `}}]}`, "invalid_json", 400},
		{"JSON 500,000 levels deep", companies, "application/json", `{"companies":[` + nested(500_000) + `]}`, "invalid_json", 400},
		{"JSON record over 1 MiB", companies, "application/json", `{"companies":[{"company_id":"big","metadata":{"pad":"` + strings.Repeat("p", bulkid.MaxRecordBytes) + `"}}]}`, "payload_too_large", 413},
		{"JSON member over 1 MiB beside the array", companies, "application/json", `{"x":"` + strings.Repeat("p", bulkid.MaxRecordBytes) + `","companies":[{"company_id":"d"}]}`, "payload_too_large", 413},
		{"JSON deep member beside the array", companies, "application/json", `{"x":` + nested(10000) + `,"companies":[{"company_id":"d"}]}`, "invalid_json", 400},
		{"empty companies array", companies, "application/json", `{"companies":[]}`, "empty_payload", 400},
		{"empty users array", users, "application/json", "\xef\xbb\xbf{\"users\":[ ]}", "empty_payload", 400},
		{"empty NDJSON file", users, "application/x-ndjson", "\xef\xbb\xbf\r\n\r\n  \n", "empty_payload", 400},
		{"two BOMs", companies, "application/json", "\xef\xbb\xbf\xef\xbb\xbf{\"companies\":[{\"company_id\":\"a\"}]}", "invalid_json", 400},
	} {
		r := post(tc.path, tc.contentType, tc.body)
		e := expectError(t, r, tc.status, tc.code)
		if strings.Contains(tc.name, "deep") && !strings.Contains(e.Errors[0].Message, "256 levels") {
			t.Errorf("%s: message %q does not name the depth limit", tc.name, e.Errors[0].Message)
		}
		if strings.Contains(tc.name, "1 MiB") && !strings.Contains(e.Errors[0].Message, "1 MiB") {
			t.Errorf("%s: message %q does not name the record limit", tc.name, e.Errors[0].Message)
		}
	}
	s.healthy(t)
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Fatalf("refused bodies created %d jobs", len(jobs))
	}

	// A JSON body with a BOM and CRLF; invalid UTF-8, duplicate keys and
	// numbers at and beyond a float64's range.
	bigKey := strings.Repeat("k", 10000)
	body := "\xef\xbb\xbf{\"companies\":[\r\n" + strings.Join([]string{
		`{"company_id":"dup","metadata":{"a":1,"b":"x","a":2},"metadata":{"c":"first","c":"last"}}`,
		`{"company_id":"num","metadata":{"big":12345678901234567890123,"max":1.7976931348623157e308,"exp":1E3,"small":5e-324,"frac":0.1000000000000000055511151231257827}}`,
		`{"company_id":"inf","metadata":{"n":1e400}}`,
		`{"company_id":"tiny","metadata":{"n":1e-400}}`,
		"{\"company_id\":\"utf\",\"metadata\":{\"v\":\"\xff\"}}",
		"{\"company_id\":\"\xfe\"}",
		`{"company_id":"longkey","metadata":{"` + bigKey + `":true}}`,
		`{"company_id":"deep","metadata":{"x":` + nested(200) + `}}`,
	}, ",\r\n") + "\r\n]}\r\n"
	j := s.WaitJob(accepted(t, post(companies, "application/json", body)).JobID)
	want := map[int]string{2: "invalid_metadata", 3: "invalid_metadata", 4: "invalid_metadata", 5: "invalid_id", 7: "nested_metadata"}
	if got := recordErrors(j); j.CompletedRows != 3 || !maps.Equal(got, want) {
		t.Fatalf("JSON job: %d completed, errors %v; want 3 and %v", j.CompletedRows, got, want)
	}
	md := metadataOf(t, s, "/v1/companies/dup")
	if len(md) != 1 || string(md["c"]) != `"last"` {
		t.Errorf("duplicates: metadata %v, want the last metadata member, its last c: {c: last}", md)
	}
	md = metadataOf(t, s, "/v1/companies/num")
	for k, v := range map[string]string{"big": "12345678901234567890123", "max": "1.7976931348623157e308", "exp": "1E3", "small": "5e-324", "frac": "0.1000000000000000055511151231257827"} {
		if string(md[k]) != v {
			t.Errorf("number %s read back as %s, want %s as sent", k, md[k], v)
		}
	}
	if md := metadataOf(t, s, "/v1/companies/longkey"); string(md[bigKey]) != "true" {
		t.Errorf("a 10,000-character key did not read back: %d keys", len(md))
	}
	for _, id := range []string{"inf", "tiny", "utf", "deep"} {
		expectError(t, s.Get("/v1/companies/"+id), 404, "not_found")
	}

	// NDJSON: BOM, CRLF, blank lines, a last line without newline, a line
	// 10,000 and one 500,000 levels deep (each fails alone), a line not
	// UTF-8, and 20,000 keys in one record (over the limit) and 1,000.
	// (100,000 keys take 1.5 MB, over the record limit: record_too_large.)
	keys := func(id string, n int) string {
		var b strings.Builder
		b.WriteString(`{"user_id":"` + id + `","metadata":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d":%d`, i, i)
		}
		b.WriteString(`}}`)
		return b.String()
	}
	nd := "\xef\xbb\xbf{\"user_id\":\"u1\"}\r\n" + // line 1
		"\r\n" + // 2
		"   \t\r\n" + // 3
		`{"user_id":"u4","metadata":{"x":` + nested(10000) + `}}` + "\r\n" + // 4
		nested(500_000) + "\n" + // 5
		"{\"user_id\":\"u6\",\"metadata\":{\"\xff\":1}}\n" + // 6
		keys("many", 20_000) + "\n" + // 7
		keys("thousand", 1000) + "\n" + // 8
		`{"user_id":"u9"}` // 9, no newline
	j = s.WaitJob(accepted(t, post(users, "application/x-ndjson", nd)).JobID)
	want = map[int]string{4: "malformed_json", 5: "malformed_json", 6: "invalid_metadata", 7: "invalid_metadata"}
	if got := recordErrors(j); j.TotalRows != 7 || j.CompletedRows != 3 || !maps.Equal(got, want) {
		t.Fatalf("NDJSON job: %d rows, %d completed, errors %v; want 7, 3 and %v", j.TotalRows, j.CompletedRows, got, want)
	}
	for _, e := range j.Errors {
		if *e.Line == 5 && !strings.Contains(e.Message, "256 levels") {
			t.Errorf("deep line: message %q does not name the depth limit", e.Message)
		}
	}
	if md := metadataOf(t, s, "/v1/users/thousand"); len(md) != 1000 || string(md["k999"]) != "999" {
		t.Errorf("1,000 keys read back as %d keys", len(md))
	}
	expectError(t, s.Get("/v1/users/many"), 404, "not_found")
	for _, id := range []string{"u1", "u9"} {
		if r := s.Get("/v1/users/" + id); r.Status != 200 {
			t.Errorf("GET user %s = %d", id, r.Status)
		}
	}
	s.healthy(t)
}

// TestBadInputMultipart covers abuse of the multipart form: many parts, a
// file part twice, odd and huge file names, a huge non-file part.
func TestBadInputMultipart(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	const path = "/v1/companies/bulk_identify"
	file := []byte(`{"company_id":"m"}` + "\n")
	withName := func(disposition string) func(mw *multipart.Writer) error {
		return func(mw *multipart.Writer) error {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", disposition)
			w, err := mw.CreatePart(h)
			if err != nil {
				return err
			}
			_, err = w.Write(file)
			return err
		}
	}

	// Refused.
	for _, tc := range []struct {
		name   string
		write  func(mw *multipart.Writer) error
		status int
		code   string
	}{
		{"file part twice", func(mw *multipart.Writer) error {
			for range 2 {
				w, _ := mw.CreateFormFile("file", "a.ndjson")
				w.Write(file)
			}
			return nil
		}, 400, "invalid_request"},
		{"file name of 100 KB", withName(`form-data; name="file"; filename="` + strings.Repeat("n", 100<<10) + `"`), 400, "invalid_request"},
		{"non-file part over the body limit", func(mw *multipart.Writer) error {
			w, _ := mw.CreateFormField("note")
			if err := writeRepeat(w, 'x', 52<<20); err != nil {
				return err
			}
			w, err := mw.CreateFormFile("file", "a.ndjson")
			if err != nil {
				return err // the server answered and the pipe is closed
			}
			_, err = w.Write(file)
			return err
		}, 413, "payload_too_large"},
		{"10,000 fields and no file", func(mw *multipart.Writer) error {
			for i := range 10000 {
				mw.WriteField("f"+strconv.Itoa(i), "v")
			}
			return nil
		}, 400, "missing_file"},
	} {
		expectError(t, s.StreamUpload(path, tc.write), tc.status, tc.code)
	}
	s.healthy(t)
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Fatalf("refused uploads created %d jobs", len(jobs))
	}

	// Accepted: the name is only ever shown, less any directory, with
	// what is not UTF-8 or is a control character replaced.
	for _, tc := range []struct {
		name  string
		write func(mw *multipart.Writer) error
		want  string
	}{
		{"dot-dot path", withName(`form-data; name="file"; filename="../../etc/passwd"`), "passwd"},
		{"slash and backslash", withName(`form-data; name="file"; filename="a/b\\c.ndjson"`), "c.ndjson"},
		{"Windows path", withName(`form-data; name="file"; filename="C:\\Users\\ann\\users.ndjson"`), "users.ndjson"},
		{"not UTF-8, NUL", withName(`form-data; name="file"; filename*=UTF-8''%FFa%00b.ndjson`), "\uFFFDa\uFFFDb.ndjson"},
		{"name of 255 bytes", withName(`form-data; name="file"; filename="` + strings.Repeat("n", 255) + `"`), strings.Repeat("n", 255)},
		{"10,000 fields before the file", func(mw *multipart.Writer) error {
			for i := range 10000 {
				mw.WriteField("f"+strconv.Itoa(i), "v")
			}
			return withName(`form-data; name="file"; filename="many.ndjson"`)(mw)
		}, "many.ndjson"},
		{"a 5 MB field before the file", func(mw *multipart.Writer) error {
			w, _ := mw.CreateFormField("note")
			writeRepeat(w, 'x', 5<<20)
			return withName(`form-data; name="file"; filename="big-field.ndjson"`)(mw)
		}, "big-field.ndjson"},
	} {
		j := accepted(t, s.StreamUpload(path, tc.write))
		if j.Filename == nil || *j.Filename != tc.want {
			t.Errorf("%s: filename %v, want %q", tc.name, j.Filename, tc.want)
		}
		if done := s.WaitJob(j.JobID); done.CompletedRows != 1 {
			t.Errorf("%s: %d rows completed, want 1", tc.name, done.CompletedRows)
		}
	}
	s.healthy(t)
}

// The repro of issue 10, item 1: a record behind more than 1 MiB of
// spaces (or tabs) was dropped as a blank line, with no error, and a file
// of only such lines was empty_payload. It is a line over the limit,
// record_too_large at its line, as bulkid push calls it.
func TestRecordBehindLongWhitespace(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	for _, pad := range []string{" ", "\t"} {
		lost := strings.Repeat(pad, 1048577) + `{"company_id":"lost"}`
		j := accepted(t, s.Upload("/v1/companies/bulk_identify", "c.ndjson", []byte(`{"company_id":"first"}`+"\n"+lost+"\n")))
		j = s.WaitJob(j.JobID)
		if j.Status != "completed" || j.TotalRows != 2 || j.CompletedRows != 1 || j.FailedRows != 1 || len(j.Errors) != 1 ||
			*j.Errors[0].Line != 2 || j.Errors[0].ErrorCode != "record_too_large" {
			t.Fatalf("pad %q: job = %+v, want 2 rows, line 2 failed as record_too_large", pad, j)
		}
		j = accepted(t, s.Upload("/v1/companies/bulk_identify", "c.ndjson", []byte(lost+"\n"+lost)))
		if j = s.WaitJob(j.JobID); j.TotalRows != 2 || j.FailedRows != 2 {
			t.Fatalf("pad %q: a file of only padded records: %+v, want 2 failed rows", pad, j)
		}
	}
}
