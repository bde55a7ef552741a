package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v3"
)

// openapiYAML is the OpenAPI 3.1 document of the API, extensions marked
// x-bulkid-extension. The wire tests check every answer they receive
// against it (internal/wiretest), so it and the server cannot drift apart.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPIYAML returns the document as kept in the repository.
func OpenAPIYAML() []byte { return openapiYAML }

// OpenAPIJSON returns the document as JSON, as GET /openapi.json serves
// it, converted once.
var OpenAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, fmt.Errorf("httpapi/openapi.yaml: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("httpapi/openapi.yaml as JSON: %w", err)
	}
	return b, nil
})

func (s *server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	b, err := OpenAPIJSON()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}
