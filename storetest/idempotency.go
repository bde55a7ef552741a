package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/recordpack"
)

// submitWithKey calls CreateJobWithKey for a new job of app under key,
// with fingerprint fp, and returns the job and what the call returned.
func (e *env) submitWithKey(app *bulkid.App, key, fp string) (*bulkid.Job, *bulkid.IdempotencyKey, error) {
	job := newJob(app, bulkid.JobUsers)
	prior, err := e.s.CreateJobWithKey(e.ctx, job, recordpack.FromRecords(rawRecords(`{"user_id":"u1"}`)),
		bulkid.IdempotencyKey{Key: key, Fingerprint: []byte(fp)})
	return job, prior, err
}

// wantKey checks that the app's key is recorded for job jobID with
// fingerprint fp at created.
func (e *env) wantKey(what string, app *bulkid.App, key, jobID, fp string, created time.Time) {
	e.t.Helper()
	k, err := e.s.IdempotencyKey(e.ctx, app.ID, key)
	if err != nil {
		e.t.Errorf("%s: IdempotencyKey(%q): %v", what, key, err)
		return
	}
	if k.AppID != app.ID || k.Key != key || k.JobID != jobID || !bytes.Equal(k.Fingerprint, []byte(fp)) {
		e.t.Errorf("%s: IdempotencyKey(%q) = app %d key %q job %s fingerprint %q, want app %d key %q job %s fingerprint %q",
			what, key, k.AppID, k.Key, k.JobID, k.Fingerprint, app.ID, key, jobID, fp)
	}
	wantTime(e.t, what+": CreatedAt", k.CreatedAt, created)
}

func testIdempotencyKey(t *testing.T, e *env) {
	app, other := e.createApp("acme"), e.createApp("other")
	_, err := e.s.IdempotencyKey(e.ctx, app.ID, "k1")
	wantCode(t, "IdempotencyKey before any", err, bulkid.ENOTFOUND)

	submitted := e.clock.Advance(time.Minute)
	first, prior, err := e.submitWithKey(app, "k1", "fp1")
	e.must("CreateJobWithKey", err)
	if prior != nil {
		t.Fatalf("CreateJobWithKey of a new key returned prior key %+v, want nil", prior)
	}
	if first.Status != bulkid.StatusQueued || first.TotalRows != 1 {
		t.Errorf("CreateJobWithKey set Status %q TotalRows %d, want %q 1", first.Status, first.TotalRows, bulkid.StatusQueued)
	}
	wantTime(t, "CreateJobWithKey set SubmittedAt", first.SubmittedAt, submitted)
	e.job(app, first.ID)
	e.wantKey("after CreateJobWithKey", app, "k1", first.ID, "fp1", submitted)

	// The same key again, while its job is unfinished: no job, no
	// conflict, the key as recorded (whatever the fingerprint).
	e.clock.Advance(time.Minute)
	for _, fp := range []string{"fp1", "fp2"} {
		again, prior, err := e.submitWithKey(app, "k1", fp)
		e.must("CreateJobWithKey of a recorded key", err)
		if prior == nil || prior.JobID != first.ID || !bytes.Equal(prior.Fingerprint, []byte("fp1")) {
			t.Errorf("CreateJobWithKey of a recorded key with fingerprint %s returned %+v, want the key of job %s with fingerprint fp1", fp, prior, first.ID)
		}
		_, err = e.s.Job(e.ctx, app.ID, again.ID)
		wantCode(t, "Job of the job a recorded key did not create", err, bulkid.ENOTFOUND)
	}
	e.wantKey("after replays", app, "k1", first.ID, "fp1", submitted)

	// Keys are per app: another app's k1 is its own.
	_, err = e.s.IdempotencyKey(e.ctx, other.ID, "k1")
	wantCode(t, "IdempotencyKey of another app's key", err, bulkid.ENOTFOUND)
	theirs, prior, err := e.submitWithKey(other, "k1", "fp-other")
	e.must("CreateJobWithKey of another app", err)
	if prior != nil {
		t.Errorf("CreateJobWithKey of another app's key returned prior %+v, want nil", prior)
	}
	e.wantKey("other app", other, "k1", theirs.ID, "fp-other", e.clock.Now())
	e.wantKey("first app after the other's", app, "k1", first.ID, "fp1", submitted)

	// Keys differ by every byte: case counts.
	l := e.startJob("w", first)
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	upper, prior, err := e.submitWithKey(app, "K1", "fp1")
	e.must("CreateJobWithKey of K1", err)
	if prior != nil {
		t.Errorf("CreateJobWithKey of K1 after k1 returned prior %+v, want nil", prior)
	}
	e.wantKey("K1", app, "K1", upper.ID, "fp1", e.clock.Now())
}

// A key is recorded with its job or not at all: a job refused by the
// one-job rule leaves no key behind.
func testIdempotencyKeyAtomic(t *testing.T, e *env) {
	app := e.createApp("acme")
	active := e.submit(app, bulkid.JobCompanies, `{"company_id":"c1"}`)
	refused, prior, err := e.submitWithKey(app, "k1", "fp1")
	wantConflict(t, "CreateJobWithKey while a job runs", err, active.ID)
	if prior != nil {
		t.Errorf("CreateJobWithKey while a job runs returned prior %+v, want nil", prior)
	}
	_, err = e.s.Job(e.ctx, app.ID, refused.ID)
	wantCode(t, "Job of the refused job", err, bulkid.ENOTFOUND)
	_, err = e.s.IdempotencyKey(e.ctx, app.ID, "k1")
	wantCode(t, "IdempotencyKey of the refused job's key", err, bulkid.ENOTFOUND)

	l := e.startJob("w", active)
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	job, prior, err := e.submitWithKey(app, "k1", "fp1")
	e.must("CreateJobWithKey once the job finished", err)
	if prior != nil {
		t.Errorf("CreateJobWithKey once the job finished returned prior %+v, want nil", prior)
	}
	e.wantKey("once the job finished", app, "k1", job.ID, "fp1", e.clock.Now())
}

// A key is kept IdempotencyKeyTTL, then ignored: the same key makes a new job.
func testIdempotencyKeyExpiry(t *testing.T, e *env) {
	app := e.createApp("acme")
	recorded := e.clock.Now()
	first, _, err := e.submitWithKey(app, "k1", "fp1")
	e.must("CreateJobWithKey", err)
	l := e.startJob("w", first)
	e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))

	e.clock.Advance(bulkid.IdempotencyKeyTTL - time.Second)
	e.wantKey("a second before it expires", app, "k1", first.ID, "fp1", recorded)
	_, prior, err := e.submitWithKey(app, "k1", "fp2")
	e.must("CreateJobWithKey a second before it expires", err)
	if prior == nil || prior.JobID != first.ID {
		t.Errorf("CreateJobWithKey a second before the key expires returned %+v, want the key of job %s", prior, first.ID)
	}

	renewed := e.clock.Advance(time.Second)
	_, err = e.s.IdempotencyKey(e.ctx, app.ID, "k1")
	wantCode(t, "IdempotencyKey once expired", err, bulkid.ENOTFOUND)
	second, prior, err := e.submitWithKey(app, "k1", "fp2")
	e.must("CreateJobWithKey of an expired key", err)
	if prior != nil {
		t.Errorf("CreateJobWithKey of an expired key returned prior %+v, want nil", prior)
	}
	e.job(app, second.ID)
	e.wantKey("recorded again", app, "k1", second.ID, "fp2", renewed)
}

// Expired keys of any app are pruned as new ones are recorded, in batches;
// the interface cannot see a pruned key, so this pins that pruning keeps
// every key that has not expired and expired ones stay ignored.
func testIdempotencyKeyPrune(t *testing.T, e *env) {
	apps := []*bulkid.App{e.createApp("a"), e.createApp("b")}
	finish := func(job *bulkid.Job) {
		l := e.startJob("w", job)
		e.must("FinishJob", e.s.FinishJob(e.ctx, l, bulkid.StatusCompleted, ""))
	}
	const n = 3 * pruneBatchAtLeast
	for i := range n {
		job, _, err := e.submitWithKey(apps[i%2], fmt.Sprintf("old-%d", i), "fp")
		e.must("CreateJobWithKey", err)
		finish(job)
	}
	e.clock.Advance(bulkid.IdempotencyKeyTTL)
	young := e.clock.Now()
	kept, _, err := e.submitWithKey(apps[0], "young", "fp")
	e.must("CreateJobWithKey", err)
	finish(kept)
	for i := range n {
		job, prior, err := e.submitWithKey(apps[i%2], fmt.Sprintf("new-%d", i), "fp")
		e.must("CreateJobWithKey after expiry", err)
		if prior != nil {
			t.Fatalf("CreateJobWithKey of a new key returned prior %+v", prior)
		}
		finish(job)
	}
	for i := range n {
		_, err := e.s.IdempotencyKey(e.ctx, apps[i%2].ID, fmt.Sprintf("old-%d", i))
		wantCode(t, "IdempotencyKey of an expired key", err, bulkid.ENOTFOUND)
	}
	e.wantKey("a key that has not expired", apps[0], "young", kept.ID, "fp", young)
}

// pruneBatchAtLeast is a lower bound of any store's pruning batch, so that
// testIdempotencyKeyPrune's keys take more than one batch only if a store
// prunes fewer than this a call.
const pruneBatchAtLeast = 4

// Concurrent requests with one key create one job between them; the
// others get its key, never a conflict.
func testIdempotencyKeyConcurrent(t *testing.T, e *env) {
	app := e.createApp("acme")
	const n = 16
	jobs, priors, errs := make([]*bulkid.Job, n), make([]*bulkid.IdempotencyKey, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { jobs[i], priors[i], errs[i] = e.submitWithKey(app, "k1", fmt.Sprintf("fp%d", i)) })
	}
	wg.Wait()
	winner := -1
	for i := range n {
		e.must(fmt.Sprintf("CreateJobWithKey %d", i), errs[i])
		if priors[i] == nil {
			if winner >= 0 {
				t.Fatalf("CreateJobWithKey %d and %d both created a job under one key", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no CreateJobWithKey created the job")
	}
	for i := range n {
		if i != winner && priors[i].JobID != jobs[winner].ID {
			t.Errorf("CreateJobWithKey %d returned the key of job %s, want %s", i, priors[i].JobID, jobs[winner].ID)
		}
	}
	list, err := e.s.ListJobs(e.ctx, app.ID, bulkid.Page{Limit: 100})
	e.must("ListJobs", err)
	if len(list) != 1 || list[0].ID != jobs[winner].ID {
		t.Errorf("ListJobs = %v, want only %s", jobIDs(list), jobs[winner].ID)
	}
	e.wantKey("after the race", app, "k1", jobs[winner].ID, fmt.Sprintf("fp%d", winner), start)
}
