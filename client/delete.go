package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
)

// Deleted is the answer to a delete: it was applied when answered.
type Deleted struct {
	Status   string `json:"status"`    // "completed"
	Deleted  int    `json:"deleted"`   // profiles removed
	NotFound int    `json:"not_found"` // distinct ids the app did not have
}

// DeleteUsers deletes users, with their events and their company
// association, at once (at most 10,000 ids a call). A retried delete is
// safe: ids already gone count as not found.
func (c *Client) DeleteUsers(ctx context.Context, userIDs []string) (*Deleted, error) {
	return c.deleteIDs(ctx, "/v1/users", "users", userIDs)
}

// DeleteCompanies deletes companies at once (at most 10,000 ids a call);
// their users stay, with no company.
func (c *Client) DeleteCompanies(ctx context.Context, companyIDs []string) (*Deleted, error) {
	return c.deleteIDs(ctx, "/v1/companies", "companies", companyIDs)
}

func (c *Client) deleteIDs(ctx context.Context, path, field string, ids []string) (*Deleted, error) {
	if ids == nil {
		ids = []string{}
	}
	b, err := json.Marshal(map[string][]string{field: ids})
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{method: http.MethodDelete, path: path, contentType: "application/json",
		body: func() (io.Reader, error) { return bytes.NewReader(b), nil }, length: int64(len(b))})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var d Deleted
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return nil, err
	}
	return &d, nil
}
