package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/google/uuid"
)

func testClaimJob(t *testing.T, e *env) {
	_, _, err := e.s.ClaimJob(e.ctx, "w1", ttl)
	wantCode(t, "ClaimJob of an empty store", err, bulkid.ENOTFOUND)

	a, b := e.createApp("a"), e.createApp("b")
	ja := e.submit(a, bulkid.JobCompanies, `{"company_id":"c1"}`, `{"company_id":"c2"}`)
	e.clock.Advance(time.Second)
	jb := e.submit(b, bulkid.JobUsers, `{"user_id":"u1"}`)

	claimedAt := e.clock.Advance(time.Second)
	got, started, err := e.s.ClaimJob(e.ctx, "w1", ttl)
	e.must("ClaimJob", err)
	// The claim starts the queued job: validating, start_time set.
	want := &bulkid.Job{ID: ja.ID, AppID: a.ID, Type: bulkid.JobCompanies,
		Status: bulkid.StatusValidating, Source: bulkid.SourceNDJSON, SubmittedAt: start, StartTime: claimedAt, TotalRows: 2}
	wantJob(t, "ClaimJob claimed", got, want)
	if !started {
		t.Errorf("ClaimJob of a queued job: started false, want true")
	}
	wantJob(t, "Job after ClaimJob", e.job(a, ja.ID), want)

	got, _, err = e.s.ClaimJob(e.ctx, "w2", ttl)
	e.must("ClaimJob", err)
	if got.ID != jb.ID {
		t.Errorf("second ClaimJob claimed %s, want the unleased job %s", got.ID, jb.ID)
	}
	_, _, err = e.s.ClaimJob(e.ctx, "w3", ttl)
	wantCode(t, "ClaimJob with every job leased", err, bulkid.ENOTFOUND)
}

func testLeaseExpiry(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	ja := e.submit(a, bulkid.JobCompanies, `{"company_id":"c1"}`)
	jb := e.submit(b, bulkid.JobCompanies, `{"company_id":"c1"}`)
	la := e.claim("w1", ja)
	lb := e.claim("w2", jb)

	e.clock.Advance(ttl / 2)
	e.must("RenewLease", e.s.RenewLease(e.ctx, lb))
	_, _, err := e.s.ClaimJob(e.ctx, "w3", ttl)
	wantCode(t, "ClaimJob before any lease expired", err, bulkid.ENOTFOUND)

	// ja's lease has expired, jb's renewal still holds.
	e.clock.Advance(ttl/2 + time.Second)
	e.claim("w3", ja)
	_, _, err = e.s.ClaimJob(e.ctx, "w4", ttl)
	wantCode(t, "ClaimJob with a renewed lease live", err, bulkid.ENOTFOUND)

	// The first owner has lost the job: every write is refused.
	recs := e.records(bulkid.JobCompanies, `{"company_id":"c1","metadata":{"by":"w1"}}`)
	wantCode(t, "RenewLease of a lost lease", e.s.RenewLease(e.ctx, la), bulkid.ELEASELOST)
	wantCode(t, "FinishValidation of a lost lease", e.s.FinishValidation(e.ctx, la,
		[]bulkid.RecordError{{Seq: 0, Pos: 1, Code: bulkid.RMissingID, Message: "x", Raw: []byte("{}")}}), bulkid.ELEASELOST)
	wantCode(t, "ApplyBatch of a lost lease", e.s.ApplyBatch(e.ctx, la, bulkid.JobCompanies, recs, 0, 1), bulkid.ELEASELOST)
	wantCode(t, "ReleaseJob of a lost lease", e.s.ReleaseJob(e.ctx, la), bulkid.ELEASELOST)
	wantCode(t, "FinishJob of a lost lease", e.s.FinishJob(e.ctx, la, bulkid.StatusCompleted, ""), bulkid.ELEASELOST)
	wantCode(t, "CompleteJob of a lost lease", e.s.CompleteJob(e.ctx, la, a.ID, bulkid.StatusCompleted), bulkid.ELEASELOST)

	wantJob(t, "Job after refused writes", e.job(a, ja.ID), &bulkid.Job{ID: ja.ID, AppID: a.ID, Type: bulkid.JobCompanies,
		Status: bulkid.StatusValidating, Source: bulkid.SourceNDJSON, SubmittedAt: start, StartTime: start, TotalRows: 1})
	errs, err := e.s.JobErrors(e.ctx, a.ID, ja.ID, 0, 10)
	e.must("JobErrors", err)
	wantErrors(t, "JobErrors after a refused FinishValidation", errs, nil)
	_, err = e.s.Company(e.ctx, a.ID, "c1")
	wantCode(t, "Company written by a refused ApplyBatch", err, bulkid.ENOTFOUND)

	// The new owner holds it.
	l3 := bulkid.Lease{JobID: ja.ID, Owner: "w3", TTL: ttl}
	e.must("FinishValidation by the new owner", e.s.FinishValidation(e.ctx, l3, nil))
	if got := e.job(a, ja.ID).Status; got != bulkid.StatusProcessing {
		t.Errorf("Status after the new owner's FinishValidation = %q, want %q", got, bulkid.StatusProcessing)
	}
}

// testLeaseLostInEachStatus: a worker whose lease ran out and was taken
// over has every write refused with ELEASELOST whatever status its job
// stood at (validating, processing, pending_refresh): the job, its
// profiles and its companies' counts stay as the new owner found them,
// and the new owner takes the job on from there to its end.
func testLeaseLostInEachStatus(t *testing.T, e *env) {
	for _, st := range []bulkid.JobStatus{bulkid.StatusValidating, bulkid.StatusProcessing, bulkid.StatusPendingRefresh} {
		app := e.createApp(string(st))
		raws := []string{`{"user_id":"u1","company_id":"c1"}`, `{"user_id":"u2","company_id":"c1"}`}
		recs := e.records(bulkid.JobUsers, raws...)
		job := e.submit(app, bulkid.JobUsers, raws...)
		l1 := e.jobAt("w1", job, recs, st)
		e.clock.Advance(ttl + time.Second)
		l2 := e.claim("w2", job)
		before := e.job(app, job.ID)

		lost := e.records(bulkid.JobUsers, `{"user_id":"lost","company_id":"c1"}`)
		for _, w := range []struct {
			name string
			do   func() error
		}{
			{"RenewLease", func() error { return e.s.RenewLease(e.ctx, l1) }},
			{"FinishValidation", func() error { return e.s.FinishValidation(e.ctx, l1, nil) }},
			{"ApplyBatch", func() error { return e.s.ApplyBatch(e.ctx, l1, bulkid.JobUsers, lost, before.Cursor, before.Cursor+1) }},
			{"ReleaseJob", func() error { return e.s.ReleaseJob(e.ctx, l1) }},
			{"CompleteJob", func() error { return e.s.CompleteJob(e.ctx, l1, app.ID, bulkid.StatusCompleted) }},
			{"FinishJob", func() error { return e.s.FinishJob(e.ctx, l1, bulkid.StatusFailed, "lost") }},
		} {
			wantCode(t, fmt.Sprintf("%s of the lease lost at %s", w.name, st), w.do(), bulkid.ELEASELOST)
		}
		wantJob(t, fmt.Sprintf("Job after the writes of the lease lost at %s", st), e.job(app, job.ID), before)
		if _, err := e.s.User(e.ctx, app.ID, "lost"); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
			t.Errorf("User written by the lease lost at %s: %v, want %s", st, err, bulkid.ENOTFOUND)
		}
		if st == bulkid.StatusPendingRefresh {
			e.counts(app, "after the refused CompleteJob", map[string]int{"c1": 0})
		}

		// The new owner goes on from where the job stands, as a worker does.
		switch st {
		case bulkid.StatusValidating:
			e.must("FinishValidation by the new owner", e.s.FinishValidation(e.ctx, l2, nil))
			fallthrough
		case bulkid.StatusProcessing:
			e.must("ApplyBatch by the new owner", e.s.ApplyBatch(e.ctx, l2, bulkid.JobUsers, recs, 0, len(recs)))
			fallthrough
		default:
			e.must("CompleteJob by the new owner", e.s.CompleteJob(e.ctx, l2, app.ID, bulkid.StatusCompleted))
		}
		if got := e.job(app, job.ID); got.Status != bulkid.StatusCompleted || got.CompletedRows != 2 {
			t.Errorf("job whose lease was lost at %s, after the new owner: Status %q, CompletedRows %d; want completed, 2", st, got.Status, got.CompletedRows)
		}
		e.counts(app, fmt.Sprintf("job whose lease was lost at %s, after the new owner", st), map[string]int{"c1": 2})
	}
}

func testWritesRenewLease(t *testing.T, e *env) {
	app := e.createApp("a")
	job := e.submit(app, bulkid.JobCompanies, `{"company_id":"c1"}`, `{"company_id":"c2"}`)
	l := e.claim("w1", job)
	recs := e.records(bulkid.JobCompanies, `{"company_id":"c1"}`, `{"company_id":"c2"}`)
	// The worker's writes from its claim to its CompleteJob (which ends
	// the lease), the last batch moving the job to pending_refresh.
	writes := []struct {
		name string
		do   func() error
	}{
		{"FinishValidation", func() error { return e.s.FinishValidation(e.ctx, l, nil) }},
		{"ApplyBatch", func() error { return e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[:1], 0, 1) }},
		{"last ApplyBatch", func() error { return e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[1:], 1, 2) }},
		{"RenewLease", func() error { return e.s.RenewLease(e.ctx, l) }},
	}
	// Each step comes ttl-1s after the one before: later than the previous
	// lease would have lasted, had the step before not renewed it.
	prev := "ClaimJob"
	for _, w := range writes {
		e.clock.Advance(ttl - time.Second)
		if got, _, err := e.s.ClaimJob(e.ctx, "thief", ttl); err == nil {
			t.Fatalf("ClaimJob %v after %s claimed job %s; %s did not renew the lease", ttl-time.Second, prev, got.ID, prev)
		} else {
			wantCode(t, "ClaimJob", err, bulkid.ENOTFOUND)
		}
		e.must(w.name, w.do())
		prev = w.name
	}
	e.clock.Advance(ttl - time.Second)
	_, _, err := e.s.ClaimJob(e.ctx, "thief", ttl)
	wantCode(t, "ClaimJob before the renewed lease expired", err, bulkid.ENOTFOUND)
	e.clock.Advance(2 * time.Second)
	e.claim("thief", job)
	if got := e.job(app, job.ID); got.Status != bulkid.StatusPendingRefresh {
		t.Errorf("Status after the writes = %q, want pending_refresh", got.Status)
	}
}

func testReleaseJob(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{`{"company_id":"c1"}`, `{"company_id":"c2"}`, `{"company_id":"c3"}`}
	recs := e.records(bulkid.JobCompanies, raws...)
	job := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.startJob("w1", job)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[:2], 0, 2))
	e.must("ReleaseJob", e.s.ReleaseJob(e.ctx, l))

	// Another worker claims it at once, where the first left off.
	got, _, err := e.s.ClaimJob(e.ctx, "w2", ttl)
	e.must("ClaimJob after ReleaseJob", err)
	wantJob(t, "ClaimJob after ReleaseJob", got, &bulkid.Job{ID: job.ID, AppID: app.ID, Type: bulkid.JobCompanies,
		Status: bulkid.StatusProcessing, Source: bulkid.SourceNDJSON, SubmittedAt: start, StartTime: start,
		TotalRows: 3, CompletedRows: 2, Cursor: 2, Rows: bulkid.RowCounts{Created: 2}})

	wantCode(t, "ReleaseJob by the former owner", e.s.ReleaseJob(e.ctx, l), bulkid.ELEASELOST)
	wantCode(t, "ApplyBatch by the former owner", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[2:], 2, 3), bulkid.ELEASELOST)
	l2 := bulkid.Lease{JobID: job.ID, Owner: "w2", TTL: ttl}
	e.must("ApplyBatch by the new owner", e.s.ApplyBatch(e.ctx, l2, bulkid.JobCompanies, recs[2:], 2, 3))
	if got := e.job(app, job.ID); got.CompletedRows != 3 || got.Cursor != 3 {
		t.Errorf("after the last batch: CompletedRows %d, Cursor %d; want 3, 3", got.CompletedRows, got.Cursor)
	}
}

func testJobRecords(t *testing.T, e *env) {
	app := e.createApp("a")
	// Raw is kept byte for byte: spaces, escapes, non-ASCII, invalid
	// UTF-8 and records that are not JSON at all.
	want := []bulkid.RawRecord{
		{Seq: 0, Pos: 1, Raw: []byte(`{"company_id":"c0"}`)},
		{Seq: 1, Pos: 3, Raw: []byte(`  { "company_id" : "c1", "metadata": {"name": "Zürich ✓", "q": "a\"b\\c\u0000"} }  `)},
		{Seq: 2, Pos: 4, Raw: []byte("not json at all\t")},
		{Seq: 3, Pos: 7, Raw: []byte("{\"company_id\":\"\xff\xfe\"}")},
		{Seq: 4, Pos: 8, Raw: []byte(`[1,2]`)},
	}
	job := newJob(app, bulkid.JobCompanies)
	e.must("CreateJob", e.s.CreateJob(e.ctx, job, recordpack.FromRecords(want)))

	check := func(fromSeq, limit int, want []bulkid.RawRecord) {
		t.Helper()
		got, err := e.s.JobRecords(e.ctx, job.ID, fromSeq, limit)
		e.must("JobRecords", err)
		if g, w := rawView(got), rawView(want); !slices.Equal(g, w) {
			t.Errorf("JobRecords(from %d, limit %d):\n got %q\nwant %q", fromSeq, limit, g, w)
		}
	}
	check(0, 100, want)
	check(0, 2, want[0:2])
	check(2, 2, want[2:4])
	check(4, 2, want[4:])
	check(3, 100, want[3:])
	check(5, 2, nil)
}

func testFinishValidation(t *testing.T, e *env) {
	app, other := e.createApp("a"), e.createApp("b")
	raws := make([]string, 300)
	for i := range raws {
		raws[i] = fmt.Sprintf(`{"company_id":"c%d"}`, i)
	}
	job := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.claim("w1", job)

	// An earlier validation's errors, which the next one replaces.
	old := []bulkid.RecordError{
		{Seq: 0, Pos: 1, ID: "c0", Code: bulkid.RInvalidMetadata, Message: "old", Raw: []byte(raws[0])},
		{Seq: 2, Pos: 3, ID: "c2", Code: bulkid.RInvalidMetadata, Message: "old", Raw: []byte(raws[2])},
	}
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, old))

	var want []bulkid.RecordError // the odd records, 150 of them, in Seq order
	for i := 1; i < len(raws); i += 2 {
		re := bulkid.RecordError{Seq: i, Pos: i + 1, ID: fmt.Sprintf("c%d", i), Code: bulkid.RNestedMetadata,
			Message: fmt.Sprintf("metadata key \"k%d\" is an object", i), Raw: []byte(raws[i])}
		if i%3 == 0 {
			re.ID, re.Code, re.Message, re.Raw = "", bulkid.RMalformedJSON, "the record is not valid JSON", []byte("{\xff")
		}
		want = append(want, re)
	}
	given := slices.Clone(want)
	slices.Reverse(given) // input order is Seq order, not the order given
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, given))

	got := e.job(app, job.ID)
	if got.Status != bulkid.StatusProcessing || got.FailedRows != len(want) {
		t.Errorf("after FinishValidation: Status %q, FailedRows %d; want %q, %d", got.Status, got.FailedRows, bulkid.StatusProcessing, len(want))
	}
	wantErrors(t, "Job().Errors", got.Errors, want[:bulkid.MaxJobErrors])
	jobs, err := e.s.ListJobs(e.ctx, app.ID, bulkid.Page{Limit: 10})
	e.must("ListJobs", err)
	if len(jobs) != 1 {
		t.Fatalf("ListJobs: got %d jobs, want 1", len(jobs))
	}
	wantErrors(t, "ListJobs()[0].Errors", jobs[0].Errors, want[:bulkid.MaxJobErrors])

	check := func(fromSeq, limit int, want []bulkid.RecordError) {
		t.Helper()
		got, err := e.s.JobErrors(e.ctx, app.ID, job.ID, fromSeq, limit)
		e.must("JobErrors", err)
		wantErrors(t, fmt.Sprintf("JobErrors(from %d, limit %d)", fromSeq, limit), got, want)
	}
	check(0, 1000, want)
	check(0, 10, want[:10])
	check(100, 10, want[50:60]) // Seq 101 is the first at or after 100
	check(101, 2, want[50:52])
	check(299, 10, want[149:])
	check(300, 10, nil)
	var all []bulkid.RecordError
	for from := 0; ; {
		page, err := e.s.JobErrors(e.ctx, app.ID, job.ID, from, 40)
		e.must("JobErrors", err)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		from = page[len(page)-1].Seq + 1
	}
	wantErrors(t, "JobErrors in pages of 40", all, want)

	_, err = e.s.JobErrors(e.ctx, other.ID, job.ID, 0, 10)
	wantCode(t, "JobErrors of another app's job", err, bulkid.ENOTFOUND)
	_, err = e.s.JobErrors(e.ctx, app.ID, uuid.NewString(), 0, 10)
	wantCode(t, "JobErrors of an unknown job", err, bulkid.ENOTFOUND)
}

func testApplyBatch(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{
		`{"company_id":"c0","metadata":{"plan":"free"}}`,
		`{"company_id":"c1"}`,
		`{"company_id":"c2"}`,
		`{"company_id":"c3"}`,
		`{"metadata":{"plan":"free"}}`, // invalid: no company_id
	}
	job := e.submit(app, bulkid.JobCompanies, raws...)
	recs := e.records(bulkid.JobCompanies, raws[:4]...)
	l := e.claim("w1", job)
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, []bulkid.RecordError{
		{Seq: 4, Pos: 5, Code: bulkid.RMissingID, Message: "company_id is required", Raw: []byte(raws[4])}}))

	progress := func(what string, completed, cursor int) {
		t.Helper()
		got := e.job(app, job.ID)
		if got.CompletedRows != completed || got.Cursor != cursor || got.FailedRows != 1 || got.TotalRows != 5 {
			t.Errorf("%s: CompletedRows %d, Cursor %d, FailedRows %d, TotalRows %d; want %d, %d, 1, 5",
				what, got.CompletedRows, got.Cursor, got.FailedRows, got.TotalRows, completed, cursor)
		}
	}
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[:2], 0, 2))
	progress("after the first batch", 2, 2)

	// A batch from a cursor the job has left is refused whole.
	e.clock.Advance(time.Second)
	stale := e.records(bulkid.JobCompanies, `{"company_id":"c0","metadata":{"plan":"stale"}}`, `{"company_id":"stale"}`)
	wantCode(t, "ApplyBatch from a stale cursor", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, stale, 0, 2), bulkid.ELEASELOST)
	progress("after a stale batch", 2, 2)
	wantMetadata(t, "c0 after a stale batch", e.company(app, "c0").Metadata, `{"plan":"free"}`)
	_, err := e.s.Company(e.ctx, app.ID, "stale")
	wantCode(t, "Company of a stale batch", err, bulkid.ENOTFOUND)

	// The cursor also moves over the invalid record at the end.
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[2:], 2, 5))
	progress("after the last batch", 4, 5)
	for _, id := range []string{"c0", "c1", "c2", "c3"} {
		e.company(app, id)
	}
}

func testFinishJob(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{`{"company_id":"c1"}`}
	job := e.submit(app, bulkid.JobCompanies, raws...)
	started := e.clock.Advance(time.Minute)
	l := e.startJob("w1", job)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, e.records(bulkid.JobCompanies, raws...), 0, 1))
	ended := e.clock.Advance(time.Minute)
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))

	want := &bulkid.Job{ID: job.ID, AppID: app.ID, Type: bulkid.JobCompanies, Status: bulkid.StatusCompleted,
		Source: bulkid.SourceNDJSON, SubmittedAt: start, StartTime: started, EndTime: ended,
		TotalRows: 1, CompletedRows: 1, Cursor: 1, Rows: bulkid.RowCounts{Created: 1}}
	wantJob(t, "Job after FinishJob", e.job(app, job.ID), want)

	_, err := e.s.ActiveJob(e.ctx, app.ID)
	wantCode(t, "ActiveJob after FinishJob", err, bulkid.ENOTFOUND)
	_, _, err = e.s.ClaimJob(e.ctx, "w2", ttl)
	wantCode(t, "ClaimJob of a finished job", err, bulkid.ENOTFOUND)
	e.clock.Advance(2 * ttl)
	_, _, err = e.s.ClaimJob(e.ctx, "w2", ttl)
	wantCode(t, "ClaimJob of a finished job after its lease would have expired", err, bulkid.ENOTFOUND)

	wantCode(t, "RenewLease of a finished job", e.s.RenewLease(e.ctx, l), bulkid.ELEASELOST)
	wantCode(t, "FinishValidation of a finished job", e.s.FinishValidation(e.ctx, l, nil), bulkid.ELEASELOST)
	wantCode(t, "ApplyBatch of a finished job", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, e.records(bulkid.JobCompanies, raws...), 1, 2), bulkid.ELEASELOST)
	wantCode(t, "FinishJob of a finished job", e.s.FinishJob(e.ctx, l, bulkid.StatusFailed, "again"), bulkid.ELEASELOST)
	wantJob(t, "Job after writes to a finished job", e.job(app, job.ID), want)

	recs, err := e.s.JobRecords(e.ctx, job.ID, 0, 10)
	e.must("JobRecords", err)
	if len(recs) != 0 {
		t.Errorf("JobRecords of a finished job: got %d records, want its input dropped", len(recs))
	}

	// A failed job keeps its reason and its record errors, and also frees the app.
	bad := e.submit(app, bulkid.JobUsers, `{"user_id":null}`)
	l = e.claim("w3", bad)
	recErrs := []bulkid.RecordError{{Seq: 0, Pos: 1, Code: bulkid.RMissingID, Message: "user_id is required", Raw: []byte(`{"user_id":null}`)}}
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, recErrs))
	failedAt := e.clock.Advance(time.Second)
	const reason = "Every record of the job is invalid; see its errors."
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusFailed, reason))
	got := e.job(app, bad.ID)
	if got.Status != bulkid.StatusFailed || got.Error != reason {
		t.Errorf("failed job: Status %q, Error %q; want %q, %q", got.Status, got.Error, bulkid.StatusFailed, reason)
	}
	wantTime(t, "EndTime of the failed job", got.EndTime, failedAt)
	wantErrors(t, "Job().Errors of the failed job", got.Errors, recErrs)
	errs, err := e.s.JobErrors(e.ctx, app.ID, bad.ID, 0, 10)
	e.must("JobErrors", err)
	wantErrors(t, "JobErrors of the failed job", errs, recErrs)

	e.submit(app, bulkid.JobCompanies, `{"company_id":"c2"}`)
}

// testCompanyRefresh: a user job's changes to its companies' user counts
// and visibility are added by its refresh, which commits with its finish
// (CompleteJob); until then the counts are as before the job.
func testCompanyRefresh(t *testing.T, e *env) {
	app := e.createApp("a")
	visible := func(want ...string) {
		t.Helper()
		cs, err := e.s.ListCompanies(e.ctx, app.ID, bulkid.Page{Limit: 100}, false)
		e.must("ListCompanies", err)
		if got := companyIDs(cs); !slices.Equal(got, want) {
			t.Errorf("visible companies = %q, want %q", got, want)
		}
	}
	// apply runs a user job up to its refresh (its last batch leaves it
	// pending_refresh), which it leaves to the caller.
	apply := func(raws ...string) (refresh func()) {
		t.Helper()
		job := e.submit(app, bulkid.JobUsers, raws...)
		l := e.jobAt("w1", job, e.records(bulkid.JobUsers, raws...), bulkid.StatusPendingRefresh)
		return func() {
			t.Helper()
			e.must("CompleteJob", e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCompleted))
		}
	}

	refresh := apply(`{"user_id":"u1","company_id":"old"}`, `{"user_id":"u2","company_id":"old"}`)
	wantCount(t, e.company(app, "old"), 0, false) // stale until the refresh
	visible()
	refresh()
	wantCount(t, e.company(app, "old"), 2, true)
	visible("old")

	refresh = apply(`{"user_id":"u1","company_id":"new"}`)
	wantCount(t, e.company(app, "old"), 2, true)
	wantCount(t, e.company(app, "new"), 0, false)
	refresh()
	wantCount(t, e.company(app, "old"), 1, true)
	wantCount(t, e.company(app, "new"), 1, true)
	visible("new", "old")

	refresh = apply(`{"user_id":"u2","company_id":"new"}`)
	wantCount(t, e.company(app, "old"), 1, true)
	refresh()
	wantCount(t, e.company(app, "old"), 0, false)
	wantCount(t, e.company(app, "new"), 2, true)
	visible("new")

	// A company job leaves the counts as they are.
	e.run(app, bulkid.JobCompanies, `{"company_id":"new","metadata":{"name":"New"}}`, `{"company_id":"old","metadata":{"name":"Old"}}`)
	wantCount(t, e.company(app, "new"), 2, true)
	wantCount(t, e.company(app, "old"), 0, false)
	visible("new")
}

// testReserveRows: an app's rate lives in the store, per app, and holds
// across calls as bulkid.ReserveRows says.
func testReserveRows(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	reserve := func(app *bulkid.App, n int) time.Duration {
		t.Helper()
		wait, err := e.s.ReserveRows(e.ctx, app.ID, n, 600, 10) // 10 rows a second
		e.must("ReserveRows", err)
		return wait
	}
	if w := reserve(a, 10); w != 0 {
		t.Fatalf("first batch of a fresh app waits %v, want 0", w)
	}
	if w := reserve(a, 10); w != time.Second {
		t.Fatalf("second batch at once waits %v, want 1s", w)
	}
	// A refused reservation takes nothing: asking again says the same.
	if w := reserve(a, 10); w != time.Second {
		t.Fatalf("asking again waits %v, want 1s still", w)
	}
	// Another app has a rate of its own.
	if w := reserve(b, 10); w != 0 {
		t.Fatalf("app b's first batch waits %v, want 0", w)
	}
	e.clock.Advance(time.Second)
	if w := reserve(a, 10); w != 0 {
		t.Fatalf("a second later, a's batch waits %v, want 0", w)
	}
	if w := reserve(a, 5); w != 500*time.Millisecond {
		t.Fatalf("then 5 rows wait %v, want 500ms", w)
	}
	if _, err := e.s.ReserveRows(e.ctx, 1<<40, 1, 600, 10); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("ReserveRows of an unknown app: %v, want ENOTFOUND", err)
	}
}

// testClaimStartsJob: the claim of a queued job starts it in its own
// transaction (validating, start_time), and only then: a job claimed again
// after its lease ran out or was released is resumed as it stood, its
// start_time kept.
func testClaimStartsJob(t *testing.T, e *env) {
	app := e.createApp("a")
	job := e.submit(app, bulkid.JobCompanies, `{"company_id":"c1"}`, `{"company_id":"c2"}`)
	before := e.job(app, job.ID)
	if before.Status != bulkid.StatusQueued || !before.StartTime.IsZero() {
		t.Fatalf("submitted job: Status %q, StartTime %v; want queued, zero", before.Status, before.StartTime)
	}
	startedAt := e.clock.Advance(time.Minute)
	l := e.claim("w1", job)
	got := e.job(app, job.ID)
	if got.Status != bulkid.StatusValidating {
		t.Errorf("Status after the claim = %q, want validating", got.Status)
	}
	wantTime(t, "StartTime after the claim", got.StartTime, startedAt)

	// Lost before validation ended: the next claim resumes it validating.
	e.clock.Advance(ttl + time.Second)
	again, started, err := e.s.ClaimJob(e.ctx, "w2", ttl)
	e.must("ClaimJob after the lease ran out", err)
	if again.ID != job.ID || again.Status != bulkid.StatusValidating || started {
		t.Errorf("ClaimJob after the lease ran out: job %s, Status %q, started %v; want %s, validating, false", again.ID, again.Status, started, job.ID)
	}
	wantTime(t, "StartTime after the second claim", again.StartTime, startedAt)
	wantCode(t, "FinishValidation by the first worker", e.s.FinishValidation(e.ctx, l, nil), bulkid.ELEASELOST)
	l2 := bulkid.Lease{JobID: job.ID, Owner: "w2", TTL: ttl}
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l2, nil))
	e.must("ReleaseJob", e.s.ReleaseJob(e.ctx, l2))

	// Released at processing: claimed at once, as it stood.
	e.clock.Advance(time.Minute)
	again, started, err = e.s.ClaimJob(e.ctx, "w3", ttl)
	e.must("ClaimJob after ReleaseJob", err)
	if again.Status != bulkid.StatusProcessing || started {
		t.Errorf("ClaimJob after ReleaseJob: Status %q, started %v; want processing, false", again.Status, started)
	}
	wantTime(t, "StartTime after the third claim", again.StartTime, startedAt)
}

// testClaimNotBeforeSubmit: a claim whose clock reads earlier than the
// job's submission (a job another process submitted after the claimer
// read the clock, or that process's clock a little ahead) starts the job
// at its submitted_at, never before it: clients compute elapsed time from
// the two.
func testClaimNotBeforeSubmit(t *testing.T, e *env) {
	app := e.createApp("a")
	job := e.submit(app, bulkid.JobCompanies, `{"company_id":"c1"}`)
	submitted := e.job(app, job.ID).SubmittedAt
	e.clock.Advance(-2 * time.Second)
	got, started, err := e.s.ClaimJob(e.ctx, "w1", ttl)
	e.must("ClaimJob", err)
	if got.ID != job.ID || !started {
		t.Fatalf("ClaimJob: job %s, started %v; want %s, true", got.ID, started, job.ID)
	}
	wantTime(t, "StartTime the claim returns", got.StartTime, submitted)
	wantTime(t, "StartTime stored", e.job(app, job.ID).StartTime, submitted)
}

// testLastBatchPendingRefresh: the batch that takes the cursor to the
// end moves the job to pending_refresh in its transaction, when any row
// completed; a batch refused (stale cursor, lost lease, canceled) moves
// nothing, and a job none of whose rows completed stays processing.
func testLastBatchPendingRefresh(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{`{"company_id":"c1"}`, `{"company_id":"c2"}`, `{"company_id":"c3"}`}
	recs := e.records(bulkid.JobCompanies, raws...)
	job := e.submit(app, bulkid.JobCompanies, raws...)
	l := e.startJob("w1", job)
	status := func(what string, want bulkid.JobStatus, cursor int) {
		t.Helper()
		if got := e.job(app, job.ID); got.Status != want || got.Cursor != cursor {
			t.Errorf("%s: Status %q, Cursor %d; want %q, %d", what, got.Status, got.Cursor, want, cursor)
		}
	}
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[:2], 0, 2))
	status("after a batch short of the end", bulkid.StatusProcessing, 2)
	wantCode(t, "last ApplyBatch from a stale cursor", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[2:], 1, 3), bulkid.ELEASELOST)
	wantCode(t, "last ApplyBatch of another owner", e.s.ApplyBatch(e.ctx, bulkid.Lease{JobID: job.ID, Owner: "w9", TTL: ttl},
		bulkid.JobCompanies, recs[2:], 2, 3), bulkid.ELEASELOST)
	status("after refused last batches", bulkid.StatusProcessing, 2)
	e.must("last ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, recs[2:], 2, 3))
	status("after the last batch", bulkid.StatusPendingRefresh, 3)
	if got := e.job(app, job.ID); !got.StartTime.Equal(start) || !got.EndTime.IsZero() {
		t.Errorf("after the last batch: StartTime %v, EndTime %v; want the claim's %v, zero", got.StartTime, got.EndTime, start)
	}

	// A crash now: the next claim resumes it at pending_refresh.
	e.clock.Advance(ttl + time.Second)
	got, started, err := e.s.ClaimJob(e.ctx, "w2", ttl)
	e.must("ClaimJob after the last batch", err)
	if got.ID != job.ID || got.Status != bulkid.StatusPendingRefresh || started {
		t.Errorf("ClaimJob after the last batch: %s, Status %q, started %v; want %s, pending_refresh, false", got.ID, got.Status, started, job.ID)
	}
	e.must("CompleteJob", e.s.CompleteJob(e.ctx, bulkid.Lease{JobID: job.ID, Owner: "w2", TTL: ttl}, app.ID, bulkid.StatusCompleted))

	// Every record invalid: the last batch applies none and the job stays
	// processing, for the worker to finish failed.
	bad := e.submit(app, bulkid.JobCompanies, `{"metadata":{}}`, `{"company_id":""}`)
	l = e.claim("w1", bad)
	e.must("FinishValidation", e.s.FinishValidation(e.ctx, l, []bulkid.RecordError{
		{Seq: 0, Pos: 1, Code: bulkid.RMissingID, Message: "x", Raw: []byte(`{"metadata":{}}`)},
		{Seq: 1, Pos: 2, Code: bulkid.RMissingID, Message: "x", Raw: []byte(`{"company_id":""}`)}}))
	e.must("last ApplyBatch of no records", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, nil, 0, 2))
	if got := e.job(app, bad.ID); got.Status != bulkid.StatusProcessing || got.Cursor != 2 || got.CompletedRows != 0 {
		t.Errorf("job of invalid records after its last batch: Status %q, Cursor %d, CompletedRows %d; want processing, 2, 0", got.Status, got.Cursor, got.CompletedRows)
	}
	e.must("FinishJob(failed)", e.s.FinishJob(e.ctx, l, bulkid.StatusFailed, "every record is invalid"))

	// Canceled before its last batch: the batch is refused and the job
	// stays processing.
	raws = []string{`{"company_id":"k1"}`}
	late := e.submit(app, bulkid.JobCompanies, raws...)
	l = e.startJob("w1", late)
	_, err = e.s.CancelJob(e.ctx, app.ID, late.ID)
	e.must("CancelJob", err)
	wantCode(t, "last ApplyBatch after CancelJob", e.s.ApplyBatch(e.ctx, l, bulkid.JobCompanies, e.records(bulkid.JobCompanies, raws...), 0, 1), bulkid.ECANCELED)
	if got := e.job(app, late.ID); got.Status != bulkid.StatusProcessing || got.Cursor != 0 {
		t.Errorf("canceled job after its refused last batch: Status %q, Cursor %d; want processing, 0", got.Status, got.Cursor)
	}
}

// testCompleteJob: the refresh and the finish commit together. Refused
// (the lease lost), neither is written: the counts stay as they were and
// the job stays pending_refresh, and the worker that takes it over
// refreshes and finishes it, each change added once.
func testCompleteJob(t *testing.T, e *env) {
	app := e.createApp("a")
	raws := []string{`{"user_id":"u1","company_id":"a"}`, `{"user_id":"u2","company_id":"a"}`, `{"user_id":"u3","company_id":"b"}`}
	job := e.submit(app, bulkid.JobUsers, raws...)
	l1 := e.startJob("w1", job)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l1, bulkid.JobUsers, e.records(bulkid.JobUsers, raws...), 0, 3))

	// w1 is gone after its last batch; its CompleteJob comes too late.
	e.clock.Advance(ttl + time.Second)
	l2 := e.claim("w2", job)
	wantCode(t, "CompleteJob by the lost worker", e.s.CompleteJob(e.ctx, l1, app.ID, bulkid.StatusCompleted), bulkid.ELEASELOST)
	e.counts(app, "after the lost worker's CompleteJob", map[string]int{"a": 0, "b": 0})
	if got := e.job(app, job.ID); got.Status != bulkid.StatusPendingRefresh || !got.EndTime.IsZero() {
		t.Errorf("after the lost worker's CompleteJob: Status %q, EndTime %v; want pending_refresh, zero", got.Status, got.EndTime)
	}
	if _, err := e.s.ActiveJob(e.ctx, app.ID); err != nil {
		t.Errorf("ActiveJob after the lost worker's CompleteJob: %v, want the job still active", err)
	}

	ended := e.clock.Advance(time.Second)
	e.must("CompleteJob by w2", e.s.CompleteJob(e.ctx, l2, app.ID, bulkid.StatusCompleted))
	want := map[string]int{"a": 2, "b": 1}
	e.counts(app, "after CompleteJob", want)
	got := e.job(app, job.ID)
	if got.Status != bulkid.StatusCompleted || got.CompletedRows != 3 {
		t.Errorf("after CompleteJob: Status %q, CompletedRows %d; want completed, 3", got.Status, got.CompletedRows)
	}
	wantTime(t, "EndTime after CompleteJob", got.EndTime, ended)
	if recs, err := e.s.JobRecords(e.ctx, job.ID, 0, 10); err != nil || len(recs) != 0 {
		t.Errorf("JobRecords after CompleteJob: %d records, %v; want the input dropped", len(recs), err)
	}
	_, err := e.s.ActiveJob(e.ctx, app.ID)
	wantCode(t, "ActiveJob after CompleteJob", err, bulkid.ENOTFOUND)
	wantCode(t, "CompleteJob of a finished job", e.s.CompleteJob(e.ctx, l2, app.ID, bulkid.StatusCompleted), bulkid.ELEASELOST)
	e.counts(app, "after CompleteJob of a finished job", want)

	// A cancel that came while it refreshed ends the job canceled.
	raws = []string{`{"user_id":"u4","company_id":"b"}`}
	next := e.submit(app, bulkid.JobUsers, raws...)
	l := e.startJob("w1", next)
	e.must("ApplyBatch", e.s.ApplyBatch(e.ctx, l, bulkid.JobUsers, e.records(bulkid.JobUsers, raws...), 0, 1))
	_, err = e.s.CancelJob(e.ctx, app.ID, next.ID)
	e.must("CancelJob while pending_refresh", err)
	e.must("CompleteJob", e.s.CompleteJob(e.ctx, l, app.ID, bulkid.StatusCompleted))
	if got := e.job(app, next.ID); got.Status != bulkid.StatusCanceled || got.CompletedRows != 1 {
		t.Errorf("job canceled while refreshing: Status %q, CompletedRows %d; want canceled, 1", got.Status, got.CompletedRows)
	}
	e.counts(app, "after the canceled job", map[string]int{"a": 2, "b": 2})
}
