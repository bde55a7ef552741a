package dashboard

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// throttle limits failed sign-ins per client address, as the API's
// authThrottle limits failed keys: a token bucket of burst attempts that
// regains one every refill; each sign-in takes one and a key that works
// gives it back, so only failures spend the budget. An address without
// attempts left is answered 429 whatever key it sends, so a guesser
// learns nothing more. At most maxAddrs addresses are kept, the least
// recently seen evicted. (A session, once made, needs no key, so the
// API's memory of keys that worked has no counterpart here.)
type throttle struct {
	burst    float64
	refill   time.Duration
	maxAddrs int

	mu    sync.Mutex
	addrs map[string]*list.Element // of *bucket
	lru   list.List                // front: the most recently seen
}

// maxTrackedAddrs bounds the addresses tracked: under 100 bytes each.
const maxTrackedAddrs = 10000

type bucket struct {
	addr   string
	tokens float64
	at     time.Time
}

func newThrottle(burst int, refill time.Duration, maxAddrs int) *throttle {
	return &throttle{burst: float64(burst), refill: refill, maxAddrs: maxAddrs, addrs: map[string]*list.Element{}}
}

// bucket returns addr's bucket, brought up to now, as the most recently seen.
func (t *throttle) bucket(addr string, now time.Time) *bucket {
	el, ok := t.addrs[addr]
	if !ok {
		el = t.lru.PushFront(&bucket{addr: addr, tokens: t.burst, at: now})
		t.addrs[addr] = el
		for len(t.addrs) > t.maxAddrs {
			old := t.lru.Back()
			t.lru.Remove(old)
			delete(t.addrs, old.Value.(*bucket).addr)
		}
	}
	t.lru.MoveToFront(el)
	b := el.Value.(*bucket)
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(t.burst, b.tokens+float64(d)/float64(t.refill))
	}
	b.at = now
	return b
}

// take takes an attempt from addr's budget; when none is left it returns
// false and the wait until one is regained.
func (t *throttle) take(addr string, now time.Time) (ok bool, wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(addr, now)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(t.refill))
	}
	b.tokens--
	return true, 0
}

// giveBack returns an attempt: the key worked, or could not be judged.
func (t *throttle) giveBack(addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(addr, now)
	b.tokens = min(t.burst, b.tokens+1)
}

// clientAddr is the address a sign-in is throttled by, as the API's: the
// peer's IP (no header is trusted for it), IPv4-mapped addresses as IPv4,
// and an IPv6 address by its /64.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}
