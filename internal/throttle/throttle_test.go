package throttle

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestAuthThrottleMemoryIsBounded: however many addresses fail, at most
// maxAddrs are tracked, the least recently seen evicted first, and each
// remembers at most knownKeys keys.
func TestMemoryIsBounded(t *testing.T) {
	th := New(2, time.Second, 100)
	now := time.Unix(1_700_000_000, 0)
	hash := func(i int) []byte { h := make([]byte, 32); h[0], h[1] = byte(i), byte(i>>8); return h }
	for i := range 1000 {
		addr := fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		ok, known, _ := th.Admit(addr, hash(i), now)
		if !ok || known {
			t.Fatalf("the first attempt of %s: admitted %v, known %v", addr, ok, known)
		}
		th.Done(addr, hash(i), known, Failed, now)
	}
	if len(th.addrs) != 100 || th.lru.Len() != 100 {
		t.Errorf("tracked %d addresses (%d in the LRU list), want 100", len(th.addrs), th.lru.Len())
	}
	if _, ok := th.addrs["10.0.3.231"]; !ok { // the 1000th
		t.Errorf("the most recent address was evicted")
	}
	if _, ok := th.addrs["10.0.0.0"]; ok {
		t.Errorf("the oldest address is still tracked")
	}
	for i := range 20 {
		ok, known, _ := th.Admit("10.9.9.9", hash(i), now)
		th.Done("10.9.9.9", hash(i), known, Worked, now)
		if !ok {
			t.Fatalf("a working key %d was refused", i)
		}
	}
	if e := th.addrs["10.9.9.9"].Value.(*authEntry); len(e.known) != knownKeys {
		t.Errorf("an address remembers %d keys, want %d", len(e.known), knownKeys)
	}
	if _, known, _ := th.Admit("10.9.9.9", hash(19), now); !known {
		t.Errorf("the last key that worked is not remembered")
	}
}

func TestClientAddr(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:5555":             "192.0.2.7",
		"[::ffff:192.0.2.7]:5555":    "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":          "fe80::/64",
		"not an address":             "not an address",
	} {
		if got := ClientAddr(&http.Request{RemoteAddr: remote}); got != want {
			t.Errorf("ClientAddr(%q) = %q, want %q", remote, got, want)
		}
	}
}
