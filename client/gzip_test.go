package client_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bulkid/bulkid/client"
)

// gzipServer is a fake bulk endpoint that notes how each upload came.
type gzipServer struct {
	advertise bool // answer with Accept-Encoding: gzip
	refuse    bool // answer 415 to a gzip body
	mu        sync.Mutex
	probes    int      // GET /healthz
	encodings []string // Content-Encoding of each upload attempt
	contents  []string // the file of each accepted upload
	t         *testing.T
}

func (g *gzipServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.advertise {
		w.Header().Set("Accept-Encoding", "gzip")
	}
	if r.URL.Path == "/healthz" {
		g.probes++
		w.Write([]byte(`{"status":"ok"}`))
		return
	}
	enc := r.Header.Get("Content-Encoding")
	g.encodings = append(g.encodings, enc)
	if r.ContentLength < 0 {
		g.t.Errorf("upload without a Content-Length")
	}
	if enc == "gzip" {
		if g.refuse {
			writeError(w, 415, "unsupported_media_type", "no gzip here", "")
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			g.t.Errorf("gzip body: %v", err)
			return
		}
		b, _ := io.ReadAll(zr)
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	_, content, err := readUpload(r)
	if err != nil {
		g.t.Errorf("upload: %v", err)
	}
	g.contents = append(g.contents, string(content))
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"job_id":"j","status":"queued"}`))
}

// TestGzipUploads: GzipOn compresses every body, GzipAuto only for a
// server that says it decodes gzip (asking once), GzipOff never; a server
// that answers 415 to gzip gets the body again as it is, and no more gzip.
func TestGzipUploads(t *testing.T) {
	t.Parallel()
	file := []byte(strings.Repeat(`{"company_id":"a","metadata":{"x":"yyyyyyyy"}}`+"\n", 100))
	for _, tc := range []struct {
		name              string
		mode              client.GzipMode
		advertise, refuse bool
		encodings         []string
		probes            int
	}{
		{"on", client.GzipOn, false, false, []string{"gzip", "gzip"}, 0},
		{"auto, bulkid-like server", client.GzipAuto, true, false, []string{"gzip", "gzip"}, 1},
		{"auto, server that says nothing", client.GzipAuto, false, false, []string{"", ""}, 1},
		{"off", client.GzipOff, true, false, []string{"", ""}, 0},
		{"on, server refusing gzip", client.GzipOn, false, true, []string{"gzip", "", ""}, 0},
	} {
		g := &gzipServer{advertise: tc.advertise, refuse: tc.refuse, t: t}
		srv := httptest.NewServer(g)
		c := fast(srv.URL)
		c.Gzip = tc.mode
		for range 2 {
			if _, err := c.Upload(context.Background(), client.Companies, "c.ndjson", file); err != nil {
				t.Errorf("%s: upload: %v", tc.name, err)
			}
		}
		srv.Close()
		if strings.Join(g.encodings, ",") != strings.Join(tc.encodings, ",") || g.probes != tc.probes {
			t.Errorf("%s: uploads came with Content-Encoding %q after %d probes; want %q after %d", tc.name, g.encodings, g.probes, tc.encodings, tc.probes)
		}
		if len(g.contents) != 2 || g.contents[0] != string(file) || g.contents[1] != string(file) {
			t.Errorf("%s: the server read %d files, not the file sent twice", tc.name, len(g.contents))
		}
	}
}
