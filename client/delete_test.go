package client_test

import (
	"context"
	"testing"

	"github.com/bulkid/bulkid/client"
)

// TestDeleteAgainstServer: DeleteUsers and DeleteCompanies against the
// real server.
func TestDeleteAgainstServer(t *testing.T) {
	t.Parallel()
	s := startReal(t, 0)
	c := s.client()
	ctx := context.Background()
	for _, u := range []string{"u1", "u2"} {
		if err := c.IdentifyUser(ctx, client.User{UserID: u, CompanyID: "acme"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	d, err := c.DeleteUsers(ctx, []string{"u1", "nobody"})
	if err != nil || *d != (client.Deleted{Status: "completed", Deleted: 1, NotFound: 1}) {
		t.Fatalf("DeleteUsers = %+v, %v; want completed, 1 deleted, 1 not found", d, err)
	}
	if _, err := c.User(ctx, "u1"); !client.IsCode(err, "not_found") {
		t.Errorf("User(u1) after its delete: %v, want not_found", err)
	}
	if p, err := c.Company(ctx, "acme"); err != nil || p.UserCount != 1 {
		t.Errorf("acme after u1's delete = %+v, %v; want 1 user", p, err)
	}
	if d, err := c.DeleteUsers(ctx, nil); err != nil || d.Deleted != 0 || d.NotFound != 0 {
		t.Errorf("DeleteUsers(nil) = %+v, %v; want nothing deleted", d, err)
	}
	d, err = c.DeleteCompanies(ctx, []string{"acme"})
	if err != nil || d.Deleted != 1 || d.NotFound != 0 {
		t.Fatalf("DeleteCompanies = %+v, %v; want 1 deleted", d, err)
	}
	if u, err := c.User(ctx, "u2"); err != nil || u.CompanyID != nil {
		t.Errorf("u2 after its company's delete = %+v, %v; want no company", u, err)
	}
	if _, err := c.DeleteUsers(ctx, []string{""}); !client.IsCode(err, "invalid_request") {
		t.Errorf("DeleteUsers of an empty id: %v, want invalid_request", err)
	}
}
