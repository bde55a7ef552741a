package dashboard

import (
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
	"github.com/valyala/fastjson"
)

// parsePages returns each page of templates/, parsed with the layout the
// first time it is rendered, then kept. Not at start: the dashboard is on
// by default, most servers never render most of its pages, and the parsed
// trees of all ten cost an idle server about 600 KiB of heap (issue 14's
// idle memory). TestPagesParse parses every page, so a broken template
// still fails the tests rather than its first visitor.
func parsePages() map[string]func() *template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]func() *template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		pages[base] = sync.OnceValue(func() *template.Template {
			return template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name))
		})
	}
	return pages
}

var funcs = template.FuncMap{
	"jobCounts": jobCounts,
	"source":    source,
	"position":  position,
	"record":    recordPreview,
	"when":      when,
	"since":     since,
	"mainProps": mainProps,
	"add64":     func(a, b int64) int64 { return a + b },
	"short":     func(id string) string { return shorten(id, 8) },
	"trim":      func(s string) string { return shorten(s, 80) },
}

// count is one figure of what a job did, as jobCounts lists them.
type count struct {
	Label, Class string
	N            int
}

// jobCounts is what a job did, record by record: the rows applied,
// each as what it did to its profile (created, updated, unchanged: they
// add up to the job's completed rows), and the rows that failed. Every
// page and the live endpoint list a job's counts through it: the
// templates call it ({{template "counts" (jobCounts .Job)}}), the live
// endpoint sends progress.Counts, which it fills.
func jobCounts(j *bulkid.Job) []count {
	return []count{
		{Label: "created", Class: "ok", N: j.Rows.Created},
		{Label: "updated", Class: "ok", N: j.Rows.Updated},
		{Label: "unchanged", Class: "ok", N: j.Rows.Unchanged},
		{Label: "failed", Class: "fail", N: j.FailedRows},
	}
}

// progress is a job's progress as its bar and figures show it: the bar
// is an SVG of 1000 units, completed rows then failed rows, so that it
// needs no inline style (the CSP allows none) and draws without script.
type progress struct {
	ID                  string
	Status, StatusClass string
	Final               bool
	Total               int
	Completed, Failed   int
	Done                int
	OKWidth, FailWidth  int
	FailX               int
	Percent             string
	Rate, Duration, ETA string
	Counts              []count
	Summary             string
}

func percent(n, of int) float64 {
	if of <= 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func (h *handler) progress(j *bulkid.Job) progress {
	now := h.now()
	done := j.CompletedRows + j.FailedRows
	p := progress{ID: j.ID, Status: string(j.Status), Final: j.Status.Final(), Total: j.TotalRows,
		Completed: j.CompletedRows, Failed: j.FailedRows, Done: done, Counts: jobCounts(j)}
	if j.TotalRows > 0 {
		p.OKWidth = min(1000, j.CompletedRows*1000/j.TotalRows)
		p.FailWidth = min(1000-p.OKWidth, j.FailedRows*1000/j.TotalRows)
	} else if p.Final {
		p.OKWidth = 1000
	}
	p.FailX = p.OKWidth
	p.Percent = fmt.Sprintf("%.0f%%", percent(done, j.TotalRows))
	if j.TotalRows == 0 && p.Final {
		p.Percent = "100%"
	}
	el := j.Elapsed(now)
	if el > 0 {
		p.Duration = duration(el)
		p.Rate = fmt.Sprintf("%.0f rows/s", float64(done)/el.Seconds())
	}
	if !p.Final {
		if d, ok := j.Remaining(h.rpm, now); ok && j.Status != bulkid.StatusQueued {
			p.ETA = duration(d) + " left, at " + now.Add(d).UTC().Format("15:04:05") + " UTC"
		}
	}
	switch j.Status {
	case bulkid.StatusCompleted:
		p.StatusClass = "ok"
	case bulkid.StatusFailed:
		p.StatusClass = "fail"
	case bulkid.StatusCanceled:
		p.StatusClass = "off"
	default:
		p.StatusClass = "run"
	}
	p.Summary = fmt.Sprintf("%d of %d rows done: %d completed, %d failed", done, j.TotalRows, j.CompletedRows, j.FailedRows)
	return p
}

// duration writes d for a person: 850ms, 42s, 3m 05s, 2h 10m.
func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// since is how long ago t was, from now.
func since(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	return duration(d.Truncate(time.Second)) + " ago"
}

func source(j *bulkid.Job) string {
	switch {
	case j.Filename != "":
		return j.Filename
	case j.Source == bulkid.SourceJSON:
		return "JSON body"
	default:
		return "NDJSON body"
	}
}

// position is where a failed record was in what was sent: an index into
// a JSON array, or a line of an NDJSON file, as the API reports it.
func position(j *bulkid.Job, e bulkid.RecordError) string {
	if j.Source == bulkid.SourceJSON {
		return fmt.Sprintf("index %d", e.Pos)
	}
	return fmt.Sprintf("line %d", e.Pos)
}

// recordText is a record as sent, as text: bytes that are not UTF-8
// show as U+FFFD (the downloads keep them exactly).
func recordText(raw []byte) string {
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

// maxShownRecord is how much of a failed record a job's page shows: a
// record may be 1 MiB, and a page lists 50. The downloads have it whole.
const maxShownRecord = 4 << 10

// recordPreview is recordText of at most maxShownRecord bytes of raw,
// cut at a character, with what was left out said.
func recordPreview(raw []byte) string {
	if len(raw) <= maxShownRecord {
		return recordText(raw)
	}
	cut := maxShownRecord
	for cut > 0 && !utf8.RuneStart(raw[cut]) {
		cut--
	}
	return recordText(raw[:cut]) + fmt.Sprintf(" … (%d bytes in all; the downloads have the whole record)", len(raw))
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// prop is one metadata property as a page shows it.
type prop struct {
	Key, Value, Type string
}

// props lists metadata's properties in stored order with their types:
// string, number, boolean, or date for a string in ISO 8601 form.
func props(metadata []byte) []prop {
	var p fastjson.Parser
	v, err := p.ParseBytes(metadata)
	if err != nil {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		return nil
	}
	var out []prop
	o.Visit(func(k []byte, v *fastjson.Value) {
		out = append(out, typed(string(k), v))
	})
	return out
}

func typed(key string, v *fastjson.Value) prop {
	switch v.Type() {
	case fastjson.TypeString:
		s := string(v.GetStringBytes())
		if isDate(s) {
			return prop{key, s, "date"}
		}
		return prop{key, s, "string"}
	case fastjson.TypeNumber:
		return prop{key, string(v.MarshalTo(nil)), "number"}
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return prop{key, string(v.MarshalTo(nil)), "boolean"}
	case fastjson.TypeNull:
		return prop{key, "null", "null"}
	default:
		return prop{key, string(v.MarshalTo(nil)), v.Type().String()}
	}
}

// dateLayouts are the ISO 8601 forms a date property is recognised in:
// a calendar date, and a date and time with or without seconds,
// fractions and an offset (RFC 3339 and its common relatives).
var dateLayouts = []string{
	"2006-01-02",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
}

func isDate(s string) bool {
	if len(s) < 10 || len(s) > 40 || s[4] != '-' {
		return false
	}
	for _, l := range dateLayouts {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}

// mainKeys are the properties listed first in a company's row, when it
// has them: those a CRM names a company by.
var mainKeys = []string{"name", "domain", "plan", "industry"}

// mainProps is the few properties a listing shows of a profile: the main
// keys it has, then the first others in stored order, n in all.
func mainProps(metadata []byte, n int) []prop {
	all := props(metadata)
	out := make([]prop, 0, n)
	used := map[string]bool{}
	for _, k := range mainKeys {
		for _, p := range all {
			if p.Key == k && len(out) < n {
				out = append(out, p)
				used[k] = true
			}
		}
	}
	for _, p := range all {
		if len(out) == n {
			break
		}
		if !used[p.Key] {
			out = append(out, p)
		}
	}
	return out
}
