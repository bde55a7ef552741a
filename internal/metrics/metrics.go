// Package metrics is bulkid's Prometheus side: one registry that
// implements the reporting interfaces httpapi and worker declare
// (httpapi.Metrics, worker.Metrics), and the handler that serves it on
// serve's --metrics-addr, in Prometheus's text format, with the Go
// runtime's and the process's figures. docs/OPERATIONS.md lists every
// metric.
//
// The metrics are github.com/VictoriaMetrics/metrics's, and this is the
// only package that imports it. It is a lightweight Prometheus client:
// counters, gauges, Prometheus histograms and the text format, with no
// protobuf and no registry made at init. Prometheus's own Go client
// (client_golang) registered its Go and process collectors, protobuf
// descriptors, procfs and expvar at init in every process, --metrics-addr
// set or not, and that cost an idle server 2 MiB of resident memory
// (issue 14).
//
// No metric has an app label: a deployment may hold any number of apps,
// and a label per app would grow the series without bound (and name every
// tenant to whoever scrapes). Per-app figures are the API's job objects.
package metrics

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/bulkid/bulkid"
)

// The families' names. Those with labels are made a series at a time, on
// first use (series).
const (
	requestsName    = "bulkid_http_requests_total"
	latencyName     = "bulkid_http_request_duration_seconds"
	jobsName        = "bulkid_jobs_total"
	storeErrorsName = "bulkid_store_errors_total"
)

var (
	latencyBuckets   = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	queueWaitBuckets = []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600}
	batchBuckets     = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// Registry holds bulkid's metrics. It is an httpapi.Metrics and a
// worker.Metrics (cmd/bulkid checks both at compile time).
type Registry struct {
	// set is this registry's own, not the library's default set, so that
	// each Registry (each test's) starts from zero.
	set          *vm.Set
	queueWait    *vm.PrometheusHistogram
	batch        *vm.PrometheusHistogram
	rowsApplied  *vm.Counter
	rowsFailed   *vm.Counter
	rowsCreated  *vm.Counter
	rowsUpdated  *vm.Counter
	uploadsInUse *vm.Gauge

	// requests holds each route and status's series once found in set,
	// so that a request's report is a map read, not two names built and
	// looked up under the set's lock. Routes and statuses are bounded
	// (docs/OPERATIONS.md, "Route label"), and so is the map.
	mu       sync.RWMutex
	requests map[routeStatus]requestSeries
}

type routeStatus struct {
	route  string
	status int
}

// requestSeries is a request's counter (per route and status) and
// latency histogram (per route, shared by its statuses).
type requestSeries struct {
	count   *vm.Counter
	latency *vm.PrometheusHistogram
}

// New returns a Registry with every metric at zero; the Go runtime's and
// the process's figures are read when scraped.
func New() *Registry {
	// Each family's "# TYPE" line (and a "# HELP" line, without text: the
	// library has none), so that a scraper knows the counters from the
	// gauges. The switch is the library's, for every set: this package
	// is its only user.
	vm.ExposeMetadata(true)
	s := vm.NewSet()
	r := &Registry{
		set:          s,
		queueWait:    s.NewPrometheusHistogramExt("bulkid_job_queue_wait_seconds", queueWaitBuckets),
		batch:        s.NewPrometheusHistogramExt("bulkid_batch_apply_duration_seconds", batchBuckets),
		rowsApplied:  s.NewCounter("bulkid_rows_applied_total"),
		rowsFailed:   s.NewCounter("bulkid_rows_failed_total"),
		rowsCreated:  s.NewCounter("bulkid_rows_created_total"),
		rowsUpdated:  s.NewCounter("bulkid_rows_updated_total"),
		uploadsInUse: s.NewGauge("bulkid_upload_slots_in_use", nil),
		requests:     map[routeStatus]requestSeries{},
	}
	// Each status from zero, so that rate() and increase() see a job's
	// first move.
	for _, st := range []bulkid.JobStatus{bulkid.StatusQueued, bulkid.StatusValidating, bulkid.StatusProcessing,
		bulkid.StatusPendingRefresh, bulkid.StatusCompleted, bulkid.StatusFailed, bulkid.StatusCanceled} {
		r.jobs(st)
	}
	return r
}

// series is the name of a family's series with the labels given as name,
// value pairs, in the text format (`name{a="x",b="y"}`), which is how the
// library names a series. Labels are given sorted by name, the order
// client_golang wrote them in.
func series(family string, labels ...string) string {
	var b strings.Builder
	b.WriteString(family)
	b.WriteByte('{')
	for i := 0; i < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteString(`="`)
		labelEscaper.WriteString(&b, labels[i+1])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// labelEscaper escapes a label value as the text format wants it.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// request returns the series of a request's route and status, making
// them if new.
func (r *Registry) request(route string, status int) requestSeries {
	k := routeStatus{route, status}
	r.mu.RLock()
	rs, ok := r.requests[k]
	r.mu.RUnlock()
	if ok {
		return rs
	}
	// Two first reports at once both get the set's one series of each.
	rs = requestSeries{
		count:   r.set.GetOrCreateCounter(series(requestsName, "route", route, "status", strconv.Itoa(status))),
		latency: r.set.GetOrCreatePrometheusHistogramExt(series(latencyName, "route", route), latencyBuckets),
	}
	r.mu.Lock()
	r.requests[k] = rs
	r.mu.Unlock()
	return rs
}

func (r *Registry) jobs(status bulkid.JobStatus) *vm.Counter {
	return r.set.GetOrCreateCounter(series(jobsName, "status", string(status)))
}

func (r *Registry) storeError(component, op, code string) {
	r.set.GetOrCreateCounter(series(storeErrorsName, "code", code, "component", component, "op", op)).Inc()
}

// contentType is the text format's (0.0.4), the one Prometheus picks its
// parser by.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the metrics in Prometheus's text format: bulkid's, then
// the library's Go runtime and process families, gzipped if the scraper
// takes gzip (Prometheus does).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body bytes.Buffer
		r.set.WritePrometheus(&body)
		vm.WriteProcessMetrics(&body)
		vm.WriteFDMetrics(&body)
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Add("Vary", "Accept-Encoding")
		if !acceptsGzip(req) {
			w.Write(body.Bytes())
			return
		}
		h.Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		gz.Write(body.Bytes())
		gz.Close()
	})
}

// acceptsGzip reports whether the request's Accept-Encoding names gzip
// with a weight above 0.
func acceptsGzip(req *http.Request) bool {
	for _, part := range strings.Split(req.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		f, err := strconv.ParseFloat(q, 64)
		return err == nil && f > 0
	}
	return false
}

// API is what the HTTP layer reports: an httpapi.Metrics.
func (r *Registry) API() API { return API{r} }

// Worker is what the worker pool reports: a worker.Metrics.
func (r *Registry) Worker() Worker { return Worker{r} }

// API reports the HTTP layer's events to a Registry.
type API struct{ r *Registry }

func (a API) Request(route string, status int, elapsed time.Duration) {
	rs := a.r.request(route, status)
	rs.count.Inc()
	rs.latency.Update(elapsed.Seconds())
}

func (a API) JobAccepted()               { a.r.jobs(bulkid.StatusQueued).Inc() }
func (a API) UploadSlots(delta int)      { a.r.uploadsInUse.Add(float64(delta)) }
func (a API) StoreError(op, code string) { a.r.storeError("api", op, code) }

// Worker reports the worker pool's events to a Registry.
type Worker struct{ r *Registry }

func (w Worker) JobStatus(status bulkid.JobStatus) { w.r.jobs(status).Inc() }

// JobStarted observes the wait; a negative one (the clocks of two
// processes) counts as none, where the library would drop it.
func (w Worker) JobStarted(wait time.Duration)      { w.r.queueWait.Update(max(0, wait.Seconds())) }
func (w Worker) BatchApplied(elapsed time.Duration) { w.r.batch.Update(elapsed.Seconds()) }

func (w Worker) Rows(applied bulkid.RowCounts, failed int) {
	// The counts a job reads never go down, but a counter only counts up
	// (the library's would wrap round), and a metric must not stop a
	// worker.
	add := func(c *vm.Counter, n int) {
		if n > 0 {
			c.Add(n)
		}
	}
	add(w.r.rowsApplied, applied.Created+applied.Updated+applied.Unchanged)
	add(w.r.rowsCreated, applied.Created)
	add(w.r.rowsUpdated, applied.Updated)
	add(w.r.rowsFailed, failed)
}

func (w Worker) StoreError(op, code string) { w.r.storeError("worker", op, code) }
