package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

// keyed sends body to path with the Idempotency-Key key and more headers
// (name, value pairs).
func keyed(t *testing.T, s *server, path, contentType, key string, body []byte, more ...string) response {
	t.Helper()
	h := http.Header{"Idempotency-Key": {key}}
	for i := 0; i+1 < len(more); i += 2 {
		h.Add(more[i], more[i+1])
	}
	return s.target(t).DoHeader("POST", path, contentType, h, bytes.NewReader(body))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replayed checks that r is the 200 replay of job id.
func replayed(t *testing.T, r response, id string) job {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("replay: status = %d, want 200; body: %s", r.Status, r.Body)
	}
	if got := r.Header.Get("Idempotent-Replayed"); got != "true" {
		t.Errorf("replay: Idempotent-Replayed = %q, want true", got)
	}
	var j job
	r.JSON(t, &j)
	if j.JobID != id {
		t.Fatalf("replay: job_id = %s, want the original %s", j.JobID, id)
	}
	if got := r.Header.Get("Location"); got != "/v1/background_jobs/"+id {
		t.Errorf("replay: Location = %q, want /v1/background_jobs/%s", got, id)
	}
	return j
}

func TestIdempotencyReplay(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "60000")
	body := mustJSON(t, companies(3, "c"))
	first := keyed(t, s, "/v1/companies/bulk_identify", "application/json", "push-1", body)
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("first request: Idempotent-Replayed = %q, want none", first.Header.Get("Idempotent-Replayed"))
	}
	id := accepted(t, first).JobID

	// While the job is unfinished a replay is its job, not a 409 of itself;
	// the same body gzip-compressed is the same request.
	replayed(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", "push-1", body), id)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	replayed(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", "push-1", gz.Bytes(), "Content-Encoding", "gzip"), id)

	done := s.WaitJob(id)
	j := replayed(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", "push-1", body), id)
	if j.Status != done.Status || j.CompletedRows != 3 {
		t.Errorf("replay of a finished job: status %s completed_rows %d, want %s 3 (the job as it is now)", j.Status, j.CompletedRows, done.Status)
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 1 {
		t.Errorf("the app has %d jobs after replays, want 1", len(jobs))
	}

	// A new key is a new job.
	again := accepted(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", "push-2", body))
	if again.JobID == id {
		t.Errorf("a new key got the first key's job %s", id)
	}
}

func TestIdempotencyDifferentRequest(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "60000")
	body := mustJSON(t, companies(2, "c"))
	id := accepted(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", "k", body)).JobID
	s.WaitJob(id)

	for _, tc := range []struct {
		what, path, contentType string
		body                    []byte
	}{
		{"another body", "/v1/companies/bulk_identify", "application/json", mustJSON(t, companies(3, "c"))},
		{"another endpoint", "/v1/users/bulk_identify", "application/json", []byte(`{"users":[{"user_id":"u1"}]}`)},
		{"another media type", "/v1/companies/bulk_identify", "application/x-ndjson", []byte("{\"company_id\":\"c0\"}\n{\"company_id\":\"c1\"}\n")},
	} {
		r := keyed(t, s, tc.path, tc.contentType, "k", tc.body)
		e := expectError(t, r, http.StatusUnprocessableEntity, "idempotency_key_reused")
		if !strings.Contains(e.Errors[0].Details, id) {
			t.Errorf("%s: details %q do not name the key's job %s", tc.what, e.Errors[0].Details, id)
		}
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 1 {
		t.Errorf("the app has %d jobs, want 1", len(jobs))
	}
}

// An import's fingerprint is its file: a retry that writes a new
// multipart boundary is the same request; another file is not.
func TestIdempotencyImport(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "60000")
	upload := func(name, content string) response {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf) // a random boundary each time
		fw, _ := mw.CreateFormFile("file", name)
		io.WriteString(fw, content)
		mw.Close()
		return keyed(t, s, "/v1/imports", mw.FormDataContentType(), "imp", buf.Bytes())
	}
	csv := "user_id,plan\nu1,pro\nu2,free\n"
	first := upload("users.csv", csv)
	if first.Status != http.StatusOK {
		t.Fatalf("import: %d %s", first.Status, first.Body)
	}
	var j job
	first.JSON(t, &j)
	replayed(t, upload("users.csv", csv), j.JobID)
	expectError(t, upload("users.csv", csv+"u3,pro\n"), http.StatusUnprocessableEntity, "idempotency_key_reused")
	expectError(t, upload("other.csv", csv), http.StatusUnprocessableEntity, "idempotency_key_reused")
}

func TestIdempotencyPerApp(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	other := createApp(t, s, "other")
	body := mustJSON(t, companies(2, "c"))
	mine := accepted(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", "shared", body)).JobID
	theirs := accepted(t, keyed(t, other, "/v1/companies/bulk_identify", "application/json", "shared", body)).JobID
	if mine == theirs {
		t.Fatalf("two apps' requests with one key got one job %s", mine)
	}
	replayed(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", "shared", body), mine)
	replayed(t, keyed(t, other, "/v1/companies/bulk_identify", "application/json", "shared", body), theirs)
	if r := other.Get("/v1/background_jobs/" + mine); r.Status != http.StatusNotFound {
		t.Errorf("GET another app's job: %d, want 404", r.Status)
	}
}

func TestIdempotencyBadKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	body := mustJSON(t, companies(1, "c"))
	for what, h := range map[string]http.Header{
		"empty":            {"Idempotency-Key": {""}},
		"256 characters":   {"Idempotency-Key": {strings.Repeat("k", 256)}},
		"not ASCII":        {"Idempotency-Key": {"clé"}},
		"given twice":      {"Idempotency-Key": {"a", "b"}},
		"a tab in the key": {"Idempotency-Key": {"a\tb"}},
	} {
		for _, path := range []string{"/v1/companies/bulk_identify", "/v1/imports"} {
			r := s.target(t).DoHeader("POST", path, "application/json", h, bytes.NewReader(body))
			e := expectError(t, r, http.StatusBadRequest, "invalid_request")
			if !strings.Contains(e.Errors[0].Message, "Idempotency-Key") {
				t.Errorf("%s on %s: message %q does not name Idempotency-Key", what, path, e.Errors[0].Message)
			}
		}
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Errorf("bad keys made %d jobs, want 0", len(jobs))
	}
	// The longest key and every printable character are fine.
	accepted(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", strings.Repeat("k", 254)+"~", body))
}

// A second request with a key whose first request is still being received
// is answered 409 at once, not queued behind it; once the first is
// answered, the second is its replay.
func TestIdempotencyKeyInUse(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	// 16 MiB of white space before the records: more than the socket
	// buffers between client and server hold, so once it is written the
	// server's handler is reading the body, and holds the key.
	pad := bytes.Repeat([]byte(" "), 16<<20)
	body := append(pad, mustJSON(t, companies(2, "c"))...)
	pr, pw := io.Pipe()
	firstDone := make(chan response, 1)
	go func() {
		r, err := sendKeyed(s, pr, body)
		if err != nil {
			t.Error(err)
		}
		firstDone <- r
	}()
	if _, err := pw.Write(pad); err != nil {
		t.Fatal(err)
	}
	r := keyed(t, s, "/v1/companies/bulk_identify", "application/json", "slow", body)
	expectError(t, r, http.StatusConflict, "idempotency_key_in_use")
	if r.Header.Get("Retry-After") == "" {
		t.Error("409 idempotency_key_in_use without Retry-After")
	}
	pw.Write(body[len(pad):])
	pw.Close()
	first := <-firstDone
	id := accepted(t, first).JobID
	replayed(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", "slow", body), id)
}

func sendKeyed(s *server, body io.Reader, full []byte) (response, error) {
	req, err := http.NewRequest("POST", s.URL+"/v1/companies/bulk_identify", body)
	if err != nil {
		return response{}, err
	}
	req.ContentLength = int64(len(full))
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "slow")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// A replay is answered while another job of the app runs, its headers
// saying the slot is held (by that job); a new key meets the 409.
func TestIdempotencyReplayWhileAnotherJobRuns(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "60")
	body := mustJSON(t, companies(1, "a"))
	first := accepted(t, keyed(t, s, "/v1/companies/bulk_identify", "application/json", "k1", body)).JobID
	s.WaitJob(first)
	running := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(100, "b"))).JobID

	r := keyed(t, s, "/v1/companies/bulk_identify", "application/json", "k1", body)
	if j := replayed(t, r, first); j.Status != "completed" {
		t.Errorf("replay: status %s, want completed", j.Status)
	}
	wantRate(t, "replay while another job runs", r, 1, 0, 3600)
	busy := keyed(t, s, "/v1/companies/bulk_identify", "application/json", "k2", body)
	e := expectError(t, busy, http.StatusConflict, "job_in_progress")
	if e.Errors[0].JobID != running {
		t.Errorf("409 names job %s, want the running %s", e.Errors[0].JobID, running)
	}
	// The refused request stored no key: k2 is free once the job is done.
	app, err := s.store.AppByKeyHash(t.Context(), bulkid.HashAPIKey(s.Key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.IdempotencyKey(t.Context(), app.ID, "k1"); err != nil {
		t.Errorf("the accepted key k1: %v", err)
	}
	if _, err := s.store.IdempotencyKey(t.Context(), app.ID, "k2"); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("the key of a request refused 409: %v, want not_found: a refused request stores no key", err)
	}
}
