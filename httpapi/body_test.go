package httpapi_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/internal/recordpack"
)

// keepStore takes every job and identify and keeps what it was given.
type keepStore struct {
	bulkid.Store
	mu       sync.Mutex
	records  []string // raw records of the jobs, in order
	filename string
	fileSize int64
	ident    []bulkid.Record
}

func (*keepStore) AppByKeyHash(context.Context, []byte) (*bulkid.App, error) {
	return &bulkid.App{ID: 1, Name: "a"}, nil
}

func (*keepStore) ActiveJob(context.Context, int64) (*bulkid.Job, error) {
	return nil, bulkid.Errorf(bulkid.ENOTFOUND, "no active job")
}

func (*keepStore) ListJobs(_ context.Context, _ int64, p bulkid.Page) ([]*bulkid.Job, error) {
	if p.Limit != 100 {
		return nil, bulkid.Errorf(bulkid.EINVALID, "limit %d reached the store", p.Limit)
	}
	return nil, nil
}

func (s *keepStore) CreateJob(_ context.Context, job *bulkid.Job, in bulkid.JobInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filename, s.fileSize = job.Filename, job.FileSize
	return in.Chunks(func(first, count int, data []byte) error {
		recs, err := recordpack.Unpack(nil, first, data, first, count)
		for _, r := range recs {
			s.records = append(s.records, string(r.Raw))
		}
		return err
	})
}

func (s *keepStore) Identify(_ context.Context, _ int64, companies, users []bulkid.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ident = append(append(s.ident, companies...), users...)
	return nil
}

type errorBody struct {
	Errors []struct {
		Error     string `json:"error"`
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
		Details   string `json:"details"`
	} `json:"errors"`
}

// call sends one request to h in process and returns the answer.
func call(t *testing.T, h http.Handler, method, path string, header http.Header, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	req.Header.Set("Authorization", "Token k")
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// wantError checks that rec is status with code in the error shape and
// returns its message.
func wantError(t *testing.T, what string, rec *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != status || len(e.Errors) != 1 || e.Errors[0].ErrorCode != code || e.Errors[0].Message == "" {
		t.Errorf("%s: answered %d %s, want %d %s in the error shape", what, rec.Code, rec.Body, status, code)
		return ""
	}
	return e.Errors[0].Message
}

// libraryWords are bits of Go libraries' error texts that must not reach
// a client.
var libraryWords = []string{"multipart:", "NextPart", "MIME", "EOF", "bufio", "flate", "gzip: invalid", "mime:", "invalid character", "ÿ"}

func noLibraryWords(t *testing.T, what, msg string) {
	t.Helper()
	for _, w := range libraryWords {
		if strings.Contains(msg, w) {
			t.Errorf("%s: message %q has a library's words (%q)", what, msg, w)
		}
	}
}

func newTestServer(st bulkid.Store, t *testing.T) http.Handler {
	return httpapi.NewServer(httpapi.Config{Store: st, Logger: slog.New(slog.DiscardHandler), SpoolDir: t.TempDir()})
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// TestBodyMessages: every malformed body of the attack on issue 10 is
// answered 400 with a message of ours, none with a library's error text.
func TestBodyMessages(t *testing.T) {
	t.Parallel()
	h := newTestServer(&keepStore{}, t)
	mp := header("Content-Type", "multipart/form-data; boundary=B")
	for _, tc := range []struct {
		name, body string
		want       string
	}{
		{"no boundary line at all (NextPart: EOF)", "hello", "ends before its closing boundary"},
		{"empty multipart body", "", "ends before its closing boundary"},
		{"header without a colon", "--B\r\nfoo\r\n\r\nx\r\n--B--\r\n", "malformed header"},
		{"file cut short (unexpected EOF)", "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n{\"company_id\":\"a\"}\n", "ends before its closing boundary"},
		{"other part cut short", "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nabc", "ends before its closing boundary"},
		{"unparseable filename*", "--B\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''a b\r\n\r\n{}\r\n--B--\r\n", "Content-Disposition"},
	} {
		rec := call(t, h, "POST", "/v1/companies/bulk_identify", mp, strings.NewReader(tc.body))
		msg := wantError(t, tc.name, rec, http.StatusBadRequest, bulkid.EINVALID)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: message %q, want it to say %q", tc.name, msg, tc.want)
		}
		noLibraryWords(t, tc.name, msg)
	}
	// The 415 names every type the endpoint takes.
	rec := call(t, h, "POST", "/v1/companies/bulk_identify", header("Content-Type", "text/csv"), strings.NewReader("a"))
	msg := wantError(t, "text/csv", rec, http.StatusUnsupportedMediaType, bulkid.EUNSUPPORTED)
	for _, ct := range []string{"application/json", "application/x-ndjson", "multipart/form-data"} {
		if !strings.Contains(msg, ct) {
			t.Errorf("415 message %q does not name %s", msg, ct)
		}
	}
	// A JSON body of binary bytes names them in hex.
	rec = call(t, h, "POST", "/v1/companies/bulk_identify", header("Content-Type", "application/json"), bytes.NewReader(gz(t, []byte("{}"))))
	noLibraryWords(t, "binary JSON body", wantError(t, "binary JSON body", rec, http.StatusBadRequest, bulkid.EINVALIDJSON))
}

// TestPageLimitLowered: a limit too large for an int is lowered to the
// page size like any large one; a negative one is refused.
func TestPageLimitLowered(t *testing.T) {
	t.Parallel()
	h := newTestServer(&keepStore{}, t)
	for _, v := range []string{"100", "101", "99999999999999999999", "%2B99999999999999999999999"} {
		if rec := call(t, h, "GET", "/v1/background_jobs?limit="+v, nil, nil); rec.Code != http.StatusOK {
			t.Errorf("limit=%s: %d %s, want 200 with the limit lowered to 100", v, rec.Code, rec.Body)
		}
	}
	for _, v := range []string{"0", "-1", "-99999999999999999999", "x"} {
		wantError(t, "limit="+v, call(t, h, "GET", "/v1/background_jobs?limit="+v, nil, nil), http.StatusBadRequest, bulkid.EINVALID)
	}
}

// TestIdentifyTooLargeNoContinue: a real-time identify whose
// Content-Length is over the limit is answered 413 at once, without the
// 100 Continue that would ask for its body.
func TestIdentifyTooLargeNoContinue(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newTestServer(&keepStore{}, t))
	defer srv.Close()
	for _, path := range []string{"/v1/identify", "/v1/companies/identify", "/v1/companies/bulk_identify"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Token k\r\nContent-Type: application/json\r\n"+
			"Content-Length: 2000000000\r\nExpect: 100-continue\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		var e errorBody
		if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 || e.Errors[0].ErrorCode != bulkid.ETOOLARGE {
			t.Errorf("%s with Content-Length 2000000000 and Expect: 100-continue: first answer %d %s, want 413 payload_too_large", path, resp.StatusCode, body)
		}
		conn.Close()
	}
}

// multipartFile is a multipart body with content as the part "file".
func multipartFile(t *testing.T, name string, content []byte) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestGzipBodies: a body sent with Content-Encoding: gzip is decoded, for
// JSON, NDJSON and multipart bulk bodies and for real-time identify, and
// its records are kept as sent before compression.
func TestGzipBodies(t *testing.T) {
	t.Parallel()
	recs := []string{`{"company_id":"a","metadata":{"n":1}}`, `{"company_id":"b","metadata":{"é":"x"}}`}
	ndjson := []byte(strings.Join(recs, "\n") + "\n")
	form, formType := multipartFile(t, "c.ndjson", ndjson)
	for _, tc := range []struct {
		name, contentType, coding string
		body                      []byte
	}{
		{"JSON", "application/json", "gzip", []byte(`{"companies":[` + strings.Join(recs, ",") + `]}`)},
		{"NDJSON", "application/x-ndjson", "gzip", ndjson},
		{"multipart", formType, "GZIP", form},
		{"x-gzip, identity", "application/x-ndjson", "x-gzip, identity", ndjson},
	} {
		st := &keepStore{}
		rec := call(t, newTestServer(st, t), "POST", "/v1/companies/bulk_identify",
			header("Content-Type", tc.contentType, "Content-Encoding", tc.coding), bytes.NewReader(gz(t, tc.body)))
		if rec.Code != http.StatusAccepted || strings.Join(st.records, "\n") != strings.Join(recs, "\n") {
			t.Errorf("%s gzip: answered %d %s, stored %q; want 202 and the records as sent", tc.name, rec.Code, rec.Body, st.records)
		}
		if tc.name != "JSON" && st.fileSize != int64(len(ndjson)) {
			t.Errorf("%s gzip: file_size %d, want the decompressed file's %d bytes", tc.name, st.fileSize, len(ndjson))
		}
	}
	// Two gzip members one after another are one body.
	st := &keepStore{}
	two := append(gz(t, []byte(recs[0]+"\n")), gz(t, []byte(recs[1]+"\n"))...)
	rec := call(t, newTestServer(st, t), "POST", "/v1/companies/bulk_identify",
		header("Content-Type", "application/x-ndjson", "Content-Encoding", "gzip"), bytes.NewReader(two))
	if rec.Code != http.StatusAccepted || len(st.records) != 2 {
		t.Errorf("two gzip members: %d %s, stored %q", rec.Code, rec.Body, st.records)
	}
	// Real-time identify.
	st = &keepStore{}
	h := newTestServer(st, t)
	for _, path := range []string{"/v1/companies/identify", "/v1/identify"} {
		body := `{"company_id":"z","user_id":"u","metadata":{"k":"v"}}`
		rec := call(t, h, "POST", path, header("Content-Type", "application/json", "Content-Encoding", "gzip"), bytes.NewReader(gz(t, []byte(body))))
		if rec.Code != http.StatusAccepted {
			t.Errorf("%s gzip: %d %s, want 202", path, rec.Code, rec.Body)
		}
	}
	if len(st.ident) != 2 || st.ident[0].ID != "z" || st.ident[1].ID != "u" {
		t.Errorf("identify gzip stored %+v, want company z and user u", st.ident)
	}
}

// TestGzipRefusals: a gzip bomb is refused 413 having decompressed little
// more than the limit; an encoding other than gzip or identity is 415
// with Accept-Encoding: gzip; corrupt gzip is 400 saying so.
func TestGzipRefusals(t *testing.T) {
	t.Parallel()
	h := newTestServer(&keepStore{}, t)
	// 200 MiB of one NDJSON line (and of a JSON body) in a few hundred KB.
	for _, tc := range []struct{ ct, head string }{
		{"application/x-ndjson", ""},
		{"application/json", `{"companies":`}, // then spaces
		{"multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"},
	} {
		ct, pad := tc.ct, byte('0')
		if ct == "application/json" {
			pad = ' '
		}
		// gzip members one after another are one body: 200 of 1 MiB each.
		bomb := gz(t, []byte(tc.head))
		mib := gz(t, bytes.Repeat([]byte{pad}, 1<<20))
		for range 200 {
			bomb = append(bomb, mib...)
		}
		cr := &countingReader{r: bytes.NewReader(bomb)}
		rec := call(t, h, "POST", "/v1/companies/bulk_identify", header("Content-Type", ct, "Content-Encoding", "gzip"), cr)
		wantError(t, "bomb as "+ct, rec, http.StatusRequestEntityTooLarge, bulkid.ETOOLARGE)
		if cr.n > int64(len(bomb))/3 {
			t.Errorf("bomb as %s: read %d of its %d compressed bytes; want the read to stop at the decompressed limit (about a quarter)", ct, cr.n, len(bomb))
		}
	}
	small := gz(t, bytes.Repeat([]byte("0"), 2<<20))
	for _, path := range []string{"/v1/companies/identify", "/v1/identify"} {
		rec := call(t, h, "POST", path, header("Content-Type", "application/json", "Content-Encoding", "gzip"), bytes.NewReader(small))
		wantError(t, "identify bomb", rec, http.StatusRequestEntityTooLarge, bulkid.ETOOLARGE)
	}
	for _, coding := range []string{"br", "deflate", "gzip, gzip", "compress", "zstd"} {
		for _, path := range []string{"/v1/companies/bulk_identify", "/v1/users/bulk_identify", "/v1/identify", "/v1/companies/identify"} {
			hd := header("Content-Type", "application/json", "Content-Encoding", coding)
			if strings.Contains(path, "bulk") {
				hd = header("Content-Type", "application/x-ndjson", "Content-Encoding", coding)
			}
			rec := call(t, h, "POST", path, hd, strings.NewReader(`{"company_id":"a","user_id":"u"}`))
			msg := wantError(t, coding+" "+path, rec, http.StatusUnsupportedMediaType, bulkid.EUNSUPPORTED)
			if !strings.Contains(msg, "gzip") || rec.Header().Get("Accept-Encoding") != "gzip" {
				t.Errorf("%s %s: message %q, Accept-Encoding %q; want both to name gzip", coding, path, msg, rec.Header().Get("Accept-Encoding"))
			}
		}
	}
	good := gz(t, []byte(`{"company_id":"a"}`+"\n"))
	badSum := bytes.Clone(good)
	badSum[len(badSum)-5] ^= 0xff // the CRC-32 of the trailer
	badData := bytes.Clone(good)
	badData[12] = 0xff
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"not gzip", []byte(`{"company_id":"a"}`), "not gzip"},
		{"cut short", good[:len(good)-6], "cut short"},
		{"wrong checksum", badSum, "checksum"},
		{"corrupt data", badData, "corrupt"},
		{"garbage after it", append(bytes.Clone(good), "junk after the gzip data"...), "not gzip"},
	} {
		hd := header("Content-Type", "application/x-ndjson", "Content-Encoding", "gzip")
		rec := call(t, h, "POST", "/v1/companies/bulk_identify", hd, bytes.NewReader(tc.body))
		msg := wantError(t, tc.name, rec, http.StatusBadRequest, bulkid.EINVALID)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: message %q, want it to say %q", tc.name, msg, tc.want)
		}
		noLibraryWords(t, tc.name, msg)
	}
}
