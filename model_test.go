package bulkid_test

import (
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

func TestJobElapsed(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 2, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		job  bulkid.Job
		now  time.Time
		want time.Duration
	}{
		{"not started", bulkid.Job{Status: bulkid.StatusQueued}, t0, 0},
		{"not started, end set", bulkid.Job{EndTime: t0}, t0.Add(time.Hour), 0},
		{"running", bulkid.Job{StartTime: t0}, t0.Add(90 * time.Second), 90 * time.Second},
		{"running, clock behind start", bulkid.Job{StartTime: t0}, t0.Add(-time.Minute), 0},
		{"ended", bulkid.Job{StartTime: t0, EndTime: t0.Add(5 * time.Minute)}, t0.Add(time.Hour), 5 * time.Minute},
		{"ended, now before end", bulkid.Job{StartTime: t0, EndTime: t0.Add(5 * time.Minute)}, t0, 5 * time.Minute},
	}
	for _, tc := range tests {
		if got := tc.job.Elapsed(tc.now); got != tc.want {
			t.Errorf("%s: Elapsed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestJobRemaining(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 2, 1, 10, 0, 0, 0, time.UTC)
	running := func(total, completed, failed int) bulkid.Job {
		return bulkid.Job{Status: bulkid.StatusProcessing, StartTime: t0, TotalRows: total, CompletedRows: completed, FailedRows: failed}
	}
	tests := []struct {
		name   string
		job    bulkid.Job
		rpm    int
		now    time.Time
		want   time.Duration
		wantOK bool
	}{
		{"completed", bulkid.Job{Status: bulkid.StatusCompleted, StartTime: t0, TotalRows: 100, CompletedRows: 10}, 0, t0.Add(time.Minute), 0, true},
		{"failed", bulkid.Job{Status: bulkid.StatusFailed, TotalRows: 100}, 60, t0, 0, true},
		{"throttled", running(1000, 300, 100), 600, t0, time.Minute, true},
		{"throttled, fractional minutes", running(100, 10, 0), 60, t0, 90 * time.Second, true},
		{"throttled, queued job", bulkid.Job{Status: bulkid.StatusQueued, TotalRows: 1800}, 1800, t0, time.Minute, true},
		{"throttled, nothing left", running(100, 60, 40), 60, t0, 0, true},
		{"throttled, counts above total", running(100, 90, 40), 60, t0, 0, true},
		{"unthrottled, at observed speed", running(300, 100, 0), 0, t0.Add(10 * time.Minute), 20 * time.Minute, true},
		{"unthrottled, failed rows are not left", running(300, 100, 50), 0, t0.Add(10 * time.Minute), 15 * time.Minute, true},
		{"unthrottled, negative rate", running(300, 100, 0), -5, t0.Add(10 * time.Minute), 20 * time.Minute, true},
		{"unthrottled, nothing completed", running(300, 0, 50), 0, t0.Add(10 * time.Minute), 0, false},
		{"unthrottled, not started", bulkid.Job{Status: bulkid.StatusQueued, TotalRows: 300, CompletedRows: 10}, 0, t0, 0, false},
		{"unthrottled, no time elapsed", running(300, 100, 0), 0, t0, 0, false},
		{"unthrottled, clock behind start", running(300, 100, 0), 0, t0.Add(-time.Minute), 0, false},
		{"unthrottled, nothing left", running(300, 300, 0), 0, t0.Add(time.Minute), 0, true},
	}
	for _, tc := range tests {
		got, ok := tc.job.Remaining(tc.rpm, tc.now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: Remaining(%d) = %v, %v; want %v, %v", tc.name, tc.rpm, got, ok, tc.want, tc.wantOK)
		}
	}
}
