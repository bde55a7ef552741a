package httpapi

import (
	"testing"
	"time"
)

// TestAppLimiterBucket: an app may send its burst at once, then one
// request per 60/rate seconds; Remaining and Reset say where the bucket
// stands, and a refusal says how long until the next request fits.
func TestAppLimiterBucket(t *testing.T) {
	t.Parallel()
	l := newAppLimiter(600, 60) // 10 a second
	now := time.Unix(1_700_000_000, 0)
	for i := range 60 {
		v := l.take(1, now)
		if !v.ok || v.remaining != 59-i {
			t.Fatalf("request %d of the burst: %+v, want allowed with %d remaining", i+1, v, 59-i)
		}
	}
	v := l.take(1, now)
	if v.ok || v.remaining != 0 || v.wait != 100*time.Millisecond || v.reset != 6*time.Second {
		t.Fatalf("request 61 at once: %+v, want refused, 0 remaining, wait 100ms, reset 6s", v)
	}
	if v := l.take(2, now); !v.ok || v.remaining != 59 {
		t.Errorf("another app at the same moment: %+v, want allowed with 59 remaining: apps do not share a budget", v)
	}
	now = now.Add(100 * time.Millisecond)
	if v := l.take(1, now); !v.ok || v.remaining != 0 {
		t.Errorf("100ms later: %+v, want one request allowed", v)
	}
	if v := l.take(1, now); v.ok {
		t.Errorf("a second one at once: %+v, want refused", v)
	}
	now = now.Add(time.Hour)
	if v := l.take(1, now); !v.ok || v.remaining != 59 || v.reset != 100*time.Millisecond {
		t.Errorf("after an hour idle: %+v, want a full burst again (idle time banks no more than the burst)", v)
	}
}

// TestAppLimiterSmallRate: the burst is at most the rate, so a limit of a
// few requests a minute is not a burst of 60.
func TestAppLimiterSmallRate(t *testing.T) {
	t.Parallel()
	l := newAppLimiter(3, 60)
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if v := l.take(1, now); !v.ok {
			t.Fatalf("request %d of 3: refused", i+1)
		}
	}
	if v := l.take(1, now); v.ok || v.wait != 20*time.Second {
		t.Errorf("the 4th at once at 3 a minute: %+v, want refused for 20s", v)
	}
}

// TestAppLimiterForgetsIdleApps: memory is bounded by the apps active
// within the time a bucket takes to fill; an app forgotten gets a full
// bucket, as it would have anyway.
func TestAppLimiterForgetsIdleApps(t *testing.T) {
	t.Parallel()
	l := newAppLimiter(600, 60) // a bucket fills in 6s
	now := time.Unix(1_700_000_000, 0)
	for id := range int64(10_000) {
		l.take(id, now)
	}
	if n := l.tracked(); n != 10_000 {
		t.Fatalf("10,000 apps at once: %d tracked", n)
	}
	now = now.Add(3 * time.Second)
	l.take(-1, now)
	if n := l.tracked(); n != 10_001 {
		t.Errorf("3s later, buckets not yet full: %d tracked, want all 10,001 kept", n)
	}
	now = now.Add(3 * time.Second)
	l.take(-2, now)
	if n := l.tracked(); n != 2 {
		t.Errorf("6s later: %d tracked, want 2: the apps seen since (-1, 3s ago, and -2 now), the 10,000 idle ones forgotten", n)
	}
}

// BenchmarkAppLimiterTake: the cost the limit adds to a real-time request,
// over 1,000 active apps.
func BenchmarkAppLimiterTake(b *testing.B) {
	l := newAppLimiter(600, 60)
	now := time.Unix(1_700_000_000, 0)
	var i int64
	for b.Loop() {
		i++
		l.take(i%1000, now.Add(time.Duration(i)*time.Millisecond))
	}
}
