// Package throttle limits failed authentication per client address, for
// the API's keys (httpapi) and the dashboard's sign-ins (dashboard) alike.
package throttle

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Auth limits failed authentication per client address: a token
// bucket of burst attempts that regains one every refill. An address over
// its budget gets 429 for every key it has not used successfully before,
// valid or not, so a brute-forcer learns nothing; a key that has worked
// from the address (the last knownKeys of them) is served all along.
// At most maxAddrs addresses are kept, the least recently seen evicted.
type Auth struct {
	burst    float64
	refill   time.Duration
	maxAddrs int

	mu    sync.Mutex
	addrs map[string]*list.Element // of *authEntry
	lru   list.List                // front: the most recently seen
}

// knownKeys is how many keys that worked an address is remembered for.
const knownKeys = 8

// MaxTrackedAddrs is the usual bound on the addresses tracked: some 500
// bytes each.
const MaxTrackedAddrs = 10000

type authEntry struct {
	addr   string
	tokens float64   // failed attempts left
	at     time.Time // when tokens was brought up to date
	known  [][32]byte
}

// New returns a throttle of burst attempts per address, one regained every
// refill, tracking at most maxAddrs addresses.
func New(burst int, refill time.Duration, maxAddrs int) *Auth {
	return &Auth{burst: float64(burst), refill: refill, maxAddrs: maxAddrs, addrs: map[string]*list.Element{}}
}

// entry returns addr's entry, made if new, as the most recently seen.
func (t *Auth) entry(addr string, now time.Time) *authEntry {
	if el, ok := t.addrs[addr]; ok {
		t.lru.MoveToFront(el)
		return el.Value.(*authEntry)
	}
	e := &authEntry{addr: addr, tokens: t.burst, at: now}
	t.addrs[addr] = t.lru.PushFront(e)
	for len(t.addrs) > t.maxAddrs {
		old := t.lru.Back()
		t.lru.Remove(old)
		delete(t.addrs, old.Value.(*authEntry).addr)
	}
	return e
}

func (e *authEntry) knows(hash []byte) bool {
	for _, k := range e.known {
		if string(k[:]) == string(hash) {
			return true
		}
	}
	return false
}

// Admit says whether a request from addr with the key hash may be looked
// up. A key that has worked from addr always may (known); any other takes
// one attempt from addr's budget, and is refused, with the wait until an
// attempt is regained, when none is left.
func (t *Auth) Admit(addr string, hash []byte, now time.Time) (ok, known bool, wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entry(addr, now)
	if e.knows(hash) {
		return true, true, 0
	}
	if d := now.Sub(e.at); d > 0 {
		e.tokens = min(t.burst, e.tokens+float64(d)/float64(t.refill))
	}
	e.at = now
	if e.tokens < 1 {
		return false, false, time.Duration((1 - e.tokens) * float64(t.refill))
	}
	e.tokens--
	return true, false, 0
}

// Outcome is what a key lookup that Admit let through found.
type Outcome int

const (
	Worked  Outcome = iota // the key is an app's
	Failed                 // no app has the key
	Unknown                // the store could not say
)

// Done records the outcome of a lookup that Admit let through: a key that
// worked gets its attempt back and is remembered; one that failed keeps
// its attempt taken (a known key that no longer works, rotated or revoked,
// is forgotten and takes one); one the store could not check gets it back.
func (t *Auth) Done(addr string, hash []byte, known bool, outcome Outcome, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entry(addr, now)
	switch {
	case outcome == Worked && !known:
		e.tokens = min(t.burst, e.tokens+1)
		if len(e.known) == knownKeys {
			e.known = append(e.known[:0], e.known[1:]...)
		}
		e.known = append(e.known, [32]byte(hash))
	case outcome == Failed && known:
		for i, k := range e.known {
			if string(k[:]) == string(hash) {
				e.known = append(e.known[:i], e.known[i+1:]...)
				break
			}
		}
		e.tokens = max(0, e.tokens-1)
	case outcome == Unknown && !known:
		e.tokens = min(t.burst, e.tokens+1)
	}
}

// ClientAddr is the address a request is throttled by: the peer's IP (the
// server trusts no header for it), IPv4-mapped addresses as IPv4, and an
// IPv6 address by its /64, which one host or network usually has whole.
func ClientAddr(r *http.Request) string {
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
