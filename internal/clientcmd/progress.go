package clientcmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bulkid/bulkid/client"
	"golang.org/x/term"
)

// progress reports a push: a bar redrawn in place on a terminal, a plain
// line every few seconds otherwise, or JSON events with --json.
type progress struct {
	mu       sync.Mutex
	mode     string // "bar", "lines" or "json"
	out      io.Writer
	total    int
	sent     int
	applied  int // rows applied by finished jobs, plus the running one's
	failed   int
	done     int // applied by finished jobs
	doneFail int
	start    time.Time
	lastLine time.Time
	drawn    bool
}

func newProgress(jsonOut bool, stdout, stderr io.Writer) *progress {
	p := &progress{mode: "lines", out: stderr, start: time.Now()}
	switch {
	case jsonOut:
		p.mode, p.out = "json", stdout
	case isTerminal(stderr):
		p.mode = "bar"
	}
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) event(e map[string]any) {
	if p.mode != "json" {
		return
	}
	e["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(e)
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%s\n", b)
}

func (p *progress) submitted(job *client.Job, n int) {
	p.mu.Lock()
	p.sent += n
	p.mu.Unlock()
	p.event(map[string]any{"event": "job_submitted", "job_id": job.JobID, "records": n, "replayed": job.Replayed})
	if p.mode == "lines" {
		if job.Replayed {
			p.line(fmt.Sprintf("job %s already submitted (same records, same Idempotency-Key): %d records", job.JobID, n))
		} else {
			p.line(fmt.Sprintf("job %s submitted: %d records", job.JobID, n))
		}
	}
}

// update takes a poll of the running job.
func (p *progress) update(job *client.Job) {
	p.mu.Lock()
	p.applied, p.failed = p.done+job.CompletedRows, p.doneFail+job.FailedRows
	p.mu.Unlock()
	p.report(false)
}

func (p *progress) finished(job *client.Job) {
	p.mu.Lock()
	p.done += job.CompletedRows
	p.doneFail += job.FailedRows
	p.applied, p.failed = p.done, p.doneFail
	p.mu.Unlock()
	p.event(map[string]any{"event": "job_finished", "job_id": job.JobID, "status": job.Status,
		"completed_rows": job.CompletedRows, "failed_rows": job.FailedRows})
	p.report(true)
}

func (p *progress) waiting(jobID string, wait time.Duration) {
	p.event(map[string]any{"event": "waiting", "running_job_id": jobID, "retry_in_seconds": wait.Seconds()})
	if p.mode != "json" {
		p.line(fmt.Sprintf("another job (%s) is running; submitting again in %s", jobID, wait.Round(time.Second)))
	}
}

func (p *progress) retrying(attempt int, wait time.Duration, err error) {
	p.event(map[string]any{"event": "retry", "attempt": attempt, "retry_in_seconds": wait.Seconds(), "error": err.Error()})
	if p.mode != "json" {
		p.line(fmt.Sprintf("retrying in %s after: %v", wait.Round(time.Millisecond), err))
	}
}

// stats returns the rate so far and the time left at it.
func (p *progress) stats() (rate float64, left time.Duration, ok bool) {
	el := time.Since(p.start).Seconds()
	if p.applied+p.failed == 0 || el <= 0 {
		return 0, 0, false
	}
	rate = float64(p.applied+p.failed) / el
	remaining := max(0, p.total-p.applied-p.failed)
	return rate, time.Duration(float64(remaining) / rate * float64(time.Second)), true
}

func (p *progress) report(force bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate, left, ok := p.stats()
	switch p.mode {
	case "json":
		e := map[string]any{"event": "progress", "total": p.total, "sent": p.sent, "applied": p.applied, "failed": p.failed,
			"rate_per_second": rate, "time": time.Now().UTC().Format(time.RFC3339Nano)}
		if ok {
			e["eta_seconds"] = left.Seconds()
		}
		b, _ := json.Marshal(e)
		fmt.Fprintf(p.out, "%s\n", b)
	case "bar":
		const width = 30
		frac := 0.0
		if p.total > 0 {
			frac = float64(p.applied+p.failed) / float64(p.total)
		}
		filled := min(width, int(frac*width))
		eta := "?"
		if ok {
			eta = left.Round(time.Second).String()
		}
		fmt.Fprintf(p.out, "\r[%s%s] %d/%d sent, %d applied, %d failed, %.0f rows/s, %s left  ",
			strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.sent, p.total, p.applied, p.failed, rate, eta)
		p.drawn = true
	default:
		if !force && time.Since(p.lastLine) < 5*time.Second {
			return
		}
		p.lastLine = time.Now()
		eta := ""
		if ok {
			eta = fmt.Sprintf(", %s left", left.Round(time.Second))
		}
		fmt.Fprintf(p.out, "%s %d/%d sent, %d applied, %d failed, %.0f rows/s%s\n",
			time.Now().Format("15:04:05"), p.sent, p.total, p.applied, p.failed, rate, eta)
	}
}

// line prints a message on its own line, below the bar if one is drawn.
func (p *progress) line(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.out)
		p.drawn = false
	}
	fmt.Fprintf(p.out, "%s %s\n", time.Now().Format("15:04:05"), msg)
}

// clear ends the bar's line before the summary.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.out)
		p.drawn = false
	}
}
