package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
)

// errorsStore holds one NDJSON job with the record errors given.
type errorsStore struct {
	bulkid.Store
	errs []bulkid.RecordError
}

func (errorsStore) AppByKeyHash(context.Context, []byte) (*bulkid.App, error) {
	return &bulkid.App{ID: 1, Name: "a"}, nil
}

func (s errorsStore) Job(_ context.Context, _ int64, id string) (*bulkid.Job, error) {
	return &bulkid.Job{ID: id, Type: bulkid.JobCompanies, Status: bulkid.StatusCompleted, Source: bulkid.SourceNDJSON,
		TotalRows: len(s.errs), FailedRows: len(s.errs), Errors: s.errs}, nil
}

func (s errorsStore) JobErrors(_ context.Context, _ int64, _ string, from, limit int) ([]bulkid.RecordError, error) {
	if from >= len(s.errs) {
		return nil, nil
	}
	return s.errs[from:min(len(s.errs), from+limit)], nil
}

// Every line of the errors stream is JSON in valid UTF-8, whatever bytes
// the record held, and the record as sent can be had back exactly: from
// record (valid UTF-8 JSON, as before), raw (valid UTF-8 that is not JSON,
// as before), or raw_base64 (anything else, with raw showing it with
// U+FFFD for the bytes that are not UTF-8). Issue 10: a record with a raw
// 0xFF inside a JSON string was sent as it was, not UTF-8.
func TestJobErrorsStreamIsUTF8(t *testing.T) {
	t.Parallel()
	raws := []string{
		"{\"company_id\":\"\xff\"}", // JSON, but not UTF-8
		"{\"company_id\":\"c\",\"metadata\":{\"\xc3\":1}}",
		"not json \xfe\xff",       // neither
		"\xef\xbb",                // a character cut short
		`{"company_id":"\ud800"}`, // UTF-8 JSON: as before
		`{"company_id": "é" }`,    // as before, compacted
		`{"company_id":`,          // UTF-8, not JSON: raw as before
		`{"company_id":"<&>"}`,    // no HTML escaping
	}
	var errs []bulkid.RecordError
	for i, r := range raws {
		errs = append(errs, bulkid.RecordError{Seq: i, Pos: i + 1, Code: bulkid.RMalformedJSON, Message: "m", Raw: []byte(r)})
	}
	h := httpapi.NewServer(httpapi.Config{Store: errorsStore{errs: errs}, Logger: slog.New(slog.DiscardHandler)})
	for _, path := range []string{"/v1/background_jobs/j/errors", "/v1/background_jobs/j"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Token k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !utf8.Valid(rec.Body.Bytes()) {
			t.Fatalf("GET %s = %d, valid UTF-8 %v: %q", path, rec.Code, utf8.Valid(rec.Body.Bytes()), rec.Body)
		}
		if path != "/v1/background_jobs/j/errors" {
			continue
		}
		sc := bufio.NewScanner(rec.Body)
		n := 0
		for ; sc.Scan(); n++ {
			var line struct {
				Record    json.RawMessage `json:"record"`
				Raw       *string         `json:"raw"`
				RawBase64 *string         `json:"raw_base64"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("line %d %q: %v", n+1, sc.Bytes(), err)
			}
			sent := []byte(raws[n])
			var got []byte
			switch {
			case utf8.Valid(sent) && json.Valid(sent):
				var want bytes.Buffer
				json.Compact(&want, sent)
				if line.Raw != nil || line.RawBase64 != nil || !bytes.Equal(line.Record, want.Bytes()) {
					t.Errorf("line %d = %s, want record %s as before", n+1, sc.Bytes(), want.Bytes())
				}
				continue
			case utf8.Valid(sent):
				if line.Raw == nil || line.RawBase64 != nil || line.Record != nil {
					t.Errorf("line %d = %s, want raw alone, as before", n+1, sc.Bytes())
					continue
				}
				got = []byte(*line.Raw)
			default:
				if line.Raw == nil || line.RawBase64 == nil || line.Record != nil {
					t.Fatalf("line %d = %s, want raw and raw_base64", n+1, sc.Bytes())
				}
				var err error
				if got, err = base64.StdEncoding.DecodeString(*line.RawBase64); err != nil {
					t.Fatalf("line %d: raw_base64: %v", n+1, err)
				}
				if want := string(bytes.ToValidUTF8(sent, []byte("\uFFFD"))); *line.Raw != want {
					t.Errorf("line %d: raw = %q, want %q", n+1, *line.Raw, want)
				}
			}
			if !bytes.Equal(got, sent) {
				t.Errorf("line %d gives back %q, sent %q", n+1, got, sent)
			}
		}
		if n != len(raws) {
			t.Errorf("%d lines, want %d", n, len(raws))
		}
	}
}
