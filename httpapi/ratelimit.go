package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bulkid/bulkid"
	"golang.org/x/time/rate"
)

// Defaults of the real-time rate limit: the hosted service documents 600
// requests a minute per key for identify and track.
const (
	defaultRealtimeRate = 600
	// defaultJobReadRate is the job reads (GET /v1/background_jobs and
	// below) one app may make a minute: 100 a second, far above what
	// polling a job needs, so that only a runaway loop meets it.
	defaultJobReadRate = 6000
	// maxJobReadBurst is the most job reads at once: ten seconds' worth.
	maxJobReadBurst = 1000
	// maxRealtimeBurst is the most requests an app may send at once
	// after a pause: six seconds' worth at the default rate, so a client
	// that batches a little is not refused, while a minute's worth cannot
	// arrive in one go.
	maxRealtimeBurst = 60
)

// appLimiter is the real-time rate limit: a token bucket per app, of
// burst requests, refilled at perMinute a minute. An app whose bucket has
// stood idle long enough to be full again is forgotten (its next request
// finds a full bucket either way), so memory is bounded by the apps
// active within the last refill of the bucket.
type appLimiter struct {
	perMinute int
	burst     int
	limit     rate.Limit    // tokens a second
	full      time.Duration // how long an empty bucket takes to fill

	mu        sync.Mutex
	apps      map[int64]*appBucket
	lastSweep time.Time
}

type appBucket struct {
	lim  *rate.Limiter
	seen time.Time // the last request
}

// newAppLimiter returns the limit of perMinute requests a minute per app,
// with a burst of burst (at most perMinute).
func newAppLimiter(perMinute, burst int) *appLimiter {
	burst = max(1, min(burst, perMinute))
	limit := rate.Limit(float64(perMinute) / 60)
	return &appLimiter{perMinute: perMinute, burst: burst, limit: limit,
		full: time.Duration(float64(burst) / float64(limit) * float64(time.Second)), apps: map[int64]*appBucket{}}
}

// rateVerdict is what take says of one request.
type rateVerdict struct {
	ok        bool
	remaining int           // requests that could be sent at once now
	reset     time.Duration // until the bucket is full again
	wait      time.Duration // when !ok: until one request is allowed
}

// take spends one request of app's budget at now, if there is one.
func (l *appLimiter) take(app int64, now time.Time) rateVerdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.apps[app]
	if !ok {
		b = &appBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.apps[app] = b
	}
	if now.After(b.seen) {
		b.seen = now
	}
	v := rateVerdict{ok: b.lim.AllowN(now, 1)}
	tokens := b.lim.TokensAt(now)
	v.remaining = max(0, int(math.Floor(tokens)))
	v.reset = l.tokenTime(float64(l.burst) - tokens)
	if !v.ok {
		v.wait = l.tokenTime(1 - tokens)
	}
	return v
}

// tokenTime is how long n tokens take to come back.
func (l *appLimiter) tokenTime(n float64) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(n / float64(l.limit) * float64(time.Second))
}

// sweep forgets, at most once per bucket refill, the apps whose buckets
// are full again.
func (l *appLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.full {
		return
	}
	l.lastSweep = now
	for id, b := range l.apps {
		if now.Sub(b.seen) >= l.full {
			delete(l.apps, id)
		}
	}
}

// tracked is how many apps the limiter holds (for tests).
func (l *appLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.apps)
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// realtime limits h, a real-time endpoint, to the app's RealtimeRate
// (limited). With the limit off, h is served as it is.
func (s *server) realtime(h func(http.ResponseWriter, *http.Request, *bulkid.App)) func(http.ResponseWriter, *http.Request, *bulkid.App) {
	return s.limited(s.rtLimit, "real-time requests", h)
}

// jobReads limits h, a read of jobs (GET /v1/background_jobs...), to the
// app's JobReadRate (limited). With the limit off, h is served as it is.
func (s *server) jobReads(h func(http.ResponseWriter, *http.Request, *bulkid.App)) func(http.ResponseWriter, *http.Request, *bulkid.App) {
	return s.limited(s.jobLimit, "job reads", h)
}

// limited limits h to l's rate per app: it sets X-RateLimit-Limit
// (requests a minute), X-RateLimit-Remaining (requests that may be sent at
// once now) and X-RateLimit-Reset (seconds until the budget is whole
// again) on every answer, and answers a request over the budget 429
// rate_limited with Retry-After, before its body is read; what names the
// requests for the message. With l nil (off), h is served as it is.
func (s *server) limited(l *appLimiter, what string, h func(http.ResponseWriter, *http.Request, *bulkid.App)) func(http.ResponseWriter, *http.Request, *bulkid.App) {
	if l == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
		v := l.take(app.ID, s.now())
		setRateHeaders(w, l.perMinute, v.remaining, v.reset)
		if !v.ok {
			secs := max(1, ceilSeconds(v.wait))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s.writeError(w, r, &bulkid.Error{Code: bulkid.ERATELIMITED,
				Message: fmt.Sprintf("This app sent more than %d %s a minute (at most %d at once); try again in %d seconds.", l.perMinute, what, l.burst, secs)})
			return
		}
		h(w, r, app)
	}
}

// setRateHeaders sets the X-RateLimit-* headers of an answer.
func setRateHeaders(w http.ResponseWriter, limit, remaining int, reset time.Duration) {
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.Itoa(ceilSeconds(reset)))
}

// setJobSlotHeaders sets the X-RateLimit-* headers of the endpoints that
// make jobs, whose limit is the app's one job at a time: Limit 1,
// Remaining 1 if the app has no unfinished job (active nil) and 0 if it
// has, and Reset the seconds until that job is estimated to finish (0 if
// none, or no estimate yet).
func (s *server) setJobSlotHeaders(w http.ResponseWriter, active *bulkid.Job) {
	if active == nil || active.Status.Final() {
		setRateHeaders(w, 1, 1, 0)
		return
	}
	reset, _ := active.Remaining(s.rpm, s.now())
	setRateHeaders(w, 1, 0, reset)
}
