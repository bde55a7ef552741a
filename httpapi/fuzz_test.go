package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
)

// acceptStore takes every job and checks the input it is handed.
type acceptStore struct {
	bulkid.Store
	t *testing.T
}

func (acceptStore) AppByKeyHash(context.Context, []byte) (*bulkid.App, error) {
	return &bulkid.App{ID: 1, Name: "a"}, nil
}

func (acceptStore) ActiveJob(context.Context, int64) (*bulkid.Job, error) {
	return nil, bulkid.Errorf(bulkid.ENOTFOUND, "no active job")
}

func (s acceptStore) CreateJob(_ context.Context, job *bulkid.Job, in bulkid.JobInput) error {
	n := 0
	err := in.Chunks(func(first, count int, data []byte) error {
		if first != n || count <= 0 {
			s.t.Errorf("chunk of records %d+%d after %d records", first, count, n)
		}
		n += count
		return nil
	})
	if err != nil || n != in.Len() || n < 1 || n > bulkid.MaxRecords {
		s.t.Errorf("the job's input holds %d records (Len %d, %v); want 1 to %d", n, in.Len(), err, bulkid.MaxRecords)
	}
	return nil
}

// FuzzBulkIdentify sends the bulk endpoint any body as JSON, NDJSON or a
// multipart form, through the whole handler: it never panics nor answers
// 500, every refusal is a documented status in the error shape, and an
// accepted job holds between 1 and 10,000 records.
func FuzzBulkIdentify(f *testing.F) {
	form := func(parts ...string) []byte { // name, filename, content, ...
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary("B")
		for i := 0; i+2 < len(parts); i += 3 {
			var w io.Writer
			if parts[i+1] != "" {
				w, _ = mw.CreateFormFile(parts[i], parts[i+1])
			} else {
				w, _ = mw.CreateFormField(parts[i])
			}
			io.WriteString(w, parts[i+2])
		}
		mw.Close()
		return b.Bytes()
	}
	for _, seed := range []struct {
		kind byte
		body []byte
	}{
		{0, []byte(`{"companies":[{"company_id":"a","metadata":{"n":1}}]}`)},
		{0, []byte("\xef\xbb\xbf{\"companies\":[{}],\"x\":[[]]}")},
		{0, []byte(`{"companies":[`)},
		{1, []byte("{\"company_id\":\"a\"}\r\n\n{\"company_id\":")},
		{1, []byte("\xef\xbb\xbf\n\n")},
		{2, form("file", "a.ndjson", "{\"company_id\":\"a\"}\n")},
		{2, form("note", "", "x", "file", "../../a.ndjson", "{}\n", "file", "b", "{}")},
		{2, form("other", "", "x")},
		{2, []byte("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n{}")},
	} {
		f.Add(seed.kind, seed.body)
	}
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		srv := httpapi.NewServer(httpapi.Config{Store: acceptStore{t: t}, Logger: slog.New(slog.DiscardHandler), SpoolDir: t.TempDir()})
		contentType := []string{"application/json", "application/x-ndjson", "multipart/form-data; boundary=B"}[int(kind)%3]
		req := httptest.NewRequest("POST", "/v1/companies/bulk_identify", bytes.NewReader(body))
		req.Header.Set("Authorization", "Token k")
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusAccepted:
			return
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("%s body %q answered %d: %s", contentType, body, rec.Code, rec.Body)
		}
		var e struct {
			Errors []struct {
				Error     string `json:"error"`
				ErrorCode string `json:"error_code"`
				Message   string `json:"message"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e.Errors) != 1 || e.Errors[0].ErrorCode == "" || e.Errors[0].Message == "" {
			t.Fatalf("%s body %q answered %d not in the error shape: %s", contentType, body, rec.Code, rec.Body)
		}
		for _, w := range []string{"multipart:", "NextPart", "MIME", "EOF", "mime:"} {
			if strings.Contains(e.Errors[0].Message, w) {
				t.Fatalf("%s body %q answered with a library's words (%q): %s", contentType, body, w, rec.Body)
			}
		}
	})
}
