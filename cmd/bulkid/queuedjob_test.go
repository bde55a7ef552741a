package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCLIQueuedJobHasNoStart: on the wire a queued job's start_time is
// its submitted_at (the published schema has no null there), but bulkid
// jobs, reading status, shows no start for it. A server of --role api
// runs no jobs, so the job stays queued.
func TestCLIQueuedJobHasNoStart(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--role", "api")
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(2, "q")))
	if j.StartTime == nil || *j.StartTime != j.SubmittedAt {
		t.Fatalf("the 202: start_time %v, want submitted_at %q", j.StartTime, j.SubmittedAt)
	}
	for _, args := range [][]string{{"jobs", "get", j.JobID}, {"jobs", "list"}} {
		out, errOut, code := cli(t, nil, append(args, "--url", s.URL, "--token", s.Key)...)
		if code != 0 {
			t.Fatalf("bulkid %v: exit %d\n%s", args, code, errOut)
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("bulkid %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(out, `"status": "queued"`) || !strings.Contains(out, `"start_time": null`) || !strings.Contains(out, `"elapsed_time": 0`) {
			t.Errorf("bulkid %v of a queued job:\n%s\nwant start_time null and elapsed_time 0", args, out)
		}
	}
}
