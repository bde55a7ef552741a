package client_test

import (
	"context"
	"testing"

	"github.com/bulkid/bulkid/client"
)

// TestImportAgainstServer: Import sends a CSV file to POST /v1/imports,
// which tells its kind by its columns; the job completes with the rows
// stored, and a file of no kind is the server's 400.
func TestImportAgainstServer(t *testing.T) {
	t.Parallel()
	s := startReal(t, 0)
	c := s.client()
	ctx := context.Background()
	j, err := c.Import(ctx, "users.csv", []byte("user_id,company_id,email\nu1,acme,ann@acme.test\nu2,acme,bob@acme.test\n"))
	if err != nil || j.Type != "bulk_identify_users" || j.TotalRows != 2 || j.Filename == nil || *j.Filename != "users.csv" {
		t.Fatalf("Import = %+v, %v; want a users job of 2 rows from users.csv", j, err)
	}
	if j, err = c.WaitJob(ctx, j.JobID, 0, nil); err != nil || j.Status != "completed" || j.CreatedRows != 2 {
		t.Fatalf("the import's job = %+v, %v; want completed with 2 created", j, err)
	}
	if p, err := c.Company(ctx, "acme"); err != nil || p.UserCount != 2 {
		t.Errorf("acme after the import = %+v, %v; want 2 users", p, err)
	}
	if _, err := c.Import(ctx, "x.csv", []byte("name,email\nann,ann@acme.test\n")); !client.IsCode(err, "invalid_request") {
		t.Errorf("Import of a file with neither id column: %v, want invalid_request", err)
	}
}
