package dashboard_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

// TestCancelButton: the job page of an unfinished job has a Cancel form
// with the CSRF token; posting it cancels the job (a queued one at once)
// and shows the job again, canceled, without the button. A form without
// the token, another app's job, and a finished job are refused.
func TestCancelButton(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	jobID := s.submit("companies", map[string]any{"company_id": "c1"}) // no worker yet: it stays queued
	b := s.browser()
	b.signIn(keyA)
	p := b.get("/ui/job?id=" + jobID)
	wantStatus(t, "job page of a queued job", p, http.StatusOK)
	wantContains(t, "job page of a queued job", p, `action="/ui/job/cancel"`, `name="id" value="`+jobID+`"`, `id="cancel-job"`)
	wantNoInline(t, "job page with the cancel form", p)
	token := b.csrf(p)

	wantStatus(t, "cancel without the CSRF token", b.post("/ui/job/cancel", url.Values{"id": {jobID}}), http.StatusForbidden)
	wantStatus(t, "cancel from another site", b.post("/ui/job/cancel", url.Values{"csrf": {token}, "id": {jobID}}, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	if j, err := s.store.Job(t.Context(), s.appA.ID, jobID); err != nil || j.Status != bulkid.StatusQueued {
		t.Fatalf("job after refused cancels: %v, %v; want it queued", j, err)
	}

	// Another app's session cannot cancel it.
	other := s.browser()
	other.signIn(keyB)
	otherToken := other.csrf(other.get("/ui/"))
	wantStatus(t, "cancel of another app's job", other.post("/ui/job/cancel", url.Values{"csrf": {otherToken}, "id": {jobID}}), http.StatusNotFound)

	p = b.post("/ui/job/cancel", url.Values{"csrf": {token}, "id": {jobID}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/ui/job?id="+jobID {
		t.Fatalf("cancel: %d to %q, want 303 to the job page:\n%s", p.Status, p.Header.Get("Location"), p.Body)
	}
	j, err := s.store.Job(t.Context(), s.appA.ID, jobID)
	if err != nil || j.Status != bulkid.StatusCanceled {
		t.Fatalf("job after the cancel: %v, %v; want canceled", j, err)
	}
	p = b.get("/ui/job?id=" + jobID)
	wantContains(t, "job page of the canceled job", p, `id="job-canceled"`, `data-field="status">canceled</span>`, `class="status off"`)
	wantLacks(t, "job page of the canceled job", p, `id="cancel-job"`)

	// A finished job: 409, and its page has no button.
	done := s.run("companies", map[string]any{"company_id": "c2"})
	p = b.get("/ui/job?id=" + done)
	wantLacks(t, "job page of a completed job", p, `id="cancel-job"`)
	wantStatus(t, "cancel of a completed job", b.post("/ui/job/cancel", url.Values{"csrf": {token}, "id": {done}}), http.StatusConflict)
	wantStatus(t, "cancel of an unknown job", b.post("/ui/job/cancel", url.Values{"csrf": {token}, "id": {"no-such-job"}}), http.StatusNotFound)
}

// TestCancelRequestedNotice: a running job whose cancel was accepted shows
// that it will stop, instead of the button.
func TestCancelRequestedNotice(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{})
	jobID := s.submit("companies", map[string]any{"company_id": "c1"})
	// Stand in for a worker that has started the job (no pool runs): its
	// claim starts it.
	if got, _, err := s.store.ClaimJob(t.Context(), "w", time.Hour); err != nil {
		t.Fatal(err)
	} else if got.ID != jobID || got.Status != bulkid.StatusValidating {
		t.Fatalf("ClaimJob = job %s, Status %q; want %s, validating", got.ID, got.Status, jobID)
	}
	b := s.browser()
	b.signIn(keyA)
	p := b.post("/ui/job/cancel", url.Values{"csrf": {b.csrf(b.get("/ui/job?id=" + jobID))}, "id": {jobID}})
	wantStatus(t, "cancel of a running job", p, http.StatusSeeOther)
	p = b.get("/ui/job?id=" + jobID)
	wantContains(t, "job page of a running job being canceled", p, `id="cancel-requested"`, `data-final="false"`)
	wantLacks(t, "job page of a running job being canceled", p, `id="cancel-job"`)
}
