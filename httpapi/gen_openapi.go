//go:build ignore

// gen_openapi writes openapi.json, the document GET /openapi.json serves,
// from openapi.yaml, the one kept by hand: go generate ./httpapi after
// editing the YAML. The conversion is done here, at build time, so that
// the server embeds the JSON as served and links no YAML reader (issue
// 14: a YAML library's code and init in every process, for one document).
// TestOpenAPIGenerated fails when the two files disagree.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

func main() {
	src, err := os.ReadFile("openapi.yaml")
	if err != nil {
		fail(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		fail(fmt.Errorf("openapi.yaml: %w", err))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		fail(fmt.Errorf("openapi.yaml as JSON: %w", err))
	}
	if err := os.WriteFile("openapi.json", b, 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen_openapi:", err)
	os.Exit(1)
}
