package bulkid

import "encoding/json"

// RawRecord is one record of a job's input exactly as the client sent it.
type RawRecord struct {
	Seq int    // 0-based order within the job
	Pos int    // index (JSON) or line (NDJSON)
	Raw []byte // the array element or the line, without its newline
}

// Record is a validated record, ready to be applied.
type Record struct {
	ID string
	// CompanyID associates a user with a company; "" leaves the user's
	// association as it is. Always "" for companies.
	CompanyID string
	// Metadata is a compact JSON object of primitives to merge into the
	// stored metadata (a null value removes the key), or nil for none.
	Metadata json.RawMessage
	// Seq, Pos and Raw place a job's record in its input (the worker sets
	// them), for the record error of a record the store cannot apply.
	Seq, Pos int
	Raw      []byte
}

// RecordError is one record that could not be applied, and why.
type RecordError struct {
	Seq     int
	Pos     int    // index (JSON) or line (NDJSON, CSV), per the job's Source
	ID      string // the record's id when it could be read
	Code    string // a record error code (see below)
	Message string
	Raw     []byte // the record as sent
}

// Record error codes: why one record of a job was not applied.
const (
	RMalformedJSON    = "malformed_json"     // the NDJSON line is not valid JSON
	RNotObject        = "not_an_object"      // the record is valid JSON but not an object
	RMissingID        = "missing_id"         // company_id / user_id absent, null or empty
	RInvalidID        = "invalid_id"         // the id is neither a string nor an integer, or too long
	RInvalidCompanyID = "invalid_company_id" // a user's company_id is not a valid id
	RInvalidMetadata  = "invalid_metadata"   // metadata is not an object, or has an empty key
	RNestedMetadata   = "nested_metadata"    // a metadata value is an object or an array
	RRecordTooLarge   = "record_too_large"   // the record is over MaxRecordBytes
	RMalformedRow     = "malformed_row"      // a CSV row that cannot be made into a record (MalformedRow)
)

// RProfileTooLarge is the record error of a record that would take its
// profile's metadata over MaxProfileKeys or MaxProfileBytes. Unlike the
// codes above, which ValidateRecord gives, it depends on what is stored,
// so the store gives it when it applies the record (ApplyRecords).
const RProfileTooLarge = "profile_too_large"
