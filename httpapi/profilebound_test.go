package httpapi_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// reproProfileGrowth is the NDJSON of issue 10's attack: 48 records each
// adding 1,000 new keys of 1 KB to one company, then one record of
// another company.
func reproProfileGrowth() []byte {
	var b bytes.Buffer
	value := strings.Repeat("x", 1000)
	for r := range 48 {
		b.WriteString(`{"company_id":"big","metadata":{`)
		for k := range 1000 {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"r%d_%d":%q`, r, k, value)
		}
		b.WriteString("}}\n")
	}
	b.WriteString(`{"company_id":"other","metadata":{"plan":"pro"}}` + "\n")
	return b.Bytes()
}

// TestProfileBound: the attack's shape leaves the profile within its
// bound; the records over it fail alone as profile_too_large, with their
// lines, and the rest of the job applies; real-time identify over the
// bound answers 400 invalid_record with the reason.
func TestProfileBound(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	j := s.WaitJob(accepted(t, s.Upload("/v1/companies/bulk_identify", "grow.ndjson", reproProfileGrowth())).JobID)
	if j.Status != "completed" || j.CompletedRows != 2 || j.FailedRows != 47 || j.TotalRows != 49 {
		t.Fatalf("job = %s, %d completed, %d failed of %d; want completed, 2, 47 of 49", j.Status, j.CompletedRows, j.FailedRows, j.TotalRows)
	}
	if len(j.Errors) != 47 {
		t.Fatalf("job shows %d errors, want 47", len(j.Errors))
	}
	for i, e := range j.Errors {
		if e.ErrorCode != "profile_too_large" || e.CompanyID != "big" || e.Line == nil || *e.Line != i+2 || !strings.Contains(e.Message, "at most 1048576 bytes") {
			t.Fatalf("error %d = %+v, want profile_too_large of big at line %d naming the bound", i, e, i+2)
		}
	}
	r := s.Get("/v1/companies/big")
	if r.Status != 200 || len(r.Body) > 1<<20+4096 {
		t.Fatalf("GET big: %d, %d bytes; want 200 within the bound", r.Status, len(r.Body))
	}
	if c := getJSON(t, s, "/v1/companies/other"); fmt.Sprint(c["metadata"]) != "map[plan:pro]" {
		t.Errorf("other = %v, want its record applied", c)
	}
	e := expectError(t, s.Do("POST", "/v1/companies/identify", s.Key, "application/json",
		strings.NewReader(`{"company_id":"big","metadata":{"one_more":"`+strings.Repeat("y", 50_000)+`"}}`)), 400, "invalid_record")
	if e.Errors[0].Details != "profile_too_large" || !strings.Contains(e.Errors[0].Message, "at most 1048576 bytes") {
		t.Errorf("identify over the bound: %+v, want the reason", e.Errors[0])
	}
	if r := s.Do("POST", "/v1/companies/identify", s.Key, "application/json", strings.NewReader(`{"company_id":"big","metadata":{"r0_0":null,"r0_1":null}}`)); r.Status != 202 {
		t.Errorf("identify that removes keys: %d %s, want 202", r.Status, r.Body)
	}
}
