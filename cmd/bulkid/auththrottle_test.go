package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShortChosenKeyIsRefused (issue 10, item 15): serve refuses a
// BULKID_API_KEY under 16 characters, or one with white space at an end,
// saying why, before it touches the data directory; 16 characters start.
func TestShortChosenKeyIsRefused(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"secret":                  "BULKID_API_KEY is 6 characters long; a chosen key must have at least 16",
		"123456789012345":         "BULKID_API_KEY is 15 characters long",
		" 0123456789abcdefghij ":  "white space",
		"0123456789abcdef\x00ghi": "control characters",
	} {
		dir := filepath.Join(t.TempDir(), "data")
		var out, errOut bytes.Buffer
		// Cancelled, so that a serve that did not refuse would stop at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir},
			func(k string) string {
				if k == "BULKID_API_KEY" {
					return key
				}
				return ""
			}, nil, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("serve with BULKID_API_KEY=%q: %v; want an error saying %q", key, err, want)
		}
		if _, serr := os.Stat(dir); serr == nil {
			t.Errorf("serve with BULKID_API_KEY=%q created the data directory before refusing", key)
		}
	}
	startServerEnv(t, "", []string{"BULKID_API_KEY=0123456789abcdef"}) // 16: enough
}
