package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"net/http"
	"sync"

	"github.com/bulkid/bulkid"
)

// This file holds the Idempotency-Key of the endpoints that make jobs: a
// request that repeats a key the app's earlier request was accepted with
// answers that request's job instead of making another (docs/API.md,
// "Idempotency-Key").

// keyIdempotency is the context key of the request's Idempotency-Key.
const keyIdempotency ctxKey = 200

// idempotencyKey reads the Idempotency-Key header: "" if there is none,
// 400 invalid_request if it is given twice or is not 1 to
// MaxIdempotencyKey printable ASCII characters.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", bulkid.Errorf(bulkid.EINVALID, "The Idempotency-Key header is given %d times; give it once.", len(vs))
	}
	k := vs[0]
	if k == "" || len(k) > bulkid.MaxIdempotencyKey {
		return "", bulkid.Errorf(bulkid.EINVALID, "The Idempotency-Key header is %d characters long; it must be 1 to %d printable ASCII characters, such as a UUID.", len(k), bulkid.MaxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", bulkid.Errorf(bulkid.EINVALID, "The Idempotency-Key header holds a character that is not printable ASCII at byte %d; it must be 1 to %d printable ASCII characters, such as a UUID.", i+1, bulkid.MaxIdempotencyKey)
		}
	}
	return k, nil
}

// requestKey is the Idempotency-Key idempotent put in r's context.
func requestKey(r *http.Request) string {
	k, _ := r.Context().Value(keyIdempotency).(string)
	return k
}

// idempotent checks the Idempotency-Key of a request that makes a job,
// before it waits for an upload slot: a malformed key is refused 400, and
// a key whose first request this process is still receiving 409
// idempotency_key_in_use with Retry-After, so that the second does not
// wait on the first. The key goes to the handler in the request's context.
func (s *server) idempotent(h func(http.ResponseWriter, *http.Request, *bulkid.App)) func(http.ResponseWriter, *http.Request, *bulkid.App) {
	return func(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
		key, err := idempotencyKey(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if key == "" {
			h(w, r, app)
			return
		}
		if !s.receiving.claim(app.ID, key) {
			w.Header().Set("Retry-After", "1")
			s.writeError(w, r, &bulkid.Error{Code: bulkid.EKEYINUSE,
				Message: "A request with this Idempotency-Key is still being received; retry when it has been answered, and this request will get its job."})
			return
		}
		defer s.receiving.release(app.ID, key)
		h(w, r.WithContext(context.WithValue(r.Context(), keyIdempotency, key)), app)
	}
}

// keysReceiving is the set of idempotency keys whose requests this
// process is receiving. Across processes the store's unique key decides
// (CreateJobWithKey).
type keysReceiving struct {
	mu   sync.Mutex
	keys map[appKey]struct{}
}

type appKey struct {
	app int64
	key string
}

func (k *keysReceiving) claim(app int64, key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.keys[appKey{app, key}]; ok {
		return false
	}
	if k.keys == nil {
		k.keys = map[appKey]struct{}{}
	}
	k.keys[appKey{app, key}] = struct{}{}
	return true
}

func (k *keysReceiving) release(app int64, key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, appKey{app, key})
}

// fingerprint identifies a request that makes a job, so that a replay of
// its Idempotency-Key is told from another request under the same key: a
// SHA-256 of the endpoint, the media type, ?nested=, the file name, and
// the SHA-256 of the content as decoded (after Content-Encoding), which
// the readers feed to content as they stream it: the whole body of a JSON
// or NDJSON request, the file part of a multipart one (so that a client's
// new multipart boundary on a retry is the same request).
type fingerprint struct {
	endpoint, mediaType, nested string
	content                     hash.Hash
}

func newFingerprint(r *http.Request, mediaType string) *fingerprint {
	return &fingerprint{endpoint: r.Pattern, mediaType: mediaType, nested: r.URL.Query().Get("nested"), content: sha256.New()}
}

// sum is the fingerprint once the body has been read into job.
func (f *fingerprint) sum(job *bulkid.Job) []byte {
	h := sha256.New()
	for _, s := range []string{f.endpoint, f.mediaType, f.nested, job.Filename} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(f.content.Sum(nil))
	return h.Sum(nil)
}

// keyAccepted returns the app's key if key is one ("" is not) that the
// store holds now: after a 409 of the one-job rule, whether the job that
// holds the app is the key's, accepted by another process meanwhile.
func (s *server) keyAccepted(r *http.Request, app *bulkid.App, key string) *bulkid.IdempotencyKey {
	if key == "" {
		return nil
	}
	k, err := s.store.IdempotencyKey(r.Context(), app.ID, key)
	if err != nil {
		return nil
	}
	return k
}

// replay answers a request whose Idempotency-Key the app's earlier request
// was accepted with: that request's job as it is now, 200 with
// Idempotent-Replayed: true, if the fingerprints match; 422
// idempotency_key_reused if they do not.
func (s *server) replay(w http.ResponseWriter, r *http.Request, app *bulkid.App, prior *bulkid.IdempotencyKey, fp []byte) {
	if !bytes.Equal(prior.Fingerprint, fp) {
		s.writeError(w, r, &bulkid.Error{Code: bulkid.EKEYREUSED,
			Message: "This Idempotency-Key was used within the last 24 hours with another request (another endpoint, body or file); use a new key for a new request.",
			Details: "the key's job is " + prior.JobID})
		return
	}
	job, err := s.store.Job(r.Context(), app.ID, prior.JobID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	slot := job
	if job.Status.Final() {
		// The slot is the app's, and may hold a later job.
		if slot, err = s.store.ActiveJob(r.Context(), app.ID); err != nil {
			slot = nil
		}
	}
	s.setJobSlotHeaders(w, slot)
	w.Header().Set("Idempotent-Replayed", "true")
	w.Header().Set("Location", jobLink(job.ID))
	writeJSON(w, http.StatusOK, s.jobJSON(job))
}
