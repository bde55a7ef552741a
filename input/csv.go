package input

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/bulkid/bulkid/ingest"
)

// A CSV file is read with the conversion POST /v1/imports uses
// (ingest.CSVColumns): the header names the id column and the metadata
// keys, and each row becomes one record.
type csvReader struct {
	file   string
	r      *csv.Reader
	closer io.Closer
	cols   *ingest.CSVColumns
}

func newCSVReader(file string, br *bufio.Reader, closer io.Closer, opts Options) (*csvReader, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, bom) {
		br.Discard(3)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	fail := func(err error) (*csvReader, error) {
		closer.Close()
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	header, err := r.Read()
	if err == io.EOF {
		return fail(ingest.ErrCSVNoHeader)
	} else if err != nil {
		return fail(err)
	}
	cols, err := ingest.NewCSVColumns(header, opts.Kind, opts.CSVStrings)
	if err != nil {
		return fail(err)
	}
	return &csvReader{file: file, r: r, closer: closer, cols: cols}, nil
}

func (c *csvReader) Next() (Record, error) {
	row, err := c.r.Read()
	if err != nil {
		if err == io.EOF {
			return Record{}, io.EOF
		}
		return Record{}, fmt.Errorf("%s: %w", c.file, err)
	}
	line, _ := c.r.FieldPos(0)
	rec := Record{File: c.file, Line: line}
	if rec.Raw, err = c.cols.Record(row); err != nil {
		rec.Raw = []byte(strings.Join(row, ","))
		rec.Err = err.Error()
	}
	return rec, nil
}

func (c *csvReader) Close() error { return c.closer.Close() }
