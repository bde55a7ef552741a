package httpapi_test

import (
	"testing"
	"time"
)

// TestThrottle: at 600 rows a minute (10 a second, batches of 10) a job's
// completed_rows never runs ahead of rate × elapsed by more than one batch,
// and progress shows along the way rather than all at the end.
func TestThrottle(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "600")
	const rows, perSec, batch = 60, 10.0, 10
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(rows, "c")))
	values := map[int]bool{}
	for {
		cur := s.Job(j.JobID)
		now := time.Now()
		values[cur.CompletedRows] = true
		if cur.StartTime != nil {
			start, err := time.Parse(time.RFC3339, *cur.StartTime)
			if err != nil {
				t.Fatal(err)
			}
			allowed := perSec*now.Sub(start).Seconds() + batch
			if float64(cur.CompletedRows) > allowed+0.5 {
				t.Fatalf("completed_rows = %d after %s: ahead of the rate (allowed %.1f)", cur.CompletedRows, now.Sub(start), allowed)
			}
		}
		if cur.Status == "completed" {
			j = cur
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	start, _ := time.Parse(time.RFC3339, *j.StartTime)
	end, _ := time.Parse(time.RFC3339, *j.EndTime)
	// 60 rows: the first batch at once, five more a second apart.
	if d := end.Sub(start); d < 4500*time.Millisecond {
		t.Errorf("60 rows at 10/s took %s, want at least 5 batches a second apart", d)
	}
	if len(values) < 5 {
		t.Errorf("saw completed_rows take %d values, want steady progress", len(values))
	}
}
