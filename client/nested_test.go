package client_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid/client"
)

// TestNestedQuery: Client.Nested is sent as ?nested= on every bulk
// request, JSON and upload alike, and not at all when unset.
func TestNestedQuery(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	ts, _ := serve(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.RawQuery)
		mu.Unlock()
		writeJob(w, 202)
	})
	ctx := context.Background()
	c := fast(ts.URL)
	if _, err := c.BulkIdentifyCompanies(ctx, []client.Company{{CompanyID: "c"}}); err != nil {
		t.Fatal(err)
	}
	c.Nested = client.NestedFlatten
	if _, err := c.BulkIdentifyUsers(ctx, []client.User{{UserID: "u"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, client.Companies, "c.ndjson", []byte(`{"company_id":"c"}`)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"", "nested=flatten", "nested=flatten"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("queries = %q, want %q", got, want)
	}
}

// TestNestedAgainstServer: a job sent with Nested flatten stores the
// flattened profile and says so; without it the nested record fails alone.
func TestNestedAgainstServer(t *testing.T) {
	t.Parallel()
	s := startReal(t, 0)
	c := s.client()
	ctx := context.Background()
	records := []client.Company{
		{CompanyID: "n1", Metadata: map[string]any{"address": map[string]any{"city": "Paris"}, "tags": []string{"a", "b"}}},
		{CompanyID: "f1", Metadata: map[string]any{"plan": "pro"}},
	}
	run := func() *client.Job {
		t.Helper()
		j, err := c.BulkIdentifyCompanies(ctx, records)
		if err != nil {
			t.Fatal(err)
		}
		if j, err = c.WaitJob(ctx, j.JobID, 10*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
		return j
	}
	j := run()
	if j.NestedMetadata != "refuse" || j.CompletedRows != 1 || j.FailedRows != 1 || len(j.Errors) != 1 || j.Errors[0].ErrorCode != "nested_metadata" {
		t.Errorf("default job = %+v, want nested_metadata refuse, n1 failed with nested_metadata", j)
	}
	c.Nested = client.NestedFlatten
	j = run()
	if j.NestedMetadata != "flatten" || j.CompletedRows != 2 || j.FailedRows != 0 {
		t.Errorf("flatten job = %+v, want nested_metadata flatten, both completed", j)
	}
	p, err := c.Company(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEq(t, p.Metadata, `{"address.city":"Paris","tags":"[\"a\",\"b\"]"}`) {
		t.Errorf("n1 metadata = %s", p.Metadata)
	}
}
