// Package httpapi is the wire API: the Bulk Identify endpoints, job
// monitoring and profile reads, rendered exactly as the public API does.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
	"github.com/bulkid/bulkid/internal/throttle"
)

// Store is the part of a bulkid.Store the API uses: jobs and their
// idempotency keys, profiles and their deletion, events, webhooks and
// their deliveries (not their claims), the key lookup of authentication,
// and Ping and SchemaVersion for /healthz and /readyz.
type Store interface {
	bulkid.JobStore
	bulkid.ProfileStore
	bulkid.EventStore
	bulkid.DeleteStore
	bulkid.IdempotencyStore
	CreateWebhook(ctx context.Context, w *bulkid.Webhook) error
	ListWebhooks(ctx context.Context, appID int64) ([]*bulkid.Webhook, error)
	DeleteWebhook(ctx context.Context, appID int64, id string) error
	Deliveries(ctx context.Context, appID int64, webhookID string, p bulkid.Page) ([]*bulkid.Delivery, error)
	AppByKeyHash(ctx context.Context, keyHash []byte) (*bulkid.App, error)
	Ping(ctx context.Context) error
	SchemaVersion(ctx context.Context) (bulkid.SchemaVersion, error)
}

var _ Store = bulkid.Store(nil)

// Config holds what the API needs.
type Config struct {
	Store Store
	// Notify is called after a job is accepted, to wake a worker. Optional.
	Notify func()
	// RowsPerMinute is the workers' rate, for estimates (0: unthrottled).
	RowsPerMinute int
	// Limits of one bulk request; ingest.DefaultLimits if zero.
	Limits ingest.Limits
	Logger *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// HealthOnly serves /healthz alone, for processes that only run jobs.
	HealthOnly bool
	// SpoolDir holds the input of large requests while they are read
	// (os.TempDir() if "").
	SpoolDir string
	// MaxUploads is how many bulk requests are read at once, across all
	// apps (default 4). One request holds at most a record's worth of
	// memory (up to the 50 MB limit, for a file that is one long line), so
	// this bounds the memory of uploads whatever clients send.
	MaxUploads int
	// UploadWait is how long a bulk request waits for its turn before it
	// is answered 503 with Retry-After (default 30s).
	UploadWait time.Duration
	// MaxUploadsPerApp is how many of the MaxUploads one app's bulk
	// requests may hold at once (default 1), so that one app's slow
	// uploads cannot hold every slot.
	MaxUploadsPerApp int
	// MinUploadRate, in bytes a second, cuts off an upload whose next
	// MinUploadRate × UploadRateWindow bytes take longer than the window
	// (the first a window and a half) with 408 request_timeout, freeing its
	// slot. 0 turns it off.
	MinUploadRate int64
	// UploadRateWindow is the window of MinUploadRate (default 10s).
	UploadRateWindow time.Duration
	// ReadTimeout is the server's whole-request read timeout, which the
	// deadlines of MinUploadRate never pass; 0 if none.
	ReadTimeout time.Duration
	// AuthFailBurst is how many failed authentications a client address
	// may make at once (default 20; negative turns the throttle off), and
	// AuthFailRefill how often it regains one (default 1s). Over budget,
	// requests from it are answered 429 except with a key that has worked
	// from it before (internal/throttle).
	AuthFailBurst  int
	AuthFailRefill time.Duration
	// RealtimeRate is how many real-time requests (those routes.go wraps
	// in realtime) one app may make a minute, in this process (default
	// 600, the hosted service's documented limit; negative turns the
	// limit off), with bursts of up to RealtimeBurst (default 60, and at
	// most RealtimeRate). Over it, requests are answered 429 rate_limited
	// with Retry-After.
	RealtimeRate  int
	RealtimeBurst int
	// JobReadRate is how many job reads (GET /v1/background_jobs, a job,
	// its errors) one app may make a minute, in this process (default
	// 6000, in bursts of up to 1000; negative turns the limit off). Over
	// it, reads are answered 429 rate_limited with Retry-After.
	JobReadRate int
	// CheckWebhookURL says why a webhook may not be registered with a
	// URL (its error's text is the message of the 400), or returns nil:
	// webhook.CheckURL with the server's --webhook-allow-private. If nil,
	// every registration is refused.
	CheckWebhookURL func(ctx context.Context, url string) error
	// Region is the region this server serves, "" in single-region mode.
	// With a region, a key that names another (bulkid.KeyRegion) is
	// answered 421 misdirected_region, before any lookup: this server's
	// store holds no data of that region's apps, nor may it take any.
	Region string
	// RegionURLs are the base URLs of the other regions, by name, that a
	// 421 names (in its message and its Location header). Optional.
	RegionURLs map[string]string
	// Metrics receives what the API does (none if nil); serve wires
	// internal/metrics, served on --metrics-addr, never on this handler.
	Metrics Metrics
	// Workers is this process's worker pool, which /readyz checks; nil
	// when the process runs none (--role api), and /readyz leaves the
	// check out.
	Workers Workers
}

type server struct {
	mux         *http.ServeMux
	healthOnly  bool
	spoolDir    string
	store       Store
	notify      func()
	rpm         int
	limits      ingest.Limits
	log         *slog.Logger
	now         func() time.Time
	uploads     chan struct{} // a slot for each bulk request being read
	uploadWait  time.Duration
	appUploads  *appSlots // each app's share of uploads
	minRate     int64
	rateWindow  time.Duration
	readTimeout time.Duration
	authFails   *throttle.Auth // nil if off
	rtLimit     *appLimiter    // the real-time rate limit; nil if off
	jobLimit    *appLimiter    // the job-read rate limit; nil if off
	receiving   keysReceiving  // Idempotency-Keys of requests being received

	checkWebhookURL func(ctx context.Context, url string) error
	region          string
	regionURLs      map[string]string
	metrics         Metrics // noMetrics if none
	workers         Workers // nil if none
}

// NewServer returns the API's handler.
func NewServer(cfg Config) http.Handler {
	s := &server{store: cfg.Store, notify: cfg.Notify, rpm: cfg.RowsPerMinute, limits: cfg.Limits, log: cfg.Logger, now: cfg.Now,
		healthOnly: cfg.HealthOnly, spoolDir: cfg.SpoolDir, checkWebhookURL: cfg.CheckWebhookURL,
		region: cfg.Region, regionURLs: cfg.RegionURLs}
	if s.notify == nil {
		s.notify = func() {}
	}
	s.metrics, s.workers = cfg.Metrics, cfg.Workers
	if s.metrics == nil {
		s.metrics = noMetrics{}
	} else {
		s.store = countedStore{s.store, s.metrics}
	}
	if s.limits == (ingest.Limits{}) {
		s.limits = ingest.DefaultLimits
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = 4
	}
	s.uploads = make(chan struct{}, cfg.MaxUploads)
	s.uploadWait = cfg.UploadWait
	if s.uploadWait <= 0 {
		s.uploadWait = 30 * time.Second
	}
	if cfg.MaxUploadsPerApp <= 0 {
		cfg.MaxUploadsPerApp = 1
	}
	s.appUploads = &appSlots{perApp: min(cfg.MaxUploadsPerApp, cfg.MaxUploads), apps: map[int64]*appSlot{}}
	s.minRate, s.rateWindow, s.readTimeout = cfg.MinUploadRate, cfg.UploadRateWindow, cfg.ReadTimeout
	if s.rateWindow <= 0 {
		s.rateWindow = 10 * time.Second
	}
	if cfg.AuthFailBurst == 0 {
		cfg.AuthFailBurst = 20
	}
	if cfg.AuthFailRefill <= 0 {
		cfg.AuthFailRefill = time.Second
	}
	if cfg.AuthFailBurst > 0 {
		s.authFails = throttle.New(cfg.AuthFailBurst, cfg.AuthFailRefill, throttle.MaxTrackedAddrs)
	}
	if cfg.RealtimeRate == 0 {
		cfg.RealtimeRate = defaultRealtimeRate
	}
	if cfg.RealtimeBurst <= 0 {
		cfg.RealtimeBurst = maxRealtimeBurst
	}
	if cfg.RealtimeRate > 0 {
		s.rtLimit = newAppLimiter(cfg.RealtimeRate, cfg.RealtimeBurst)
	}
	if cfg.JobReadRate == 0 {
		cfg.JobReadRate = defaultJobReadRate
	}
	if cfg.JobReadRate > 0 {
		s.jobLimit = newAppLimiter(cfg.JobReadRate, maxJobReadBurst)
	}
	s.mux = http.NewServeMux()
	s.routes(s.mux)
	return s.withClientContext(s.withMetrics(s.withRequestID(s.withURLLimit(s.withRecover(s.withLog(s.withPaths(http.HandlerFunc(s.route))))))))
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyApp
	keyPathIDs
)

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

// withRequestID gives every request an id, echoed in x-request-id: the
// caller's if it sent a sane one, a new one otherwise.
func (s *server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			b := make([]byte, 16)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyRequestID, id)))
	})
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)) {
			return false
		}
	}
	return true
}

// withRecover answers a panic with a 500 in the documented shape and keeps
// the server serving.
func (s *server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "request_id", requestID(r), "panic", v, "stack", string(debug.Stack()))
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *server) withLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.log.Debug("request", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", time.Since(start))
	})
}

// authenticated resolves the API key of "Authorization: Token KEY" (the
// scheme in any case) to its app, or answers 401; a request with more than
// one Authorization header is answered 400. Failed keys are throttled per
// client address (internal/throttle): over budget, 429. With a Region, a
// key of another region is answered 421 (misdirected).
func (s *server) authenticated(h func(http.ResponseWriter, *http.Request, *bulkid.App)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.Header.Values("Authorization")); n > 1 {
			// Which one would a proxy, a log or another server have used?
			// Neither is looked up.
			s.writeError(w, r, &bulkid.Error{Code: bulkid.EINVALID,
				Message: fmt.Sprintf(`The request has %d Authorization headers; send exactly one, "Authorization: Token YOUR_API_KEY".`, n)})
			return
		}
		scheme, key, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		key = strings.TrimSpace(key)
		if !ok || !strings.EqualFold(scheme, "Token") || key == "" {
			s.writeError(w, r, &bulkid.Error{Code: bulkid.EUNAUTHORIZED,
				Message: `Send your API key in the header "Authorization: Token YOUR_API_KEY".`})
			return
		}
		if region := bulkid.KeyRegion(key); s.region != "" && region != "" && region != s.region {
			// Told by the key alone: no lookup, so no guess is tried
			// here, and the throttle is not charged.
			s.misdirected(w, r, region)
			return
		}
		hash := bulkid.HashAPIKey(key)
		addr, known := throttle.ClientAddr(r), false
		if s.authFails != nil {
			var ok bool
			var wait time.Duration
			if ok, known, wait = s.authFails.Admit(addr, hash, s.now()); !ok {
				// The same answer for a valid key and an invalid one: a
				// guesser learns nothing until it slows down.
				secs := max(1, int(math.Ceil(wait.Seconds())))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				s.writeError(w, r, &bulkid.Error{Code: bulkid.ETOOMANYFAILED,
					Message: fmt.Sprintf("Too many requests from your address were sent with an API key that is not valid; try again in %d seconds. Requests with a key that has worked from your address before are served meanwhile.", secs)})
				return
			}
		}
		app, err := s.store.AppByKeyHash(r.Context(), hash)
		if s.authFails != nil {
			outcome := throttle.Worked
			switch {
			case bulkid.ErrorCode(err) == bulkid.ENOTFOUND:
				outcome = throttle.Failed
			case err != nil:
				outcome = throttle.Unknown
			}
			s.authFails.Done(addr, hash, known, outcome, s.now())
		}
		if bulkid.ErrorCode(err) == bulkid.ENOTFOUND {
			s.writeError(w, r, &bulkid.Error{Code: bulkid.EUNAUTHORIZED, Message: "The API key is not valid."})
			return
		} else if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r, app)
	})
}

// uploadSlot lets h read its request once one of its app's
// MaxUploadsPerApp slots and then one of the MaxUploads slots are free. A
// request that waits longer than UploadWait in all is answered 503 with
// Retry-After, before its body is read; the client retries it. While h
// reads, a body slower than MinUploadRate is cut off (rateReader).
func (s *server) uploadSlot(h func(http.ResponseWriter, *http.Request, *bulkid.App)) func(http.ResponseWriter, *http.Request, *bulkid.App) {
	return func(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
		timer := time.NewTimer(s.uploadWait)
		defer timer.Stop()
		release, ok := s.appUploads.acquire(app.ID, timer.C, r.Context().Done())
		if !ok {
			if r.Context().Err() == nil {
				s.writeError(w, r, &bulkid.Error{Code: bulkid.EUNAVAILABLE,
					Message: "Another upload of this app is still being read; send one at a time, and try again in a few seconds."})
			}
			return
		}
		defer release()
		select {
		case s.uploads <- struct{}{}:
			s.metrics.UploadSlots(1)
			defer func() {
				<-s.uploads
				s.metrics.UploadSlots(-1)
			}()
			if s.minRate > 0 && r.Body != nil && r.Body != http.NoBody {
				if rr := newRateReader(w, r.Body, s.minRate, s.rateWindow, s.readTimeout); rr != nil {
					r.Body = rr
				}
			}
			h(w, r, app)
		case <-timer.C:
			s.writeError(w, r, &bulkid.Error{Code: bulkid.EUNAVAILABLE,
				Message: "The server is reading as many uploads as it can hold; try again in a few seconds."})
		case <-r.Context().Done():
			// The client went away while it waited: there is no one to answer.
		}
	}
}

// misdirected answers a request with a key of region, not this server's:
// 421, with the region in Bulkid-Region and its base URL, if known, in
// Location.
func (s *server) misdirected(w http.ResponseWriter, r *http.Request, region string) {
	url := s.regionURLs[region]
	w.Header().Set("Bulkid-Region", region)
	if url != "" {
		w.Header().Set("Location", url)
	}
	s.writeError(w, r, bulkid.MisdirectedError(region, url, s.region))
}
