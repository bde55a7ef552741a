package bench

// PostgreSQL's CPU time, read from /proc: the work the database does for
// a job, beside the work it does for the floor or for the peer (issue 14:
// "PostgreSQL CPU per row"). It is only meaningful when PostgreSQL runs on
// this machine; when no process named postgres is visible, it is not read.

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// procCPU is what /proc/PID/stat says of a process's CPU time, in clock
// ticks (USER_HZ, 100 on Linux): its own (utime + stime) and that of its
// children it has waited for (cutime + cstime).
type procCPU struct {
	comm            string
	own, waitedKids int64
}

// parseProcStat parses a /proc/PID/stat line. The command name, in
// parentheses, may hold spaces and parentheses: fields count from the
// last ')'.
func parseProcStat(s string) (procCPU, bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procCPU{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 15 {
		return procCPU{}, false
	}
	var t [4]int64
	for i := range t {
		v, err := strconv.ParseInt(f[11+i], 10, 64) // utime, stime, cutime, cstime: fields 14 to 17
		if err != nil {
			return procCPU{}, false
		}
		t[i] = v
	}
	return procCPU{comm: s[open+1 : end], own: t[0] + t[1], waitedKids: t[2] + t[3]}, true
}

// parseSchedstat is the first field of /proc/PID/schedstat: the time the
// process has run on a CPU, user and system, in nanoseconds.
func parseSchedstat(s string) (time.Duration, bool) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err == nil
}

const clockTick = 10 * time.Millisecond // USER_HZ

// postgresCPU is the CPU time used so far by every process named
// "postgres" on this machine (the postmaster, its background processes
// and every backend, whoever it serves): each one's user + system time,
// plus the time of the backends that have exited (the postmaster's
// cutime + cstime), so that a connection closed between two readings
// still counts. A live process's own time is read in nanoseconds from
// /proc/PID/schedstat when the kernel has it (the same user + system time
// without the 10 ms ticks of /proc/PID/stat). n is how many postgres
// processes were read; 0 means PostgreSQL is not on this machine (or
// not visible), and the reading means nothing.
func postgresCPU() (total time.Duration, n int) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	for _, d := range ents {
		pid := d.Name()
		if pid == "" || pid[0] < '0' || pid[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		p, ok := parseProcStat(string(b))
		if !ok || p.comm != "postgres" {
			continue
		}
		n++
		own := time.Duration(p.own) * clockTick
		if s, err := os.ReadFile("/proc/" + pid + "/schedstat"); err == nil {
			if ns, ok := parseSchedstat(string(s)); ok {
				own = ns
			}
		}
		total += own + time.Duration(p.waitedKids)*clockTick
	}
	return total, n
}

// pgCPUMeter reads postgresCPU before and after some work, when the
// benchmark runs on PostgreSQL and PostgreSQL is on this machine.
type pgCPUMeter struct {
	on    bool
	start time.Duration
}

func (e *runner) pgCPUStart() pgCPUMeter {
	if e.pgBase == "" {
		return pgCPUMeter{}
	}
	t, n := postgresCPU()
	return pgCPUMeter{on: n > 0, start: t}
}

// used is the CPU time PostgreSQL used since the start, and whether it
// was measured at all.
func (m pgCPUMeter) used() (time.Duration, bool) {
	if !m.on {
		return 0, false
	}
	t, n := postgresCPU()
	if n == 0 {
		return 0, false
	}
	return max(0, t-m.start), true
}

// pgCPUNote says how PostgreSQL's CPU is measured, for the scenarios that report it.
const pgCPUNote = "PostgreSQL CPU: user + system time of every process named postgres on this machine (/proc/PID/schedstat, " +
	"plus the postmaster's cutime + cstime for backends that exit), before and after; it counts whatever else uses " +
	"this PostgreSQL meanwhile, so run it on a quiet machine"

// minPGCPU is the least PostgreSQL CPU time of the floor's methods in the
// last floorUpsert, and whether any was measured.
func (e *runner) minPGCPU() (time.Duration, bool) {
	var best time.Duration
	ok := false
	for _, d := range e.floorPGCPU {
		if !ok || d < best {
			best, ok = d, true
		}
	}
	return best, ok
}

// pgCPUVsFloor adds to r PostgreSQL's CPU time per row during the
// product's work and during the floor's work on the same rows, and the
// ratio of the two (the issue 14 target: at most 1.5).
func (r *scenarioResult) pgCPUVsFloor(product, floor time.Duration, rows int) {
	perRow := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(rows) }
	r.metric("PostgreSQL CPU per row", "µs", perRow(product))
	r.metric("PostgreSQL CPU per row, floor (the cheaper method)", "µs", perRow(floor))
	if floor > 0 {
		r.metric("PostgreSQL CPU per row ÷ the floor's", "", float64(product)/float64(floor))
	}
}

// notePGCPU notes how PostgreSQL's CPU was measured, if it was.
func (e *runner) notePGCPU(r *scenarioResult) {
	for _, m := range r.Metrics {
		if strings.HasPrefix(m.Name, "PostgreSQL CPU") {
			r.note("%s", pgCPUNote)
			return
		}
	}
}
