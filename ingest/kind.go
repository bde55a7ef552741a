package ingest

import (
	"fmt"
	"io"

	"github.com/bulkid/bulkid"
)

// RecordKind tells which profile a record is: a user if it is a JSON object
// with a user_id member (whatever its value), else a company if it has a
// company_id member. ok is false for a record that tells neither, or is
// not a well-formed JSON object.
func RecordKind(raw []byte) (kind bulkid.JobType, ok bool) {
	if !bulkid.WellFormed(raw) {
		return "", false
	}
	walked := bulkid.ObjectMembers(raw, func(name, _ []byte) {
		switch bulkid.MemberName(name) {
		case "user_id":
			kind = bulkid.JobUsers
		case "company_id":
			if kind == "" {
				kind = bulkid.JobCompanies
			}
		}
	})
	return kind, walked && kind != ""
}

// ScanNDJSONKind is ScanNDJSON for a file that does not say what it holds:
// its first record tells (RecordKind), and every record is passed on as
// ScanNDJSON passes it, to be validated as that kind. It fails as
// ScanNDJSON does, and with EINVALID naming the line when the first record
// tells neither users nor companies.
func ScanNDJSONKind(r io.Reader, lim Limits, add Sink) (bulkid.JobType, int, error) {
	var kind bulkid.JobType
	n, err := ScanNDJSON(r, lim, func(pos int, raw []byte) error {
		if kind == "" {
			k, ok := RecordKind(raw)
			if !ok {
				return &bulkid.Error{Code: bulkid.EINVALID, Message: fmt.Sprintf(
					"The first record of the NDJSON file (line %d) is not a JSON object with a user_id or a company_id member, so whether the file holds users or companies cannot be told: "+
						"write each line as a user {\"user_id\": ...} (a company_id then associates it with a company) or as a company {\"company_id\": ...}.", pos)}
			}
			kind = k
		}
		return add(pos, raw)
	})
	if err != nil {
		return "", 0, err
	}
	return kind, n, nil
}
