package httpapi

import (
	_ "embed"
	"net/http"
)

// openapiJSON is the OpenAPI 3.1 document of the API, extensions marked
// x-bulkid-extension, as GET /openapi.json serves it. It is kept by hand
// as openapi.yaml and converted to JSON at build time (go generate, by
// gen_openapi.go; TestOpenAPIGenerated fails when the two disagree), so
// that the server links no YAML reader. The wire tests check every answer
// they receive against it (internal/wiretest), so it and the server
// cannot drift apart.
//
//go:generate go run gen_openapi.go
//go:embed openapi.json
var openapiJSON []byte

// OpenAPIJSON returns the document as GET /openapi.json serves it. The
// caller must not modify it.
func OpenAPIJSON() []byte { return openapiJSON }

func (s *server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openapiJSON)
}
