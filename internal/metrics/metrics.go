// Package metrics is bulkid's Prometheus side: one registry that
// implements the reporting interfaces httpapi and worker declare
// (httpapi.Metrics, worker.Metrics), and the handler that serves it on
// serve's --metrics-addr, in Prometheus's text format, with the Go
// runtime's and the process's figures that Prometheus's Go client
// exposes. It imports no Prometheus library (text.go says why).
// docs/OPERATIONS.md lists every metric.
//
// No metric has an app label: a deployment may hold any number of apps,
// and a label per app would grow the series without bound (and name every
// tenant to whoever scrapes). Per-app figures are the API's job objects.
package metrics

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
)

// Registry holds bulkid's metrics. It is an httpapi.Metrics and a
// worker.Metrics (cmd/bulkid checks both at compile time).
type Registry struct {
	requests     *vec[counter]   // route, status
	latency      *vec[histogram] // route
	jobs         *vec[counter]   // status
	queueWait    *histogram
	batch        *histogram
	rowsApplied  counter
	rowsFailed   counter
	rowsCreated  counter
	rowsUpdated  counter
	uploadsInUse gauge
	storeErrors  *vec[counter] // code, component, op
	// scrapeErrors counts the scrapes whose process figures could not
	// all be read, as promhttp_metric_handler_errors_total{cause} did
	// (the name is kept for the dashboards and alerts that use it). The
	// figures that were read are served all the same, where the client
	// answered 500.
	scrapeErrors *vec[counter] // cause
}

var (
	latencyBuckets   = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	queueWaitBuckets = []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600}
	batchBuckets     = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// New returns a Registry with every metric at zero; the Go runtime's and
// the process's figures are read when scraped.
func New() *Registry {
	newCounter := func() *counter { return new(counter) }
	r := &Registry{
		requests:     newVec(newCounter, "route", "status"),
		latency:      newVec(func() *histogram { return newHistogram(latencyBuckets) }, "route"),
		jobs:         newVec(newCounter, "status"),
		queueWait:    newHistogram(queueWaitBuckets),
		batch:        newHistogram(batchBuckets),
		storeErrors:  newVec(newCounter, "code", "component", "op"),
		scrapeErrors: newVec(newCounter, "cause"),
	}
	// Each status from zero, so that rate() and increase() see a job's
	// first move.
	for _, st := range []bulkid.JobStatus{bulkid.StatusQueued, bulkid.StatusValidating, bulkid.StatusProcessing,
		bulkid.StatusPendingRefresh, bulkid.StatusCompleted, bulkid.StatusFailed, bulkid.StatusCanceled} {
		r.jobs.with(string(st))
	}
	r.scrapeErrors.with("encoding")
	r.scrapeErrors.with("gathering")
	return r
}

// contentType is the text format's, as client_golang's handler names it.
const contentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// Handler serves the metrics in Prometheus's text format, gzipped if
// the scraper takes gzip (Prometheus does).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body := r.text()
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Add("Vary", "Accept-Encoding")
		if !acceptsGzip(req) {
			w.Write(body)
			return
		}
		h.Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		gz.Write(body)
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

// text is every metric in the text format, sorted by name.
func (r *Registry) text() []byte {
	proc, err := processFamilies()
	if err != nil {
		r.scrapeErrors.with("gathering").add(1)
	}
	fams := append(goFamilies(), proc...)
	counters := func(v *vec[counter]) func(*textWriter) {
		return func(w *textWriter) {
			v.each(func(values []string, c *counter) {
				w.sample("", v.names, values, "", "", formatFloat(float64(c.n.Load())))
			})
		}
	}
	single := func(c *counter) func(*textWriter) {
		return func(w *textWriter) { w.sample("", nil, nil, "", "", formatFloat(float64(c.n.Load()))) }
	}
	hist := func(h *histogram) func(*textWriter) {
		return func(w *textWriter) { w.writeHistogram(nil, nil, h) }
	}
	fams = append(fams,
		family{"bulkid_http_requests_total", "API requests answered, by route (the mux pattern, or \"unmatched\") and status code.", "counter", counters(r.requests)},
		family{"bulkid_http_request_duration_seconds", "Time from a request's arrival to its answer, body read included, by route.", "histogram",
			func(w *textWriter) {
				r.latency.each(func(values []string, h *histogram) { w.writeHistogram(r.latency.names, values, h) })
			}},
		family{"bulkid_jobs_total", "Jobs that entered each status in this process: queued when the API accepted them, the others as its workers moved them.", "counter", counters(r.jobs)},
		family{"bulkid_job_queue_wait_seconds", "Time from a job's submission to the start of its validation.", "histogram", hist(r.queueWait)},
		family{"bulkid_batch_apply_duration_seconds", "Time the store took to apply and commit one batch of a job's records (the rate's wait excluded).", "histogram", hist(r.batch)},
		family{"bulkid_rows_applied_total", "Job rows applied to a profile (created, updated or left unchanged).", "counter", single(&r.rowsApplied)},
		family{"bulkid_rows_failed_total", "Job rows that failed: invalid, or refused by the profile bounds.", "counter", single(&r.rowsFailed)},
		family{"bulkid_rows_created_total", "Job rows that created a profile.", "counter", single(&r.rowsCreated)},
		family{"bulkid_rows_updated_total", "Job rows that changed an existing profile.", "counter", single(&r.rowsUpdated)},
		family{"bulkid_upload_slots_in_use", "Bulk and import requests being read now, out of --max-uploads.", "gauge",
			func(w *textWriter) { w.sample("", nil, nil, "", "", formatFloat(float64(r.uploadsInUse.n.Load()))) }},
		family{"bulkid_store_errors_total", "Store calls that failed for want of the store (not a documented answer such as not found), by component (api, worker), method and error code.", "counter", counters(r.storeErrors)},
		family{"promhttp_metric_handler_errors_total", "Total number of internal errors encountered by the promhttp metric handler.", "counter", counters(r.scrapeErrors)},
	)
	return writeFamilies(fams)
}

// API is what the HTTP layer reports: an httpapi.Metrics.
func (r *Registry) API() API { return API{r} }

// Worker is what the worker pool reports: a worker.Metrics.
func (r *Registry) Worker() Worker { return Worker{r} }

// API reports the HTTP layer's events to a Registry.
type API struct{ r *Registry }

func (a API) Request(route string, status int, elapsed time.Duration) {
	a.r.requests.with(route, strconv.Itoa(status)).add(1)
	a.r.latency.with(route).observe(elapsed.Seconds())
}

func (a API) JobAccepted()          { a.r.jobs.with(string(bulkid.StatusQueued)).add(1) }
func (a API) UploadSlots(delta int) { a.r.uploadsInUse.n.Add(int64(delta)) }
func (a API) StoreError(op, code string) {
	a.r.storeErrors.with(code, "api", op).add(1)
}

// Worker reports the worker pool's events to a Registry.
type Worker struct{ r *Registry }

func (w Worker) JobStatus(status bulkid.JobStatus) { w.r.jobs.with(string(status)).add(1) }
func (w Worker) JobStarted(wait time.Duration)     { w.r.queueWait.observe(max(0, wait.Seconds())) }
func (w Worker) BatchApplied(elapsed time.Duration) {
	w.r.batch.observe(elapsed.Seconds())
}

func (w Worker) Rows(applied bulkid.RowCounts, failed int) {
	// The counts a job reads never go down, but a counter only counts up
	// (add ignores what is not positive), and a metric must not stop a
	// worker.
	w.r.rowsApplied.add(applied.Created + applied.Updated + applied.Unchanged)
	w.r.rowsCreated.add(applied.Created)
	w.r.rowsUpdated.add(applied.Updated)
	w.r.rowsFailed.add(failed)
}

func (w Worker) StoreError(op, code string) {
	w.r.storeErrors.with(code, "worker", op).add(1)
}
