package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/wiretest"
)

// TestUploadSlots: with --max-uploads 1, an upload that is still arriving
// holds the only slot; another app's upload waits --upload-wait for it and
// is then answered 503 with Retry-After without its body being read; once
// the first finishes, uploads are taken again. Other requests are served
// all along.
func TestUploadSlots(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0", "--max-uploads", "1", "--upload-wait", "1s")
	b := createApp(t, s, "second")

	pr, pw := io.Pipe()
	held := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest("POST", s.URL+"/v1/companies/bulk_identify", pr)
		req.Header.Set("Authorization", "Token "+s.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- response{Status: -1, Body: []byte(err.Error())}
			return
		}
		held <- wiretest.ReadResponse(t, resp)
	}()
	// Once the server has read the first bytes, the upload holds its slot.
	if _, err := io.WriteString(pw, `{"companies":[{"company_id":"a0"}`); err != nil {
		t.Fatal(err)
	}

	var busy response
	for deadline := time.Now().Add(30 * time.Second); ; {
		busy = b.PostJSON("/v1/companies/bulk_identify", companies(1, "b"))
		if busy.Status == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		// The held upload had not reached its handler yet; the second got
		// the slot and ran. Try again with a fresh app state.
		b.WaitJob(accepted(t, busy).JobID)
	}
	expectError(t, busy, http.StatusServiceUnavailable, "service_unavailable")
	if busy.Header.Get("Retry-After") == "" {
		t.Errorf("the 503 of a full server has no Retry-After")
	}
	if r := b.Get("/v1/background_jobs"); r.Status != 200 {
		t.Errorf("a read while the upload slot is taken answered %d", r.Status)
	}

	io.WriteString(pw, `,{"company_id":"a1"}]}`)
	pw.Close()
	first := <-held
	j := accepted(t, first)
	if done := s.WaitJob(j.JobID); done.Status != "completed" || done.CompletedRows != 2 {
		t.Errorf("the held upload's job = %+v, want 2 rows completed", done)
	}
	after := accepted(t, b.PostJSON("/v1/companies/bulk_identify", companies(1, "b")))
	if done := b.WaitJob(after.JobID); done.Status != "completed" {
		t.Errorf("an upload after the slot was freed = %s", done.Status)
	}
	if !strings.Contains(string(busy.Body), "try again") {
		t.Errorf("the 503 message does not say to try again: %s", busy.Body)
	}
}
