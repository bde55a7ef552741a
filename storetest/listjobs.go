package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/google/uuid"
)

// finishedJobsWithErrors stores n final jobs of app, the i-th with
// errsOf(i) record errors, oldest first, and returns their ids.
func finishedJobsWithErrors(tb testing.TB, s bulkid.Store, app *bulkid.App, n int, errsOf func(i int) int) []string {
	tb.Helper()
	ctx := tb.Context()
	ids := make([]string, n)
	for i := range n {
		k := errsOf(i)
		raws := make([]bulkid.RawRecord, max(k, 1))
		for r := range raws {
			raws[r] = bulkid.RawRecord{Seq: r, Pos: r, Raw: rawOf(r)}
		}
		errs := recordErrors(i, k)
		job := &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Type: bulkid.JobCompanies, Source: bulkid.SourceJSON}
		if err := s.CreateJob(ctx, job, recordpack.FromRecords(raws)); err != nil {
			tb.Fatalf("CreateJob: %v", err)
		}
		if _, _, err := s.ClaimJob(ctx, "lister", time.Hour); err != nil {
			tb.Fatalf("ClaimJob: %v", err)
		}
		l := bulkid.Lease{JobID: job.ID, Owner: "lister", TTL: time.Hour}
		if err := s.FinishValidation(ctx, l, errs); err != nil {
			tb.Fatalf("FinishValidation: %v", err)
		}
		if err := s.FinishJob(ctx, l, bulkid.StatusCompleted, ""); err != nil {
			tb.Fatalf("FinishJob: %v", err)
		}
		ids[i] = job.ID
	}
	return ids
}

func rawOf(r int) []byte { return fmt.Appendf(nil, `{"company_id":%d}`, r) }

// recordErrors returns the k record errors finishedJobsWithErrors gives
// its i-th job.
func recordErrors(i, k int) []bulkid.RecordError {
	errs := make([]bulkid.RecordError, k)
	for r := range errs {
		errs[r] = bulkid.RecordError{Seq: r, Pos: r + 1, ID: fmt.Sprintf("j%d-r%d", i, r), Code: "invalid_id",
			Message: fmt.Sprintf("record %d of job %d", r, i), Raw: rawOf(r)}
	}
	return errs
}

// testListJobsErrors checks that ListJobs gives every job of a page its
// own first record errors, whatever the others of the page hold: none, a
// few, or more than a job object carries.
func testListJobsErrors(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	// Jobs with 0, 1, 5, MaxJobErrors, MaxJobErrors+1 and 250 errors,
	// twice round, and a job of another app between them.
	counts := []int{0, 1, 5, bulkid.MaxJobErrors, bulkid.MaxJobErrors + 1, 250}
	var ids []string
	for round := range 2 {
		ids = append(ids, finishedJobsWithErrors(t, e.s, a, len(counts), func(i int) int { return counts[i] })...)
		finishedJobsWithErrors(t, e.s, b, 1, func(int) int { return 3 + round })
	}
	want := map[string][]bulkid.RecordError{}
	for i, id := range ids {
		j := e.job(a, id)
		k := i % len(counts)
		wantErrors(t, fmt.Sprintf("Job(%d).Errors", i), j.Errors, recordErrors(k, counts[k])[:min(counts[k], bulkid.MaxJobErrors)])
		want[id] = j.Errors
	}
	for _, limit := range []int{1, 2, 5, 7, 100} {
		p := bulkid.Page{Limit: limit}
		seen := 0
		for {
			page, err := e.s.ListJobs(e.ctx, a.ID, p)
			e.must("ListJobs", err)
			if len(page) == 0 {
				break
			}
			for _, j := range page {
				w, ok := want[j.ID]
				if !ok {
					t.Fatalf("ListJobs(Limit %d) lists job %s, not one of the app's", limit, j.ID)
				}
				wantErrors(t, fmt.Sprintf("ListJobs(Limit %d) job %s Errors", limit, j.ID), j.Errors, w)
				if (j.Errors == nil) != (w == nil) {
					t.Errorf("ListJobs(Limit %d) job %s: Errors nil %v, Job's nil %v", limit, j.ID, j.Errors == nil, w == nil)
				}
				seen++
			}
			p.After = page[len(page)-1].ID
		}
		if seen != len(ids) {
			t.Errorf("ListJobs(Limit %d): %d jobs in all, want %d", limit, seen, len(ids))
		}
	}
}

// BenchmarkListJobs measures listing a page of 100 jobs with their first
// record errors: jobs with a few errors each, and jobs with more than a
// job object carries (1,000 each).
func BenchmarkListJobs(b *testing.B, newStore NewBenchStore) {
	for _, bc := range []struct {
		name string
		errs int
	}{{"none", 0}, {"few", 5}, {"many", 1000}} {
		b.Run(bc.name, func(b *testing.B) {
			s := newStore(b)
			app, err := s.CreateApp(b.Context(), "bench", []byte("bench-key"))
			if err != nil {
				b.Fatal(err)
			}
			finishedJobsWithErrors(b, s, app, 100, func(int) int { return bc.errs })
			for b.Loop() {
				jobs, err := s.ListJobs(b.Context(), app.ID, bulkid.Page{Limit: 100})
				if err != nil {
					b.Fatal(err)
				}
				if len(jobs) != 100 || len(jobs[0].Errors) != min(bc.errs, bulkid.MaxJobErrors) {
					b.Fatalf("ListJobs: %d jobs, %d errors in the first", len(jobs), len(jobs[0].Errors))
				}
			}
		})
	}
}
