package bench

// The peer scenario (issue 14, "The peer, side by side"): bulkid and
// another server that upserts NDJSON records by primary key and answers
// after commit (Jitsu Bulker's POST /bulk, or anything that takes the
// same request), on the same PostgreSQL with the same data, in
// alternating runs with no maintenance in between. Nothing of the peer is
// part of bulkid: it is started outside the benchmark and named by
// --peer-url; see docs/BENCHMARKS.md, "The peer, side by side".

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// peerConfig is the peer scenario's flags.
type peerConfig struct {
	url, token string
	pid        int
}

func addPeerFlags(fs *flag.FlagSet, c *peerConfig) {
	fs.StringVar(&c.url, "peer-url", "", "peer scenario: the full URL, query included, that takes NDJSON records by POST and answers 200 after commit "+
		"(Bulker: http://127.0.0.1:3042/bulk/DESTINATION?tableName=companies&mode=batch&pk=company_id)")
	fs.StringVar(&c.token, "peer-token", "", "peer scenario: sent as Authorization: Bearer TOKEN")
	fs.IntVar(&c.pid, "peer-pid", 0, "peer scenario: the peer's process id, for its CPU time and peak RSS (optional)")
}

// peerNDJSON is rows as the peer takes them: one JSON object a line,
// the company_id and the metadata's keys side by side at the top level
// (Bulker flattens nested objects into columns of its own naming, so the
// keys go flat, as a user of it would send them), in the same order and
// with the same values as the metadata bulkid gets.
func peerNDJSON(rows []dataRow) []byte {
	b := make([]byte, 0, len(rows)*400)
	for _, r := range rows {
		b = append(b, `{"company_id":`...)
		b = strconv.AppendQuote(b, r.id)
		if len(r.metadata) > 2 { // {"k":v,…}: its members after the id
			b = append(b, ',')
			b = append(b, r.metadata[1:]...)
		} else {
			b = append(b, '}')
		}
		b = append(b, '\n')
	}
	return b
}

// peerPost sends one NDJSON body of n records to the peer and checks its
// 200. When the answer is JSON that counts the rows it wrote (Bulker's
// state.successfulRows), the count must be n.
func (e *runner) peerPost(body []byte, n int) error {
	req, err := http.NewRequestWithContext(e.ctx, "POST", e.peer.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("--peer-url: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if e.peer.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.peer.token)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	status := resp.StatusCode
	if status != http.StatusOK {
		return fmt.Errorf("peer: status %d: %.300s", status, b)
	}
	var ans struct {
		State *struct {
			SuccessfulRows *int `json:"successfulRows"`
		} `json:"state"`
	}
	if json.Unmarshal(b, &ans) == nil && ans.State != nil && ans.State.SuccessfulRows != nil && *ans.State.SuccessfulRows != n {
		return fmt.Errorf("peer: wrote %d of %d rows: %.300s", *ans.State.SuccessfulRows, n, b)
	}
	return nil
}

// sideRun is what one side of one case measured.
type sideRun struct {
	wall, cpu, pg time.Duration
	peak          float64 // MiB
	procOK, pgOK  bool
}

// measureSide runs work and measures its wall time, the CPU time and peak
// RSS of the server with process id pid (if pid > 0), and PostgreSQL's
// CPU time.
func (e *runner) measureSide(pid int, work func() error) (sideRun, error) {
	var rs *rssSampler
	var cpu0 time.Duration
	if pid > 0 {
		rs = sampleRSS(pid)
		cpu0 = cpuTime(pid)
	}
	pg := e.pgCPUStart()
	start := time.Now()
	err := work()
	s := sideRun{wall: time.Since(start)}
	s.pg, s.pgOK = pg.used()
	if rs != nil {
		s.peak = rs.Stop()
		s.cpu, s.procOK = cpuTime(pid)-cpu0, true
	}
	return s, err
}

// peerCase is one case of the peer scenario: a result and how each side
// does its work in run i.
type peerCase struct {
	r      *scenarioResult
	rows   int
	unit   string // of the times: "ms" or "s"
	bulkid func() error
	peer   func() error
}

func (c *peerCase) record(b, p sideRun) {
	r := c.r
	t := func(d time.Duration) float64 {
		if c.unit == "s" {
			return d.Seconds()
		}
		return millis(d)
	}
	r.add(t(b.wall))
	r.metric("peer: request → 200", c.unit, t(p.wall))
	r.metric("peer ÷ bulkid (time, in the same run)", "", float64(p.wall)/float64(b.wall))
	r.metric("bulkid server CPU time, user + system", "ms", millis(b.cpu))
	if p.procOK {
		r.metric("peer server CPU time, user + system", "ms", millis(p.cpu))
	}
	r.metric("bulkid server peak RSS", "MiB", b.peak)
	if p.procOK {
		r.metric("peer server peak RSS", "MiB", p.peak)
	}
	if b.pgOK && p.pgOK {
		perRow := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(c.rows) }
		r.metric("PostgreSQL CPU per row during bulkid", "µs", perRow(b.pg))
		r.metric("PostgreSQL CPU per row during the peer", "µs", perRow(p.pg))
		if p.pg > 0 {
			r.metric("PostgreSQL CPU: bulkid ÷ peer", "", float64(b.pg)/float64(p.pg))
		}
	}
}

// peerScenario: the same three cases on bulkid and on the peer, in alternating
// order (run 1 bulkid first, run 2 the peer first, ...): 10,000 new
// companies, 10,000 merges into existing ones, 100,000 new companies as
// 10 jobs or requests one after another. Ids are new in every bench
// invocation (a random tag), as the peer's table outlives it.
func (e *runner) peerScenario(r *scenarioResult) (err error) {
	if e.pgBase == "" {
		return fmt.Errorf("the peer scenario needs --database-url, the PostgreSQL the peer writes to")
	}
	if e.peer.url == "" {
		return fmt.Errorf("the peer scenario needs --peer-url (and --peer-token, --peer-pid); see docs/BENCHMARKS.md")
	}
	srv, err := e.mainServer()
	if err != nil {
		return err
	}
	tag := randHex(3)
	defer func() {
		for _, x := range r.more {
			if err != nil {
				x.Error = "see " + r.Name + ": " + err.Error()
			}
		}
	}()
	job := func(d companySet) error {
		id, _, err := e.submit(srv, srv.key, jsonType, d.body)
		if err != nil {
			return err
		}
		_, _, err = e.waitJob(srv, srv.key, id, 2*time.Millisecond)
		return err
	}
	v1 := e.companies("companies_json", "pm-"+tag+"-", 10_000, 1)
	v2 := e.companies("companies_json_v2", "pm-"+tag+"-", 10_000, 2)
	v1ND, v2ND := peerNDJSON(v1.rows), peerNDJSON(v2.rows)
	// A run's data, generated before its times start, for both sides alike.
	type runData struct {
		newSet  companySet
		newND   []byte
		merge   companySet
		mergeND []byte
		seqSets []companySet
		seqND   [][]byte
	}
	var cur runData
	prepare := func(i int) {
		cur = runData{newSet: e.companies("companies_json", fmt.Sprintf("pn-%s-%d-", tag, i), 10_000, 1),
			merge: v2, mergeND: v2ND}
		cur.newND = peerNDJSON(cur.newSet.rows)
		if i%2 == 1 {
			cur.merge, cur.mergeND = v1, v1ND
		}
		for j := range 10 {
			d := e.companies("companies_json", fmt.Sprintf("ps-%s-%d-%d-", tag, i, j), 10_000, 1)
			cur.seqSets = append(cur.seqSets, d)
			cur.seqND = append(cur.seqND, peerNDJSON(d.rows))
		}
	}

	r.Name, r.Title, r.Unit = "peer-new", "bulkid beside the peer, 10,000 new companies: submit → completed (the peer: request → 200)", "ms"
	mr := &scenarioResult{Name: "peer-merge", Target: r.Target, Unit: "ms",
		Title: "bulkid beside the peer, 10,000 merges into existing companies (7 values changed, a key set or cleared): submit → completed"}
	sr := &scenarioResult{Name: "peer-100k", Target: r.Target, Unit: "s",
		Title: "bulkid beside the peer, 100,000 new companies as 10 jobs (the peer: 10 requests) one after another: total"}
	r.more = []*scenarioResult{mr, sr}
	cases := []*peerCase{
		{r: r, rows: 10_000, unit: "ms",
			bulkid: func() error { return job(cur.newSet) },
			peer:   func() error { return e.peerPost(cur.newND, 10_000) }},
		{r: mr, rows: 10_000, unit: "ms",
			bulkid: func() error { return job(cur.merge) },
			peer:   func() error { return e.peerPost(cur.mergeND, 10_000) }},
		{r: sr, rows: 100_000, unit: "s",
			bulkid: func() error {
				for _, d := range cur.seqSets {
					if err := job(d); err != nil {
						return err
					}
				}
				return nil
			},
			peer: func() error {
				for _, b := range cur.seqND {
					if err := e.peerPost(b, 10_000); err != nil {
						return err
					}
				}
				return nil
			}},
	}

	// Setup, untimed: the companies to merge exist on both sides.
	if err := job(v1); err != nil {
		return err
	}
	if err := e.peerPost(v1ND, 10_000); err != nil {
		return err
	}
	for i := range e.runs {
		prepare(i)
		peerFirst := i%2 == 1
		for _, c := range cases {
			var b, p sideRun
			var err error
			sides := []func() error{
				func() error { b, err = e.measureSide(srv.pid, func() error { return c.bulkid() }); return err },
				func() error { p, err = e.measureSide(e.peer.pid, func() error { return c.peer() }); return err },
			}
			if peerFirst {
				sides[0], sides[1] = sides[1], sides[0]
			}
			for _, side := range sides {
				if err := side(); err != nil {
					return fmt.Errorf("%s run %d: %w", c.r.Name, i+1, err)
				}
			}
			c.record(b, p)
			e.logf("%s run %d/%d (%s first): bulkid %s, peer %s", c.r.Name, i+1, e.runs, map[bool]string{false: "bulkid", true: "peer"}[peerFirst],
				formatValue(c.r.xs[len(c.r.xs)-1], c.unit), formatValue(c.r.Metrics[0].xs[len(c.r.Metrics[0].xs)-1], c.unit))
		}
	}
	for _, c := range cases {
		if p := c.r.Metrics[0]; len(p.xs) > 0 {
			c.r.note("peer ÷ bulkid of the medians: %.2f", newSummaryStat(p.xs).Median/newSummaryStat(c.r.xs).Median)
		}
		c.r.note("the main value is bulkid's; the peer's is the metric \"peer: request → 200\"; runs alternate which goes first, with no maintenance in between")
		c.r.note("the peer gets the same records as NDJSON lines, company_id and the metadata keys at the top level; bulkid polls its job every 2 ms")
		if e.peer.pid == 0 {
			c.r.note("no --peer-pid: the peer's CPU and RSS are not measured")
		}
		e.notePGCPU(c.r)
	}
	return nil
}
