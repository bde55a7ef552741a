package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/httpapi"
	"github.com/bulkid/bulkid/sqlite"
)

// regionServer is one region's deployment in this process: its own
// store, of region (none if ""), and the API over it.
type regionServer struct {
	url   string
	store bulkid.Store
}

func startRegion(t *testing.T, region string, urls map[string]string) *regionServer {
	t.Helper()
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "bulkid.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if region != "" {
		if err := db.SetRegion(t.Context(), region); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(httpapi.NewServer(httpapi.Config{Store: db, Region: region, RegionURLs: urls,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RowsPerMinute: 0}))
	t.Cleanup(ts.Close)
	return &regionServer{url: ts.URL, store: db}
}

// app creates an app in the region's store and returns its key.
func (rs *regionServer) app(t *testing.T, name, key string) *bulkid.App {
	t.Helper()
	app, err := rs.store.CreateApp(t.Context(), name, bulkid.HashAPIKey(key))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func regionCall(t *testing.T, method, url, key, body string) (*http.Response, wireError) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var we wireError
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(b, &we); err != nil || len(we.Errors) != 1 {
			t.Fatalf("%s %s: %d with a body not in the error shape: %s", method, url, resp.StatusCode, b)
		}
	}
	return resp, we
}

// TestMisdirectedRegion: a key of an app of the other region is answered
// 421 naming that region and its base URL, on every authenticated
// endpoint, and nothing of it is stored; the same key is served by its
// own region.
func TestMisdirectedRegion(t *testing.T) {
	t.Parallel()
	eu := startRegion(t, "eu", map[string]string{"us": "https://us.bulkid.example"})
	us := startRegion(t, "us", map[string]string{"eu": eu.url})
	euKey := bulkid.NewRegionAPIKey("eu")
	euApp := eu.app(t, "acme", euKey)
	usKey := bulkid.NewRegionAPIKey("us")
	us.app(t, "initech", usKey)

	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/validate", ""},
		{"GET", "/v1/background_jobs", ""},
		{"POST", "/v1/companies/bulk_identify", `{"companies":[{"company_id":"c1"}]}`},
		{"POST", "/v1/users/bulk_identify", `{"users":[{"user_id":"u1"}]}`},
		{"POST", "/v1/identify", `{"user_id":"u1","metadata":{"a":1}}`},
		{"POST", "/v1/companies/identify", `{"company_id":"c1"}`},
		{"POST", "/v1/track", `{"user_id":"u1","event_name":"e"}`},
		{"DELETE", "/v1/users", `{"users":["u1"]}`},
	} {
		resp, we := regionCall(t, c.method, us.url+c.path, euKey, c.body)
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("%s %s with a key of eu at us: status %d, want 421", c.method, c.path, resp.StatusCode)
			continue
		}
		e := we.Errors[0]
		if e.ErrorCode != bulkid.EMISDIRECTED || !strings.Contains(e.Message, `"eu"`) || !strings.Contains(e.Message, eu.url) {
			t.Errorf("%s %s: error %+v, want %s naming region eu and %s", c.method, c.path, e, bulkid.EMISDIRECTED, eu.url)
		}
		if got := resp.Header.Get("Bulkid-Region"); got != "eu" {
			t.Errorf("%s %s: Bulkid-Region %q, want eu", c.method, c.path, got)
		}
		if got := resp.Header.Get("Location"); got != eu.url {
			t.Errorf("%s %s: Location %q, want %s", c.method, c.path, got, eu.url)
		}
	}
	// The US store holds nothing of the EU app's requests: no app of the
	// key, and its one app has no job, company nor user.
	apps, err := us.store.ListApps(t.Context())
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps of the us store: %v, %v; want its one app", apps, err)
	}
	if jobs, err := us.store.ListJobs(t.Context(), apps[0].ID, bulkid.Page{Limit: 10}); err != nil || len(jobs) != 0 {
		t.Errorf("jobs in the us store: %d, %v; want none", len(jobs), err)
	}
	for _, id := range []int64{apps[0].ID, euApp.ID} {
		if _, err := us.store.Company(t.Context(), id, "c1"); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
			t.Errorf("company c1 in the us store under app %d: %v, want not found", id, err)
		}
		if _, err := us.store.User(t.Context(), id, "u1"); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
			t.Errorf("user u1 in the us store under app %d: %v, want not found", id, err)
		}
	}

	// Followed to its Location, the request is served by its region.
	resp, _ := regionCall(t, "POST", eu.url+"/v1/identify", euKey, `{"user_id":"u1","metadata":{"a":1}}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("identify with the eu key at eu: status %d, want 202", resp.StatusCode)
	}
	if _, err := eu.store.User(t.Context(), euApp.ID, "u1"); err != nil {
		t.Errorf("user u1 in the eu store: %v", err)
	}
	// Each region serves its own keys; the other way round is misdirected
	// too, with the URL that region was given.
	if resp, _ := regionCall(t, "GET", us.url+"/v1/validate", usKey, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("a us key at us: status %d, want 200", resp.StatusCode)
	}
	resp, _ = regionCall(t, "GET", eu.url+"/v1/validate", usKey, "")
	if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("Location") != "https://us.bulkid.example" {
		t.Errorf("a us key at eu: status %d, Location %q; want 421 to https://us.bulkid.example", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestRegionKeys: beside keys of other regions, what a regional server
// does with keys: an unknown key of its own region is 401, a key of no
// region (made before regions, or chosen) is looked up as ever, and a
// region whose URL is not configured is named without a Location.
func TestRegionKeys(t *testing.T) {
	t.Parallel()
	us := startRegion(t, "us", nil)
	legacy := bulkid.NewAPIKey()
	us.app(t, "old", legacy)
	us.app(t, "chosen", "my_chosen_key_0123456789")

	for _, key := range []string{legacy, "my_chosen_key_0123456789"} {
		if resp, _ := regionCall(t, "GET", us.url+"/v1/validate", key, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("key %q of no region at us: status %d, want 200", key, resp.StatusCode)
		}
	}
	resp, we := regionCall(t, "GET", us.url+"/v1/validate", bulkid.NewRegionAPIKey("us"), "")
	if resp.StatusCode != http.StatusUnauthorized || we.Errors[0].ErrorCode != bulkid.EUNAUTHORIZED {
		t.Errorf("an unknown key of us at us: status %d %+v, want 401", resp.StatusCode, we.Errors)
	}
	resp, we = regionCall(t, "GET", us.url+"/v1/validate", bulkid.NewRegionAPIKey("ap"), "")
	if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("Location") != "" || resp.Header.Get("Bulkid-Region") != "ap" ||
		!strings.Contains(we.Errors[0].Message, `"ap"`) {
		t.Errorf("a key of ap, whose URL us does not know: status %d, Location %q, Bulkid-Region %q, %+v; want 421 naming ap without a Location",
			resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Bulkid-Region"), we.Errors)
	}
}

// TestSingleRegionIgnoresKeyRegions: with no region (single-region mode)
// a key is looked up whatever region it names, as before regions.
func TestSingleRegionIgnoresKeyRegions(t *testing.T) {
	t.Parallel()
	one := startRegion(t, "", map[string]string{"eu": "https://eu.bulkid.example"})
	key := bulkid.NewRegionAPIKey("eu")
	one.app(t, "acme", key)
	if resp, _ := regionCall(t, "GET", one.url+"/v1/validate", key, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("a key of eu at a server of no region that has it: status %d, want 200", resp.StatusCode)
	}
	resp, we := regionCall(t, "GET", one.url+"/v1/validate", bulkid.NewRegionAPIKey("eu"), "")
	if resp.StatusCode != http.StatusUnauthorized || we.Errors[0].ErrorCode != bulkid.EUNAUTHORIZED {
		t.Errorf("an unknown key of eu at a server of no region: status %d %+v, want 401", resp.StatusCode, we.Errors)
	}
}
