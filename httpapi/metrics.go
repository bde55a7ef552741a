package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/bulkid/bulkid"
)

// Metrics receives what the API does, for monitoring: internal/metrics
// reports it to Prometheus, so this package does not import it. Its
// methods are called from every request at once and must not block.
type Metrics interface {
	// Request is called once a request is answered: route is the mux
	// pattern that served it ("POST /v1/companies/bulk_identify"), or
	// UnmatchedRoute, so that its values are bounded whatever paths
	// clients send.
	Request(route string, status int, elapsed time.Duration)
	// JobAccepted is called when a bulk or import request's job is stored
	// (queued).
	JobAccepted()
	// UploadSlots is called with +1 when a bulk request takes one of the
	// MaxUploads slots, and -1 when it gives it back.
	UploadSlots(delta int)
	// StoreError is called when the store method op fails for want of the
	// store (code internal_error, service_unavailable or insufficient_storage), not with
	// one of its documented answers nor because the client went away.
	StoreError(op, code string)
}

// UnmatchedRoute is the route of Metrics.Request for requests no route
// took: unknown paths (404), known ones with another method (405), and
// those refused before routing (an unclean path, a URL too long).
const UnmatchedRoute = "unmatched"

// Workers is the part of a worker pool /readyz checks.
type Workers interface {
	// Running reports whether the pool runs jobs and is not stopping.
	Running() bool
}

type noMetrics struct{}

func (noMetrics) Request(string, int, time.Duration) {}
func (noMetrics) JobAccepted()                       {}
func (noMetrics) UploadSlots(int)                    {}
func (noMetrics) StoreError(op, code string)         {}

// routeKey holds, in a request's context, where route records the
// pattern the mux chose for withMetrics.
type routeKey struct{}

// withMetrics reports each request, once answered, to s.metrics.
func (s *server) withMetrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := new(string)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// Also when a handler aborts (panic(http.ErrAbortHandler)).
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			name := *route
			if name == "" || name == "/" {
				name = UnmatchedRoute
			}
			s.metrics.Request(name, status, time.Since(start))
		}()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), routeKey{}, route)))
	})
}

// route serves r with the mux and records the pattern it chose.
func (s *server) route(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r) // sets r.Pattern
	if p, ok := r.Context().Value(routeKey{}).(*string); ok {
		*p = r.Pattern
	}
}

// countedStore is a Store that reports its failures to Metrics.
type countedStore struct {
	Store
	m Metrics
}

func (s countedStore) count(ctx context.Context, op string, err error) {
	switch code := bulkid.ErrorCode(err); code {
	case bulkid.EINTERNAL, bulkid.EUNAVAILABLE, bulkid.EFULL:
		if ctx.Err() == nil {
			s.m.StoreError(op, code)
		}
	}
}

func (s countedStore) AppByKeyHash(ctx context.Context, keyHash []byte) (*bulkid.App, error) {
	a, err := s.Store.AppByKeyHash(ctx, keyHash)
	s.count(ctx, "AppByKeyHash", err)
	return a, err
}

func (s countedStore) Ping(ctx context.Context) error {
	err := s.Store.Ping(ctx)
	s.count(ctx, "Ping", err)
	return err
}

func (s countedStore) SchemaVersion(ctx context.Context) (bulkid.SchemaVersion, error) {
	v, err := s.Store.SchemaVersion(ctx)
	s.count(ctx, "SchemaVersion", err)
	return v, err
}

func (s countedStore) CreateJob(ctx context.Context, job *bulkid.Job, input bulkid.JobInput) error {
	err := s.Store.CreateJob(ctx, job, input)
	s.count(ctx, "CreateJob", err)
	return err
}

func (s countedStore) Job(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error) {
	j, err := s.Store.Job(ctx, appID, jobID)
	s.count(ctx, "Job", err)
	return j, err
}

func (s countedStore) ActiveJob(ctx context.Context, appID int64) (*bulkid.Job, error) {
	j, err := s.Store.ActiveJob(ctx, appID)
	s.count(ctx, "ActiveJob", err)
	return j, err
}

func (s countedStore) ListJobs(ctx context.Context, appID int64, p bulkid.Page) ([]*bulkid.Job, error) {
	j, err := s.Store.ListJobs(ctx, appID, p)
	s.count(ctx, "ListJobs", err)
	return j, err
}

func (s countedStore) JobErrors(ctx context.Context, appID int64, jobID string, fromSeq, limit int) ([]bulkid.RecordError, error) {
	e, err := s.Store.JobErrors(ctx, appID, jobID, fromSeq, limit)
	s.count(ctx, "JobErrors", err)
	return e, err
}

func (s countedStore) Company(ctx context.Context, appID int64, companyID string) (*bulkid.Company, error) {
	c, err := s.Store.Company(ctx, appID, companyID)
	s.count(ctx, "Company", err)
	return c, err
}

func (s countedStore) ListCompanies(ctx context.Context, appID int64, p bulkid.Page, all bool) ([]*bulkid.Company, error) {
	c, err := s.Store.ListCompanies(ctx, appID, p, all)
	s.count(ctx, "ListCompanies", err)
	return c, err
}

func (s countedStore) User(ctx context.Context, appID int64, userID string) (*bulkid.User, error) {
	u, err := s.Store.User(ctx, appID, userID)
	s.count(ctx, "User", err)
	return u, err
}

func (s countedStore) Identify(ctx context.Context, appID int64, companies, users []bulkid.Record) error {
	err := s.Store.Identify(ctx, appID, companies, users)
	s.count(ctx, "Identify", err)
	return err
}

func (s countedStore) Track(ctx context.Context, appID int64, ev *bulkid.Event) error {
	err := s.Store.Track(ctx, appID, ev)
	s.count(ctx, "Track", err)
	return err
}

func (s countedStore) UserEvents(ctx context.Context, appID int64, userID, name string, p bulkid.Page) ([]*bulkid.Event, error) {
	e, err := s.Store.UserEvents(ctx, appID, userID, name, p)
	s.count(ctx, "UserEvents", err)
	return e, err
}

func (s countedStore) EventTotals(ctx context.Context, appID int64) ([]bulkid.EventTotal, error) {
	t, err := s.Store.EventTotals(ctx, appID)
	s.count(ctx, "EventTotals", err)
	return t, err
}

func (s countedStore) DeleteUsers(ctx context.Context, appID int64, ids []string) (int, error) {
	n, err := s.Store.DeleteUsers(ctx, appID, ids)
	s.count(ctx, "DeleteUsers", err)
	return n, err
}

func (s countedStore) DeleteCompanies(ctx context.Context, appID int64, ids []string) (int, error) {
	n, err := s.Store.DeleteCompanies(ctx, appID, ids)
	s.count(ctx, "DeleteCompanies", err)
	return n, err
}
