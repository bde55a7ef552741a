package postgres

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestInTxRetries: a transaction aborted as a deadlock victim or a
// serialization failure, or asking to run again, runs again, up to
// txAttempts times; other errors are not retried.
func TestInTxRetries(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), Config{URL: pgtest.URL(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := func(fails int, fault error) (calls int, err error) {
		err = db.inTx(context.Background(), func(tx pgx.Tx) error {
			calls++
			if calls <= fails {
				return fault
			}
			var one int
			return tx.QueryRow(context.Background(), "SELECT 1").Scan(&one)
		})
		return calls, err
	}
	for _, fault := range []error{&pgconn.PgError{Code: "40P01"}, &pgconn.PgError{Code: "40001"}, errRetry} {
		if calls, err := run(txAttempts-1, fault); err != nil || calls != txAttempts {
			t.Errorf("%v %d times: %d calls, %v; want %d calls and success", fault, txAttempts-1, calls, err, txAttempts)
		}
		calls, err := run(txAttempts, fault)
		if calls != txAttempts || bulkid.ErrorCode(err) != bulkid.EUNAVAILABLE {
			t.Errorf("%v every time: %d calls, %v; want %d calls and %s", fault, calls, err, txAttempts, bulkid.EUNAVAILABLE)
		}
	}
	other := errors.New("something else")
	if calls, err := run(1, other); calls != 1 || !errors.Is(err, other) {
		t.Errorf("another error: %d calls, %v; want 1 call and that error", calls, err)
	}
	if calls, err := run(1, &pgconn.PgError{Code: "23505"}); calls != 1 || bulkid.ErrorCode(err) != bulkid.ECONFLICT {
		t.Errorf("a unique violation: %d calls, %v; want 1 call and %s", calls, err, bulkid.ECONFLICT)
	}
}
