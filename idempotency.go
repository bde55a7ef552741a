package bulkid

import (
	"context"
	"time"
)

// IdempotencyKeyTTL is how long a store keeps an Idempotency-Key after the
// request that carried it was accepted: a replay within it answers the
// original job; after it the key is forgotten and may be used again.
const IdempotencyKeyTTL = 24 * time.Hour

// MaxIdempotencyKey is the longest Idempotency-Key accepted, in bytes.
const MaxIdempotencyKey = 255

// IdempotencyKey is a client's Idempotency-Key as recorded with the job
// its request created.
type IdempotencyKey struct {
	AppID int64
	Key   string
	// Fingerprint identifies the request (endpoint and body): a replay
	// whose fingerprint differs is another request under the same key.
	Fingerprint []byte
	JobID       string
	CreatedAt   time.Time
}

// IdempotencyStore records the idempotency keys of accepted jobs. Keys are
// per app; a key recorded IdempotencyKeyTTL or longer ago (by the store's
// clock) is expired: it is ignored as if absent and deleted in bounded
// batches as new keys are recorded.
type IdempotencyStore interface {
	// CreateJobWithKey is CreateJob for a request carrying an idempotency
	// key: in the same transaction it records key (its AppID is job.AppID,
	// its JobID job.ID, its CreatedAt job.SubmittedAt), so that neither the
	// job nor the key is ever stored without the other. If the app already
	// holds an unexpired key.Key, it stores nothing, checks no one-job
	// rule, and returns that key as recorded; concurrent calls with one key
	// create one job between them, the others getting its key. Otherwise
	// it returns nil and the errors of CreateJob (ECONFLICT when the app
	// has an unfinished job).
	CreateJobWithKey(ctx context.Context, job *Job, input JobInput, key IdempotencyKey) (*IdempotencyKey, error)
	// IdempotencyKey returns the app's unexpired key.
	// Returns ENOTFOUND if there is none, or it belongs to another app.
	IdempotencyKey(ctx context.Context, appID int64, key string) (*IdempotencyKey, error)
}
