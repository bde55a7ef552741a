package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkid/bulkid/internal/wiretest"
)

func gzipped(t *testing.T, parts ...[]byte) []byte {
	t.Helper()
	var out []byte
	for _, p := range parts { // one gzip member each
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(p)
		zw.Close()
		out = append(out, b.Bytes()...)
	}
	return out
}

// TestGzipRequests: against the real server and store, gzip bodies are
// decoded and their records stored, a gzip bomb is 413, and a coding
// other than gzip is 415.
func TestGzipRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	gzPost := func(path, contentType, coding string, body []byte) response {
		req, _ := http.NewRequest("POST", s.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Token "+s.Key)
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Content-Encoding", coding)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return wiretest.ReadResponse(t, resp)
	}
	j := accepted(t, gzPost("/v1/companies/bulk_identify", "application/json", "gzip",
		gzipped(t, []byte(`{"companies":[{"company_id":"g1","metadata":{"plan":"pro"}},{"company_id":"g2"}]}`))))
	if got := s.WaitJob(j.JobID); got.Status != "completed" || got.CompletedRows != 2 {
		t.Fatalf("gzip JSON job: %+v", got)
	}
	j = accepted(t, gzPost("/v1/users/bulk_identify", "application/x-ndjson", "gzip",
		gzipped(t, []byte(`{"user_id":"u1","company_id":"g1"}`+"\n"), []byte(`{"user_id":"u2","company_id":"g1"}`+"\n"))))
	if got := s.WaitJob(j.JobID); got.Status != "completed" || got.CompletedRows != 2 || got.FileSize == nil || *got.FileSize != 70 {
		t.Fatalf("gzip NDJSON job: %+v", got)
	}
	if r := gzPost("/v1/identify", "application/json", "gzip", gzipped(t, []byte(`{"user_id":"u3","metadata":{"a":1}}`))); r.Status != http.StatusAccepted {
		t.Fatalf("gzip identify: %d %s", r.Status, r.Body)
	}
	if c := getJSON(t, s, "/v1/companies/g1"); c["user_count"] != float64(2) {
		t.Errorf("company g1 = %v, want 2 users", c)
	}
	if u := getJSON(t, s, "/v1/users/u3"); u["user_id"] != "u3" {
		t.Errorf("user u3 = %v", u)
	}
	// 200 MiB of one line in about 200 KB: 200 gzip members of 1 MiB.
	bomb := bytes.Repeat(gzipped(t, bytes.Repeat([]byte("0"), 1<<20)), 200)
	expectError(t, gzPost("/v1/companies/bulk_identify", "application/x-ndjson", "gzip", bomb), http.StatusRequestEntityTooLarge, "payload_too_large")
	r := gzPost("/v1/companies/bulk_identify", "application/x-ndjson", "br", []byte("x"))
	expectError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
	if r.Header.Get("Accept-Encoding") != "gzip" || !strings.Contains(string(r.Body), "gzip") {
		t.Errorf("415 for br: Accept-Encoding %q, body %s; want both to name gzip", r.Header.Get("Accept-Encoding"), r.Body)
	}
}
