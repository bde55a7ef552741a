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
// 100 Continue. It returns the body as sent and its members by name, each
// value as sent. Names are decoded, but only to be compared with field
// names: what validation judges is the bytes as sent, never decoded and
// encoded again (encoding/json reads an unpaired surrogate escape, or a
// byte that is not UTF-8, as U+FFFD).
func (s *server) readIdentify(w http.ResponseWriter, r *http.Request) ([]byte, map[string]json.RawMessage, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, nil, &bulkid.Error{Code: bulkid.EUNSUPPORTED, Message: "Send the record as application/json."}
	}
	coding, err := contentCoding(r)
	if err != nil {
		w.Header().Set("Accept-Encoding", "gzip")
		return nil, nil, err
	}
	if r.ContentLength > maxIdentifyBytes && (coding == "" || r.ContentLength > maxCompressed(maxIdentifyBytes)) {
		w.Header().Set("Connection", "close")
		return nil, nil, ingest.LimitError(maxIdentifyBytes)
	}
	raw := openBody(r, coding, maxIdentifyBytes)
	b, err := io.ReadAll(ingest.LimitReader(raw, maxIdentifyBytes, nil))
	if err != nil {
		if bulkid.ErrorCode(err) == bulkid.ETOOLARGE {
			w.Header().Set("Connection", "close")
		}
		return nil, nil, raw.explain(err, "")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, nil, &bulkid.Error{Code: bulkid.EINVALIDJSON, Message: "The body must be one JSON object."}
	}
	return b, m, nil
}

// validateOne validates a record as a job would, with the real-time
// endpoints' options: nested metadata is flattened (docs/API.md, "Nested
// metadata").
func validateOne(t bulkid.JobType, raw []byte) (bulkid.Record, error) {
	rec, rerr := bulkid.ValidateRecordOpts(t, raw, bulkid.RealtimeOptions())
	if rerr != nil {
		return rec, &bulkid.Error{Code: bulkid.EINVALIDRECORD, Message: rerr.Message, Details: rerr.Code}
	}
	return rec, nil
}

// appendMember appends the member "name": value to the JSON object being
// built in dst, if value is not nil.
func appendMember(dst []byte, name string, value []byte) []byte {
	if value == nil {
		return dst
	}
	if len(dst) > 1 {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return append(dst, value...)
}

// handleIdentifyCompany applies one company at once:
// {"company_id": "...", "metadata": {...}}.
func (s *server) handleIdentifyCompany(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	body, _, err := s.readIdentify(w, r)
	if err == nil {
		var rec bulkid.Record
		if rec, err = validateOne(bulkid.JobCompanies, body); err == nil {
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
	body, fields, err := s.readIdentify(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	userRaw := body
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
		if id == nil {
			id = json.RawMessage("null")
		}
		// The company's metadata is its other members, as sent.
		md := []byte{'{'}
		bulkid.ObjectMembers(raw, func(name, value []byte) {
			if n := bulkid.MemberName(name); n == "id" || n == "company_id" {
				return
			}
			if len(md) > 1 {
				md = append(md, ',')
			}
			md = append(append(append(md, name...), ':'), value...)
		})
		md = append(md, '}')
		crec := appendMember([]byte{'{'}, "company_id", id)
		crec = append(appendMember(crec, "metadata", md), '}')
		rec, err := validateOne(bulkid.JobCompanies, crec)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		companies = append(companies, rec)
		// The user is the record's own fields with the company's id.
		urec := appendMember([]byte{'{'}, "user_id", fields["user_id"])
		urec = appendMember(urec, "metadata", fields["metadata"])
		userRaw = append(appendMember(urec, "company_id", id), '}')
	}
	user, err := validateOne(bulkid.JobUsers, userRaw)
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
