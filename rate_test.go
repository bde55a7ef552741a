package bulkid_test

import (
	"testing"
	"time"

	"github.com/bulkid/bulkid"
)

func TestReserveRows(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// 1800 rows a minute in batches of 30: one batch a second.
	tat, wait := bulkid.ReserveRows(time.Time{}, now, 30, 1800, 30)
	if wait != 0 || !tat.Equal(now.Add(time.Second)) {
		t.Fatalf("first batch: tat %v wait %v, want granted with tat now+1s", tat, wait)
	}
	tat2, wait := bulkid.ReserveRows(tat, now, 30, 1800, 30)
	if wait != time.Second || !tat2.Equal(tat) {
		t.Fatalf("second batch at once: wait %v tat %v, want wait 1s and tat unchanged", wait, tat2)
	}
	tat3, wait := bulkid.ReserveRows(tat, now.Add(time.Second), 30, 1800, 30)
	if wait != 0 || !tat3.Equal(now.Add(2*time.Second)) {
		t.Fatalf("second batch a second later: wait %v tat %v", wait, tat3)
	}
	// Idle time does not bank more than one burst.
	later := now.Add(time.Hour)
	tat4, wait := bulkid.ReserveRows(tat3, later, 30, 1800, 30)
	if wait != 0 {
		t.Fatalf("after an idle hour: wait %v", wait)
	}
	if _, wait = bulkid.ReserveRows(tat4, later, 30, 1800, 30); wait != time.Second {
		t.Fatalf("second burst after an idle hour: wait %v, want 1s", wait)
	}
	// Over a long run the rate holds: 600 rows at 600/min take a minute.
	tat = time.Time{}
	clock, granted := now, 0
	for granted < 600 {
		var w time.Duration
		tat, w = bulkid.ReserveRows(tat, clock, 10, 600, 10)
		if w == 0 {
			granted += 10
		} else {
			clock = clock.Add(w)
		}
	}
	if d := clock.Sub(now); d < 59*time.Second || d > 60*time.Second {
		t.Errorf("600 rows at 600/min took %v, want just under a minute (the first batch goes at once)", d)
	}
}
