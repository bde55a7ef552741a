package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkid/bulkid/internal/pgtest"
)

// The fault tests kill the server at chosen and at random points of a job
// and check, after a restart, what a client was promised: every job ends,
// every accepted record is stored with the last write winning per key, and
// every row is counted once.
//
// BULKID_FAULT_SEED repeats a run (each run logs its seed) and
// BULKID_FAULT_ITERATIONS runs more kills than the default.

// faultRand returns the run's random source and number of kills.
func faultRand(t *testing.T, defaultIterations int) (*rand.Rand, int) {
	t.Helper()
	seed := time.Now().UnixNano()
	if v := os.Getenv("BULKID_FAULT_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("BULKID_FAULT_SEED: %v", err)
		}
	}
	n := defaultIterations
	if v := os.Getenv("BULKID_FAULT_ITERATIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("BULKID_FAULT_ITERATIONS = %q, want a positive integer", v)
		}
	}
	t.Logf("seed %d, %d kills: repeat with BULKID_FAULT_SEED=%d BULKID_FAULT_ITERATIONS=%d", seed, n, seed, n)
	return rand.New(rand.NewPCG(uint64(seed), 0x6661756c7473)), n
}

// killPoint is where in a job's life an iteration kills the server.
type killPoint int

const (
	killMidUpload      killPoint = iota // the body is half sent: no 202, and no job may exist
	killRacingUpload                    // a random moment while the request is sent and stored
	killAfterAccept                     // a random moment soon after the 202
	killValidating                      // once the job is seen validating
	killProcessing                      // a random moment once the first batch has committed
	killPendingRefresh                  // once the job is seen in pending_refresh
	numKillPoints
)

func (k killPoint) String() string {
	return [...]string{"mid-upload", "racing the upload", "after the 202", "validating", "processing", "pending_refresh"}[k]
}

// faultRecord is a valid record of an attempt: its key and the metadata it sets.
type faultRecord struct {
	key string
	md  map[string]any
}

// attempt is one submission of the workload.
type attempt struct {
	n        int
	point    killPoint
	filename string // names the job, also one whose 202 never arrived
	body     []byte // the NDJSON file
	total    int
	invalid  int
	valid    []faultRecord // in input order
	jobID    string        // from the 202; "" if none arrived
	cut      bool          // the body was never sent whole: no job may exist
}

const faultKeys = 30

// invalidRecords are records that fail validation, each for its own reason.
var invalidRecords = []string{
	`this line is not JSON`,
	`{"metadata": {"plan": "none"}}`,
	`{"company_id": "k-bad", "metadata": {"nested": {"a": 1}}}`,
	`["an", "array"]`,
	`{"company_id": "", "metadata": {}}`,
	`{"company_id": true}`,
}

// newAttempt makes submission n: valid records over a small set of keys,
// drawn with repeats so later records and later jobs overwrite earlier ones
// with different metadata, and a few invalid records at random places.
func newAttempt(rng *rand.Rand, n int, point killPoint, valid int) *attempt {
	a := &attempt{n: n, point: point, filename: fmt.Sprintf("attempt-%03d.ndjson", n), invalid: 1 + rng.IntN(3)}
	lines := make([]string, 0, valid+a.invalid)
	for i := range valid {
		r := faultRecord{key: fmt.Sprintf("k%02d", rng.IntN(faultKeys)),
			md: map[string]any{"attempt": float64(n), "n": float64(i), "label": fmt.Sprintf("attempt %d record %d", n, i)}}
		a.valid = append(a.valid, r)
		b, _ := json.Marshal(map[string]any{"company_id": r.key, "metadata": r.md})
		lines = append(lines, string(b))
	}
	for range a.invalid {
		at := rng.IntN(len(lines) + 1)
		lines = append(lines[:at], append([]string{invalidRecords[rng.IntN(len(invalidRecords))]}, lines[at:]...)...)
	}
	a.total = len(lines)
	a.body = []byte(strings.Join(lines, "\n") + "\n")
	return a
}

// multipartBody returns the upload of content as the field "file".
func multipartBody(filename string, content []byte) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(content)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// tryJob reads a job, or fails without failing the test.
func tryJob(s *server, id string) (job, error) {
	r, err := send("GET", s.URL+"/v1/background_jobs/"+id, s.Key, "", nil)
	if err != nil {
		return job{}, err
	}
	if r.Status != http.StatusOK {
		return job{}, fmt.Errorf("GET job %s: %d %s", id, r.Status, r.Body)
	}
	var j job
	return j, json.Unmarshal(r.Body, &j)
}

// allJobs lists every job of the app, newest first.
func allJobs(t *testing.T, s *server) []job {
	t.Helper()
	var all []job
	for cursor := ""; ; {
		var page []job
		s.Get("/v1/background_jobs?limit=100&cursor="+url.QueryEscape(cursor)).JSON(t, &page)
		all = append(all, page...)
		if len(page) < 100 {
			return all
		}
		cursor = page[len(page)-1].JobID
	}
}

// waitIdle waits until the app's newest job, if any, is final, so that the
// next submission is not refused with 409.
func waitIdle(t *testing.T, s *server) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var page []job
		s.Get("/v1/background_jobs?limit=1").JSON(t, &page)
		if len(page) == 0 || page[0].Status == "completed" || page[0].Status == "failed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after a minute: %+v", page[0].JobID, page[0].Status, page[0])
		}
	}
}

// spoolLeft lists the upload spool files in dir.
func spoolLeft(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "bulkid-input-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// killScenario is one run of kills against one store.
type killScenario struct {
	iterations int
	args       []string // store flags
}

// TestKillAnywhere kills the server with SIGKILL over and over, at each
// point of a job's life in turn and at random moments within it, restarting
// it on the same store each time; see runKills for what is checked.
func TestKillAnywhere(t *testing.T) {
	t.Parallel()
	runKills(t, killScenario{iterations: 12})
}

// TestKillAnywherePostgres is TestKillAnywhere, shorter, on PostgreSQL.
func TestKillAnywherePostgres(t *testing.T) {
	t.Parallel()
	runKills(t, killScenario{iterations: 6, args: []string{"--database-url", pgtest.URL(t)}})
}

// runKills submits a job per iteration, kills the server at the
// iteration's point and restarts it. At the end every job must be final
// with completed_rows + failed_rows = total_rows and failed_rows the
// invalid records it was sent; every job whose 202 arrived must exist, a
// job whose body was cut must not; and every key must hold the metadata of
// its last record in the last job that exists, in submission order.
func runKills(t *testing.T, sc killScenario) {
	rng, iterations := faultRand(t, sc.iterations)
	dir, spool := t.TempDir(), t.TempDir()
	// 3,600 rows a minute: batches of 60 records, a second apart, so a
	// job of 71 to 82 records makes two batches and spends a second in
	// processing between them.
	// The job-read limit is off: the test polls a job as fast as it can,
	// to kill the server at a given status.
	args := append([]string{"--rows-per-minute", "3600", "--lease-duration", "1s", "--poll-interval", "50ms", "--workers", "2", "--job-read-rate", "0"}, sc.args...)
	env := []string{"TMPDIR=" + spool}
	start := func() *server { return startServerEnv(t, dir, env, args...) }

	first := rng.IntN(int(numKillPoints))
	var attempts []*attempt
	hit := map[killPoint]int{}
	for i := range iterations {
		s := start()
		if i > 0 {
			// What the kill left, as the restarted server first sees it
			// (the dead worker's lease may still hold it there).
			var page []job
			s.Get("/v1/background_jobs?limit=1").JSON(t, &page)
			if len(page) > 0 {
				j := page[0]
				t.Logf("attempt %d killed %s: the newest job, %s, is %s at %d+%d of %d after the restart",
					i-1, attempts[i-1].point, *j.Filename, j.Status, j.CompletedRows, j.FailedRows, j.TotalRows)
			}
		}
		waitIdle(t, s)
		a := newAttempt(rng, i, killPoint((first+i)%int(numKillPoints)), 70+rng.IntN(10))
		attempts = append(attempts, a)
		body, ctype := multipartBody(a.filename, a.body)
		uploadURL := s.URL + "/v1/companies/bulk_identify"

		switch a.point {
		case killMidUpload:
			// Stream the body through a pipe: the server reads the first
			// part, and dies before the rest is written.
			pr, pw := io.Pipe()
			done := make(chan int, 1)
			go func() {
				r, _ := send("POST", uploadURL, s.Key, ctype, pr)
				done <- r.Status
			}()
			cut := len(body)/4 + rng.IntN(len(body)/2)
			if _, err := pw.Write(body[:cut]); err != nil {
				t.Fatalf("attempt %d: the upload stopped before the kill: %v", i, err)
			}
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
			s.Kill()
			pw.CloseWithError(errors.New("cut by the test"))
			if status := <-done; status == http.StatusAccepted {
				t.Fatalf("attempt %d: a body cut at byte %d of %d was accepted", i, cut, len(body))
			}
			a.cut = true
			hit[a.point]++
		case killRacingUpload:
			done := make(chan struct {
				status int
				body   []byte
			}, 1)
			go func() {
				r, _ := send("POST", uploadURL, s.Key, ctype, bytes.NewReader(body))
				done <- struct {
					status int
					body   []byte
				}{r.Status, r.Body}
			}()
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
			s.Kill()
			if r := <-done; r.status == http.StatusAccepted {
				var j job
				json.Unmarshal(r.body, &j)
				a.jobID = j.JobID
			} else if r.status != 0 {
				t.Fatalf("attempt %d: status %d %s, want a 202 or no answer", i, r.status, r.body)
			}
			hit[a.point]++
		default:
			a.jobID = accepted(t, s.Do("POST", "/v1/companies/bulk_identify", s.Key, ctype, bytes.NewReader(body))).JobID
			if a.point == killAfterAccept {
				time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
				s.Kill()
				hit[a.point]++
				break
			}
			want := map[killPoint]string{killValidating: "validating", killProcessing: "processing", killPendingRefresh: "pending_refresh"}[a.point]
			order := map[string]int{"queued": 0, "validating": 1, "processing": 2, "pending_refresh": 3, "completed": 4, "failed": 4}
			for deadline := time.Now().Add(30 * time.Second); ; {
				j, err := tryJob(s, a.jobID)
				if err != nil {
					t.Fatal(err)
				}
				if j.Status == want && (a.point != killProcessing || j.CompletedRows > 0) {
					if a.point == killProcessing {
						time.Sleep(time.Duration(rng.IntN(700)) * time.Millisecond)
					}
					hit[a.point]++
					break
				}
				if order[j.Status] > order[want] {
					t.Logf("attempt %d: missed %s (job already %s); killing there", i, want, j.Status)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("attempt %d: job still %s after 30s", i, j.Status)
				}
			}
			s.Kill()
		}
		if left := spoolLeft(t, spool); len(left) > 0 {
			t.Errorf("attempt %d (%s): the killed server left upload spool files behind: %v", i, a.point, left)
		}
	}
	t.Logf("kills that hit their point: %v", hit)

	s := start()
	waitIdle(t, s)
	checkFaultWorkload(t, s, attempts)
}

// checkFaultWorkload checks the store after the kills against the attempts.
func checkFaultWorkload(t *testing.T, s *server, attempts []*attempt) {
	t.Helper()
	byFile := map[string]*attempt{}
	for _, a := range attempts {
		byFile[a.filename] = a
	}
	jobs := allJobs(t, s)
	found := map[*attempt]job{}
	for _, j := range jobs {
		if j.Filename == nil || byFile[*j.Filename] == nil {
			t.Fatalf("job %s has no attempt's filename: %+v", j.JobID, j)
		}
		a := byFile[*j.Filename]
		if _, dup := found[a]; dup {
			t.Fatalf("attempt %d (%s) made two jobs", a.n, a.point)
		}
		found[a] = j
		if j.Status != "completed" || j.TotalRows != a.total || j.FailedRows != a.invalid || j.CompletedRows+j.FailedRows != j.TotalRows {
			t.Errorf("attempt %d (killed %s): job %s is %s with %d+%d of %d rows, want completed with %d+%d of %d",
				a.n, a.point, j.JobID, j.Status, j.CompletedRows, j.FailedRows, j.TotalRows, a.total-a.invalid, a.invalid, a.total)
		}
		// Each applied row is counted once as what it did, however often
		// its batch was begun before a kill.
		if j.CreatedRows+j.UpdatedRows+j.UnchangedRows != j.CompletedRows {
			t.Errorf("attempt %d (killed %s): job %s counts %d created + %d updated + %d unchanged, want %d completed",
				a.n, a.point, j.JobID, j.CreatedRows, j.UpdatedRows, j.UnchangedRows, j.CompletedRows)
		}
	}
	for _, a := range attempts {
		j, ok := found[a]
		switch {
		case a.jobID != "" && !ok:
			t.Errorf("attempt %d (killed %s): job %s was accepted with a 202 and is gone", a.n, a.point, a.jobID)
		case a.jobID != "" && j.JobID != a.jobID:
			t.Errorf("attempt %d: job id %s, but the 202 said %s", a.n, j.JobID, a.jobID)
		case a.cut && ok:
			t.Errorf("attempt %d: its body was cut off, yet job %s exists", a.n, j.JobID)
		}
	}
	// Jobs run one at a time per app, in submission order: the last
	// record of the newest job holding a key wins.
	want := map[string]map[string]any{}
	for i := len(jobs) - 1; i >= 0; i-- {
		for _, r := range byFile[*jobs[i].Filename].valid {
			want[r.key] = r.md
		}
	}
	var got []struct {
		CompanyID string         `json:"company_id"`
		Metadata  map[string]any `json:"metadata"`
	}
	s.Get("/v1/companies?all=true&limit=100").JSON(t, &got)
	if len(got) != len(want) {
		t.Errorf("%d companies stored, want %d", len(got), len(want))
	}
	for _, c := range got {
		if w, ok := want[c.CompanyID]; !ok {
			t.Errorf("company %s is stored but no job that exists sent it", c.CompanyID)
		} else if fmt.Sprint(c.Metadata) != fmt.Sprint(w) {
			t.Errorf("company %s = %v, want %v (the last write)", c.CompanyID, c.Metadata, w)
		}
	}
	t.Logf("%d attempts, %d jobs, %d keys checked", len(attempts), len(jobs), len(got))
}

// as is s speaking with another app's key.
func (s *server) as(key string) *server {
	c := *s
	c.Key = key
	return &c
}

// waitExit waits for a stopped server to exit and returns how long it took
// since from and its exit code.
func waitExit(t *testing.T, s *server, from time.Time, bound time.Duration) (time.Duration, int) {
	t.Helper()
	select {
	case <-s.exited:
		return time.Since(from), s.cmd.ProcessState.ExitCode()
	case <-time.After(bound):
		t.Fatalf("the server has not exited %s after SIGTERM", bound)
		return 0, 0
	}
}

// TestSigtermMidJob stops the server with SIGTERM while its job waits for
// the app's rate between batches of a slow throttle: the wait is cut short,
// the job is given back, and the process exits at once rather than after
// the wait. A restart resumes the job without waiting for the lease and
// counts each row once.
func TestSigtermMidJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// 6 rows a minute: batches of one row, 10 s apart. A 60 s lease that a
	// restart would have to wait out if the job were not given back.
	args := []string{"--rows-per-minute", "6", "--lease-duration", "60s", "--shutdown-timeout", "2s", "--log-level", "info"}
	s := startServer(t, dir, args...)
	const rows = 2
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(rows, "c")))
	for s.Job(j.JobID).CompletedRows < 1 {
		time.Sleep(10 * time.Millisecond)
	}
	// The first row is applied; the second waits 10 s for the rate.
	stopped := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	took, code := waitExit(t, s, stopped, 30*time.Second)
	t.Logf("exited %s after SIGTERM with status %d", took, code)
	if bound := 2*time.Second + 4*time.Second; took > bound {
		t.Errorf("the server took %s to exit after SIGTERM, more than --shutdown-timeout + 4s (%s): it waited for the rate instead of stopping", took, bound)
	}
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(s.stderr.String(), `job released at shutdown" job_id=`+j.JobID) {
		t.Errorf("the job was not given back at shutdown:\n%s", s.stderr.String())
	}

	restarted := time.Now()
	s = startServer(t, dir, args...)
	done := s.WaitJob(j.JobID)
	// The second row goes 10 s after the first; a job left leased would
	// wait for the 60 s lease first.
	if d := time.Since(restarted); d > 40*time.Second {
		t.Errorf("the job took %s to finish after the restart: it waited for its lease", d)
	}
	checkComplete(t, s, done, rows)
}

// TestSigtermRequestsInFlight stops the server with SIGTERM while two
// uploads are being sent: new connections are refused at once, the upload
// that ends within --shutdown-timeout is accepted and stored, the one that
// does not is cut off when the timeout ends, and the process then exits
// cleanly. After a restart the accepted job runs, and the app whose upload
// was cut has no job and is free to submit one.
func TestSigtermRequestsInFlight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"--rows-per-minute", "0", "--shutdown-timeout", "3s", "--log-level", "info"}
	s := startServer(t, dir, args...)
	slowKey, stalledKey := createApp(t, s, "slow").Key, createApp(t, s, "stalled").Key

	type result struct {
		status int
		body   []byte
		err    error
	}
	// startUpload sends all but the end of an upload of n companies and
	// returns the rest of it, and where the answer will come. A 16 MiB form
	// field comes first: more than loopback's socket buffers hold, so once
	// it is written the server is reading the body.
	startUpload := func(key string, n int) (*io.PipeWriter, []byte, chan result) {
		var lines []string
		for i := range n {
			lines = append(lines, fmt.Sprintf(`{"company_id": "c%d", "metadata": {"i": %d}}`, i, i))
		}
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("padding", strings.Repeat("x", 16<<20))
		fw, _ := mw.CreateFormFile("file", "companies.ndjson")
		fw.Write([]byte(strings.Join(lines, "\n")))
		mw.Close()
		body, ctype := buf.Bytes(), mw.FormDataContentType()
		pr, pw := io.Pipe()
		done := make(chan result, 1)
		go func() {
			r, err := send("POST", s.URL+"/v1/companies/bulk_identify", key, ctype, pr)
			done <- result{r.Status, r.Body, err}
		}()
		if _, err := pw.Write(body[:len(body)-200]); err != nil {
			t.Fatal(err)
		}
		return pw, body[len(body)-200:], done
	}
	slowW, slowRest, slowDone := startUpload(slowKey, 50)
	stalledW, _, stalledDone := startUpload(stalledKey, 50)
	defer stalledW.Close()

	stopped := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)

	// New connections are refused while the uploads hold the shutdown open.
	// A connection that reached the listener's queue as it closed may be
	// reset instead; either way no new request is served once one is not.
	refused, failed := false, false
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for deadline := time.Now().Add(2 * time.Second); !refused && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := fresh.Get(s.URL + "/healthz")
		select {
		case <-s.exited:
			t.Fatalf("the server exited %s after SIGTERM with two uploads in flight and a 3s shutdown timeout", time.Since(stopped))
		default:
		}
		switch {
		case err == nil:
			resp.Body.Close()
			if failed && resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("a new request during shutdown got %d after an earlier one was refused", resp.StatusCode)
			}
			// Before SIGTERM is handled the server still answers.
			refused = resp.StatusCode == http.StatusServiceUnavailable
		case errors.Is(err, syscall.ECONNREFUSED):
			refused = true
		default:
			t.Logf("a new request during shutdown: %v", err)
			failed = true
		}
	}
	if !refused {
		t.Fatalf("new connections were not refused 2s after SIGTERM")
	}

	// The slow upload ends within the timeout: it is accepted.
	if _, err := slowW.Write(slowRest); err != nil {
		t.Fatalf("the server stopped reading an upload in flight: %v", err)
	}
	slowW.Close()
	r := <-slowDone
	if r.err != nil || r.status != http.StatusAccepted {
		t.Fatalf("the upload in flight at SIGTERM got %d %s (%v), want 202", r.status, r.body, r.err)
	}
	var slowJob job
	json.Unmarshal(r.body, &slowJob)

	// The stalled one holds the shutdown until the timeout, then is cut off.
	took, code := waitExit(t, s, stopped, 30*time.Second)
	t.Logf("exited %s after SIGTERM with status %d", took, code)
	if bound := 3*time.Second + 5*time.Second; took > bound {
		t.Errorf("the server took %s to exit after SIGTERM, more than --shutdown-timeout + 5s (%s)", took, bound)
	}
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0:\n%s", code, s.stderr.String())
	}
	stalledW.CloseWithError(errors.New("the test gives up"))
	if r := <-stalledDone; r.status == http.StatusAccepted {
		t.Fatalf("an upload that never ended was accepted: %s", r.body)
	}

	s = startServer(t, dir, args...)
	if done := s.as(slowKey).WaitJob(slowJob.JobID); done.Status != "completed" || done.CompletedRows != 50 {
		t.Errorf("the job accepted during shutdown = %s %d/%d, want completed 50/50", done.Status, done.CompletedRows, done.TotalRows)
	}
	stalled := s.as(stalledKey)
	var jobs []job
	stalled.Get("/v1/background_jobs").JSON(t, &jobs)
	if len(jobs) != 0 {
		t.Errorf("the app whose upload was cut off has jobs: %+v", jobs)
	}
	accepted(t, stalled.PostJSON("/v1/companies/bulk_identify", companies(3, "c")))
}
