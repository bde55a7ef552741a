package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bulkid/bulkid"
)

// testRegion: a store holds one region's data, set once.
func testRegion(t *testing.T, e *env) {
	region, err := e.s.Region(e.ctx)
	e.must("Region", err)
	if region != "" {
		t.Errorf("Region of a new store = %q, want none", region)
	}
	// A store of apps from single-region mode takes a region and keeps them.
	app := e.createApp("before")
	e.must("SetRegion", e.s.SetRegion(e.ctx, "us"))
	e.must("SetRegion of the store's own region", e.s.SetRegion(e.ctx, "us"))
	if region, err = e.s.Region(e.ctx); err != nil || region != "us" {
		t.Errorf("Region = %q, %v; want us", region, err)
	}
	err = e.s.SetRegion(e.ctx, "eu")
	wantCode(t, "SetRegion of another region", err, bulkid.ECONFLICT)
	if msg := bulkid.ErrorMessage(err); !strings.Contains(msg, `"us"`) || !strings.Contains(msg, `"eu"`) {
		t.Errorf("SetRegion of another region: message %q does not name both regions", msg)
	}
	if region, err = e.s.Region(e.ctx); err != nil || region != "us" {
		t.Errorf("Region after a refused SetRegion = %q, %v; want us", region, err)
	}
	got, err := e.s.AppByKeyHash(e.ctx, keyHash("before"))
	e.must("AppByKeyHash", err)
	if got.ID != app.ID {
		t.Errorf("the app of before the region: got id %d, want %d", got.ID, app.ID)
	}
}

// testRegionConcurrent: of processes setting regions at once on a new
// store, one region wins; those that named it succeed, the others are
// refused with the winner's name.
func testRegionConcurrent(t *testing.T, e *env) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = e.s.SetRegion(e.ctx, fmt.Sprintf("r%d", i%2)) })
	}
	wg.Wait()
	won, err := e.s.Region(e.ctx)
	e.must("Region", err)
	if won != "r0" && won != "r1" {
		t.Fatalf("Region = %q, want r0 or r1", won)
	}
	for i, err := range errs {
		region := fmt.Sprintf("r%d", i%2)
		switch {
		case region == won && err != nil:
			t.Errorf("SetRegion(%s), the region set: %v, want nil", region, err)
		case region != won && bulkid.ErrorCode(err) != bulkid.ECONFLICT:
			t.Errorf("SetRegion(%s) with %s set: %v, want %s", region, won, err, bulkid.ECONFLICT)
		case region != won && !strings.Contains(bulkid.ErrorMessage(err), `"`+won+`"`):
			t.Errorf("SetRegion(%s): message %q does not name %s", region, bulkid.ErrorMessage(err), won)
		}
	}
}
