package bulkid

// ParseID reads one id sent as the JSON value raw, as a record's id is
// read (a non-empty string of at most MaxIDLen bytes of storable text, or
// an integer taken as its decimal string), for the ids of a delete
// request. field names the value in the message of the RecordError
// (RMissingID, RInvalidID or RMalformedJSON) that refuses it.
func ParseID(field string, raw []byte) (string, *RecordError) {
	if !WellFormed(raw) {
		return "", &RecordError{Code: RMalformedJSON, Message: field + " is not a JSON value"}
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return "", &RecordError{Code: RMalformedJSON, Message: field + " is not a JSON value"}
	}
	var asSent []byte
	if mayHoldSurrogate(raw) {
		asSent = raw
	}
	id, code, msg := parseID(field, v, asSent)
	if code != "" {
		return "", &RecordError{Code: code, Message: msg}
	}
	return id, nil
}
