// Package bench is "bulkid bench": the reproducible benchmark of the
// server. It starts the real server (the running binary, "bulkid serve")
// as a subprocess on loopback with a fresh store, through serverproc,
// drives it through its public HTTP API only, and compares each scenario
// with a floor measured in the same run: what the machine, the network
// stack, the JSON decoder or the database driver alone take for the same
// work. See docs/BENCHMARKS.md.
//
// bench.go holds the command, the scenario list and the report; the other
// files hold the pieces: proc.go the subprocesses, stores and HTTP calls,
// data.go the generated data, floor.go the floors, and scenarios.go the
// scenarios.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bulkid/bulkid/internal/cliflag"
)

// scenarioSpec is one scenario of the benchmark, in the order they run.
type scenarioSpec struct {
	name     string
	title    string
	target   string
	optional bool // not in the default set
	pgOnly   bool // in the default set only with --database-url
	run      func(e *runner, r *scenarioResult) error
}

var allScenarios = []scenarioSpec{
	{name: "accept-json", title: "POST 10,000 companies as a 3.8 MB JSON body → 202",
		target: "≤ 60 ms", run: (*runner).acceptJSON},
	{name: "upload-50mb", title: "multipart upload of a 50 MB NDJSON file (10,000 lines of ~100 keys) → 202",
		target: "≤ 1.5 s, server peak RSS ≤ 100 MB", run: (*runner).upload50MB},
	{name: "job-new", title: "unthrottled 10,000-company job, new companies: submit → completed",
		target: "≤ 350 ms (SQLite), ≤ 600 ms (PostgreSQL)", run: (*runner).jobNew},
	{name: "job-merge", title: "the same 10,000 companies with changed keys (merge path): submit → completed",
		target: "≤ 400 ms (SQLite), ≤ 800 ms (PostgreSQL)", run: (*runner).jobMerge},
	{name: "seq-100k", title: "100,000 companies as 10 jobs one after another: total time",
		target: "≤ 7 s (PostgreSQL)", pgOnly: true, run: (*runner).seq100k},
	{name: "get-job-p99", title: "GET /v1/background_jobs/{id} at 500 requests/s for 10 s while 10,000-row jobs run: p99",
		target: "p99 ≤ 5 ms", run: (*runner).getJobP99},
	{name: "rss", title: "server RSS: idle 1 s after start (fresh server), and peak while running a 10,000-row job",
		target: "idle ≤ 30 MB; ≤ 80 MB while running a job", run: (*runner).rss},
	{name: "repeat", title: "50 consecutive 10,000-company merge jobs on one store, no maintenance in between: the last job (submit → completed)",
		target: "the last within 1.1× of the first", optional: true, run: (*runner).repeat},
	{name: "peer", title: "bulkid beside a peer (--peer-url) on the same PostgreSQL: 10,000 new, 10,000 merges, 100,000 as 10 jobs; reported as peer-new, peer-merge, peer-100k",
		target: "bulkid at least 1.5× faster than the peer (peer ÷ bulkid ≥ 1.5)", optional: true, run: (*runner).peerScenario},
	{name: "many-apps", title: "1,000,000 rows: 100 apps with one 10,000-row job each, submitted at once: rows/s",
		target: "≥ 30,000 rows/s (SQLite)", optional: true, run: (*runner).manyApps},
	{name: "throttle", title: "--rows-per-minute 1800: rows applied in 2 minutes (expected 3,600) and progress gaps (1 run)",
		target: "within ±2 % over 2 minutes, progress visible every second", optional: true, run: (*runner).throttle},
	{name: "scale", title: "1,000,000 companies and 1,000,000 users loaded through the API (--scale-companies, --scale-users), then jobs, GETs, listings and dashboard pages beside the same on an empty store: a 10,000-company merge job",
		target: "every job within 1.25× of the empty store; pages a few ms", optional: true, run: (*runner).scale},
}

const usageExample = "bulkid bench --runs 5 --scenarios accept-json,job-new,job-merge [--database-url postgres://…] [--json]"

// Run is "bulkid bench" with its command line, and the hidden
// "bulkid bench floor-server" that the benchmark starts as its floor.
// It starts the running binary (os.Executable) as the server under test.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == floorServerArg {
		return runFloorServer(ctx, stdout)
	}
	fs := cliflag.NewFlagSet("bulkid bench [flags]", usageExample, stderr)
	runs := fs.Int("runs", 5, "times each scenario runs (median, min and max are printed); throttle always runs once")
	scen := fs.String("scenarios", "", "comma-separated scenarios, or \"all\" (default: every scenario but many-apps and throttle; seq-100k only with --database-url); known: "+scenarioNames())
	dbURL := fs.String("database-url", "", "a postgres:// URL: benchmark PostgreSQL (in a fresh schema, dropped at the end) instead of SQLite")
	jsonOut := fs.Bool("json", false, "print the results as one JSON document instead of text")
	repeatJobs := fs.Int("repeat-jobs", 50, "jobs in a row of the repeat scenario")
	scaleCfg := scaleFlags(fs)
	var peer peerConfig
	addPeerFlags(fs, &peer)
	pos, err := cliflag.Parse(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("bench: unexpected argument %q", pos[0])
	}
	if *runs < 1 {
		return fmt.Errorf("--runs must be at least 1, not %d", *runs)
	}
	if *repeatJobs < 2 {
		return fmt.Errorf("--repeat-jobs must be at least 2, not %d", *repeatJobs)
	}
	sc, err := scaleCfg()
	if err != nil {
		return err
	}
	if *dbURL != "" && !strings.HasPrefix(*dbURL, "postgres://") && !strings.HasPrefix(*dbURL, "postgresql://") {
		return fmt.Errorf("--database-url must be a postgres:// or postgresql:// URL")
	}
	selected, err := selectScenarios(*scen, *dbURL != "")
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find this binary: %w", err)
	}

	e := &runner{ctx: ctx, exe: exe, runs: *runs, pgBase: *dbURL, log: stderr, repeatJobs: *repeatJobs, scaleCfg: sc, peer: peer,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}}}
	defer e.close()

	rep := runReport{Command: commandLine(args), Machine: machineFacts(), Build: buildFacts(), Started: time.Now().UTC()}
	rep.Store, err = e.storeFacts()
	if err != nil {
		return err
	}
	if !*jsonOut {
		rep.printHeader(stdout)
	}
	failed := 0
	for _, s := range allScenarios {
		if !slices.Contains(selected, s.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r := &scenarioResult{Name: s.name, Title: s.title, Target: s.target}
		e.logf("%s: %s", s.name, s.title)
		start := time.Now()
		if err := s.run(e, r); err != nil {
			r.Error = err.Error()
			failed++
			e.logf("%s: FAILED: %v", s.name, err)
		}
		// A scenario may report more than one result (peer: one per case).
		for _, x := range append([]*scenarioResult{r}, r.more...) {
			x.finish()
			x.Seconds = math.Round(time.Since(start).Seconds()*10) / 10
			rep.Results = append(rep.Results, x)
			if !*jsonOut {
				x.print(stdout)
			}
		}
	}
	rep.Data = e.dataFacts()
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.printSummary(stdout)
	}
	if tail := e.serverLogTail(); tail != "" {
		fmt.Fprintf(stderr, "bench: the servers logged at warn level or above:\n%s\n", tail)
	}
	if failed > 0 {
		return fmt.Errorf("bench: %d scenario(s) failed", failed)
	}
	return nil
}

func scenarioNames() string {
	var names []string
	for _, s := range allScenarios {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

// selectScenarios turns --scenarios into the list of scenario names to run.
func selectScenarios(flag string, pg bool) ([]string, error) {
	var out []string
	if flag == "" {
		for _, s := range allScenarios {
			if !s.optional && (!s.pgOnly || pg) {
				out = append(out, s.name)
			}
		}
		return out, nil
	}
	for _, name := range strings.Split(flag, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" {
			for _, s := range allScenarios {
				out = append(out, s.name)
			}
			continue
		}
		if !slices.ContainsFunc(allScenarios, func(s scenarioSpec) bool { return s.name == name }) {
			return nil, fmt.Errorf("--scenarios: unknown scenario %q (known: %s)", name, scenarioNames())
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--scenarios: no scenario named")
	}
	return out, nil
}

// summaryStat summarizes the samples of a value over the runs.
type summaryStat struct {
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
}

func newSummaryStat(xs []float64) summaryStat {
	if len(xs) == 0 {
		return summaryStat{Samples: []float64{}}
	}
	xs = slices.Clone(xs)
	for i, x := range xs {
		xs[i] = round4(x)
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summaryStat{Median: med, Min: s[0], Max: s[len(s)-1], Samples: xs}
}

// round4 keeps 4 decimals, plenty for ms, s and MiB.
func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// series is a named value measured once per run.
type series struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	summaryStat
	xs []float64
}

// scenarioResult is what one scenario measured.
type scenarioResult struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Target string `json:"target"`
	// Unit of the main value: "ms", "s", "MB" or "rows/s".
	Unit           string `json:"unit"`
	HigherIsBetter bool   `json:"higher_is_better,omitempty"`
	Runs           int    `json:"runs"`
	summaryStat
	// FloorDesc says what the floor is; Floor its value per run, in Unit.
	FloorDesc string       `json:"floor_desc,omitempty"`
	Floor     *summaryStat `json:"floor,omitempty"`
	// FloorParts are the parts of the floor, or variants of it (see FloorDesc).
	FloorParts []*series `json:"floor_parts,omitempty"`
	// Ratio is how many times the product is slower (or bigger) than the
	// floor, medians compared: product/floor, or floor/product for rates.
	Ratio   float64   `json:"ratio,omitempty"`
	Metrics []*series `json:"metrics,omitempty"`
	Notes   []string  `json:"notes,omitempty"`
	Error   string    `json:"error,omitempty"`
	Seconds float64   `json:"wall_seconds"`

	xs, floor []float64
	more      []*scenarioResult // further results of the same scenario, reported after it
}

func (r *scenarioResult) add(v float64)      { r.xs = append(r.xs, v); r.Runs = len(r.xs) }
func (r *scenarioResult) addFloor(v float64) { r.floor = append(r.floor, v) }
func (r *scenarioResult) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func addSeries(list *[]*series, name, unit string, v float64) {
	for _, s := range *list {
		if s.Name == name {
			s.xs = append(s.xs, v)
			return
		}
	}
	*list = append(*list, &series{Name: name, Unit: unit, xs: []float64{v}})
}

func (r *scenarioResult) metric(name, unit string, v float64) { addSeries(&r.Metrics, name, unit, v) }
func (r *scenarioResult) floorPart(name, unit string, v float64) {
	addSeries(&r.FloorParts, name, unit, v)
}

func (r *scenarioResult) finish() {
	r.summaryStat = newSummaryStat(r.xs)
	if len(r.floor) > 0 {
		f := newSummaryStat(r.floor)
		r.Floor = &f
		if f.Median > 0 && r.Median > 0 {
			if r.HigherIsBetter {
				r.Ratio = f.Median / r.Median
			} else {
				r.Ratio = r.Median / f.Median
			}
			r.Ratio = math.Round(r.Ratio*100) / 100
		}
	}
	for _, s := range append(slices.Clone(r.FloorParts), r.Metrics...) {
		s.summaryStat = newSummaryStat(s.xs)
	}
}

// formatValue formats a value of a unit for people.
func formatValue(v float64, unit string) string {
	switch unit {
	case "rows/min":
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
	case "rows/s", "rows", "requests":
		return thousands(int64(math.Round(v))) + " " + unit
	case "ms":
		if v < 10 {
			return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
		}
		if v < 100 {
			return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
		}
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case "s":
		return strconv.FormatFloat(v, 'f', 2, 64) + " s"
	case "%":
		return strconv.FormatFloat(v, 'f', 2, 64) + " %"
	case "MiB":
		return strconv.FormatFloat(v, 'f', 1, 64) + " MiB"
	case "":
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (r *scenarioResult) print(w io.Writer) {
	fmt.Fprintln(w)
	if r.Runs == 0 {
		fmt.Fprintf(w, "%s: no result: %s\n", r.Name, r.Error)
		return
	}
	runs := "runs"
	if r.Runs == 1 {
		runs = "run"
	}
	fmt.Fprintf(w, "%s: median %s, min %s, max %s (%d %s)\n", r.Name,
		formatValue(r.Median, r.Unit), formatValue(r.Min, r.Unit), formatValue(r.Max, r.Unit), r.Runs, runs)
	fmt.Fprintf(w, "    %s\n", r.Title)
	if r.Floor != nil {
		fmt.Fprintf(w, "    floor:  median %s, min %s, max %s: %s\n", formatValue(r.Floor.Median, r.Unit),
			formatValue(r.Floor.Min, r.Unit), formatValue(r.Floor.Max, r.Unit), r.FloorDesc)
		for _, p := range r.FloorParts {
			fmt.Fprintf(w, "            %s: median %s, min %s, max %s\n", p.Name, formatValue(p.Median, p.Unit),
				formatValue(p.Min, p.Unit), formatValue(p.Max, p.Unit))
		}
		if r.Ratio > 0 {
			fmt.Fprintf(w, "    ratio:  %.2f× the floor\n", r.Ratio)
		}
	}
	for _, m := range r.Metrics {
		fmt.Fprintf(w, "    %s: median %s, min %s, max %s\n", m.Name, formatValue(m.Median, m.Unit),
			formatValue(m.Min, m.Unit), formatValue(m.Max, m.Unit))
	}
	fmt.Fprintf(w, "    target: %s\n", r.Target)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "    note:   %s\n", n)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "    ERROR after %d run(s): %s\n", r.Runs, r.Error)
	}
}

// runReport is everything bench prints, and its --json document.
type runReport struct {
	Command string            `json:"command"`
	Started time.Time         `json:"started"`
	Machine map[string]string `json:"machine"`
	Build   map[string]string `json:"build"`
	Store   map[string]string `json:"store"`
	Data    map[string]string `json:"data"`
	Results []*scenarioResult `json:"results"`
}

func printMap(w io.Writer, title string, m map[string]string, order []string) {
	fmt.Fprintf(w, "%s:", title)
	for _, k := range order {
		if v, ok := m[k]; ok && v != "" {
			fmt.Fprintf(w, " %s=%s;", k, v)
		}
	}
	fmt.Fprintln(w)
}

func (rep *runReport) printHeader(w io.Writer) {
	fmt.Fprintf(w, "bulkid bench, %s\n", rep.Started.Format(time.RFC3339))
	fmt.Fprintf(w, "command: %s\n", rep.Command)
	printMap(w, "machine", rep.Machine, []string{"cpu", "cores", "memory", "os_arch", "kernel", "go", "load_at_start"})
	if rep.Build["vcs.revision"] == "" {
		rep.Build["vcs"] = "not embedded (built with -buildvcs=false?)"
	}
	printMap(w, "build", rep.Build, []string{"vcs.revision", "vcs.time", "vcs.modified", "vcs"})
	printMap(w, "store", rep.Store, []string{"kind", "server_version", "driver", "settings"})
}

func (rep *runReport) printSummary(w io.Writer) {
	if len(rep.Data) > 0 {
		printMap(w, "\ndata", rep.Data, []string{"companies_json", "companies_json_v2", "ndjson", "ndjson_multipart"})
	}
	fmt.Fprintln(w, "\nsummary (Markdown):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| scenario | median | min | max | floor (median) | ratio | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rep.Results {
		if r.Runs == 0 {
			fmt.Fprintf(w, "| %s | error: %s | | | | | %s |\n", r.Name, r.Error, r.Target)
			continue
		}
		floor, ratio := "–", "–"
		if r.Floor != nil {
			floor = formatValue(r.Floor.Median, r.Unit)
			if r.Ratio > 0 {
				ratio = fmt.Sprintf("%.2f×", r.Ratio)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Name, formatValue(r.Median, r.Unit),
			formatValue(r.Min, r.Unit), formatValue(r.Max, r.Unit), floor, ratio, r.Target)
		for _, m := range r.Metrics {
			fmt.Fprintf(w, "| … %s | %s | %s | %s | | | |\n", m.Name, formatValue(m.Median, m.Unit),
				formatValue(m.Min, m.Unit), formatValue(m.Max, m.Unit))
		}
	}
}

// commandLine is the command line as typed, for the report.
func commandLine(args []string) string {
	parts := []string{"bulkid", "bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?&;|<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func machineFacts() map[string]string {
	m := map[string]string{
		"cores":   strconv.Itoa(runtime.NumCPU()),
		"go":      runtime.Version(),
		"os_arch": runtime.GOOS + "/" + runtime.GOARCH,
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					m["memory"] = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m["load_at_start"] = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	return m
}

func buildFacts() map[string]string {
	m := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return m
	}
	for _, s := range bi.Settings {
		if strings.HasPrefix(s.Key, "vcs.") {
			m[s.Key] = s.Value
		}
	}
	for _, d := range bi.Deps {
		switch d.Path {
		case "modernc.org/sqlite", "github.com/jackc/pgx/v5":
			m[d.Path] = d.Version
		}
	}
	return m
}
