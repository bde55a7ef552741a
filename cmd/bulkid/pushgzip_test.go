package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestPushCompressed: push sends each job's file gzip-compressed to a
// bulkid server by default (it says it decodes gzip), and as it is with
// --compress never; either way every row is stored.
func TestPushCompressed(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--rows-per-minute", "0")
	target, _ := url.Parse(s.URL)
	var mu sync.Mutex
	var encodings []string // of each bulk upload, as the proxy saw it
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/bulk_identify") {
			mu.Lock()
			encodings = append(encodings, r.Header.Get("Content-Encoding"))
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	via := *s
	via.URL = proxy.URL

	var b strings.Builder
	const n = 12_000 // two jobs
	for i := range n {
		fmt.Fprintf(&b, `{"company_id":"gz%d","metadata":{"i":%d,"name":"Company %d"}}`+"\n", i, i, i)
	}
	file := filepath.Join(t.TempDir(), "companies.ndjson")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "gzip,gzip"},
		{[]string{"--compress", "never"}, ","},
		{[]string{"--compress", "always"}, "gzip,gzip"},
	} {
		mu.Lock()
		encodings = nil
		mu.Unlock()
		out, stderr, code := push(t, &via, nil, append(append([]string{"companies"}, tc.args...), file)...)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("%d applied, 0 failed", n)) {
			t.Fatalf("push %v exited %d: %s %s", tc.args, code, out, stderr)
		}
		mu.Lock()
		got := strings.Join(encodings, ",")
		mu.Unlock()
		if got != tc.want {
			t.Errorf("push %v sent its jobs with Content-Encoding %q, want %q", tc.args, got, tc.want)
		}
		for _, id := range []string{"gz0", "gz9999", "gz10000", fmt.Sprintf("gz%d", n-1)} {
			if c := getJSON(t, s, "/v1/companies/"+id); c["company_id"] != id {
				t.Errorf("push %v: company %s = %v", tc.args, id, c)
			}
		}
	}
	if out, _, code := push(t, &via, nil, "companies", "--compress", "sometimes", file); code == 0 {
		t.Errorf("--compress sometimes accepted: %s", out)
	}
}
