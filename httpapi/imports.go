package httpapi

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
)

// importMemoryMax is the largest import body whose records are packed in
// memory: a CSV row's record repeats the column names, so its records can
// be several times the file; a quarter of memoryInputMax keeps them near
// what a bulk body of memoryInputMax holds.
const importMemoryMax = memoryInputMax / 4

// sniffBytes is how far into an import file the server looks for its
// first byte that is not white space, to tell NDJSON from CSV.
const sniffBytes = 64 << 10

// importFormat is how an imported file is written.
type importFormat int

const (
	formatUnknown importFormat = iota
	formatCSV
	formatNDJSON
)

// Media types that name a format; any other (application/octet-stream,
// text/plain, application/json, none) leaves it to the file's name.
var importMediaTypes = map[string]importFormat{
	"text/csv":                    formatCSV,
	"application/csv":             formatCSV,
	"text/comma-separated-values": formatCSV,
	"application/x-ndjson":        formatNDJSON,
	"application/ndjson":          formatNDJSON,
	"application/x-jsonlines":     formatNDJSON,
	"application/jsonl":           formatNDJSON,
	"application/jsonlines":       formatNDJSON,
	"application/json-lines":      formatNDJSON,
	"application/x-json-lines":    formatNDJSON,
	"text/jsonl":                  formatNDJSON,
}

// Extensions that name a format.
var importExtensions = map[string]importFormat{
	".csv":       formatCSV,
	".ndjson":    formatNDJSON,
	".jsonl":     formatNDJSON,
	".jsonlines": formatNDJSON,
}

// handleImport accepts POST /v1/imports: a multipart body whose part
// "file" is a CSV or NDJSON file of users or of companies, which the file
// itself tells. It is the bulk upload in all else (limits, upload slots,
// the one-job rule, the job), but answers 200, as the published OpenAPI
// description does.
func (s *server) handleImport(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		s.writeError(w, r, &bulkid.Error{Code: bulkid.EUNSUPPORTED,
			Message: "Send multipart/form-data with a CSV or NDJSON file of users or companies in the field \"file\"."})
		return
	}
	s.receiveJob(w, r, app, mediaType, params, http.StatusOK, importMemoryMax, func(body io.Reader, file io.Writer, job *bulkid.Job, add ingest.Sink) error {
		return s.readMultipart(body, file, params["boundary"], job, "a CSV or NDJSON file", func(part *multipart.Part, file io.Reader) error {
			return s.readImport(part, file, job, add)
		})
	})
}

// readImport reads an imported file: it tells the format from the part's
// Content-Type, else the file's name, else the first byte that is not
// white space ('{' is NDJSON), and the kind from the file's header or
// first record.
func (s *server) readImport(part *multipart.Part, file io.Reader, job *bulkid.Job, add ingest.Sink) error {
	br := bufio.NewReaderSize(file, sniffBytes)
	head, err := br.Peek(sniffBytes)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err // bufio hands an error out once: do not drop it
	}
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		return bulkid.Errorf(bulkid.EINVALID, "The file is gzip-compressed: send it as it is, or compress the whole request body with Content-Encoding: gzip.")
	}
	first := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(first) == 0 && err == io.EOF {
		return &bulkid.Error{Code: bulkid.EEMPTY, Message: "The file is empty. " + ingest.ImportForms}
	}
	format := formatOf(part, job.Filename, first)
	if format == formatUnknown {
		return bulkid.Errorf(bulkid.EINVALID,
			"The file starts with '[', a JSON array, which is not a format of imports. %s A JSON body {\"users\": [...]} or {\"companies\": [...]} goes to POST /v1/users/bulk_identify or /v1/companies/bulk_identify.", ingest.ImportForms)
	}
	if format == formatCSV {
		job.Source = bulkid.SourceCSV
		job.Type, _, err = ingest.ScanCSV(br, s.limits, add)
	} else {
		job.Source = bulkid.SourceNDJSON
		job.Type, _, err = ingest.ScanNDJSONKind(br, s.limits, add)
	}
	return err
}

// formatOf tells an imported file's format from the part's Content-Type,
// else from the file name's extension, else from first, the file's content
// from its first byte that is not white space: '{' is NDJSON, '[' (a JSON
// array) is neither (formatUnknown), anything else CSV.
func formatOf(part *multipart.Part, filename string, first []byte) importFormat {
	if mt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type")); err == nil {
		if f, ok := importMediaTypes[mt]; ok {
			return f
		}
	}
	if f, ok := importExtensions[strings.ToLower(path.Ext(filename))]; ok {
		return f
	}
	switch {
	case len(first) > 0 && first[0] == '{':
		return formatNDJSON
	case len(first) > 0 && first[0] == '[':
		return formatUnknown
	default:
		return formatCSV
	}
}
