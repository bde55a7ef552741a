package httpapi_test

import "testing"

// TestJobRowCounts: the job object says what its rows did, created,
// updated or unchanged, and the three add up to completed_rows.
func TestJobRowCounts(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	j := run1(t, s, "/v1/companies/bulk_identify", companies(3, "c"))
	if j.Status != "completed" || j.CreatedRows != 3 || j.UpdatedRows != 0 || j.UnchangedRows != 0 {
		t.Fatalf("first job: %s, created %d updated %d unchanged %d; want completed, 3, 0, 0", j.Status, j.CreatedRows, j.UpdatedRows, j.UnchangedRows)
	}
	body := companies(3, "c") // the same three again, one changed, and a new one
	list := body["companies"].([]any)
	list[1].(map[string]any)["metadata"] = map[string]any{"changed": true}
	body["companies"] = append(list, map[string]any{"company_id": "new"})
	j = run1(t, s, "/v1/companies/bulk_identify", body)
	if j.CreatedRows != 1 || j.UpdatedRows != 1 || j.UnchangedRows != 2 || j.CompletedRows != 4 {
		t.Errorf("second job: created %d updated %d unchanged %d of %d completed; want 1, 1, 2 of 4",
			j.CreatedRows, j.UpdatedRows, j.UnchangedRows, j.CompletedRows)
	}
	if got := listJobs(t, s, ""); len(got) != 2 || got[0].UnchangedRows != 2 || got[1].CreatedRows != 3 {
		t.Errorf("listing does not carry the counts: %+v", got)
	}
}
