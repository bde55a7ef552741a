package metrics_test

import (
	"testing"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/metrics"
)

// value is the value of the series name with labels (all of them, as
// name=value pairs) in r, or -1 if it has none.
func value(t *testing.T, r *metrics.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
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
}
