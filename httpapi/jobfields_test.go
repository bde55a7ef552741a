package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid/client"
	"github.com/bulkid/bulkid/internal/wiretest"
)

// TestJobFieldsNeverNull: a strictly generated client of the published
// OpenAPI (start_time, filename and file_size typed without nullable)
// decodes every job object, in every state and of every kind of body:
// a job not started shows its submitted_at as start_time with
// elapsed_time 0, a job without a file name the filename "", and
// file_size is the byte count of the body as decoded (of the file part
// for an upload).
func TestJobFieldsNeverNull(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "600")
	strict := func(what string, r response, status int) wiretest.StrictJob {
		t.Helper()
		if r.Status != status {
			t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Body, status)
		}
		j, err := wiretest.DecodeStrictJob(r.Body)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if j.EndTime == nil && j.ElapsedTime.V != 0 && j.Status.V == "queued" {
			t.Errorf("%s: queued with elapsed_time %d", what, j.ElapsedTime.V)
		}
		return j
	}
	// follow polls a job to its end, decoding each state strictly, and
	// returns the 202's job and the final one.
	follow := func(what string, r response) (first, last wiretest.StrictJob) {
		t.Helper()
		first = strict(what+" 202", r, http.StatusAccepted)
		if first.Status.V != "queued" || !first.StartTime.V.Equal(first.SubmittedAt.V) || first.ElapsedTime.V != 0 || first.EndTime != nil {
			t.Errorf("%s: the 202 job has start_time %v, submitted_at %v, elapsed %d, end %v; want start_time = submitted_at, 0 and null",
				what, first.StartTime.V, first.SubmittedAt.V, first.ElapsedTime.V, first.EndTime)
		}
		for {
			last = strict(what+" poll", s.Get("/v1/background_jobs/"+first.JobID.V), http.StatusOK)
			if last.Status.V != "queued" && last.StartTime.V.Before(last.SubmittedAt.V) {
				t.Errorf("%s: %s with start_time %v before submitted_at %v", what, last.Status.V, last.StartTime.V, last.SubmittedAt.V)
			}
			if last.Status.V == "completed" || last.Status.V == "failed" {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if last.EndTime == nil || last.ElapsedTime.V != last.EndTime.Sub(last.StartTime.V).Milliseconds() {
			t.Errorf("%s: final end_time %v, elapsed %d from start %v", what, last.EndTime, last.ElapsedTime.V, last.StartTime.V)
		}
		if last.Filename != first.Filename || last.FileSize != first.FileSize {
			t.Errorf("%s: filename/file_size %q/%d at the end, %q/%d at the 202", what, last.Filename.V, last.FileSize.V, first.Filename.V, first.FileSize.V)
		}
		return first, last
	}

	var rows strings.Builder
	for i := range 30 {
		fmt.Fprintf(&rows, `{"company_id":"c%d","metadata":{"n":%d}}`+"\n", i, i)
	}
	ndjson := rows.String()
	jsonBody := `{"companies":[` + strings.Join(strings.Split(strings.TrimSpace(ndjson), "\n"), ",") + `]}`

	// A JSON body of 30 rows, throttled: queued, then started, processing.
	first, last := follow("JSON body", s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/json", strings.NewReader(jsonBody)))
	if first.Filename.V != "" || first.FileSize.V != int64(len(jsonBody)) || last.Status.V != "completed" {
		t.Errorf("JSON body: filename %q, file_size %d, %s; want \"\", %d, completed", first.Filename.V, first.FileSize.V, last.Status.V, len(jsonBody))
	}
	// gzip: the size of the body decoded.
	small := `{"companies":[{"company_id":"z1"},{"company_id":"z2"}]}`
	gzr := gzPostRaw(t, s, "/v1/companies/bulk_identify", "application/json", gzipped(t, []byte(small)))
	if first, _ := follow("gzip JSON body", gzr); first.FileSize.V != int64(len(small)) {
		t.Errorf("gzip JSON body: file_size %d, want the %d bytes decoded", first.FileSize.V, len(small))
	}
	// A raw NDJSON body: no file name.
	if first, _ := follow("NDJSON body", s.Do("POST", "/v1/companies/bulk_identify", s.Key, "application/x-ndjson", strings.NewReader(ndjson[:100]+"\n"))); first.Filename.V != "" || first.FileSize.V != 101 {
		t.Errorf("NDJSON body: filename %q, file_size %d; want \"\" and 101", first.Filename.V, first.FileSize.V)
	}
	// Uploads with and without a file name.
	for _, name := range []string{"companies.ndjson", ""} {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		create := func() (io.Writer, error) { return mw.CreateFormFile("file", name) }
		if name == "" {
			create = func() (io.Writer, error) { return mw.CreateFormField("file") } // no filename parameter at all
		}
		fw, _ := create()
		fw.Write([]byte(`{"company_id":"up"}` + "\n"))
		mw.Close()
		first, _ := follow("upload "+name, s.Do("POST", "/v1/companies/bulk_identify", s.Key, mw.FormDataContentType(), &b))
		if first.Filename.V != name || first.FileSize.V != 20 {
			t.Errorf("upload named %q: filename %q, file_size %d; want %q, 20", name, first.Filename.V, first.FileSize.V, name)
		}
	}
	// A job that fails: every record invalid.
	if _, last := follow("failed", s.Do("POST", "/v1/users/bulk_identify", s.Key, "application/json", strings.NewReader(`{"users":[{"user_id":""}]}`))); last.Status.V != "failed" {
		t.Errorf("all invalid: %s, want failed", last.Status.V)
	}
	// The listing: every element decodes.
	r := s.Get("/v1/background_jobs")
	var raw []json.RawMessage
	r.JSON(t, &raw)
	if len(raw) != 6 {
		t.Fatalf("listing: %d jobs, want 6", len(raw))
	}
	for i, b := range raw {
		if _, err := wiretest.DecodeStrictJob(b); err != nil {
			t.Errorf("listing element %d: %v", i, err)
		}
	}
	// The SDK reads a queued job as not started, and one that has started
	// with its start time; a filename "" as none.
	var sdk struct{ Job client.Job }
	if err := json.Unmarshal([]byte(`{"job_id":"x","status":"queued","submitted_at":"2026-01-01T00:00:00.000Z","start_time":"2026-01-01T00:00:00.000Z","filename":"","file_size":5}`), &sdk.Job); err != nil {
		t.Fatal(err)
	}
	if sdk.Job.StartTime != nil || sdk.Job.Filename != nil || *sdk.Job.FileSize != 5 {
		t.Errorf("SDK job of a queued one: start %v, filename %v, file_size %v; want nil, nil, 5", sdk.Job.StartTime, sdk.Job.Filename, sdk.Job.FileSize)
	}
	if err := json.Unmarshal([]byte(`{"job_id":"x","status":"validating","submitted_at":"2026-01-01T00:00:00.000Z","start_time":"2026-01-01T00:00:01.000Z"}`), &sdk.Job); err != nil {
		t.Fatal(err)
	}
	if sdk.Job.StartTime == nil || sdk.Job.StartTime.Sub(*sdk.Job.SubmittedAt) != time.Second {
		t.Errorf("SDK job that has started: start %v, want its start_time", sdk.Job.StartTime)
	}
}

// gzPostRaw posts a gzip-compressed body.
func gzPostRaw(t *testing.T, s *server, path, contentType string, body []byte) response {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return wiretest.ReadResponse(t, resp)
}

// TestStrictJobDecoderRefusesNull: the strict decoder fails where a strict
// client would, so the tests that use it can fail.
func TestStrictJobDecoderRefusesNull(t *testing.T) {
	t.Parallel()
	good := map[string]any{"job_id": "j", "type": "bulk_identify_users", "status": "queued", "submitted_at": "2026-01-01T00:00:00.000Z",
		"start_time": "2026-01-01T00:00:00.000Z", "end_time": nil, "elapsed_time": 0, "filename": "", "file_size": 2,
		"total_rows": 1, "completed_rows": 0, "links": "/v1/background_jobs/j"}
	b, _ := json.Marshal(good)
	if _, err := wiretest.DecodeStrictJob(b); err != nil {
		t.Fatalf("a good job: %v", err)
	}
	for _, field := range []string{"start_time", "filename", "file_size", "submitted_at"} {
		for _, bad := range []any{nil, "absent"} {
			m := map[string]any{}
			for k, v := range good {
				m[k] = v
			}
			if bad == "absent" {
				delete(m, field)
			} else {
				m[field] = bad
			}
			b, _ := json.Marshal(m)
			if _, err := wiretest.DecodeStrictJob(b); err == nil {
				t.Errorf("%s %v: decoded, want an error", field, bad)
			}
		}
	}
	b, _ = json.Marshal(map[string]any{"start_time": "2026-01-01 00:00"})
	if _, err := wiretest.DecodeStrictJob(b); err == nil {
		t.Errorf("a start_time that is no date-time: decoded")
	}
}
