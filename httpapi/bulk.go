package httpapi

import (
	"errors"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
	"github.com/bulkid/bulkid/internal/recordpack"
	"github.com/google/uuid"
)

// memoryInputMax is the largest body whose records are packed in memory;
// larger ones, and those of unknown length, go to a spool file.
const memoryInputMax = 1 << 20

// multipartOverhead is what a multipart body may carry beyond its file part
// (boundaries, part headers, small fields).
const multipartOverhead = 1 << 20

// handleBulkIdentify accepts a bulk request of type t: it reads the records
// while they stream in, enforcing the limits, stores the job with all its
// input, and only then answers 202.
func (s *server) handleBulkIdentify(t bulkid.JobType) func(http.ResponseWriter, *http.Request, *bulkid.App) {
	field := string(t) // the JSON member: "companies" or "users"
	return func(w http.ResponseWriter, r *http.Request, app *bulkid.App) {
		mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			mediaType = ""
		}
		switch mediaType {
		case "application/json", "multipart/form-data", "application/x-ndjson":
		default:
			s.writeError(w, r, &bulkid.Error{Code: bulkid.EUNSUPPORTED,
				Message: "Send application/json, application/x-ndjson, or multipart/form-data with an NDJSON file in the field \"file\"."})
			return
		}
		s.receiveJob(w, r, app, mediaType, params, http.StatusAccepted, memoryInputMax, func(body io.Reader, file io.Writer, job *bulkid.Job, add ingest.Sink) error {
			job.Type = t
			switch mediaType {
			case "application/json":
				job.Source = bulkid.SourceJSON
				_, err := ingest.ScanJSON(body, field, s.limits, add)
				return err
			case "application/x-ndjson":
				job.Source = bulkid.SourceNDJSON
				_, err := ingest.ScanNDJSON(ingest.LimitReader(body, s.limits.MaxBytes, &job.FileSize), s.limits, add)
				return err
			default:
				job.Source = bulkid.SourceNDJSON
				return s.readMultipart(body, file, params["boundary"], job, "the NDJSON file", func(_ *multipart.Part, file io.Reader) error {
					_, err := ingest.ScanNDJSON(file, s.limits, add)
					return err
				})
			}
		})
	}
}

// readJob reads the records of a request body, as decoded and limited,
// into add, and sets the job's Type, Source and file fields. A multipart
// body's file part is copied to file as it is read (readMultipart), for
// the request's fingerprint.
type readJob func(body io.Reader, file io.Writer, job *bulkid.Job, add ingest.Sink) error

// receiveJob is what every endpoint that makes a job of a request body
// does once the body's Content-Type is known to be one it takes (of the
// media type and params given): it refuses a Content-Encoding it cannot
// decode, a job while another runs (409) and a body whose Content-Length
// is over the limit, then reads the records while they stream in, with
// read, enforcing the limits; it stores the job with all its input, and
// only then answers status with the job. Records are packed in memory for
// a body of at most memMax bytes, in a spool file otherwise.
//
// With an Idempotency-Key (idempotent) the job and the key are stored
// together; a key the app holds already is a replay: its body is read as
// any other, for its fingerprint, but nothing is kept, and the answer is
// the key's job (replay), never a 409 of its own job.
func (s *server) receiveJob(w http.ResponseWriter, r *http.Request, app *bulkid.App, mediaType string, params map[string]string,
	status int, memMax int64, read readJob) {
	coding, err := contentCoding(r)
	if err != nil {
		s.refuseCoding(w, r, err)
		return
	}
	nested, err := nestedRule(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	key := requestKey(r)
	var prior *bulkid.IdempotencyKey
	if key != "" {
		if prior, err = s.store.IdempotencyKey(r.Context(), app.ID, key); bulkid.ErrorCode(err) == bulkid.ENOTFOUND {
			prior = nil
		} else if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	// Fail fast before the upload when a job is already running; the
	// store enforces the rule again atomically when the job is created.
	if prior == nil {
		if active, err := s.store.ActiveJob(r.Context(), app.ID); err == nil {
			// Another process may have accepted the key since it was
			// looked up, with the job that now holds the app.
			if prior = s.keyAccepted(r, app, key); prior == nil {
				s.writeConflict(w, r, active)
				return
			}
		} else if bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
			s.writeError(w, r, err)
			return
		}
		s.setJobSlotHeaders(w, nil) // the slot is free, as far as is known now
	}
	maxBody, boundary := s.limits.MaxBytes, ""
	if mediaType == "multipart/form-data" {
		maxBody += multipartOverhead
		boundary = params["boundary"]
	}
	// Content-Length counts the bytes as sent, compressed or not.
	if r.ContentLength > maxBody && (coding == "" || r.ContentLength > maxCompressed(maxBody)) {
		s.writeError(w, r, ingest.LimitError(s.limits.MaxBytes))
		return
	}
	// The limits apply to the body as decoded, while it streams.
	raw := openBody(r, coding, maxBody)
	var bodySize int64 // decoded: a JSON job's file_size
	var body io.Reader = ingest.LimitReader(raw, maxBody, &bodySize)
	// With a key, the request's fingerprint is taken as the content is
	// read: the whole body, or a multipart body's file part.
	fp := newFingerprint(r, mediaType)
	file := io.Discard
	switch {
	case key == "":
	case boundary == "":
		body = io.TeeReader(body, fp.content)
	default:
		file = fp.content
	}

	// The records are packed as they arrive: in memory for a small body,
	// in a spool file for one that may reach 50 MB, so a request never
	// holds its whole input in memory. A replay's are not kept.
	input := recordpack.NewWriter()
	if prior == nil && (r.ContentLength < 0 || r.ContentLength > memMax || coding != "") {
		if input, err = recordpack.NewFileWriter(s.spoolDir); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	defer input.Close()
	add := input.Add
	if prior != nil {
		add = func(int, []byte) error { return nil }
	}

	job := &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Nested: nested}
	if err = read(body, file, job, add); err != nil {
		err = raw.explain(err, boundary)
	}
	if job.Source == bulkid.SourceJSON {
		job.FileSize = bodySize
	}
	if bulkid.ErrorMessage(err) == bulkid.ErrorMessage(ingest.LimitError(maxBody)) {
		err = ingest.LimitError(s.limits.MaxBytes) // name the file limit, not the multipart allowance
	}
	if err != nil {
		s.writeReadError(w, r, err)
		return
	}
	if prior != nil {
		s.replay(w, r, app, prior, fp.sum(job))
		return
	}
	if key == "" {
		err = s.store.CreateJob(r.Context(), job, input)
	} else {
		prior, err = s.store.CreateJobWithKey(r.Context(), job, input, bulkid.IdempotencyKey{Key: key, Fingerprint: fp.sum(job)})
		if bulkid.ErrorCode(err) == bulkid.ECONFLICT {
			if prior = s.keyAccepted(r, app, key); prior != nil {
				err = nil
			}
		}
		if err == nil && prior != nil {
			s.replay(w, r, app, prior, fp.sum(job))
			return
		}
	}
	if err != nil {
		var be *bulkid.Error
		if errors.As(err, &be) && be.Code == bulkid.ECONFLICT && be.Job != nil {
			s.writeConflict(w, r, be.Job)
			return
		}
		s.writeError(w, r, err)
		return
	}
	s.metrics.JobAccepted()
	s.log.Info("job accepted", "request_id", requestID(r), "job_id", job.ID, "app_id", app.ID, "type", job.Type, "total_rows", job.TotalRows)
	s.notify()
	s.setJobSlotHeaders(w, job)
	w.Header().Set("Location", jobLink(job.ID))
	writeJSON(w, status, s.jobJSON(job))
}

// nestedRule reads the request's ?nested=: refuse (the default) or
// flatten, what the job's worker does with metadata values that are
// objects or arrays.
func nestedRule(r *http.Request) (bulkid.NestedRule, error) {
	vs, ok := r.URL.Query()["nested"]
	if !ok {
		return bulkid.NestedRefuse, nil
	}
	if len(vs) != 1 {
		return bulkid.NestedRefuse, bulkid.Errorf(bulkid.EINVALID, "nested is given %d times; give it once, refuse or flatten.", len(vs))
	}
	return bulkid.ParseNestedRule(vs[0])
}

// readMultipart reads the file in the part named "file" with scan, which
// gets the part and its content limited to the file limit, counted in
// job.FileSize, and copied to file as scan reads it; what names the file
// the endpoint takes, for messages.
func (s *server) readMultipart(body io.Reader, file io.Writer, boundary string, job *bulkid.Job, what string, scan func(part *multipart.Part, file io.Reader) error) error {
	if boundary == "" {
		return bulkid.Errorf(bulkid.EINVALID, "The multipart Content-Type has no boundary parameter.")
	}
	mr := multipart.NewReader(body, boundary)
	found := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if cd := part.Header.Get("Content-Disposition"); cd != "" && part.FormName() == "" {
			if _, _, err := mime.ParseMediaType(cd); err != nil {
				return bulkid.Errorf(bulkid.EINVALID, "A part's Content-Disposition header cannot be parsed; write it as form-data; name=\"file\"; filename=\"NAME\" (a filename*= must be UTF-8''NAME, percent-encoded).")
			}
		}
		if part.FormName() != "file" {
			if _, err := io.Copy(io.Discard, part); err != nil {
				return err
			}
			continue
		}
		if found {
			return bulkid.Errorf(bulkid.EINVALID, "The multipart body has more than one \"file\" part; send one file per job.")
		}
		found = true
		if job.Filename, err = fileName(part); err != nil {
			return err
		}
		if err := scan(part, io.TeeReader(ingest.LimitReader(part, s.limits.MaxBytes, &job.FileSize), file)); err != nil {
			return err
		}
	}
	if !found {
		return &bulkid.Error{Code: bulkid.EMISSINGFILE, Message: "The multipart body has no part named \"file\"; attach " + what + " as file."}
	}
	return nil
}

// maxFileName is the longest file name a job keeps, in bytes: NAME_MAX,
// the longest a file system's names are.
const maxFileName = 255

// fileName returns the job's filename from the file part: the part's file
// name less any directory, whether '/' or '\\' separates it (browsers on
// Windows have sent whole paths). It is only ever shown, never used as a
// path. Bytes that are not UTF-8, and control characters, become U+FFFD,
// so that every store can keep it and JSON shows what is stored.
func fileName(part *multipart.Part) (string, error) {
	name := part.FileName() // already the base name by '/'
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if len(name) > maxFileName {
		return "", bulkid.Errorf(bulkid.EINVALID, "The file name is %d bytes long; at most %d are allowed.", len(name), maxFileName)
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, name), nil
}

// writeReadError answers a failure to read the body. A client that broke
// off mid-upload gets no answer it could read anyway; log it and move on.
func (s *server) writeReadError(w http.ResponseWriter, r *http.Request, err error) {
	var be *bulkid.Error
	if !errors.As(err, &be) {
		err = &bulkid.Error{Code: bulkid.EINVALID, Message: "The request body could not be read."}
	}
	if be != nil && (be.Code == bulkid.ETOOLARGE || be.Code == bulkid.ETOOMANY) {
		// Do not read the rest of an oversized body: close the connection.
		w.Header().Set("Connection", "close")
	}
	s.writeError(w, r, err)
}

// writeConflict answers 409 naming the unfinished job, with Retry-After
// estimating the seconds until it is done.
func (s *server) writeConflict(w http.ResponseWriter, r *http.Request, active *bulkid.Job) {
	secs := 1
	if d, ok := active.Remaining(s.rpm, s.now()); ok {
		secs = max(1, int(math.Ceil(d.Seconds())))
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.setJobSlotHeaders(w, active)
	s.writeError(w, r, &bulkid.Error{
		Code:    bulkid.ECONFLICT,
		Message: "Another bulk job of this app is in progress; one job runs at a time per app. Retry when it has finished.",
		Details: "job " + active.ID + " is " + string(active.Status) + "; poll " + jobLink(active.ID),
		Job:     active,
	})
}
