package httpapi

import (
	"errors"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/ingest"
	"github.com/google/uuid"
)

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
				Message: "Send application/json, or multipart/form-data with an NDJSON file in the field \"file\"."})
			return
		}
		// Fail fast before the upload when a job is already running; the
		// store enforces the rule again atomically when the job is created.
		if active, err := s.store.ActiveJob(r.Context(), app.ID); err == nil {
			s.writeConflict(w, r, active)
			return
		} else if bulkid.ErrorCode(err) != bulkid.ENOTFOUND {
			s.writeError(w, r, err)
			return
		}
		maxBody := s.limits.MaxBytes
		if mediaType == "multipart/form-data" {
			maxBody += multipartOverhead
		}
		if r.ContentLength > maxBody {
			s.writeError(w, r, ingest.LimitError(s.limits.MaxBytes))
			return
		}
		body := ingest.LimitReader(r.Body, maxBody, nil)

		job := &bulkid.Job{ID: uuid.NewString(), AppID: app.ID, Type: t}
		var recs []bulkid.RawRecord
		switch mediaType {
		case "application/json":
			job.Source = bulkid.SourceJSON
			recs, err = ingest.ReadJSON(body, field, s.limits)
		case "application/x-ndjson":
			job.Source = bulkid.SourceNDJSON
			recs, err = ingest.ReadNDJSON(ingest.LimitReader(body, s.limits.MaxBytes, &job.FileSize), s.limits)
		case "multipart/form-data":
			job.Source = bulkid.SourceNDJSON
			recs, err = s.readMultipart(body, params["boundary"], job)
		}
		if bulkid.ErrorCode(err) == bulkid.ETOOLARGE {
			err = ingest.LimitError(s.limits.MaxBytes) // name the file limit, not the multipart allowance
		}
		if err != nil {
			s.writeReadError(w, r, err)
			return
		}
		if err := s.store.CreateJob(r.Context(), job, recs); err != nil {
			var be *bulkid.Error
			if errors.As(err, &be) && be.Code == bulkid.ECONFLICT && be.Job != nil {
				s.writeConflict(w, r, be.Job)
				return
			}
			s.writeError(w, r, err)
			return
		}
		s.notify()
		w.Header().Set("Location", jobLink(job.ID))
		writeJSON(w, http.StatusAccepted, s.jobJSON(job))
	}
}

// readMultipart reads the NDJSON file in the part named "file".
func (s *server) readMultipart(body io.Reader, boundary string, job *bulkid.Job) ([]bulkid.RawRecord, error) {
	if boundary == "" {
		return nil, bulkid.Errorf(bulkid.EINVALID, "The multipart Content-Type has no boundary parameter.")
	}
	mr := multipart.NewReader(body, boundary)
	var recs []bulkid.RawRecord
	found := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyError(err)
		}
		if part.FormName() != "file" {
			if _, err := io.Copy(io.Discard, part); err != nil {
				return nil, bodyError(err)
			}
			continue
		}
		if found {
			return nil, bulkid.Errorf(bulkid.EINVALID, "The multipart body has more than one \"file\" part; send one file per job.")
		}
		found = true
		job.Filename = part.FileName() // the base name only: never used as a path
		recs, err = ingest.ReadNDJSON(ingest.LimitReader(part, s.limits.MaxBytes, &job.FileSize), s.limits)
		if err != nil {
			return nil, bodyError(err)
		}
	}
	if !found {
		return nil, &bulkid.Error{Code: bulkid.EMISSINGFILE, Message: "The multipart body has no part named \"file\"; attach the NDJSON file as file."}
	}
	return recs, nil
}

func bodyError(err error) error {
	var be *bulkid.Error
	if errors.As(err, &be) {
		return err
	}
	return &bulkid.Error{Code: bulkid.EINVALID, Message: "The request body cannot be read: " + err.Error()}
}

// writeReadError answers a failure to read the body. A client that broke
// off mid-upload gets no answer it could read anyway; log it and move on.
func (s *server) writeReadError(w http.ResponseWriter, r *http.Request, err error) {
	var be *bulkid.Error
	if !errors.As(err, &be) {
		err = &bulkid.Error{Code: bulkid.EINVALID, Message: "The request body could not be read: " + err.Error()}
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
	s.writeError(w, r, &bulkid.Error{
		Code:    bulkid.ECONFLICT,
		Message: "Another bulk job of this app is in progress; one job runs at a time per app. Retry when it has finished.",
		Details: "job " + active.ID + " is " + string(active.Status) + "; poll " + jobLink(active.ID),
		Job:     active,
	})
}
