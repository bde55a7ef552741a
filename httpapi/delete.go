package httpapi

import (
	"fmt"
	"mime"
	"net/http"
	"slices"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
)

// maxDeleteIDs is how many ids one delete request may name, as many as a
// bulk request's records.
const maxDeleteIDs = bulkid.MaxRecords

// maxDeleteBytes bounds a delete request's body: 10,000 ids of 512 bytes
// (the longest id), quoted and separated, take 5.2 MB.
const maxDeleteBytes = 6 << 20

// deleted is the answer to a delete: it is done when answered.
type deleted struct {
	Status   string `json:"status"`    // always "completed"
	Deleted  int    `json:"deleted"`   // profiles removed
	NotFound int    `json:"not_found"` // distinct ids the app did not have
}

// handleDelete removes the users (DELETE /v1/users, {"users": [ids]}) or
// the companies (DELETE /v1/companies, {"companies": [ids]}) named, at
// once, in one transaction.
func (s *server) handleDelete(t bulkid.JobType) func(http.ResponseWriter, *http.Request, *bulkid.App) {
	field := "users"
	remove := s.store.DeleteUsers
	if t == bulkid.JobCompanies {
		field, remove = "companies", s.store.DeleteCompanies
	}
	return func(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
		ids, err := s.readDeleteIDs(w, r, field)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		n, err := remove(r.Context(), app.ID, ids)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		distinct := len(bulkid.SortedIDs(slices.Clone(ids)))
		writeJSON(w, http.StatusAccepted, deleted{Status: "completed", Deleted: n, NotFound: distinct - n})
	}
}

// readDeleteIDs reads the ids of a delete body, {field: [ids]}, as they
// stream in: each one is read by the rules of a record's id as it comes,
// and the 10,001st id, or a byte past maxDeleteBytes, stops the read.
func (s *server) readDeleteIDs(w http.ResponseWriter, r *http.Request, field string) ([]string, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, &bulkid.Error{Code: bulkid.EUNSUPPORTED, Message: fmt.Sprintf(`Send the ids as application/json: {"%s": [...]}.`, field)}
	}
	coding, err := contentCoding(r)
	if err != nil {
		w.Header().Set("Accept-Encoding", "gzip")
		return nil, err
	}
	if r.ContentLength > maxDeleteBytes && (coding == "" || r.ContentLength > maxCompressed(maxDeleteBytes)) {
		w.Header().Set("Connection", "close")
		return nil, ingest.LimitError(maxDeleteBytes)
	}
	raw := openBody(r, coding, maxDeleteBytes)
	var ids []string
	_, err = ingest.ScanJSON(ingest.LimitReader(raw, maxDeleteBytes, nil), field,
		ingest.Limits{MaxRecords: maxDeleteIDs, MaxBytes: maxDeleteBytes},
		func(pos int, v []byte) error {
			id, rerr := bulkid.ParseID(fmt.Sprintf("%s[%d]", field, pos), v)
			if rerr != nil {
				return &bulkid.Error{Code: bulkid.EINVALID, Message: rerr.Message + ".", Details: rerr.Code}
			}
			ids = append(ids, id)
			return nil
		})
	switch bulkid.ErrorCode(err) {
	case "":
		return ids, nil
	case bulkid.EEMPTY: // an empty array deletes nothing
		return nil, nil
	case bulkid.ETOOMANY:
		w.Header().Set("Connection", "close")
		return nil, bulkid.Errorf(bulkid.ETOOMANY, "The request names more than %d ids; send at most %d a request.", maxDeleteIDs, maxDeleteIDs)
	case bulkid.ETOOLARGE:
		w.Header().Set("Connection", "close")
	}
	return nil, raw.explain(err, "")
}
