package sqlstore

import (
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, sqlite, postgres string }{
		{"SELECT 1", "SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"?", "?", "$1"},
	} {
		if got := (Dialect{}).Rebind(tc.in); got != tc.sqlite {
			t.Errorf("SQLite Rebind(%q) = %q, want %q", tc.in, got, tc.sqlite)
		}
		if got := (Dialect{Numbered: true}).Rebind(tc.in); got != tc.postgres {
			t.Errorf("PostgreSQL Rebind(%q) = %q, want %q", tc.in, got, tc.postgres)
		}
	}
}

func TestTimeDest(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 0, 0, 123e6, time.UTC)
	for _, src := range []any{at.UnixMilli(), at.In(time.FixedZone("x", 3600))} {
		var got time.Time
		if err := (*timeDest)(&got).Scan(src); err != nil || !got.Equal(at) || got.Location() != time.UTC {
			t.Errorf("Scan(%T %v) = %v, %v; want %v in UTC", src, src, got, err, at)
		}
	}
	got := at
	if err := (*timeDest)(&got).Scan(nil); err != nil || !got.IsZero() {
		t.Errorf("Scan(nil) = %v, %v; want the zero time", got, err)
	}
	if err := (*timeDest)(&got).Scan("x"); err == nil {
		t.Error("Scan(string) succeeded, want an error")
	}
}

func TestTextDest(t *testing.T) {
	src := []byte(`{"a":1}`)
	var got []byte
	if err := (*textDest)(&got).Scan(src); err != nil || string(got) != `{"a":1}` {
		t.Fatalf("Scan([]byte) = %q, %v", got, err)
	}
	src[0] = 'x'
	if string(got) != `{"a":1}` {
		t.Errorf("Scan([]byte) kept the driver's bytes: %q", got)
	}
	if err := (*textDest)(&got).Scan(`{"b":2}`); err != nil || string(got) != `{"b":2}` {
		t.Errorf("Scan(string) = %q, %v", got, err)
	}
}
