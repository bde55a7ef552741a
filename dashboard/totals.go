package dashboard

import (
	"context"
	"sync"
	"time"
)

// totals are an app's counts on the overview: companies visible and
// hidden, and users. Each is a count of index entries, some 0.5 s at a
// million companies on SQLite (docs/BENCHMARKS.md), so they are kept per
// app for totalsTTL and recounted in the background when older: a view
// shows the last counts at once, with the time they were taken, and
// starts a new count. A job that has ended since the counts were taken
// (a new final job in the overview's list) has them taken again before
// the page is shown, so the numbers after a sync are the sync's.
type totals struct {
	Visible, Hidden, Users int64
	At                     time.Time
	after                  string // the newest final job when counted
}

const totalsTTL = 10 * time.Second

// maxTotals bounds the apps whose totals are kept.
const maxTotals = 10000

type totalsCache struct {
	mu   sync.Mutex
	apps map[int64]*totalsEntry
}

type totalsEntry struct {
	t          totals
	refreshing bool
}

func (h *handler) count(ctx context.Context, appID int64, lastFinal string) (totals, error) {
	t := totals{At: h.now(), after: lastFinal}
	var err error
	if t.Visible, err = h.store.CountCompanies(ctx, appID, true, 0); err != nil {
		return t, err
	}
	if t.Hidden, err = h.store.CountCompanies(ctx, appID, false, 0); err != nil {
		return t, err
	}
	t.Users, err = h.store.CountUsers(ctx, appID)
	return t, err
}

// totals returns the app's totals: those kept if they were taken after
// the job lastFinal ended, recounted in the background if older than
// totalsTTL; counted now otherwise.
func (h *handler) totals(ctx context.Context, appID int64, lastFinal string) (totals, error) {
	c := &h.totalsCache
	c.mu.Lock()
	if e := c.apps[appID]; e != nil && e.t.after == lastFinal {
		t := e.t
		if h.now().Sub(t.At) >= totalsTTL && !e.refreshing {
			e.refreshing = true
			go func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				defer cancel()
				nt, err := h.count(ctx, appID, lastFinal)
				c.mu.Lock()
				defer c.mu.Unlock()
				e.refreshing = false
				if err == nil {
					e.t = nt
				} else {
					h.log.Warn("dashboard: recount totals", "app_id", appID, "err", err)
				}
			}()
		}
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()
	t, err := h.count(ctx, appID, lastFinal)
	if err != nil {
		return t, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apps == nil || len(c.apps) >= maxTotals {
		c.apps = map[int64]*totalsEntry{}
	}
	c.apps[appID] = &totalsEntry{t: t}
	return t, nil
}
