package httpapi

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
)

// maxIdentifyBytes bounds the body of a real-time identify: one record.
const maxIdentifyBytes = bulkid.MaxRecordBytes

// readIdentify reads the JSON object of a real-time identify request. A
// body whose Content-Length is over the limit is refused before any of it
// is read, so a client that sent Expect: 100-continue gets the 413, not a
// 100 Continue.
func (s *server) readIdentify(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, &bulkid.Error{Code: bulkid.EUNSUPPORTED, Message: "Send the record as application/json."}
	}
	coding, err := contentCoding(r)
	if err != nil {
		w.Header().Set("Accept-Encoding", "gzip")
		return nil, err
	}
	if r.ContentLength > maxIdentifyBytes && (coding == "" || r.ContentLength > maxCompressed(maxIdentifyBytes)) {
		w.Header().Set("Connection", "close")
		return nil, ingest.LimitError(maxIdentifyBytes)
	}
	raw := openBody(r, coding, maxIdentifyBytes)
	b, err := io.ReadAll(ingest.LimitReader(raw, maxIdentifyBytes, nil))
	if err != nil {
		if bulkid.ErrorCode(err) == bulkid.ETOOLARGE {
			w.Header().Set("Connection", "close")
		}
		return nil, raw.explain(err, "")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, &bulkid.Error{Code: bulkid.EINVALIDJSON, Message: "The body must be one JSON object."}
	}
	return m, nil
}

// validateOne validates a record built from a request, as a job would.
func validateOne(t bulkid.JobType, fields map[string]json.RawMessage) (bulkid.Record, error) {
	raw, err := json.Marshal(fields)
	if err != nil {
		return bulkid.Record{}, err
	}
	rec, rerr := bulkid.ValidateRecord(t, raw)
	if rerr != nil {
		return rec, &bulkid.Error{Code: bulkid.EINVALIDRECORD, Message: rerr.Message, Details: rerr.Code}
	}
	return rec, nil
}

// handleIdentifyCompany applies one company at once:
// {"company_id": "...", "metadata": {...}}.
func (s *server) handleIdentifyCompany(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	fields, err := s.readIdentify(w, r)
	if err == nil {
		var rec bulkid.Record
		if rec, err = validateOne(bulkid.JobCompanies, fields); err == nil {
			err = s.store.Identify(r.Context(), app.ID, []bulkid.Record{rec}, nil)
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}

// handleIdentifyUser applies one user at once: {"user_id": "...",
// "metadata": {...}, "company": {"id": "...", ...properties}}. The company
// object's id (or company_id) associates the user; its other members are
// the company's metadata.
func (s *server) handleIdentifyUser(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	fields, err := s.readIdentify(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var companies []bulkid.Record
	if raw, ok := fields["company"]; ok && string(raw) != "null" {
		var props map[string]json.RawMessage
		if err := json.Unmarshal(raw, &props); err != nil || props == nil {
			s.writeError(w, r, &bulkid.Error{Code: bulkid.EINVALIDRECORD, Message: "company must be an object with an id."})
			return
		}
		id := props["id"]
		if id == nil {
			id = props["company_id"]
		}
		delete(props, "id")
		delete(props, "company_id")
		md, _ := json.Marshal(props)
		rec, err := validateOne(bulkid.JobCompanies, map[string]json.RawMessage{"company_id": id, "metadata": md})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		companies = append(companies, rec)
		fields["company_id"] = id
	}
	delete(fields, "company")
	user, err := validateOne(bulkid.JobUsers, fields)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.Identify(r.Context(), app.ID, companies, []bulkid.Record{user}); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}
