package main

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/bulkid/bulkid/httpapi"
)

// TestServeOpenAPI: the binary serves the OpenAPI document at
// /openapi.json without a key, exactly as httpapi embeds it.
func TestServeOpenAPI(t *testing.T) {
	s := startServer(t, "")
	r := s.Do("GET", "/openapi.json", "", "", nil)
	want := httpapi.OpenAPIJSON()
	if r.Status != http.StatusOK || !bytes.Equal(r.Body, want) {
		t.Fatalf("GET /openapi.json = %d, %d bytes; want 200 and the %d bytes of httpapi.OpenAPIJSON", r.Status, len(r.Body), len(want))
	}
}
