// Package webhook sends the deliveries of webhooks: it claims due
// deliveries from the store (bulkid.WebhookStore), POSTs each job object,
// signed, to its webhook's URL, and records the outcome, scheduling the
// next attempt with exponential backoff and jitter until it gives up.
// Deliveries live in the store, created in the transaction that ends the
// job, so they survive restarts, and their leases let the deliverers of
// several processes share them without sending one twice at once.
package webhook

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/bulkid/bulkid"
)

// Store is the part of a bulkid.Store the deliverer uses.
type Store interface {
	ClaimDeliveries(ctx context.Context, owner string, ttl time.Duration, limit int) ([]*bulkid.Delivery, error)
	RecordAttempt(ctx context.Context, l bulkid.DeliveryLease, a bulkid.DeliveryAttempt) error
}

// Config configures a Deliverer. Zero fields take the defaults named.
type Config struct {
	Store Store
	// Body returns the body of a delivery: the job object of d.JobID as
	// GET /v1/background_jobs/{job_id} returns it. An ENOTFOUND error
	// (the job is gone) fails the delivery for good.
	Body func(ctx context.Context, d *bulkid.Delivery) ([]byte, error)
	// AllowPrivate lets deliveries reach private, loopback and other
	// internal addresses (--webhook-allow-private).
	AllowPrivate bool
	// Timeout bounds one attempt, connection to response headers and
	// body (default 10s).
	Timeout time.Duration
	// BackoffBase is the wait after a delivery's first failed attempt,
	// doubled after each further one (default 10s), up to BackoffMax
	// (default 1h); each wait is jittered by up to ±20%.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// GiveUpAfter is how long after its creation a delivery stops being
	// retried: the first attempt to fail after it marks it failed
	// (default 24h).
	GiveUpAfter time.Duration
	// PollInterval is how often an idle deliverer looks for due
	// deliveries (default 1s).
	PollInterval time.Duration
	// Concurrency is how many deliveries are attempted at once (default 4).
	Concurrency int
	Logger      *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Deliverer runs the delivery loop.
type Deliverer struct {
	cfg    Config
	owner  string
	client *http.Client
	wake   chan struct{}
}

// New returns a Deliverer for cfg.
func New(cfg Config) (*Deliverer, error) {
	if cfg.Store == nil || cfg.Body == nil {
		return nil, errors.New("webhook: Config.Store and Config.Body are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Timeout, 10*time.Second)
	def(&cfg.BackoffBase, 10*time.Second)
	def(&cfg.BackoffMax, time.Hour)
	def(&cfg.GiveUpAfter, 24*time.Hour)
	def(&cfg.PollInterval, time.Second)
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = cfg.BackoffBase
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := make([]byte, 8)
	crand.Read(b)
	return &Deliverer{cfg: cfg, owner: "deliverer-" + hex.EncodeToString(b), client: newClient(cfg.Timeout, cfg.AllowPrivate),
		wake: make(chan struct{}, 1)}, nil
}

// newClient is the HTTP client of deliveries: no proxy (it would dial
// for us, past the address check), no redirects (a 3xx is a failed
// attempt: following one could lead anywhere), every connection checked
// by dialControl unless allowPrivate.
func newClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = dialControl
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Notify wakes the deliverer to look for due deliveries now (after a job
// ended), rather than at its next poll.
func (d *Deliverer) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// leaseTTL is how long a claim holds a delivery: past one attempt's
// timeout, so a live deliverer never loses it mid-attempt.
func (d *Deliverer) leaseTTL() time.Duration { return 2*d.cfg.Timeout + 30*time.Second }

// Run delivers until ctx is done, then returns once attempts in flight
// have ended. A delivery cut off by ctx is left to its lease, and tried
// again once the lease runs out.
func (d *Deliverer) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		n := d.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if n == d.cfg.Concurrency {
			continue // there may be more due
		}
		t.Reset(d.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// RunOnce claims up to Concurrency due deliveries, attempts each, records
// the outcomes, and returns how many it claimed.
func (d *Deliverer) RunOnce(ctx context.Context) int {
	ds, err := d.cfg.Store.ClaimDeliveries(ctx, d.owner, d.leaseTTL(), d.cfg.Concurrency)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("webhook: claiming deliveries failed", "err", err)
		}
		return 0
	}
	var wg sync.WaitGroup
	for _, dl := range ds {
		wg.Go(func() { d.deliver(ctx, dl) })
	}
	wg.Wait()
	return len(ds)
}

// maxErrorLen bounds the last_error kept of an attempt.
const maxErrorLen = 300

// deliver makes one attempt at dl and records its outcome.
func (d *Deliverer) deliver(ctx context.Context, dl *bulkid.Delivery) {
	log := d.cfg.Logger.With("delivery", dl.ID, "webhook", dl.WebhookID, "job", dl.JobID)
	var a bulkid.DeliveryAttempt
	body, err := d.cfg.Body(ctx, dl)
	switch {
	case ctx.Err() != nil:
		return
	case bulkid.ErrorCode(err) == bulkid.ENOTFOUND:
		a.Error = "the job no longer exists"
		d.record(ctx, log, dl, a, false)
		return
	case err != nil:
		log.Warn("webhook: reading the job failed", "err", err)
		a.Error = "the job could not be read"
		d.record(ctx, log, dl, a, true)
		return
	}
	a.StatusCode, a.Error = d.post(ctx, dl, body)
	if ctx.Err() != nil && a.StatusCode == 0 {
		return // cut off by shutdown: the lease brings it back
	}
	a.Delivered = a.Error == ""
	d.record(ctx, log, dl, a, true)
}

// post sends body and returns the response's status and why the attempt
// failed ("" if it did not).
func (d *Deliverer) post(ctx context.Context, dl *bulkid.Delivery, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader(body))
	if err != nil {
		return 0, trim(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bulkid-webhooks/1")
	req.Header.Set("Bulkid-Event", dl.Event)
	req.Header.Set("Bulkid-Delivery", dl.ID)
	req.Header.Set("Bulkid-Signature", Sign(dl.Secret, d.cfg.Now(), body))
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, errBlocked) {
			return 0, trim("refused: " + errBlocked.Error())
		}
		return 0, trim(err.Error())
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Sprintf("the receiver answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return resp.StatusCode, ""
}

func trim(s string) string {
	if len(s) > maxErrorLen {
		return s[:maxErrorLen] + "…"
	}
	return s
}

// record stores a's outcome, scheduling the next attempt if retry and
// the delivery is not too old.
func (d *Deliverer) record(ctx context.Context, log *slog.Logger, dl *bulkid.Delivery, a bulkid.DeliveryAttempt, retry bool) {
	now := d.cfg.Now()
	if !a.Delivered && retry && now.Sub(dl.CreatedAt) < d.cfg.GiveUpAfter {
		a.Next = now.Add(Backoff(d.cfg.BackoffBase, d.cfg.BackoffMax, dl.Attempts+1))
	}
	// The attempt happened: record it even if shutdown began meanwhile.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := d.cfg.Store.RecordAttempt(rctx, bulkid.DeliveryLease{DeliveryID: dl.ID, Owner: d.owner}, a)
	switch {
	case err != nil:
		log.Warn("webhook: recording an attempt failed", "err", err)
	case a.Delivered:
		log.Info("webhook delivered", "attempt", dl.Attempts+1, "status", a.StatusCode)
	case a.Next.IsZero():
		log.Warn("webhook delivery failed for good", "attempt", dl.Attempts+1, "error", a.Error)
	default:
		log.Info("webhook attempt failed; retrying", "attempt", dl.Attempts+1, "error", a.Error, "next_attempt_at", a.Next)
	}
}

// Backoff is the wait after a delivery's attempt-th failed attempt: base
// doubled attempt-1 times, at most max, jittered by up to ±20% so that the
// deliveries of one outage do not come back all at once.
func Backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
