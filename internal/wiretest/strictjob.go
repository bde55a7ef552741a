package wiretest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// A strictly generated client of the published OpenAPI description
// decodes the job object into fields that are not pointers and fails on
// a null where the schema has no nullable: start_time, filename and
// file_size among them (end_time is nullable). StrictJob is such a
// client's job; every job the wire tests read from a server through
// Target.Job, WaitJob, ListJobs and Accepted is decoded with it too
// (Strict), so no state of a job can send what it would refuse.

// nonNull is a member that must be present and not null.
type nonNull[T any] struct {
	V   T
	set bool
}

func (n *nonNull[T]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return fmt.Errorf("null, which the published schema does not allow")
	}
	n.set = true
	return json.Unmarshal(b, &n.V)
}

// StrictJob is the job object as the published schema types it. Times
// are RFC 3339 date-times (time.Time decodes nothing else).
type StrictJob struct {
	JobID         nonNull[string]    `json:"job_id"`
	Type          nonNull[string]    `json:"type"`
	Status        nonNull[string]    `json:"status"`
	SubmittedAt   nonNull[time.Time] `json:"submitted_at"`
	StartTime     nonNull[time.Time] `json:"start_time"`
	EndTime       *time.Time         `json:"end_time"` // nullable
	ElapsedTime   nonNull[int64]     `json:"elapsed_time"`
	Filename      nonNull[string]    `json:"filename"`
	FileSize      nonNull[int64]     `json:"file_size"`
	TotalRows     nonNull[int]       `json:"total_rows"`
	CompletedRows nonNull[int]       `json:"completed_rows"`
	Links         nonNull[string]    `json:"links"`
}

// DecodeStrictJob decodes b as a strict client would, and fails where it
// would: a member of the schema that is missing, null or of another type.
// Members the schema does not have are ignored.
func DecodeStrictJob(b []byte) (StrictJob, error) {
	var j StrictJob
	if err := json.Unmarshal(b, &j); err != nil {
		return j, fmt.Errorf("a strict OpenAPI client cannot decode the job: %w\n%s", err, b)
	}
	for name, set := range map[string]bool{
		"job_id": j.JobID.set, "type": j.Type.set, "status": j.Status.set, "submitted_at": j.SubmittedAt.set,
		"start_time": j.StartTime.set, "elapsed_time": j.ElapsedTime.set, "filename": j.Filename.set,
		"file_size": j.FileSize.set, "total_rows": j.TotalRows.set, "completed_rows": j.CompletedRows.set, "links": j.Links.set,
	} {
		if !set {
			return j, fmt.Errorf("a strict OpenAPI client cannot decode the job: %s is missing\n%s", name, b)
		}
	}
	return j, nil
}

// Strict fails t if a strict client could not decode the job object b.
func Strict(t *testing.T, b []byte) {
	t.Helper()
	if _, err := DecodeStrictJob(b); err != nil {
		t.Fatal(err)
	}
}
