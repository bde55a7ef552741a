// Package client is a Go SDK for the Bulk Identify API: it speaks to a
// bulkid server or to the hosted service it is compatible with
// (https://analytex.userpilot.io, https://analytex-eu.userpilot.io).
//
// It depends on nothing of the server. Every call takes a context, retries
// what retrying can fix (409 while a job runs, 429, 5xx, network errors)
// with backoff and jitter, honouring Retry-After (and, on a 429 without
// it, X-RateLimit-Reset), and returns *Error for an answer it cannot use.
// The bulk and import methods take WithIdempotencyKey, so that a retry
// of a request the server accepted, whose answer was lost, gets that
// request's job instead of making another.
package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Hosted endpoints of the compatible public service.
const (
	HostedUS = "https://analytex.userpilot.io"
	HostedEU = "https://analytex-eu.userpilot.io"
)

// Client calls one server with one API key. Its fields may be set before
// first use; the zero Retry is the default policy.
type Client struct {
	BaseURL    string // e.g. http://127.0.0.1:8080
	Token      string // the API key, sent as "Authorization: Token KEY"
	HTTPClient *http.Client
	Retry      RetryPolicy
	UserAgent  string
	// Gzip says whether request bodies are sent gzip-compressed
	// (Content-Encoding: gzip). The zero value, GzipOff, never does.
	Gzip GzipMode
	// Nested is what the server does with metadata values that are
	// objects or arrays in the records of bulk requests (a bulkid
	// extension, sent as ?nested=): "" sends nothing, and the server
	// refuses them, each such record failing alone (nested_metadata);
	// NestedFlatten asks it to flatten them to dotted keys and JSON text,
	// as the real-time endpoints always do. The hosted service knows no
	// such parameter.
	Nested string

	gzipKnown atomic.Int32 // GzipAuto: 0 not known yet, 1 the server decodes gzip, 2 it does not
}

// The values of Client.Nested.
const (
	NestedRefuse  = "refuse"
	NestedFlatten = "flatten"
)

// GzipMode is when request bodies are compressed.
type GzipMode int

const (
	// GzipOff sends bodies as they are: what every server takes.
	GzipOff GzipMode = iota
	// GzipOn compresses every body. A server that answers 415 to it is
	// sent the body again uncompressed, and no more compressed bodies.
	GzipOn
	// GzipAuto compresses bodies once the server has said it decodes
	// them: bulkid answers every request with Accept-Encoding: gzip
	// (RFC 7694). Before the first body it asks GET /healthz once. The
	// hosted service is not known to decode gzip, and says nothing, so
	// it is sent bodies as they are.
	GzipAuto
)

// RetryPolicy says how a call is retried. Zero fields take the defaults.
type RetryPolicy struct {
	// MaxAttempts is the most tries of one call, the first included
	// (default 8; 1 disables retries).
	MaxAttempts int
	// MaxElapsed bounds the time spent retrying one call (default 15m, long
	// enough to wait out a running job).
	MaxElapsed time.Duration
	// BaseDelay is the first backoff, doubled on each retry up to MaxDelay
	// (defaults 500ms and 30s), with full jitter. A Retry-After from the
	// server replaces the backoff.
	BaseDelay, MaxDelay time.Duration
	// RetryConflicts retries 409 (another job is running) when true. It is
	// the default for New; set false to see the 409 instead.
	RetryConflicts bool
	// OnRetry, if set, is told of each retry before its wait.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// New returns a client of baseURL with key.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, Retry: RetryPolicy{RetryConflicts: true}}
}

// Error is an answer the server gave instead of what was asked, in the
// API's error shape.
type Error struct {
	StatusCode int
	Code       string // error_code
	Message    string
	Details    string
	RequestID  string // x-request-id
	JobID      string // for 409: the job that is running (bulkid)
	// RetryAfter is how long the server asked to wait: its Retry-After,
	// or for a 429 without one its X-RateLimit-Reset.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%d %s: %s", e.StatusCode, e.Code, e.Message)
	if e.Details != "" {
		msg += " (" + e.Details + ")"
	}
	return msg
}

// IsCode reports whether err is an *Error with the given error_code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// retryable reports whether retrying can fix err.
func (c *Client) retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		switch {
		case e.Code == "job_finished": // a cancel too late: waiting cannot fix it
			return false
		case e.Code == "idempotency_key_in_use":
			return true // the key's first request is being answered: ask again for its job
		case e.StatusCode == http.StatusConflict:
			return c.Retry.RetryConflicts
		case e.StatusCode == http.StatusTooManyRequests, e.StatusCode >= 500:
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transportError
	if !errors.As(err, &te) {
		return false // the request could not be built: retrying cannot fix it
	}
	// A certificate the client does not trust stays untrusted.
	var certErr *tls.CertificateVerificationError
	var authErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &authErr) || errors.As(err, &hostErr) {
		return false
	}
	return true
}

// transportError is a failure to exchange a request with the server
// (connection refused or reset, a broken-off answer): worth a retry.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// request is one call: a method, a path and a body that can be made again
// for each attempt.
type request struct {
	method, path string
	contentType  string
	body         func() (io.Reader, error) // nil for none
	length       int64                     // the body's length, if body is set and it is known (>0)
	encoding     string                    // its Content-Encoding, "" for none
	accept       string
	// idempotencyKey is sent as Idempotency-Key on every attempt, so that
	// a retry of a request the server accepted gets its job (WithIdempotencyKey).
	idempotencyKey string
}

// do sends req, retrying per c.Retry, and returns the successful response
// (the caller closes its body).
func (c *Client) do(ctx context.Context, req request) (*http.Response, error) {
	p := c.Retry
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 8
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = 15 * time.Minute
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = 30 * time.Second
	}
	start := time.Now()
	plain := req
	if req.body != nil && c.gzipBodies(ctx) {
		if req, err := compressed(req); err == nil {
			resp, err := c.doRetried(ctx, req, p, start)
			var e *Error
			if !errors.As(err, &e) || e.StatusCode != http.StatusUnsupportedMediaType {
				return resp, err
			}
			// The server does not decode gzip: send it as it is, from now on.
			c.gzipKnown.Store(2)
		}
	}
	return c.doRetried(ctx, plain, p, start)
}

// doRetried is do's loop of attempts, with p's defaults filled in.
func (c *Client) doRetried(ctx context.Context, req request, p RetryPolicy, start time.Time) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, req)
		if err == nil {
			return resp, nil
		}
		if attempt >= p.MaxAttempts || !c.retryable(err) {
			return nil, err
		}
		wait := backoff(p, attempt)
		var e *Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			wait = e.RetryAfter + time.Duration(rand.Int64N(int64(250*time.Millisecond)))
		}
		if time.Since(start)+wait > p.MaxElapsed {
			return nil, err
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is exponential with full jitter.
func backoff(p RetryPolicy, attempt int) time.Duration {
	d := p.BaseDelay << min(attempt-1, 20)
	if d <= 0 || d > p.MaxDelay {
		d = p.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(d))) + time.Millisecond
}

// once makes one attempt.
func (c *Client) once(ctx context.Context, req request) (*http.Response, error) {
	var body io.Reader
	if req.body != nil {
		b, err := req.body()
		if err != nil {
			return nil, err
		}
		body = b
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, c.BaseURL+req.path, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if hr.URL.Scheme != "http" && hr.URL.Scheme != "https" || hr.URL.Host == "" {
		return nil, fmt.Errorf("client: base URL %q is not an http:// or https:// URL", c.BaseURL)
	}
	if req.body != nil && req.length > 0 {
		hr.ContentLength = req.length
		hr.GetBody = func() (io.ReadCloser, error) {
			b, err := req.body()
			if err != nil {
				return nil, err
			}
			return io.NopCloser(b), nil
		}
	}
	hr.Header.Set("Authorization", "Token "+c.Token)
	accept := req.accept
	if accept == "" {
		accept = "application/json, text/plain, */*"
	}
	hr.Header.Set("Accept", accept)
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	if req.encoding != "" {
		hr.Header.Set("Content-Encoding", req.encoding)
	}
	if req.idempotencyKey != "" {
		hr.Header.Set("Idempotency-Key", req.idempotencyKey)
	}
	if c.UserAgent != "" {
		hr.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, &transportError{err}
	}
	c.sawAcceptEncoding(resp.Header)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// rateLimitReset reads an X-RateLimit-Reset header as the time until the
// rate limit's budget is back: bulkid sends seconds to wait; a value too
// large for that (past 10^9) is read as the Unix time of the reset, as
// some services send it.
func rateLimitReset(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	switch {
	case err != nil || n <= 0:
		return 0
	case n > 1e9:
		if d := time.Until(time.Unix(n, 0)); d > 0 {
			return d
		}
		return 0
	}
	return time.Duration(n) * time.Second
}

// readError reads an error answer; a body not in the error shape still
// gives the status.
func readError(resp *http.Response) error {
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"), Code: strings.ToLower(strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "_"))}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	if e.RetryAfter == 0 && resp.StatusCode == http.StatusTooManyRequests {
		e.RetryAfter = rateLimitReset(resp.Header.Get("X-RateLimit-Reset"))
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body struct {
		Errors []struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
			Details   any    `json:"details"`
			JobID     string `json:"job_id"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &body) == nil && len(body.Errors) > 0 {
		first := body.Errors[0]
		if first.ErrorCode != "" {
			e.Code = first.ErrorCode
		}
		e.Message, e.JobID = first.Message, first.JobID
		switch d := first.Details.(type) {
		case string:
			e.Details = d
		case nil:
		default:
			db, _ := json.Marshal(d)
			e.Details = string(db)
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	return e
}

// getJSON fetches path into v.
func (c *Client) getJSON(ctx context.Context, path string, v any) (http.Header, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return nil, fmt.Errorf("client: decode %s: %w", path, err)
	}
	return resp.Header, nil
}

// postJSON sends v as JSON to path and decodes the answer into out.
func (c *Client) postJSON(ctx context.Context, path string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: path, contentType: "application/json",
		body: func() (io.Reader, error) { return bytes.NewReader(b), nil }})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// multipartBody returns a function that makes a multipart body holding
// content as the part "file" named filename, without copying content, the
// body's length and its content type.
func multipartBody(filename string, content []byte) (func() (io.Reader, error), int64, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if _, err := mw.CreateFormFile("file", filename); err != nil {
		return nil, 0, "", err
	}
	head := bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := mw.Close(); err != nil {
		return nil, 0, "", err
	}
	tail := bytes.Clone(buf.Bytes())
	body := func() (io.Reader, error) {
		return io.MultiReader(bytes.NewReader(head), bytes.NewReader(content), bytes.NewReader(tail)), nil
	}
	return body, int64(len(head) + len(content) + len(tail)), mw.FormDataContentType(), nil
}

// gzipBodies reports whether request bodies go compressed now.
func (c *Client) gzipBodies(ctx context.Context) bool {
	switch c.Gzip {
	case GzipOn:
		return c.gzipKnown.Load() != 2
	case GzipAuto:
		if c.gzipKnown.Load() == 0 {
			c.probeGzip(ctx)
		}
		return c.gzipKnown.Load() == 1
	}
	return false
}

// probeGzip asks the server once, with GET /healthz, whether it decodes
// gzip bodies: its answer says so in Accept-Encoding. A server that does
// not answer stays unknown and is asked again before the next body.
func (c *Client) probeGzip(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/healthz", nil)
	if err != nil {
		return
	}
	if c.UserAgent != "" {
		hr.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if !c.sawAcceptEncoding(resp.Header) {
		c.gzipKnown.CompareAndSwap(0, 2)
	}
}

// sawAcceptEncoding notes a server's Accept-Encoding naming gzip, and
// reports whether h had it.
func (c *Client) sawAcceptEncoding(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for _, coding := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(coding, ";")
			if strings.EqualFold(strings.TrimSpace(name), "gzip") {
				c.gzipKnown.Store(1)
				return true
			}
		}
	}
	return false
}

// compressed returns req with its body gzip-compressed once, in memory,
// for every attempt.
func compressed(req request) (request, error) {
	r, err := req.body()
	if err != nil {
		return req, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.Copy(zw, r); err != nil {
		return req, err
	}
	if err := zw.Close(); err != nil {
		return req, err
	}
	b := buf.Bytes()
	req.body = func() (io.Reader, error) { return bytes.NewReader(b), nil }
	req.length = int64(len(b))
	req.encoding = "gzip"
	return req, nil
}
