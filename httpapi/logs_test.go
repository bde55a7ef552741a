package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// logLines are the lines of the server's log with msg="MSG".
func logLines(s *server, msg string) []string {
	var out []string
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) || strings.Contains(line, "msg="+msg+" ") {
			out = append(out, line)
		}
	}
	return out
}

// TestLogsCarryRequestAndJobIDs: the log lines of a request carry its
// request_id, those of a job its job_id, and the line of the request that
// made the job both, so that one leads to the other.
func TestLogsCarryRequestAndJobIDs(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute=0", "--log-level=info")
	b, _ := json.Marshal(companies(2, "log"))
	req, _ := http.NewRequest("POST", s.URL+"/v1/companies/bulk_identify", bytes.NewReader(b))
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "req-logs-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var j job
	err = json.NewDecoder(resp.Body).Decode(&j)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("bulk identify = %d, %v; want 202", resp.StatusCode, err)
	}
	s.WaitJob(j.JobID)

	jobAttr := "job_id=" + j.JobID
	accepted := logLines(s, "job accepted")
	if len(accepted) != 1 || !strings.Contains(accepted[0], "request_id=req-logs-1") || !strings.Contains(accepted[0], jobAttr) {
		t.Errorf("job accepted lines = %q, want one with request_id=req-logs-1 and %s", accepted, jobAttr)
	}
	for _, msg := range []string{"job claimed", "job finished"} {
		lines := logLines(s, msg)
		if len(lines) != 1 || !strings.Contains(lines[0], jobAttr) {
			t.Errorf("%s lines = %q, want one with %s", msg, lines, jobAttr)
		}
	}

	// A request that fails is logged with its request id, and the job its
	// path names.
	s.stopWorkers()
	s.store.Close()
	req, _ = http.NewRequest("GET", s.URL+"/v1/background_jobs/"+j.JobID, nil)
	req.Header.Set("Authorization", "Token "+s.Key)
	req.Header.Set("X-Request-Id", "req-logs-2")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Fatalf("GET job on a closed store = %d, want a 5xx", resp.StatusCode)
	}
	failed := logLines(s, "request failed")
	if len(failed) != 1 || !strings.Contains(failed[0], "request_id=req-logs-2") || !strings.Contains(failed[0], jobAttr) {
		t.Errorf("request failed lines = %q, want one with request_id=req-logs-2 and %s", failed, jobAttr)
	}
}
