// Package metrics is bulkid's Prometheus side: one registry that
// implements the reporting interfaces httpapi and worker declare
// (httpapi.Metrics, worker.Metrics), and the handler that serves it on
// serve's --metrics-addr. docs/OPERATIONS.md lists every metric.
//
// No metric has an app label: a deployment may hold any number of apps,
// and a label per app would grow the series without bound (and name every
// tenant to whoever scrapes). Per-app figures are the API's job objects.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds bulkid's metrics. It is an httpapi.Metrics and a
// worker.Metrics (cmd/bulkid checks both at compile time).
type Registry struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	jobs         *prometheus.CounterVec
	queueWait    prometheus.Histogram
	batch        prometheus.Histogram
	rowsApplied  prometheus.Counter
	rowsFailed   prometheus.Counter
	rowsCreated  prometheus.Counter
	rowsUpdated  prometheus.Counter
	uploadsInUse prometheus.Gauge
	storeErrors  *prometheus.CounterVec
}

// New returns a Registry with every metric at zero, plus the Go runtime's
// and the process's collectors.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulkid_http_requests_total",
		Help: "API requests answered, by route (the mux pattern, or \"unmatched\") and status code.",
	}, []string{"route", "status"})
	r.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bulkid_http_request_duration_seconds",
		Help:    "Time from a request's arrival to its answer, body read included, by route.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"route"})
	r.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulkid_jobs_total",
		Help: "Jobs that entered each status in this process: queued when the API accepted them, the others as its workers moved them.",
	}, []string{"status"})
	r.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "bulkid_job_queue_wait_seconds",
		Help:    "Time from a job's submission to the start of its validation.",
		Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600},
	})
	r.batch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "bulkid_batch_apply_duration_seconds",
		Help:    "Time the store took to apply and commit one batch of a job's records (the rate's wait excluded).",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	r.rowsApplied = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulkid_rows_applied_total",
		Help: "Job rows applied to a profile (created, updated or left unchanged).",
	})
	r.rowsFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulkid_rows_failed_total",
		Help: "Job rows that failed: invalid, or refused by the profile bounds.",
	})
	r.rowsCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulkid_rows_created_total",
		Help: "Job rows that created a profile.",
	})
	r.rowsUpdated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulkid_rows_updated_total",
		Help: "Job rows that changed an existing profile.",
	})
	r.uploadsInUse = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bulkid_upload_slots_in_use",
		Help: "Bulk and import requests being read now, out of --max-uploads.",
	})
	r.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulkid_store_errors_total",
		Help: "Store calls that failed for want of the store (not a documented answer such as not found), by component (api, worker), method and error code.",
	}, []string{"component", "op", "code"})
	// Each status from zero, so that rate() and increase() see a job's
	// first move.
	for _, st := range []bulkid.JobStatus{bulkid.StatusQueued, bulkid.StatusValidating, bulkid.StatusProcessing,
		bulkid.StatusPendingRefresh, bulkid.StatusCompleted, bulkid.StatusFailed, bulkid.StatusCanceled} {
		r.jobs.WithLabelValues(string(st))
	}
	r.reg.MustRegister(r.requests, r.latency, r.jobs, r.queueWait, r.batch, r.rowsApplied, r.rowsFailed,
		r.rowsCreated, r.rowsUpdated, r.uploadsInUse, r.storeErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the metrics in Prometheus's text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Gatherer is the registry, for tests that read metrics without HTTP.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// API is what the HTTP layer reports: an httpapi.Metrics.
func (r *Registry) API() API { return API{r} }

// Worker is what the worker pool reports: a worker.Metrics.
func (r *Registry) Worker() Worker { return Worker{r} }

// API reports the HTTP layer's events to a Registry.
type API struct{ r *Registry }

func (a API) Request(route string, status int, elapsed time.Duration) {
	a.r.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	a.r.latency.WithLabelValues(route).Observe(elapsed.Seconds())
}

func (a API) JobAccepted()          { a.r.jobs.WithLabelValues(string(bulkid.StatusQueued)).Inc() }
func (a API) UploadSlots(delta int) { a.r.uploadsInUse.Add(float64(delta)) }
func (a API) StoreError(op, code string) {
	a.r.storeErrors.WithLabelValues("api", op, code).Inc()
}

// Worker reports the worker pool's events to a Registry.
type Worker struct{ r *Registry }

func (w Worker) JobStatus(status bulkid.JobStatus) { w.r.jobs.WithLabelValues(string(status)).Inc() }
func (w Worker) JobStarted(wait time.Duration)     { w.r.queueWait.Observe(max(0, wait.Seconds())) }
func (w Worker) BatchApplied(elapsed time.Duration) {
	w.r.batch.Observe(elapsed.Seconds())
}

func (w Worker) Rows(applied bulkid.RowCounts, failed int) {
	// A counter that is added a negative number panics; the counts a job
	// reads never go down, but a metric must not stop a worker.
	add := func(c prometheus.Counter, n int) { c.Add(float64(max(0, n))) }
	add(w.r.rowsApplied, applied.Created+applied.Updated+applied.Unchanged)
	add(w.r.rowsCreated, applied.Created)
	add(w.r.rowsUpdated, applied.Updated)
	add(w.r.rowsFailed, failed)
}

func (w Worker) StoreError(op, code string) {
	w.r.storeErrors.WithLabelValues("worker", op, code).Inc()
}
