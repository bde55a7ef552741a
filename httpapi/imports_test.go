package httpapi_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/input"
	"github.com/bulkid/bulkid/internal/wiretest"
)

// importForm is a multipart body whose part "file" holds content, named
// filename, with the part's Content-Type ("" for none), and the body's
// Content-Type.
func importForm(t *testing.T, filename, contentType string, content []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	pw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err) // a bytes.Buffer takes every write
	}
	pw.Write(content)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// importFile posts content as the part "file" of POST /v1/imports, named
// filename, with the part's Content-Type ("" for none).
func importFile(t *testing.T, s *server, filename, contentType string, content []byte) response {
	t.Helper()
	body, ct := importForm(t, filename, contentType, content)
	return s.Do("POST", "/v1/imports", s.Key, ct, body)
}

// imported checks that r is the 200 of an import with a queued job of the
// given type, and returns the job.
func imported(t *testing.T, r response, typ string) job {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body: %s", r.Status, r.Body)
	}
	var j job
	r.JSON(t, &j)
	if j.Status != "queued" || j.JobID == "" || j.Type != typ || r.Header.Get("Location") != "/v1/background_jobs/"+j.JobID {
		t.Fatalf("200 body = %s (Location %q), want a queued %s job", r.Body, r.Header.Get("Location"), typ)
	}
	return j
}

// pushed is what `bulkid push` makes of a file: its records, read by
// package input as push reads them, less those push refuses to send.
func pushed(t *testing.T, kind bulkid.JobType, name string, content []byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := input.Open(path, input.Options{Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var nd bytes.Buffer
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return nd.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Err == "" {
			nd.Write(rec.Raw)
			nd.WriteByte('\n')
		}
	}
}

// profile is a stored profile as GET answers it.
func profile(t *testing.T, s *server, path string) string {
	t.Helper()
	r := s.Get(path)
	var p map[string]any
	r.JSON(t, &p)
	delete(p, "created_at")
	delete(p, "updated_at")
	b, _ := json.Marshal(p)
	return fmt.Sprintf("%d %s", r.Status, b)
}

// An imported CSV file stores the profiles that pushing the same file
// stores: the rows are converted by the same code, the kind is told by the
// header, and the job is the bulk endpoints' job object, answered 200.
func TestImportCSVAsPush(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	viaPush := createApp(t, s, "via-push")

	users := []byte("\xef\xbb\xbfuser_id,company_id,email,seats,active,zip,score,note\r\n" +
		"u1,acme,ann@acme.test,40,TRUE,00501,1.50,\"Multi\nline, quoted\"\r\n" +
		"u2,acme,bob@acme.test,3,false,90210,-2,\r\n" +
		"\r\n" +
		"u3,,,,,,,\"caf\u00e9 \u201cq\u201d\"\r\n" +
		"u1,globex,,41,,,,\r\n" + // a later row merges over the earlier: u1 moves to globex
		"u4,initech,d@x.test\r\n") // fewer cells than columns
	j := imported(t, importFile(t, s, "users.csv", "", users), "bulk_identify_users")
	if j.Filename == nil || *j.Filename != "users.csv" || j.FileSize == nil || *j.FileSize != int64(len(users)) || j.TotalRows != 5 {
		t.Fatalf("job = filename %v, file_size %v, total_rows %d; want users.csv, %d, 5", j.Filename, j.FileSize, j.TotalRows, len(users))
	}
	if got := s.Job(j.JobID); got.JobID != j.JobID || got.Type != "bulk_identify_users" {
		t.Fatalf("GET the import's job = %+v", got)
	}
	if done := s.WaitJob(j.JobID); done.Status != "completed" || done.CompletedRows != 5 || done.FailedRows != 0 {
		t.Fatalf("import job = %s %d+%d, want completed 5+0", done.Status, done.CompletedRows, done.FailedRows)
	}
	pj := viaPush.WaitJob(accepted(t, viaPush.Upload("/v1/users/bulk_identify", "users.ndjson", pushed(t, bulkid.JobUsers, "users.csv", users))).JobID)
	if pj.CompletedRows != 5 {
		t.Fatalf("pushed job = %+v", pj)
	}
	paths := []string{"/v1/users/u1", "/v1/users/u2", "/v1/users/u3", "/v1/users/u4",
		"/v1/companies/acme", "/v1/companies/globex", "/v1/companies/initech"}
	for _, p := range paths {
		if got, want := profile(t, s, p), profile(t, viaPush, p); got != want || !strings.HasPrefix(got, "200 ") {
			t.Errorf("GET %s\n imported: %s\n   pushed: %s", p, got, want)
		}
	}
	if md := s.MetadataOf("/v1/users/u1"); string(md["seats"]) != "41" || string(md["active"]) != "true" || string(md["zip"]) != `"00501"` || string(md["score"]) != "1.50" {
		t.Errorf("u1 metadata = %s, want seats 41, active true, zip \"00501\", score 1.50", md)
	}

	// Companies: a header with company_id and no user_id.
	companiesCSV := []byte("company_id,name,plan,seats\nacme,Acme,pro,40\nglobex,\"Globex, Inc\",,7\n")
	j = imported(t, importFile(t, s, "companies.csv", "text/csv", companiesCSV), "bulk_identify_companies")
	s.WaitJob(j.JobID)
	viaPush.WaitJob(accepted(t, viaPush.Upload("/v1/companies/bulk_identify", "c.ndjson", pushed(t, bulkid.JobCompanies, "companies.csv", companiesCSV))).JobID)
	for _, p := range []string{"/v1/companies/acme", "/v1/companies/globex"} {
		if got, want := profile(t, s, p), profile(t, viaPush, p); got != want {
			t.Errorf("GET %s\n imported: %s\n   pushed: %s", p, got, want)
		}
	}
	if md := s.MetadataOf("/v1/companies/globex"); string(md["name"]) != `"Globex, Inc"` || string(md["seats"]) != "7" {
		t.Errorf("globex metadata = %s", md)
	}
}

// An NDJSON file is told from CSV by its part's Content-Type, its name or
// its first byte, and its kind by its first record.
func TestImportNDJSON(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	for _, tc := range []struct {
		name, filename, contentType, content, typ string
		check                                     string
	}{
		{"users by name", "users.ndjson", "", "{\"user_id\":\"n1\",\"company_id\":\"nc\",\"metadata\":{\"plan\":\"pro\"}}\n{\"user_id\":\"n2\"}\n", "bulk_identify_users", "/v1/users/n1"},
		{"companies by type", "export", "application/x-ndjson", `{"company_id":"nc2","metadata":{"seats":3}}`, "bulk_identify_companies", "/v1/companies/nc2"},
		{"jsonl", "u.jsonl", "application/octet-stream", "\n{\"user_id\":\"n3\"}\n", "bulk_identify_users", "/v1/users/n3"},
		{"sniffed", "data.txt", "text/plain", "\xef\xbb\xbf  \n{\"company_id\":\"nc4\"}\n", "bulk_identify_companies", "/v1/companies/nc4"},
	} {
		j := imported(t, importFile(t, s, tc.filename, tc.contentType, []byte(tc.content)), tc.typ)
		if done := s.WaitJob(j.JobID); done.Status != "completed" || done.FailedRows != 0 {
			t.Errorf("%s: job = %+v", tc.name, done)
		}
		if r := s.Get(tc.check); r.Status != 200 {
			t.Errorf("%s: GET %s = %d", tc.name, tc.check, r.Status)
		}
	}
	if md := s.MetadataOf("/v1/users/n1"); string(md["plan"]) != `"pro"` {
		t.Errorf("n1 metadata = %s", md)
	}
	if u := getJSON(t, s, "/v1/users/n1"); u["company_id"] != "nc" {
		t.Errorf("n1 = %v, want company nc", u)
	}

	// The part's Content-Type comes before the name, and the name before
	// the content: a CSV sent as data.ndjson with text/csv is CSV.
	j := imported(t, importFile(t, s, "data.ndjson", "text/csv", []byte("company_id,n\nnc5,1\n")), "bulk_identify_companies")
	if done := s.WaitJob(j.JobID); done.CompletedRows != 1 || s.MetadataOf("/v1/companies/nc5")["n"] == nil {
		t.Errorf("CSV with text/csv named .ndjson: %+v", done)
	}
	// The whole body may come gzip-compressed, as a bulk upload's may.
	form, ct := importForm(t, "c.csv", "", []byte("company_id,n\nnc7,7\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(form.Bytes())
	zw.Close()
	req, _ := http.NewRequest("POST", s.URL+"/v1/imports", &gz)
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	j = imported(t, wiretest.ReadResponse(t, resp), "bulk_identify_companies")
	if *j.FileSize != int64(len("company_id,n\nnc7,7\n")) {
		t.Errorf("file_size of a gzip body's file = %d, want the file as decoded", *j.FileSize)
	}
	if s.WaitJob(j.JobID); string(s.MetadataOf("/v1/companies/nc7")["n"]) != "7" {
		t.Errorf("the gzip body's company was not stored")
	}
	// An NDJSON file whose later records are of the other kind: they fail
	// alone, validated as the first record's kind.
	j = imported(t, importFile(t, s, "mixed.ndjson", "", []byte("{\"user_id\":\"n6\"}\n{\"company_id\":\"nc6\"}\n")), "bulk_identify_users")
	if done := s.WaitJob(j.JobID); done.CompletedRows != 1 || done.FailedRows != 1 || len(done.Errors) != 1 || *done.Errors[0].Line != 2 || done.Errors[0].ErrorCode != "missing_id" {
		t.Errorf("mixed kinds: %+v", done)
	}
}

// A file that does not tell what it holds is refused 400, saying what was
// expected, and creates no job; so are an empty file and a header alone.
func TestImportKindCannotBeTold(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	for _, tc := range []struct {
		name, filename, content, code string
		msg                           []string
	}{
		{"CSV without an id column", "x.csv", "id,name\n1,Acme\n", "invalid_request", []string{"user_id", "company_id", "line 1"}},
		{"CSV header with a repeated column", "x.csv", "user_id,a,a\nu,1,2\n", "invalid_request", []string{`"a" twice`}},
		{"NDJSON without an id member", "x.ndjson", "\n{\"id\":\"u1\"}\n{\"user_id\":\"u2\"}\n", "invalid_request", []string{"user_id", "company_id", "line 2"}},
		{"a bulk JSON body", "x.ndjson", `{"users":[{"user_id":"u1"}]}`, "invalid_request", []string{"user_id", "company_id"}},
		{"a JSON array", "x.json", `[{"user_id":"u1"}]`, "invalid_request", []string{"JSON array", "user_id", "company_id"}},
		{"gzip", "x.csv.gz", "\x1f\x8b\x08\x00\x00\x00\x00\x00", "invalid_request", []string{"gzip"}},
		{"empty file", "x.csv", "", "empty_payload", []string{"user_id", "company_id"}},
		{"white space only", "x", " \r\n\t\n", "empty_payload", []string{"user_id", "company_id"}},
		{"header only", "x.csv", "user_id,email\n", "empty_payload", []string{"header row (line 1) but no rows"}},
		{"NDJSON of blank lines", "x.ndjson", "\n\n", "empty_payload", []string{"empty"}},
		{"quote open to the end", "x.csv", "company_id,note\nc1,\"open\nc2,x\n", "invalid_request", []string{"line 2", "not closed"}},
	} {
		e := expectError(t, importFile(t, s, tc.filename, "", []byte(tc.content)), 400, tc.code)
		for _, m := range tc.msg {
			if !strings.Contains(e.Errors[0].Message, m) {
				t.Errorf("%s: message %q does not hold %q", tc.name, e.Errors[0].Message, m)
			}
		}
	}
	expectError(t, s.Do("POST", "/v1/imports", s.Key, "application/json", strings.NewReader(`{"users":[]}`)), 415, "unsupported_media_type")
	if r := s.Get("/v1/imports"); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/imports = %d, Allow %q; want 405, Allow POST", r.Status, r.Header.Get("Allow"))
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("files", "users.csv")
	mw.Close()
	e := expectError(t, s.Do("POST", "/v1/imports", s.Key, mw.FormDataContentType(), &body), 400, "missing_file")
	if !strings.Contains(e.Errors[0].Message, "CSV or NDJSON file") {
		t.Errorf("missing file: %q", e.Errors[0].Message)
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Fatalf("refused imports created %d jobs", len(jobs))
	}
}

// Rows that cannot be records fail alone at their CSV line, shown as sent;
// a record that fails validation is shown as the JSON it was turned into;
// the other rows are applied.
func TestImportCSVBadRows(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	file := "company_id,name\n" +
		"c1,ok\n" +
		"c2,a,extra\n" + // line 3: more fields than the header
		",no id\n" + // line 4: missing_id
		"c5,b\"ad\n" + // line 5: a stray quote
		"caf\xe9,latin1\n" + // line 6: not UTF-8
		"c7,\"two\nlines\"\n" + // lines 7-8
		"c9,fine\n" // line 9
	j := imported(t, importFile(t, s, "companies.csv", "", []byte(file)), "bulk_identify_companies")
	done := s.WaitJob(j.JobID)
	if done.Status != "completed" || done.TotalRows != 7 || done.CompletedRows != 3 || done.FailedRows != 4 {
		t.Fatalf("job = %s %d+%d/%d, want completed 3+4/7", done.Status, done.CompletedRows, done.FailedRows, done.TotalRows)
	}
	r := s.Get("/v1/background_jobs/" + j.JobID + "/errors")
	var got []map[string]any
	for sc := bufio.NewScanner(bytes.NewReader(r.Body)); sc.Scan(); {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("errors line %q: %v", sc.Text(), err)
		}
		delete(m, "message")
		got = append(got, m)
	}
	want := []map[string]any{
		{"line": 3.0, "error_code": "malformed_row", "raw": "c2,a,extra"},
		{"line": 4.0, "error_code": "missing_id", "record": map[string]any{"metadata": map[string]any{"name": "no id"}}},
		{"line": 5.0, "error_code": "malformed_row", "raw": "c5,b\"ad"},
		{"line": 6.0, "error_code": "invalid_id", "raw": "{\"company_id\":\"caf\ufffd\",\"metadata\":{\"name\":\"latin1\"}}",
			"raw_base64": "eyJjb21wYW55X2lkIjoiY2Fm6SIsIm1ldGFkYXRhIjp7Im5hbWUiOiJsYXRpbjEifX0="},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("errors stream:\n got %v\nwant %v", got, want)
	}
	if e := done.Errors[0]; e.ErrorCode != "malformed_row" || !strings.Contains(e.Message, "3 fields but the header names 2 columns") {
		t.Errorf("first error = %+v", e)
	}
	for _, id := range []string{"c1", "c7", "c9"} {
		if r := s.Get("/v1/companies/" + id); r.Status != 200 {
			t.Errorf("company %s not stored: %d", id, r.Status)
		}
	}
	if md := s.MetadataOf("/v1/companies/c7"); string(md["name"]) != `"two\nlines"` {
		t.Errorf("c7 = %s", md)
	}
}

// One job at a time: an import while a job runs is refused 409 before its
// body is read, with the body of a bulk submission's 409.
func TestImportConflict(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "60") // one row a second: the job stays running
	first := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(30, "c")))
	bulk := s.Upload("/v1/users/bulk_identify", "u.ndjson", []byte(`{"user_id":"u"}`))
	imp := importFile(t, s, "u.csv", "", []byte("user_id\nu\n"))
	e := expectError(t, imp, 409, "job_in_progress")
	if e.Errors[0].JobID != first.JobID || imp.Header.Get("Retry-After") == "" {
		t.Errorf("409 = %s (Retry-After %q), want job %s named", imp.Body, imp.Header.Get("Retry-After"), first.JobID)
	}
	// The same body, but for the job's status, which may move between them.
	var be, ie apiError
	bulk.JSON(t, &be)
	imp.JSON(t, &ie)
	for _, e := range []*apiError{&be, &ie} {
		e.Errors[0].Details = strings.Fields(e.Errors[0].Details)[1] // "job ID is STATUS; poll ..."
	}
	if b, i := be.Errors[0], ie.Errors[0]; b != i || b.Details != first.JobID {
		t.Errorf("import 409 = %s, bulk 409 = %s; want the same", imp.Body, bulk.Body)
	}
	if n := len(listJobs(t, s, "")); n != 1 {
		t.Errorf("%d jobs stored, want 1", n)
	}
}

// streamImport streams a multipart import whose file part write fills,
// counting the bytes it writes, and returns the answer and that count.
func streamImport(t *testing.T, s *server, filename string, write func(w io.Writer) error) (response, int64) {
	t.Helper()
	var written atomic.Int64
	r := s.StreamUpload("/v1/imports", func(mw *multipart.Writer) error {
		fw, err := mw.CreateFormFile("file", filename)
		if err != nil {
			return err
		}
		return write(countWriter{fw, &written})
	})
	return r, written.Load()
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// The limits of bulk uploads hold while an import streams in: the
// 10,001st row and the 50 MiB-and-first byte are refused 413 as they
// arrive, long before the client has sent what it meant to.
func TestImportLimitsWhileStreaming(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	const meant = 200 << 20
	r, n := streamImport(t, s, "users.csv", func(w io.Writer) error {
		if _, err := io.WriteString(w, "user_id,email\n"); err != nil {
			return err
		}
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "u%d,user%d@example.test,%s\n", i, i, strings.Repeat("p", 1000)); err != nil {
				return err
			}
		}
	})
	expectError(t, r, 413, "too_many_records")
	if n >= 40<<20 {
		t.Errorf("the client wrote %d bytes before the 413 for its 10,001st row, about 10 MB", n)
	}

	row := "c," + strings.Repeat("x", 8<<10) + "\n"
	r, n = streamImport(t, s, "companies.csv", func(w io.Writer) error {
		if _, err := io.WriteString(w, "company_id,pad\n"); err != nil {
			return err
		}
		for written := 0; written < meant; written += len(row) {
			if _, err := io.WriteString(w, row); err != nil {
				return err
			}
		}
		return nil
	})
	e := expectError(t, r, 413, "payload_too_large")
	if !strings.Contains(e.Errors[0].Message, fmt.Sprint(bulkid.MaxBytes)) {
		t.Errorf("413 message %q does not name the file limit", e.Errors[0].Message)
	}
	if n >= meant {
		t.Errorf("the client wrote all %d bytes before the 413", n)
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Fatalf("refused imports created %d jobs", len(jobs))
	}

	// Exactly 10,000 rows are within the limit.
	var ok bytes.Buffer
	ok.WriteString("user_id\n")
	for i := range 10000 {
		fmt.Fprintf(&ok, "u%d\n", i)
	}
	j := imported(t, importFile(t, s, "users.csv", "", ok.Bytes()), "bulk_identify_users")
	if j.TotalRows != 10000 {
		t.Errorf("total_rows = %d, want 10000", j.TotalRows)
	}
}

// importCheckStore takes every job, as acceptStore does, and checks that
// an import's job says what it holds.
type importCheckStore struct{ acceptStore }

func (s importCheckStore) CreateJob(ctx context.Context, job *bulkid.Job, in bulkid.JobInput) error {
	if (job.Type != bulkid.JobUsers && job.Type != bulkid.JobCompanies) || (job.Source != bulkid.SourceCSV && job.Source != bulkid.SourceNDJSON) {
		s.t.Errorf("import job of type %q, source %q", job.Type, job.Source)
	}
	return s.acceptStore.CreateJob(ctx, job, in)
}

// FuzzImport sends POST /v1/imports any file, named and typed anyhow,
// through the whole handler: it never panics nor answers 500, every
// refusal is 400 or 413 in the error shape, in our words, and an accepted
// job is of users or companies and holds 1 to 10,000 records.
func FuzzImport(f *testing.F) {
	for _, seed := range []struct{ name, contentType, content string }{
		{"users.csv", "", "user_id,company_id,email\nu1,c1,a@b.test\n"},
		{"c.csv", "text/csv", "company_id,n\nc1,a,extra\nc2,b\"ad\nc3,\"open"},
		{"x", "application/x-ndjson", "{\"company_id\":\"a\"}\n{oops}\n"},
		{"x.txt", "text/plain", "\xef\xbb\xbf\n{\"user_id\":1}"},
		{"x.json", "application/json", "[{\"user_id\":\"u\"}]"},
		{"x.csv", "", "id,name\n"},
		{"x.csv.gz", "application/gzip", "\x1f\x8b\x08\x00"},
		{"", "", ""},
	} {
		f.Add(seed.name, seed.contentType, []byte(seed.content))
	}
	f.Fuzz(func(t *testing.T, name, contentType string, content []byte) {
		body, ct := importForm(t, name, contentType, content)
		srv := httpapi.NewServer(httpapi.Config{Store: importCheckStore{acceptStore{t: t}}, Logger: slog.New(slog.DiscardHandler), SpoolDir: t.TempDir()})
		req := httptest.NewRequest("POST", "/v1/imports", body)
		req.Header.Set("Authorization", "Token k")
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			return
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("file %q (%q, %q) answered %d: %s", content, name, contentType, rec.Code, rec.Body)
		}
		var e apiError
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e.Errors) != 1 || e.Errors[0].ErrorCode == "" || e.Errors[0].Message == "" {
			t.Fatalf("file %q answered %d not in the error shape: %s", content, rec.Code, rec.Body)
		}
		for _, w := range []string{"parse error", "bare \" in", "extraneous", "csv:", "multipart:", "EOF"} {
			if strings.Contains(e.Errors[0].Message, w) {
				t.Fatalf("file %q answered with a library's words (%q): %s", content, w, rec.Body)
			}
		}
	})
}

// An import takes an upload slot of its app, as a bulk upload does, and is
// cut off 408 when it arrives slower than --min-upload-rate.
func TestImportUploadSlotAndRate(t *testing.T) {
	t.Parallel()
	// holdImport starts an import of s whose body stops after its first
	// row, until the returned writer is closed.
	holdImport := func(s *server) (*io.PipeWriter, *multipart.Writer, <-chan response) {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		held := make(chan response, 1)
		go func() {
			r, err := send("POST", s.URL+"/v1/imports", s.Key, mw.FormDataContentType(), pr)
			if err != nil {
				r = response{Status: -1, Body: []byte(err.Error())}
			}
			held <- r
		}()
		fw, err := mw.CreateFormFile("file", "users.csv")
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, "user_id\nu1\n")
		return pw, mw, held
	}

	s := startServer(t, "", "--rows-per-minute", "0", "--upload-wait", "300ms", "--min-upload-rate", "0")
	pw, mw, held := holdImport(s)
	// Until the held import is in its handler, another one gets the slot;
	// an empty file then answers 400 and makes no job.
	var busy response
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		busy = importFile(t, s, "empty.csv", "", nil)
		if busy.Status != http.StatusBadRequest || time.Now().After(deadline) {
			break
		}
	}
	e := expectError(t, busy, http.StatusServiceUnavailable, "service_unavailable")
	if !strings.Contains(e.Errors[0].Message, "Another upload of this app") {
		t.Errorf("503 message %q", e.Errors[0].Message)
	}
	mw.Close()
	pw.Close()
	if done := s.WaitJob(imported(t, <-held, "bulk_identify_users").JobID); done.CompletedRows != 1 {
		t.Errorf("the held import's job = %+v", done)
	}

	// An import that stops sending is cut off, and frees its slot.
	s = startServer(t, "", "--rows-per-minute", "0", "--min-upload-rate", "2000", "--upload-rate-window", "1s")
	pw, _, held = holdImport(s)
	defer pw.CloseWithError(io.ErrClosedPipe)
	select {
	case cut := <-held:
		expectError(t, cut, http.StatusRequestTimeout, "request_timeout")
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled import was not cut off")
	}
	s.WaitJob(imported(t, importFile(t, s, "later.csv", "", []byte("user_id\nu3\n")), "bulk_identify_users").JobID)
	if jobs := listJobs(t, s, ""); len(jobs) != 1 {
		t.Errorf("%d jobs, want only the later import's", len(jobs))
	}
}
