package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestRealtimeIdentify covers the single-record endpoints, which apply at
// once, without a job.
func TestRealtimeIdentify(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "60")
	post := func(path, body string) response {
		return s.Do("POST", path, s.Key, "application/json", strings.NewReader(body))
	}
	if r := post("/v1/companies/identify", `{"company_id":"acme","metadata":{"plan":"pro","seats":3}}`); r.Status != 202 {
		t.Fatalf("companies/identify: %d %s", r.Status, r.Body)
	}
	if r := post("/v1/identify", `{"user_id":"u1","metadata":{"email":"a@acme.test"},"company":{"id":"acme","seats":4}}`); r.Status != 202 {
		t.Fatalf("identify: %d %s", r.Status, r.Body)
	}
	c := getJSON(t, s, "/v1/companies/acme")
	if fmt.Sprint(c["metadata"]) != "map[plan:pro seats:4]" || c["user_count"] != float64(1) || c["visible"] != true {
		t.Errorf("company = %v, want merged metadata, one user, visible", c)
	}
	u := getJSON(t, s, "/v1/users/u1")
	if u["company_id"] != "acme" || fmt.Sprint(u["metadata"]) != "map[email:a@acme.test]" {
		t.Errorf("user = %v", u)
	}
	if jobs := listJobs(t, s, ""); len(jobs) != 0 {
		t.Errorf("real-time identify created %d jobs", len(jobs))
	}
	// The same validation as bulk records, answered at once.
	expectError(t, post("/v1/identify", `{"metadata":{}}`), 400, "invalid_record")
	expectError(t, post("/v1/identify", `{"user_id":"u2","company":{"name":"no id"}}`), 400, "invalid_record")
	expectError(t, post("/v1/companies/identify", `{"company_id":"x","metadata":{"":{"b":1},"":1}}`), 400, "invalid_record")
	expectError(t, post("/v1/companies/identify", `{"company_id":`), 400, "invalid_json")
	expectError(t, s.Do("POST", "/v1/identify", s.Key, "text/plain", strings.NewReader(`{}`)), 415, "unsupported_media_type")
	expectError(t, s.Do("POST", "/v1/identify", "", "application/json", strings.NewReader(`{"user_id":"u"}`)), 401, "unauthorized")
}
