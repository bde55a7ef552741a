package httpapi

import (
	"net/http"
	"strings"

	"github.com/bulkid/bulkid"
)

// routes lists every endpoint in one place.
func (s *server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("/", s.handleNotFound)
	if s.healthOnly {
		return
	}

	mux.Handle("POST /v1/companies/bulk_identify", s.authenticated(s.uploadSlot(s.handleBulkIdentify(bulkid.JobCompanies))))
	mux.Handle("POST /v1/users/bulk_identify", s.authenticated(s.uploadSlot(s.handleBulkIdentify(bulkid.JobUsers))))
	mux.Handle("POST /v1/imports", s.authenticated(s.uploadSlot(s.handleImport)))

	mux.Handle("POST /v1/companies/identify", s.authenticated(s.handleIdentifyCompany))
	mux.Handle("POST /v1/identify", s.authenticated(s.handleIdentifyUser))

	mux.Handle("GET /v1/background_jobs", s.authenticated(s.handleListJobs))
	mux.Handle("GET /v1/background_jobs/{job_id}", s.authenticated(s.handleGetJob))
	mux.Handle("GET /v1/background_jobs/{job_id}/errors", s.authenticated(s.handleJobErrors))

	mux.Handle("GET /v1/companies", s.authenticated(s.handleListCompanies))
	mux.Handle("GET /v1/companies/{company_id}", s.authenticated(s.handleGetCompany))
	mux.Handle("GET /v1/users/{user_id}", s.authenticated(s.handleGetUser))
}

func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ping(r.Context()); err != nil {
		s.writeError(w, r, &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "The store cannot be reached."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleNotFound answers paths no route takes: 405 with Allow when the
// path exists for other methods, 404 otherwise, both in the error shape.
func (s *server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, bulkid.Errorf(bulkid.EMETHOD, "%s is not allowed on %s; use %s.", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return
	}
	s.writeError(w, r, bulkid.Errorf(bulkid.ENOTFOUND, "There is no endpoint %s %s.", r.Method, r.URL.Path))
}

// notFound gives a store's ENOTFOUND a message naming what was missing.
func notFound(err error, what, id string) error {
	if bulkid.ErrorCode(err) == bulkid.ENOTFOUND {
		return bulkid.Errorf(bulkid.ENOTFOUND, "No %s with the id %q exists in this app.", what, id)
	}
	return err
}
