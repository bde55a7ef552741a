package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

func testApps(t *testing.T, e *env) {
	apps, err := e.s.ListApps(e.ctx)
	e.must("ListApps", err)
	if len(apps) != 0 {
		t.Errorf("ListApps of an empty store: got %d apps, want 0", len(apps))
	}

	first := e.createApp("first")
	if first.ID == 0 || first.Name != "first" || !first.CreatedAt.Equal(start) {
		t.Errorf("CreateApp = %+v, want a non-zero ID, Name %q, CreatedAt %v", first, "first", start)
	}
	e.clock.Advance(time.Second)
	second := e.createApp("second")
	if second.ID == first.ID {
		t.Errorf("two apps got the same ID %d", first.ID)
	}

	wantApp := func(what string, got, want *bulkid.App) {
		t.Helper()
		if got.ID != want.ID || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("%s = %+v, want %+v", what, got, want)
		}
	}
	got, err := e.s.AppByKeyHash(e.ctx, keyHash("second"))
	e.must("AppByKeyHash", err)
	wantApp("AppByKeyHash", got, second)
	got, err = e.s.AppByKeyHash(e.ctx, keyHash("first"))
	e.must("AppByKeyHash", err)
	wantApp("AppByKeyHash", got, first)

	_, err = e.s.AppByKeyHash(e.ctx, keyHash("nobody"))
	wantCode(t, "AppByKeyHash of an unknown key", err, bulkid.ENOTFOUND)

	_, err = e.s.CreateApp(e.ctx, "copycat", keyHash("first"))
	wantCode(t, "CreateApp with a key hash in use", err, bulkid.ECONFLICT)

	// Names are unique: an app is chosen by its name (bulkid apps), so a
	// second app of the name would make the choice a guess.
	_, err = e.s.CreateApp(e.ctx, "first", keyHash("another first"))
	wantCode(t, "CreateApp with a name in use", err, bulkid.ECONFLICT)
	if msg := bulkid.ErrorMessage(err); !strings.Contains(msg, `"first"`) {
		t.Errorf("CreateApp with a name in use: message %q does not name it", msg)
	}
	if _, err := e.s.AppByKeyHash(e.ctx, keyHash("another first")); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
		t.Errorf("the key of a refused app works: %v", err)
	}

	apps, err = e.s.ListApps(e.ctx)
	e.must("ListApps", err)
	if len(apps) != 2 {
		t.Fatalf("ListApps: got %d apps, want 2", len(apps))
	}
	wantApp("ListApps[0]", apps[0], first)
	wantApp("ListApps[1]", apps[1], second)
}

// testCreateFirstApp: of many processes starting at once on an empty
// store, exactly one creates the first app.
func testCreateFirstApp(t *testing.T, e *env) {
	const n = 10
	var wg sync.WaitGroup
	created := make(chan int64, n)
	for i := range n {
		wg.Go(func() {
			app, ok, err := e.s.CreateFirstApp(e.ctx, "default", []byte(fmt.Sprintf("key-%d", i)))
			if err != nil {
				t.Errorf("CreateFirstApp: %v", err)
				return
			}
			if ok {
				created <- app.ID
			} else if app != nil {
				t.Errorf("CreateFirstApp returned an app without creating it")
			}
		})
	}
	wg.Wait()
	close(created)
	if got := len(created); got != 1 {
		t.Fatalf("%d calls created the first app, want exactly 1", got)
	}
	apps, err := e.s.ListApps(e.ctx)
	e.must("ListApps", err)
	if len(apps) != 1 {
		t.Fatalf("%d apps after the race, want 1", len(apps))
	}
	if _, ok, err := e.s.CreateFirstApp(e.ctx, "again", []byte("another")); ok || err != nil {
		t.Errorf("CreateFirstApp on a store with an app: created %v, err %v; want false, nil", ok, err)
	}
}

// testSetAppKey: replacing a key makes the old one unknown at once.
func testSetAppKey(t *testing.T, e *env) {
	a, b := e.createApp("a"), e.createApp("b")
	e.must("SetAppKey", e.s.SetAppKey(e.ctx, a.ID, keyHash("a2")))
	_, err := e.s.AppByKeyHash(e.ctx, keyHash("a"))
	wantCode(t, "AppByKeyHash of the replaced key", err, bulkid.ENOTFOUND)
	got, err := e.s.AppByKeyHash(e.ctx, keyHash("a2"))
	e.must("AppByKeyHash of the new key", err)
	if got.ID != a.ID {
		t.Errorf("the new key opens app %d, want %d", got.ID, a.ID)
	}
	wantCode(t, "SetAppKey to another app's key", e.s.SetAppKey(e.ctx, b.ID, keyHash("a2")), bulkid.ECONFLICT)
	wantCode(t, "SetAppKey of an unknown app", e.s.SetAppKey(e.ctx, 1<<40, keyHash("x")), bulkid.ENOTFOUND)
	if got, err := e.s.AppByKeyHash(e.ctx, keyHash("b")); err != nil || got.ID != b.ID {
		t.Errorf("app b's key after the refused change: %v, %v", got, err)
	}
}
