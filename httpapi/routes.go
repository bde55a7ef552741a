package httpapi

import (
	"net/http"

	"github.com/bulkid/bulkid"
)

// routes lists every endpoint in one place.
func (s *server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.handleHealthz)

	mux.Handle("POST /v1/companies/bulk_identify", s.authenticated(s.handleBulkIdentify(bulkid.JobCompanies)))
	mux.Handle("POST /v1/users/bulk_identify", s.authenticated(s.handleBulkIdentify(bulkid.JobUsers)))

	mux.Handle("GET /v1/background_jobs", s.authenticated(s.handleListJobs))
	mux.Handle("GET /v1/background_jobs/{job_id}", s.authenticated(s.handleGetJob))
	mux.Handle("GET /v1/background_jobs/{job_id}/errors", s.authenticated(s.handleJobErrors))

	mux.Handle("GET /v1/companies", s.authenticated(s.handleListCompanies))
	mux.Handle("GET /v1/companies/{company_id}", s.authenticated(s.handleGetCompany))
	mux.Handle("GET /v1/users/{user_id}", s.authenticated(s.handleGetUser))

	mux.HandleFunc("/", s.handleNotFound)
}

func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ping(r.Context()); err != nil {
		s.writeError(w, r, &bulkid.Error{Code: bulkid.EUNAVAILABLE, Message: "The store cannot be reached."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, bulkid.Errorf(bulkid.ENOTFOUND, "There is no endpoint %s %s.", r.Method, r.URL.Path))
}
