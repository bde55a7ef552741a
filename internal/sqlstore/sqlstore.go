// Package sqlstore is the read side of the two SQL stores, written once:
// the queries that read jobs, record errors, a job's input, apps,
// companies and users, and the scanning of their rows. The sqlite and
// postgres packages embed a Reader over their own connections and keep
// the write path (claiming, batching, the merge, locks), where the two
// databases really differ.
//
// The queries are written in SQLite's form, with ? placeholders, and a
// Dialect adapts them: numbered placeholders ($1, $2, …) for PostgreSQL,
// the boolean literals, and the driver's error translator. One query, the
// record errors of a page of jobs, is written in two forms, each the one
// its planner reads no more than it returns (reader.go). Times need no
// rewriting, as no read query takes one, only decoding: timeDest scans
// SQLite's Unix milliseconds and PostgreSQL's timestamptz alike.
package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Row is one row of a result: *sql.Row and pgx.Row.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set: pgx.Rows, or *sql.Rows behind a Close without a
// result.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs read queries: a store's connection pool or a transaction,
// through a few lines of adapter in each store.
type Querier interface {
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Dialect is what differs between the databases in the read queries.
type Dialect struct {
	// Numbered is true for $1, $2, … placeholders, false for ?.
	Numbered bool
	// True and False are the boolean literals: 1 and 0 in SQLite, whose
	// partial indexes say active = 1; true and false in PostgreSQL.
	True, False string
	// Lateral is true for a database that joins LATERAL over an array
	// argument (PostgreSQL); ListJobs reads a page's errors so.
	Lateral bool
	// NoRows is the driver's error for a query that found no row.
	NoRows error
	// Err turns a driver error into a domain error (the store's
	// interpretError).
	Err func(error) error
}

// Rebind rewrites the ? placeholders of q, which holds no ? elsewhere, to
// the dialect's.
func (d Dialect) Rebind(q string) string {
	if !d.Numbered {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for {
		i := strings.IndexByte(q, '?')
		if i < 0 {
			b.WriteString(q)
			return b.String()
		}
		n++
		b.WriteString(q[:i])
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
		q = q[i+1:]
	}
}

// timeDest is a scan destination for a nullable time column, SQLite's
// Unix milliseconds or PostgreSQL's timestamptz, NULL being the zero time;
// the time is stored in UTC. Use it as (*timeDest)(&t).
type timeDest time.Time

// Scan implements sql.Scanner, which both drivers call.
func (t *timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = timeDest{}
	case int64:
		*t = timeDest(time.UnixMilli(v).UTC())
	case time.Time:
		*t = timeDest(v.UTC())
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

// textDest is a scan destination for JSON text: SQLite's TEXT, which the
// driver gives as a string, or PostgreSQL's jsonb, given as bytes. Use it
// as (*textDest)(&metadata).
type textDest []byte

// Scan implements sql.Scanner, which both drivers call. It copies: the
// bytes a driver passes are its own.
func (t *textDest) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*t = []byte(v)
	case []byte:
		*t = bytes.Clone(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into JSON text", src)
	}
	return nil
}
