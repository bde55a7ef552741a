package bulkid

import "time"

// ReserveRows is the generic cell rate algorithm (GCRA) behind each app's
// rate. tat is the app's theoretical arrival time: when its next row would
// be due if rows went exactly at the rate (zero for an app that never ran).
// It reports whether n rows may go at now, at rowsPerMinute with bursts of
// up to burst rows: if so it returns the new tat and wait 0; if not, tat
// unchanged and how long to wait before asking again.
//
// Stores keep tat per app and call this in a transaction, so the rate holds
// for an app across jobs, restarts and processes.
func ReserveRows(tat, now time.Time, n, rowsPerMinute, burst int) (newTAT time.Time, wait time.Duration) {
	rows := func(k int) time.Duration { return time.Duration(k) * time.Minute / time.Duration(rowsPerMinute) }
	if tat.Before(now) {
		tat = now
	}
	allowAt := tat.Add(rows(n) - rows(burst))
	if allowAt.After(now) {
		return tat, allowAt.Sub(now)
	}
	return tat.Add(rows(n)), 0
}
