package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkid/bulkid/internal/wiretest"
)

// TestAppsCommand: apps created by the CLI work at once on a running
// server, and each app sees only its own data.
func TestAppsCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	j := accepted(t, s.PostJSON("/v1/companies/bulk_identify", companies(3, "c")))
	s.WaitJob(j.JobID)
	accepted(t, s.PostJSON("/v1/users/bulk_identify", map[string]any{"users": []any{map[string]any{"user_id": "u1", "company_id": "c0"}}}))

	// Flags before the name work too.
	if out, err := exec.Command(binary, "apps", "create", "--data-dir", s.DataDir, "third").Output(); err != nil || !strings.Contains(string(out), `"third"`) {
		t.Fatalf("apps create with the flag first: %v %s", err, out)
	}
	// Flags after the name, as the issue asks.
	out, err := exec.Command(binary, "apps", "create", "second", "--data-dir", s.DataDir).Output()
	if err != nil {
		t.Fatalf("apps create: %v", err)
	}
	fields := strings.Fields(string(out))
	key2 := fields[len(fields)-1]
	other := &server{t: t, Target: wiretest.Target{T: t, URL: s.URL, Key: key2}}

	if jobs := listJobs(t, other, ""); len(jobs) != 0 {
		t.Errorf("new app lists %d jobs, want 0", len(jobs))
	}
	expectError(t, other.Get("/v1/background_jobs/"+j.JobID), 404, "not_found")
	expectError(t, other.Get("/v1/background_jobs/"+j.JobID+"/errors"), 404, "not_found")
	expectError(t, other.Get("/v1/companies/c0"), 404, "not_found")
	expectError(t, other.Get("/v1/users/u1"), 404, "not_found")
	var cs []map[string]any
	other.Get("/v1/companies?all=true").JSON(t, &cs)
	if len(cs) != 0 {
		t.Errorf("new app lists %d companies, want 0", len(cs))
	}
	// The first app's running job does not block the second app.
	j2 := accepted(t, other.PostJSON("/v1/companies/bulk_identify", companies(2, "c")))
	if done := other.WaitJob(j2.JobID); done.Status != "completed" {
		t.Errorf("second app's job = %s", done.Status)
	}
	var c map[string]any
	other.Get("/v1/companies/c0").JSON(t, &c)
	if c["user_count"] != float64(0) {
		t.Errorf("second app's c0 has user_count %v, want 0: apps share no data", c["user_count"])
	}

	// Keys are stored hashed: the clear key appears nowhere in the database.
	list, err := exec.Command(binary, "apps", "list", "--data-dir", s.DataDir).Output()
	if err != nil {
		t.Fatalf("apps list: %v", err)
	}
	if !strings.Contains(string(list), "default") || !strings.Contains(string(list), "second") {
		t.Errorf("apps list = %q, want both apps", list)
	}
	if strings.Contains(string(list), key2) {
		t.Errorf("apps list shows a key")
	}
	files, _ := filepath.Glob(filepath.Join(s.DataDir, "*"))
	if len(files) == 0 {
		t.Fatalf("no files in the data directory %s", s.DataDir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(key2)) || bytes.Contains(b, []byte(testKey)) {
			t.Errorf("a clear API key is stored in %s", f)
		}
	}
}

// TestRotateAndRevokeKeys: on a running server, a rotated key stops working
// at once and the new one works; a revoked key stops working at once.
func TestRotateAndRevokeKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	if r := s.Get("/v1/background_jobs"); r.Status != 200 {
		t.Fatalf("before: %d", r.Status)
	}
	out, err := exec.Command(binary, "apps", "rotate-key", "default", "--data-dir", s.DataDir).Output()
	if err != nil {
		t.Fatalf("apps rotate-key: %v", err)
	}
	fields := strings.Fields(string(out))
	newKey := fields[len(fields)-1]
	expectError(t, s.Get("/v1/background_jobs"), 401, "unauthorized")
	rotated := &server{t: t, Target: wiretest.Target{T: t, URL: s.URL, Key: newKey}}
	if r := rotated.Get("/v1/background_jobs"); r.Status != 200 {
		t.Fatalf("the new key: %d %s", r.Status, r.Body)
	}
	if out, err := exec.Command(binary, "apps", "revoke-key", "--id", "1", "--data-dir", s.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("apps revoke-key: %v\n%s", err, out)
	} else if strings.Contains(string(out), newKey) {
		t.Errorf("revoke-key printed a key")
	}
	expectError(t, rotated.Get("/v1/background_jobs"), 401, "unauthorized")
	if out, err := exec.Command(binary, "apps", "rotate-key", "nope", "--data-dir", s.DataDir).CombinedOutput(); err == nil {
		t.Errorf("rotate-key of an unknown app succeeded: %s", out)
	}
}
