package ingest

import (
	"bytes"
	"io"

	"github.com/bulkid/bulkid"
)

// The tests read bodies into slices; the server streams them into a sink.

// collect returns a Sink that appends copies of the records to *recs.
func collect(recs *[]bulkid.RawRecord) Sink {
	return func(pos int, raw []byte) error {
		*recs = append(*recs, bulkid.RawRecord{Seq: len(*recs), Pos: pos, Raw: bytes.Clone(raw)})
		return nil
	}
}

// ReadJSON is ScanJSON into a slice.
func ReadJSON(r io.Reader, field string, lim Limits) ([]bulkid.RawRecord, error) {
	var recs []bulkid.RawRecord
	if _, err := ScanJSON(r, field, lim, collect(&recs)); err != nil {
		return nil, err
	}
	return recs, nil
}

// ReadNDJSON is ScanNDJSON into a slice.
func ReadNDJSON(r io.Reader, lim Limits) ([]bulkid.RawRecord, error) {
	var recs []bulkid.RawRecord
	if _, err := ScanNDJSON(r, lim, collect(&recs)); err != nil {
		return nil, err
	}
	return recs, nil
}
