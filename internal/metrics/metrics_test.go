package metrics_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// get answers a GET of h, with the request's headers hdr (name, value
// pairs).
func get(t *testing.T, h http.Handler, hdr ...string) *http.Response {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	req, err := http.NewRequest("GET", ts.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	// A transport that neither asks for gzip nor unzips, so that the
	// answer is seen as sent.
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	return resp
}

// text is the body of a GET of h, as sent.
func text(t *testing.T, h http.Handler) string {
	t.Helper()
	resp := get(t, h)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// families parses the text format as Prometheus reads it.
func families(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the text format does not parse: %v\n%s", err, text)
	}
	return fams
}

// value is the value of the series name with labels (all of them, as
// name=value pairs) in r's text, or -1 if it has none.
func value(t *testing.T, r *metrics.Registry, name string, labels ...string) float64 {
	t.Helper()
	f := families(t, text(t, r.Handler()))[name]
series:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i, l := range m.GetLabel() {
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestRegistry: each report lands in its metric, every job status is
// there from zero, and counts that would go down never panic.
func TestRegistry(t *testing.T) {
	r := metrics.New()
	for _, st := range []string{"queued", "validating", "processing", "pending_refresh", "completed", "failed"} {
		if got := value(t, r, "bulkid_jobs_total", "status", st); got != 0 {
			t.Errorf("bulkid_jobs_total{status=%q} of a new registry = %v, want 0", st, got)
		}
	}
	api, w := r.API(), r.Worker()
	api.Request("GET /healthz", 200, time.Millisecond)
	api.JobAccepted()
	api.UploadSlots(1)
	api.UploadSlots(1)
	api.UploadSlots(-1)
	api.StoreError("Job", bulkid.EUNAVAILABLE)
	w.JobStatus(bulkid.StatusCompleted)
	w.JobStarted(-time.Second) // clocks of two processes: never a negative wait
	w.BatchApplied(time.Millisecond)
	w.Rows(bulkid.RowCounts{Created: 2, Updated: 1, Unchanged: 4}, 3)
	w.Rows(bulkid.RowCounts{Created: -1}, -1)
	w.StoreError("ClaimJob", bulkid.EINTERNAL)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"bulkid_http_requests_total", []string{"route", "GET /healthz", "status", "200"}, 1},
		{"bulkid_http_request_duration_seconds", []string{"route", "GET /healthz"}, 1},
		{"bulkid_jobs_total", []string{"status", "queued"}, 1},
		{"bulkid_jobs_total", []string{"status", "completed"}, 1},
		{"bulkid_upload_slots_in_use", nil, 1},
		{"bulkid_store_errors_total", []string{"code", "service_unavailable", "component", "api", "op", "Job"}, 1},
		{"bulkid_store_errors_total", []string{"code", "internal_error", "component", "worker", "op", "ClaimJob"}, 1},
		{"bulkid_job_queue_wait_seconds", nil, 1},
		{"bulkid_batch_apply_duration_seconds", nil, 1},
		{"bulkid_rows_applied_total", nil, 7},
		{"bulkid_rows_created_total", nil, 2},
		{"bulkid_rows_updated_total", nil, 1},
		{"bulkid_rows_failed_total", nil, 3},
	} {
		if got := value(t, r, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The runtime's and the process's figures are read at each scrape.
	for _, name := range []string{"go_goroutines", "go_threads", "process_open_fds", "process_resident_memory_bytes", "process_start_time_seconds"} {
		if got := value(t, r, name); got <= 0 {
			t.Errorf("%s = %v, want more than 0", name, got)
		}
	}
	// The boot time it counts from is in whole seconds: a second's slack.
	if got, now := value(t, r, "process_start_time_seconds"), float64(time.Now().Unix()); got > now+1 || got < now-24*3600 {
		t.Errorf("process_start_time_seconds = %v, want a time of the last day before %v", got, now)
	}
}

// clientGolang is the registry internal/metrics replaced (issue 15's,
// over Prometheus's Go client), the reference its families are checked
// against.
type clientGolang struct {
	reg                                               *prometheus.Registry
	requests, jobs, storeErrors                       *prometheus.CounterVec
	latency                                           *prometheus.HistogramVec
	queueWait, batch                                  prometheus.Histogram
	rowsApplied, rowsFailed, rowsCreated, rowsUpdated prometheus.Counter
	uploadsInUse                                      prometheus.Gauge
}

func newClientGolang() *clientGolang {
	c := &clientGolang{reg: prometheus.NewRegistry()}
	c.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkid_http_requests_total",
		Help: "API requests answered, by route (the mux pattern, or \"unmatched\") and status code."}, []string{"route", "status"})
	c.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bulkid_http_request_duration_seconds",
		Help:    "Time from a request's arrival to its answer, body read included, by route.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"route"})
	c.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkid_jobs_total",
		Help: "Jobs that entered each status in this process: queued when the API accepted them, the others as its workers moved them."}, []string{"status"})
	c.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bulkid_job_queue_wait_seconds",
		Help:    "Time from a job's submission to the start of its validation.",
		Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600}})
	c.batch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bulkid_batch_apply_duration_seconds",
		Help:    "Time the store took to apply and commit one batch of a job's records (the rate's wait excluded).",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}})
	c.rowsApplied = prometheus.NewCounter(prometheus.CounterOpts{Name: "bulkid_rows_applied_total",
		Help: "Job rows applied to a profile (created, updated or left unchanged)."})
	c.rowsFailed = prometheus.NewCounter(prometheus.CounterOpts{Name: "bulkid_rows_failed_total",
		Help: "Job rows that failed: invalid, or refused by the profile bounds."})
	c.rowsCreated = prometheus.NewCounter(prometheus.CounterOpts{Name: "bulkid_rows_created_total", Help: "Job rows that created a profile."})
	c.rowsUpdated = prometheus.NewCounter(prometheus.CounterOpts{Name: "bulkid_rows_updated_total", Help: "Job rows that changed an existing profile."})
	c.uploadsInUse = prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulkid_upload_slots_in_use",
		Help: "Bulk and import requests being read now, out of --max-uploads."})
	c.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkid_store_errors_total",
		Help: "Store calls that failed for want of the store (not a documented answer such as not found), by component (api, worker), method and error code."},
		[]string{"component", "op", "code"})
	for _, st := range []bulkid.JobStatus{bulkid.StatusQueued, bulkid.StatusValidating, bulkid.StatusProcessing,
		bulkid.StatusPendingRefresh, bulkid.StatusCompleted, bulkid.StatusFailed, bulkid.StatusCanceled} {
		c.jobs.WithLabelValues(string(st))
	}
	c.reg.MustRegister(c.requests, c.latency, c.jobs, c.queueWait, c.batch, c.rowsApplied, c.rowsFailed,
		c.rowsCreated, c.rowsUpdated, c.uploadsInUse, c.storeErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return c
}

func (c *clientGolang) handler() http.Handler {
	return promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{Registry: c.reg})
}

// flat is a parsed text's families as one line per series, keyed by
// family, type and labels (sorted), so that two texts compare whatever
// order they write series in: a counter's or gauge's value, a
// histogram's buckets (upper bound and cumulative count), sum and count,
// a summary's quantiles, sum and count.
func flat(fams map[string]*dto.MetricFamily, keep func(name string) bool) map[string]string {
	out := map[string]string{}
	g := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	for name, f := range fams {
		if !keep(name) {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			slices.Sort(labels)
			key := name + " " + f.GetType().String() + " {" + strings.Join(labels, ",") + "}"
			var v []string
			switch {
			case m.Counter != nil:
				v = append(v, g(m.Counter.GetValue()))
			case m.Gauge != nil:
				v = append(v, g(m.Gauge.GetValue()))
			case m.Histogram != nil:
				for _, b := range m.Histogram.GetBucket() {
					v = append(v, "le="+g(b.GetUpperBound())+":"+strconv.FormatUint(b.GetCumulativeCount(), 10))
				}
				v = append(v, "sum="+g(m.Histogram.GetSampleSum()), "count="+strconv.FormatUint(m.Histogram.GetSampleCount(), 10))
			case m.Summary != nil:
				for _, q := range m.Summary.GetQuantile() {
					v = append(v, "q="+g(q.GetQuantile()))
				}
				v = append(v, "count")
			default:
				v = append(v, "untyped "+g(m.Untyped.GetValue()))
			}
			out[key] = strings.Join(v, " ")
		}
	}
	return out
}

// TestSameFamiliesAsClientGolang: after the same reports, the text
// served parses as Prometheus reads it (under a Content-Type Prometheus
// takes for the text format) and carries the bulkid_* families
// Prometheus's Go client served: the same names, types, series (label
// values that need escaping included) and values, every histogram
// bucket's among them. The "# HELP" lines carry no text (the library
// writes none); docs/OPERATIONS.md is the reference.
func TestSameFamiliesAsClientGolang(t *testing.T) {
	r, c := metrics.New(), newClientGolang()
	api, w := r.API(), r.Worker()
	for _, e := range []struct {
		route   string
		status  int
		elapsed time.Duration
	}{
		{"GET /v1/background_jobs/{job_id}", 200, 3 * time.Millisecond},
		{"GET /v1/background_jobs/{job_id}", 200, 40 * time.Millisecond},
		{"GET /v1/background_jobs/{job_id}", 404, time.Millisecond},
		{"POST /v1/companies/bulk_identify", 202, 1500 * time.Millisecond},
		{"POST /v1/companies/bulk_identify", 202, 10 * time.Minute}, // past the last bucket
		{"unmatched", 404, 0},
		{"GET /a\"b\\c\nd", 200, 5 * time.Millisecond}, // exactly a bound: le is inclusive
		{"GET /z\\", 500, 2 * time.Second},             // a backslash before the closing quote
	} {
		api.Request(e.route, e.status, e.elapsed)
		c.requests.WithLabelValues(e.route, strconv.Itoa(e.status)).Inc()
		c.latency.WithLabelValues(e.route).Observe(e.elapsed.Seconds())
	}
	api.JobAccepted()
	c.jobs.WithLabelValues("queued").Inc()
	api.UploadSlots(2)
	api.UploadSlots(-1)
	c.uploadsInUse.Add(1)
	api.StoreError("AppByKeyHash", bulkid.EUNAVAILABLE)
	c.storeErrors.WithLabelValues("api", "AppByKeyHash", bulkid.EUNAVAILABLE).Inc()
	w.StoreError("ClaimJob", bulkid.EINTERNAL)
	w.StoreError("ClaimJob", bulkid.EINTERNAL)
	c.storeErrors.WithLabelValues("worker", "ClaimJob", bulkid.EINTERNAL).Add(2)
	w.StoreError("ApplyBatch", bulkid.EFULL)
	c.storeErrors.WithLabelValues("worker", "ApplyBatch", bulkid.EFULL).Inc()
	for _, st := range []bulkid.JobStatus{bulkid.StatusValidating, bulkid.StatusProcessing, bulkid.StatusCompleted} {
		w.JobStatus(st)
		c.jobs.WithLabelValues(string(st)).Inc()
	}
	w.JobStarted(250 * time.Millisecond)
	c.queueWait.Observe(0.25)
	for _, d := range []time.Duration{700 * time.Microsecond, 12 * time.Millisecond, 12 * time.Millisecond, time.Minute} {
		w.BatchApplied(d)
		c.batch.Observe(d.Seconds())
	}
	w.Rows(bulkid.RowCounts{Created: 6000, Updated: 3000, Unchanged: 1000}, 12)
	c.rowsApplied.Add(10000)
	c.rowsCreated.Add(6000)
	c.rowsUpdated.Add(3000)
	c.rowsFailed.Add(12)
	// Past what a float64 holds in 6 digits: written whole.
	w.Rows(bulkid.RowCounts{Unchanged: 123456789012}, 0)
	c.rowsApplied.Add(123456789012)

	resp := get(t, r.Handler())
	resp.Body.Close()
	if got := expfmt.ResponseFormat(resp.Header).FormatType(); got != expfmt.TypeTextPlain {
		t.Errorf("Content-Type %q is read as format %v, want the text format", resp.Header.Get("Content-Type"), got)
	}
	ours, theirs := families(t, text(t, r.Handler())), families(t, text(t, c.handler()))
	isBulkid := func(name string) bool { return strings.HasPrefix(name, "bulkid_") }
	got, want := flat(ours, isBulkid), flat(theirs, isBulkid)
	// 6 request counters, 5 routes' latencies, 7 job statuses, 2 other
	// histograms, 4 row counters, the gauge, 3 store errors.
	if len(want) != 28 {
		t.Fatalf("client_golang served %d bulkid_* series, want 28: the reference is broken", len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s:\n ours           %q\n client_golang's %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %q: not client_golang's", k, v)
		}
	}
}

// TestRuntimeFamilies: the Go runtime's and the process's families
// docs/OPERATIONS.md names are served with their types, and of the ones
// Prometheus's Go client served, those the library does not serve are
// the ones docs/OPERATIONS.md says are gone.
func TestRuntimeFamilies(t *testing.T) {
	ours := families(t, text(t, metrics.New().Handler()))
	for name, typ := range map[string]dto.MetricType{
		"go_gc_duration_seconds":             dto.MetricType_SUMMARY,
		"go_gc_pauses_seconds":               dto.MetricType_HISTOGRAM,
		"go_goroutines":                      dto.MetricType_GAUGE,
		"go_threads":                         dto.MetricType_GAUGE,
		"go_gomaxprocs":                      dto.MetricType_GAUGE,
		"go_memlimit_bytes":                  dto.MetricType_GAUGE,
		"go_info":                            dto.MetricType_GAUGE,
		"go_memstats_alloc_bytes_total":      dto.MetricType_COUNTER,
		"go_memstats_heap_inuse_bytes":       dto.MetricType_GAUGE,
		"go_memstats_sys_bytes":              dto.MetricType_GAUGE,
		"process_cpu_seconds_total":          dto.MetricType_COUNTER,
		"process_resident_memory_bytes":      dto.MetricType_GAUGE,
		"process_virtual_memory_bytes":       dto.MetricType_GAUGE,
		"process_start_time_seconds":         dto.MetricType_GAUGE,
		"process_open_fds":                   dto.MetricType_GAUGE,
		"process_max_fds":                    dto.MetricType_GAUGE,
		"process_minor_pagefaults_total":     dto.MetricType_COUNTER,
		"process_num_threads":                dto.MetricType_GAUGE,
		"process_resident_memory_anon_bytes": dto.MetricType_GAUGE,
	} {
		if f := ours[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: %v, want a %v", name, f.GetType(), typ)
		}
	}
	var gone []string
	for name, f := range families(t, text(t, newClientGolang().handler())) {
		if strings.HasPrefix(name, "bulkid_") {
			continue
		}
		if o := ours[name]; o == nil {
			gone = append(gone, name)
		} else if o.GetType() != f.GetType() {
			t.Errorf("%s: a %v, client_golang's a %v", name, o.GetType(), f.GetType())
		}
	}
	slices.Sort(gone)
	if want := []string{
		"go_gc_gogc_percent",
		"go_gc_gomemlimit_bytes",
		"go_sched_gomaxprocs_threads",
		"process_network_receive_bytes_total",
		"process_network_transmit_bytes_total",
		"process_virtual_memory_max_bytes",
		"promhttp_metric_handler_errors_total",
	}; !slices.Equal(gone, want) {
		t.Errorf("client_golang's families not served: %v, want %v (docs/OPERATIONS.md lists them)", gone, want)
	}
}

// TestGzip: a scraper that takes gzip gets the text gzipped, one that
// does not (or refuses it) gets it plain.
func TestGzip(t *testing.T) {
	r := metrics.New()
	r.API().JobAccepted()
	for _, c := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip", true},
		{"deflate, gzip;q=0.5", true},
		{"GZIP", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"", false},
	} {
		resp := get(t, r.Handler(), "Accept-Encoding", c.accept)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != c.gzip {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip %v", c.accept, resp.Header.Get("Content-Encoding"), c.gzip)
			continue
		}
		if c.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("Accept-Encoding %q: %v", c.accept, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatalf("Accept-Encoding %q: %v", c.accept, err)
			}
		}
		if !strings.Contains(string(body), "\nbulkid_jobs_total{status=\"queued\"} 1\n") {
			t.Errorf("Accept-Encoding %q: no bulkid_jobs_total{status=\"queued\"} 1 in\n%.500s", c.accept, body)
		}
	}
}

// BenchmarkReports is the cost of what a request and a batch report:
// a request's counter and latency (its series found by name), and a
// batch's duration and rows.
func BenchmarkReports(b *testing.B) {
	r := metrics.New()
	api, w := r.API(), r.Worker()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			api.Request("GET /v1/background_jobs/{job_id}", 200, 3*time.Millisecond)
			w.BatchApplied(12 * time.Millisecond)
			w.Rows(bulkid.RowCounts{Created: 600, Updated: 300, Unchanged: 100}, 2)
		}
	})
}

// BenchmarkScrape is the cost of one scrape, plain.
func BenchmarkScrape(b *testing.B) {
	r := metrics.New()
	for _, route := range []string{"GET /v1/background_jobs/{job_id}", "POST /v1/companies/bulk_identify", "unmatched"} {
		r.API().Request(route, 200, time.Millisecond)
	}
	h := r.Handler()
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
