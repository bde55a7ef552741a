package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads the metrics s serves (on serve's --metrics-addr) over
// HTTP: each series, as "name{labels}" in the text format, and its value.
func scrape(t *testing.T, s *server) map[string]float64 {
	t.Helper()
	if s.metrics == nil {
		t.Fatal("scrape: start the server with --metrics-addr")
	}
	ts := httptest.NewServer(s.metrics.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics = %d %s, want 200 text/plain", resp.StatusCode, ct)
	}
	series := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return series
}

// moved checks that each series in want moved by exactly its value
// between the scrapes before and after.
func moved(t *testing.T, before, after map[string]float64, want map[string]float64) {
	t.Helper()
	for name, d := range want {
		if got := after[name] - before[name]; got != d {
			t.Errorf("%s moved by %v (from %v to %v), want %v", name, got, before[name], after[name], d)
		}
	}
}

const bulkRoute = `route="POST /v1/companies/bulk_identify"`

// TestMetricsOfRequestsAndJobs runs two real jobs and a few requests and
// checks every counter and histogram they move, by the exact amounts.
func TestMetricsOfRequestsAndJobs(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute=0", "--metrics-addr=in-process")
	before := scrape(t, s)

	// Three new companies and a record without an id: 3 created, 1 failed.
	first := accepted(t, s.PostJSON("/v1/companies/bulk_identify", map[string]any{"companies": []any{
		map[string]any{"company_id": "m1", "metadata": map[string]any{"plan": "free"}},
		map[string]any{"company_id": "m2", "metadata": map[string]any{"plan": "free"}},
		map[string]any{"company_id": "m3", "metadata": map[string]any{"plan": "free"}},
		map[string]any{"metadata": map[string]any{"plan": "none"}},
	}}))
	if j := s.WaitJob(first.JobID); j.Status != "completed" || j.CompletedRows != 3 || j.FailedRows != 1 {
		t.Fatalf("first job = %+v, want completed with 3 completed and 1 failed row", j)
	}
	// m1 changed, m2 sent as stored, m4 new: 1 updated, 1 unchanged, 1 created.
	second := accepted(t, s.PostJSON("/v1/companies/bulk_identify", map[string]any{"companies": []any{
		map[string]any{"company_id": "m1", "metadata": map[string]any{"plan": "paid"}},
		map[string]any{"company_id": "m2", "metadata": map[string]any{"plan": "free"}},
		map[string]any{"company_id": "m4", "metadata": map[string]any{"plan": "free"}},
	}}))
	if j := s.WaitJob(second.JobID); j.Status != "completed" || j.CompletedRows != 3 || j.FailedRows != 0 {
		t.Fatalf("second job = %+v, want completed with 3 completed rows", j)
	}
	jobs := scrape(t, s)
	moved(t, before, jobs, map[string]float64{
		`bulkid_http_requests_total{` + bulkRoute + `,status="202"}`:       2,
		`bulkid_http_request_duration_seconds_count{` + bulkRoute + `}`:    2,
		`bulkid_jobs_total{status="queued"}`:                               2,
		`bulkid_jobs_total{status="validating"}`:                           2,
		`bulkid_jobs_total{status="processing"}`:                           2,
		`bulkid_jobs_total{status="pending_refresh"}`:                      2,
		`bulkid_jobs_total{status="completed"}`:                            2,
		`bulkid_jobs_total{status="failed"}`:                               0,
		`bulkid_job_queue_wait_seconds_count`:                              2,
		`bulkid_batch_apply_duration_seconds_count`:                        2, // one batch each
		`bulkid_rows_applied_total`:                                        6,
		`bulkid_rows_failed_total`:                                         1,
		`bulkid_rows_created_total`:                                        4,
		`bulkid_rows_updated_total`:                                        1,
		`bulkid_upload_slots_in_use`:                                       0,
		`bulkid_http_request_duration_seconds_count{route="GET /healthz"}`: 0,
	})
	for name, v := range jobs {
		if strings.HasPrefix(name, "bulkid_store_errors_total") && v != 0 {
			t.Errorf("%s = %v, want no store errors", name, v)
		}
	}

	// One request of each kind, then exactly those counted: the route is
	// the mux's pattern, never the path, whatever path is sent.
	s.Get("/v1/background_jobs/" + first.JobID)
	s.Get("/v1/background_jobs/" + second.JobID)
	s.Get("/v1/no/such/endpoint")
	s.Get("/v1/background_jobs/" + first.JobID + "/../x")
	s.healthy(t)
	after := scrape(t, s)
	moved(t, jobs, after, map[string]float64{
		`bulkid_http_requests_total{route="GET /v1/background_jobs/{job_id}",status="200"}`:    2,
		`bulkid_http_request_duration_seconds_count{route="GET /v1/background_jobs/{job_id}"}`: 2,
		`bulkid_http_requests_total{route="unmatched",status="404"}`:                           2,
		`bulkid_http_requests_total{route="GET /healthz",status="200"}`:                        1,
		`bulkid_http_request_duration_seconds_bucket{route="GET /healthz",le="+Inf"}`:          1,
		`bulkid_http_requests_total{` + bulkRoute + `,status="202"}`:                           0,
		`bulkid_jobs_total{status="queued"}`:                                                   0,
	})
	for name := range after {
		if strings.Contains(name, first.JobID) || strings.Contains(name, "no/such") {
			t.Errorf("series %s names a path, want only mux patterns as routes", name)
		}
	}
}

// TestMetricsUploadSlotsInUse: the gauge counts an upload while its body
// is being read, and falls back when it is.
func TestMetricsUploadSlotsInUse(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute=0", "--metrics-addr=in-process")
	const slots = `bulkid_upload_slots_in_use`
	if got := scrape(t, s)[slots]; got != 0 {
		t.Fatalf("%s before any upload = %v, want 0", slots, got)
	}
	sent, release := make(chan struct{}), make(chan struct{})
	done := make(chan response, 1)
	go func() {
		done <- s.StreamUpload("/v1/imports", func(mw *multipart.Writer) error {
			fw, err := mw.CreateFormFile("file", "companies.csv")
			if err != nil {
				return err
			}
			io.WriteString(fw, "company_id,name\n")
			close(sent)
			<-release
			_, err = io.WriteString(fw, "u1,One\n")
			return err
		})
	}()
	<-sent
	deadline := time.Now().Add(10 * time.Second)
	for scrape(t, s)[slots] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached 1 during an upload", slots)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	r := <-done
	var j job
	if r.JSON(t, &j); r.Status != http.StatusOK || j.JobID == "" {
		t.Fatalf("POST /v1/imports = %d %s, want 200 with a job", r.Status, r.Body)
	}
	s.WaitJob(j.JobID)
	if got := scrape(t, s)[slots]; got != 0 {
		t.Errorf("%s after the upload = %v, want 0", slots, got)
	}
}

// TestMetricsStoreErrors: a store call that fails for want of the store
// is counted by component, method and code.
func TestMetricsStoreErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--metrics-addr=in-process")
	s.stopWorkers() // their polls of the closed store would count too
	before := scrape(t, s)
	s.store.Close()
	if r := s.Get("/v1/background_jobs"); r.Status < 500 {
		t.Fatalf("GET /v1/background_jobs on a closed store = %d %s, want a 5xx", r.Status, r.Body)
	}
	after := scrape(t, s)
	var counted []string
	for name, v := range after {
		if strings.HasPrefix(name, "bulkid_store_errors_total{") && v != before[name] {
			counted = append(counted, fmt.Sprintf("%s +%v", name, v-before[name]))
		}
	}
	want := `bulkid_store_errors_total{code="internal_error",component="api",op="AppByKeyHash"} +1`
	if len(counted) != 1 || counted[0] != want {
		t.Errorf("store errors counted: %q, want [%s]", counted, want)
	}
}
