package main

import (
	"context"
	"sync"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/worker"
)

// oneClaimAtATime is the store as this process's workers see it, with
// their claims made one at a time. Each idle worker polls with a claim of
// its own every --poll-interval, all of them at once: on PostgreSQL
// sixteen claims in flight took sixteen pooled connections (each with its
// TLS session and its backend process) that an idle server then held,
// 4 MiB of its memory (issue 14). Claims gain nothing from running side by
// side within one process: each takes the oldest free job under a row
// lock, and SQLite makes them one at a time on its write connection
// anyway. Claims of other processes are not affected.
type oneClaimAtATime struct {
	worker.Store
	mu sync.Mutex
}

func (s *oneClaimAtATime) ClaimJob(ctx context.Context, owner string, ttl time.Duration) (*bulkid.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Store.ClaimJob(ctx, owner, ttl)
}
