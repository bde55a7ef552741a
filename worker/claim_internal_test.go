package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

// claimCounter is a store whose ClaimJob records the most calls that were
// in it at once; each stays a moment, so that calls side by side overlap.
type claimCounter struct {
	Store    // nil: only ClaimJob is called
	in, most atomic.Int32
	calls    atomic.Int32
}

func (c *claimCounter) ClaimJob(ctx context.Context, owner string, ttl time.Duration) (*bulkid.Job, bool, error) {
	c.calls.Add(1)
	n := c.in.Add(1)
	defer c.in.Add(-1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	time.Sleep(2 * time.Millisecond)
	return nil, false, &bulkid.Error{Code: bulkid.ENOTFOUND}
}

// TestOneClaimAtATime: sixteen workers claiming at once reach the store
// one at a time, each of them, and get its answer.
func TestOneClaimAtATime(t *testing.T) {
	inner := &claimCounter{}
	p, err := New(Config{Store: inner})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, _, err := p.claim(context.Background(), "w"); bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
				t.Errorf("claim = %v, want the store's ENOTFOUND", err)
			}
		})
	}
	wg.Wait()
	if got := inner.calls.Load(); got != 16 {
		t.Errorf("%d claims reached the store, want 16", got)
	}
	if got := inner.most.Load(); got != 1 {
		t.Errorf("%d claims were in the store at once, want 1", got)
	}
}
