package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/sqlite"
)

// TestRegions runs one deployment per region, as docs/OPERATIONS.md
// says: each with its own data directory and --region, the US one told
// the EU one's URL. A key of an EU app, made by apps create on the EU
// store, is answered 421 by the US server, naming the EU URL, and served
// by the EU server; a job sent there runs there.
func TestRegions(t *testing.T) {
	t.Parallel()
	eu := startServer(t, "", "--region", "eu", "--region-url", "us=https://us.bulkid.example/", "--rows-per-minute", "0")
	us := startServerEnv(t, "", []string{"BULKID_REGION_URL=eu=" + eu.URL}, "--region", "us", "--rows-per-minute", "0")
	acme := createApp(t, eu, "acme")
	if !strings.HasPrefix(acme.Key, "bk_eu_") {
		t.Fatalf("apps create on the eu store made the key %q, want one of region eu (bk_eu_...)", acme.Key)
	}
	body := `{"companies":[{"company_id":"c1","metadata":{"plan":"pro"}}]}`

	r, err := send("POST", us.URL+"/v1/companies/bulk_identify", acme.Key, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	e := expectError(t, r, http.StatusMisdirectedRequest, bulkid.EMISDIRECTED).Errors[0]
	if !strings.Contains(e.Message, eu.URL) || r.Header.Get("Location") != eu.URL || r.Header.Get("Bulkid-Region") != "eu" {
		t.Errorf("421 of us: message %q, Location %q, Bulkid-Region %q; want %s and eu", e.Message, r.Header.Get("Location"), r.Header.Get("Bulkid-Region"), eu.URL)
	}
	// The trailing slash of a configured URL is dropped, so a client can
	// join a path to it.
	r, err = send("GET", eu.URL+"/v1/validate", bulkid.NewRegionAPIKey("us"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if expectError(t, r, http.StatusMisdirectedRequest, bulkid.EMISDIRECTED); r.Header.Get("Location") != "https://us.bulkid.example" {
		t.Errorf("421 of eu: Location %q, want https://us.bulkid.example", r.Header.Get("Location"))
	}

	eut := acme.target(t)
	j := eut.WaitJob(accepted(t, eut.Do("POST", "/v1/companies/bulk_identify", acme.Key, "application/json", strings.NewReader(body))).JobID)
	if j.Status != "completed" || j.CompletedRows != 1 {
		t.Errorf("the job of acme at eu: %s with %d rows, want completed with 1", j.Status, j.CompletedRows)
	}
	// The first app of each store, from BULKID_API_KEY, is served as ever.
	if r := us.Get("/v1/validate"); r.Status != http.StatusOK {
		t.Errorf("the first app's key at us: %d, want 200", r.Status)
	}
}

// TestRegionRefusals: a store keeps the region it was first given, and
// serve and apps create refuse another; the region flags are checked.
func TestRegionRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := apps(dir, nil, "create", "acme", "--region", "eu"); err != nil || !strings.Contains(out, "in region eu") || !strings.HasPrefix(lastWord(out), "bk_eu_") {
		t.Fatalf("apps create --region eu = %q, %v; want a key of eu", out, err)
	}
	if out, err := apps(dir, nil, "create", "other"); err != nil || !strings.HasPrefix(lastWord(out), "bk_eu_") {
		t.Errorf("apps create with no --region on an eu store = %q, %v; want a key of eu", out, err)
	}
	if out, err := apps(dir, nil, "rotate-key", "acme"); err != nil || !strings.HasPrefix(lastWord(out), "bk_eu_") {
		t.Errorf("apps rotate-key on an eu store = %q, %v; want a key of eu", out, err)
	}
	if _, err := apps(dir, nil, "create", "third", "--region", "us"); err == nil || !strings.Contains(err.Error(), `region "eu"`) {
		t.Errorf("apps create --region us on an eu store: %v, want an error naming region eu", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--region", "us"}, `holds the data of region "eu"`},
		{[]string{"--region", "EU"}, "--region"},
		{[]string{"--region", "eu", "--region-url", "us"}, "NAME=URL"},
		{[]string{"--region", "eu", "--region-url", "us=ftp://x"}, "http:// or https://"},
		{[]string{"--region", "eu", "--region-url", "us=https://a,us=https://b"}, "two base URLs"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, c.args...)
		err := run(context.Background(), args, func(string) string { return "" }, nil, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %q: %v, want an error saying %q", c.args, err, c.want)
		}
	}
	// --region-url is for a server of a region.
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--region-url", "eu=https://eu.example"},
		func(string) string { return "" }, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--region") {
		t.Errorf("serve --region-url without a region: %v, want an error asking for --region", err)
	}
}

// TestFirstAppOfRegion: the first app serve creates on a store of a
// region gets a key of that region, unless BULKID_API_KEY chose one.
func TestFirstAppOfRegion(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ region, chosen, prefix string }{
		{"eu", "", "bk_eu_"},
		{"", "", "bk_"},
		{"eu", testKey, testKey},
	} {
		db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "bulkid.db"), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var out bytes.Buffer
		if err := ensureFirstApp(t.Context(), db, c.region, c.chosen, &out); err != nil {
			t.Fatal(err)
		}
		key, wantRegion := lastWord(out.String()), c.region
		if c.chosen != "" {
			key, wantRegion = c.chosen, "" // a chosen key names no region
		}
		if !strings.HasPrefix(key, c.prefix) || bulkid.KeyRegion(key) != wantRegion {
			t.Errorf("first app of region %q (chosen key %q): key %q, want one starting %q of region %q", c.region, c.chosen, key, c.prefix, wantRegion)
		}
		if _, err := db.AppByKeyHash(t.Context(), bulkid.HashAPIKey(key)); err != nil {
			t.Errorf("first app of region %q: its key %q: %v", c.region, key, err)
		}
	}
}
