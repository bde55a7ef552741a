package dashboard_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/bulkid/bulkid"
)

// TestSignInOtherRegion: the key of another region's app is sent to that
// region's dashboard, with a 421 as the API's; with no region, the key is
// just not one of this server's apps.
func TestSignInOtherRegion(t *testing.T) {
	t.Parallel()
	s := startServer(t, options{region: "us", regionURLs: map[string]string{"eu": "https://eu.bulkid.example"}})
	b := s.browser()
	token := b.csrf(b.get("/ui/signin"))
	p := b.post("/ui/signin", url.Values{"csrf": {token}, "key": {bulkid.NewRegionAPIKey("eu")}})
	wantStatus(t, "a key of eu at us", p, http.StatusMisdirectedRequest)
	wantContains(t, "a key of eu at us", p, "sign in at https://eu.bulkid.example/ui/")
	p = b.post("/ui/signin", url.Values{"csrf": {token}, "key": {bulkid.NewRegionAPIKey("ap")}})
	wantStatus(t, "a key of ap, whose URL us does not know", p, http.StatusMisdirectedRequest)
	wantContains(t, "a key of ap", p, "sign in at that region&#39;s dashboard")

	one := startServer(t, options{})
	b = one.browser()
	token = b.csrf(b.get("/ui/signin"))
	p = b.post("/ui/signin", url.Values{"csrf": {token}, "key": {bulkid.NewRegionAPIKey("eu")}})
	wantStatus(t, "a key of eu at a server of no region", p, http.StatusUnauthorized)
}
