package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/bulkid/bulkid"
)

type companyJSON struct {
	CompanyID string          `json:"company_id"`
	Metadata  json.RawMessage `json:"metadata"`
	UserCount int             `json:"user_count"`
	Visible   bool            `json:"visible"`
	CreatedAt string          `json:"created_at"`
	UpdatedAt string          `json:"updated_at"`
}

func toCompanyJSON(c *bulkid.Company) companyJSON {
	return companyJSON{CompanyID: c.ID, Metadata: c.Metadata, UserCount: c.UserCount, Visible: c.Visible,
		CreatedAt: timeString(c.CreatedAt), UpdatedAt: timeString(c.UpdatedAt)}
}

type userJSON struct {
	UserID    string          `json:"user_id"`
	CompanyID *string         `json:"company_id"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt string          `json:"created_at"`
	UpdatedAt string          `json:"updated_at"`
}

func (s *server) handleGetCompany(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	c, err := storableID(pathValue(r, "company_id"), func(id string) (*bulkid.Company, error) {
		return s.store.Company(r.Context(), app.ID, id)
	})
	if err != nil {
		s.writeError(w, r, notFound(err, "company", pathValue(r, "company_id")))
		return
	}
	writeJSON(w, http.StatusOK, toCompanyJSON(c))
}

// handleListCompanies lists the companies the dashboard shows (those with
// at least one user), or all of them with ?all=true.
func (s *server) handleListCompanies(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	page, err := pageOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	all := false
	switch r.URL.Query().Get("all") {
	case "", "false", "0":
	case "true", "1":
		all = true
	default:
		s.writeError(w, r, bulkid.Errorf(bulkid.EINVALID, "all must be true or false."))
		return
	}
	cs, err := s.store.ListCompanies(r.Context(), app.ID, page, all)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]companyJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toCompanyJSON(c))
	}
	if len(cs) == page.Limit {
		setNextLink(w, r, page.Limit, cs[len(cs)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) handleGetUser(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	u, err := storableID(pathValue(r, "user_id"), func(id string) (*bulkid.User, error) {
		return s.store.User(r.Context(), app.ID, id)
	})
	if err != nil {
		s.writeError(w, r, notFound(err, "user", pathValue(r, "user_id")))
		return
	}
	out := userJSON{UserID: u.ID, Metadata: u.Metadata, CreatedAt: timeString(u.CreatedAt), UpdatedAt: timeString(u.UpdatedAt)}
	if u.CompanyID != "" {
		out.CompanyID = &u.CompanyID
	}
	writeJSON(w, http.StatusOK, out)
}

// storableID looks id up with get, unless it is text no store can hold (not
// UTF-8, or with U+0000), which no record can have had: that is not found,
// as any unknown id, without asking a store that would refuse the query.
func storableID[T any](id string, get func(string) (*T, error)) (*T, error) {
	if !bulkid.Storable(id) {
		return nil, bulkid.Errorf(bulkid.ENOTFOUND, "no such id")
	}
	return get(id)
}
