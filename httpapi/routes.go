package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
)

// routes lists every endpoint in one place.
func (s *server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("/", s.handleNotFound)
	if s.healthOnly {
		return
	}
	mux.HandleFunc("GET /openapi.json", s.handleOpenAPI)

	mux.Handle("POST /v1/companies/bulk_identify", s.authenticated(s.idempotent(s.uploadSlot(s.handleBulkIdentify(bulkid.JobCompanies)))))
	mux.Handle("POST /v1/users/bulk_identify", s.authenticated(s.idempotent(s.uploadSlot(s.handleBulkIdentify(bulkid.JobUsers)))))
	mux.Handle("POST /v1/imports", s.authenticated(s.idempotent(s.uploadSlot(s.handleImport))))

	mux.Handle("POST /v1/companies/identify", s.authenticated(s.realtime(s.handleIdentifyCompany)))
	mux.Handle("POST /v1/identify", s.authenticated(s.realtime(s.handleIdentifyUser)))

	mux.Handle("GET /v1/validate", s.authenticated(s.handleValidate))

	mux.Handle("DELETE /v1/users", s.authenticated(s.realtime(s.handleDelete(bulkid.JobUsers))))
	mux.Handle("DELETE /v1/companies", s.authenticated(s.realtime(s.handleDelete(bulkid.JobCompanies))))

	mux.Handle("GET /v1/background_jobs", s.authenticated(s.jobReads(s.handleListJobs)))
	mux.Handle("GET /v1/background_jobs/{job_id}", s.authenticated(s.jobReads(s.handleGetJob)))
	mux.Handle("GET /v1/background_jobs/{job_id}/errors", s.authenticated(s.jobReads(s.handleJobErrors)))
	mux.Handle("POST /v1/background_jobs/{job_id}/cancel", s.authenticated(s.jobReads(s.handleCancelJob)))

	mux.Handle("GET /v1/companies", s.authenticated(s.handleListCompanies))
	mux.Handle("GET /v1/companies/{company_id}", s.authenticated(s.handleGetCompany))
	mux.Handle("GET /v1/users/{user_id}", s.authenticated(s.handleGetUser))

	mux.Handle("POST /v1/track", s.authenticated(s.realtime(s.handleTrack)))
	mux.Handle("GET /v1/users/{user_id}/events", s.authenticated(s.handleUserEvents))
	mux.Handle("GET /v1/events/totals", s.authenticated(s.handleEventTotals))

	mux.Handle("POST /v1/webhooks", s.authenticated(s.handleCreateWebhook))
	mux.Handle("GET /v1/webhooks", s.authenticated(s.handleListWebhooks))
	mux.Handle("DELETE /v1/webhooks/{webhook_id}", s.authenticated(s.handleDeleteWebhook))
	mux.Handle("GET /v1/webhooks/{webhook_id}/deliveries", s.authenticated(s.handleDeliveries))
}

func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ping(r.Context()); err != nil {
		s.writeError(w, r, &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "The store cannot be reached."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleValidate answers a valid key: Segment's destination tests a key
// with it, and takes any 2xx for a good one.
func (s *server) handleValidate(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	writeJSON(w, http.StatusOK, struct {
		Valid bool   `json:"valid"`
		App   string `json:"app"`
	}{true, app.Name})
}

// handleNotFound answers paths no route takes: 405 with Allow when the
// path exists for other methods, 404 otherwise, both in the error shape.
// Under /v1/ the key is checked first (inAPI), so that a request without
// a valid key gets 401 whatever its path.
func (s *server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if inAPI(r.URL.Path) {
		s.authenticated(func(w http.ResponseWriter, r *http.Request, _ *bulkid.App) { s.noRoute(w, r) }).ServeHTTP(w, r)
		return
	}
	s.noRoute(w, r)
}

// inAPI reports whether path is under /v1, where every answer but a 401
// needs a valid key: a client must not take a missing endpoint for a bad
// key, nor a caller without one learn which endpoints exist.
func inAPI(path string) bool { return path == "/v1" || strings.HasPrefix(path, "/v1/") }

// noRoute is handleNotFound's answer once the key, if needed, is good.
func (s *server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, bulkid.Errorf(bulkid.EMETHOD, "%s is not allowed on %s; use %s.", r.Method, shownPath(r), strings.Join(allow, " or ")))
		return
	}
	s.writeError(w, r, bulkid.Errorf(bulkid.ENOTFOUND, "There is no endpoint %s %s.", r.Method, shownPath(r)))
}

// notFound gives a store's ENOTFOUND a message naming what was missing.
func notFound(err error, what, id string) error {
	if bulkid.ErrorCode(err) == bulkid.ENOTFOUND {
		return bulkid.Errorf(bulkid.ENOTFOUND, "No %s with the id %q exists in this app.", what, id)
	}
	return err
}

// readyTimeout bounds the store's checks of /readyz, so that a probe of a
// store that hangs is answered not ready rather than left waiting.
const readyTimeout = 5 * time.Second

// handleReadyz answers whether this process can do its work: the store
// answers, its schema is the one this binary was built for, and the
// workers (if this process runs them) run. 503 when any check fails,
// each failing check carrying a short reason; docs/OPERATIONS.md.
func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	checks := map[string]string{"store": "ok", "schema": "ok"}
	if err := s.store.Ping(ctx); err != nil {
		checks["store"] = "unreachable"
	}
	switch v, err := s.store.SchemaVersion(ctx); {
	case err != nil:
		checks["schema"] = "unknown: the store cannot be read"
	case v.Applied < v.Latest:
		checks["schema"] = fmt.Sprintf("behind: the database is at migration %d, this bulkid needs %d; run bulkid migrate", v.Applied, v.Latest)
	case v.Applied > v.Latest:
		checks["schema"] = fmt.Sprintf("ahead: the database is at migration %d, this bulkid knows only %d; run a newer bulkid", v.Applied, v.Latest)
	}
	if s.workers != nil {
		checks["workers"] = "ok"
		if !s.workers.Running() {
			checks["workers"] = "stopped"
		}
	}
	status, body := http.StatusOK, "ready"
	for _, c := range checks {
		if c != "ok" {
			status, body = http.StatusServiceUnavailable, "not_ready"
		}
	}
	writeJSON(w, status, struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}{body, checks})
}
