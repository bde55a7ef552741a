package sqlstore

import (
	"context"
	"math"
	"regexp"
	"strconv"

	"github.com/bulkid/bulkid"
)

// The event reads. event_totals holds a row for each name an app has
// events of: the writers keep count and last_at with every insert and
// delete of an event, and delete a row whose count comes to 0, so every
// row read here counts at least one event (count > 0 is asked all the
// same, so that a writer that leaves one behind shows nothing).
const eventColumns = "seq, user_id, name, metadata, received_at, sent_at"

type eventQueries struct {
	userExists, userEvents, userEventsNamed, totals string
}

func newEventQueries(d Dialect) eventQueries {
	r := d.Rebind
	return eventQueries{
		userExists: r("SELECT 1 FROM users WHERE app_id = ? AND user_id = ?"),
		userEvents: r("SELECT " + eventColumns + " FROM events WHERE app_id = ? AND user_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"),
		userEventsNamed: r("SELECT " + eventColumns +
			" FROM events WHERE app_id = ? AND user_id = ? AND name = ? AND seq < ? ORDER BY seq DESC LIMIT ?"),
		totals: r("SELECT name, count, last_at FROM event_totals WHERE app_id = ? AND count > 0 ORDER BY name"),
	}
}

var decimalSeq = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)

// UserEvents returns a user's events newest first, after the cursor.
func (r *Reader) UserEvents(ctx context.Context, appID int64, userID, name string, p bulkid.Page) ([]*bulkid.Event, error) {
	before := int64(math.MaxInt64)
	if p.After != "" {
		n, err := strconv.ParseInt(p.After, 10, 64)
		if err != nil || !decimalSeq.MatchString(p.After) {
			return nil, bulkid.Errorf(bulkid.EINVALID, "cursor must be the cursor of the previous page's Link header, a decimal number.")
		}
		before = n
	}
	var one int
	if err := r.db.QueryRow(ctx, r.ev.userExists, appID, userID).Scan(&one); err != nil {
		return nil, r.d.Err(err)
	}
	var rows Rows
	var err error
	if name == "" {
		rows, err = r.db.Query(ctx, r.ev.userEvents, appID, userID, before, p.Limit)
	} else {
		rows, err = r.db.Query(ctx, r.ev.userEventsNamed, appID, userID, name, before, p.Limit)
	}
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	out := []*bulkid.Event{}
	for rows.Next() {
		var ev bulkid.Event
		var user *string
		if err := rows.Scan(&ev.Seq, &user, &ev.Name, (*textDest)(&ev.Metadata), (*timeDest)(&ev.ReceivedAt), (*timeDest)(&ev.SentAt)); err != nil {
			return nil, r.d.Err(err)
		}
		if user != nil {
			ev.UserID = *user
		}
		out = append(out, &ev)
	}
	return out, r.d.Err(rows.Err())
}

// EventTotals returns an app's event counts by name, ordered by name.
func (r *Reader) EventTotals(ctx context.Context, appID int64) ([]bulkid.EventTotal, error) {
	rows, err := r.db.Query(ctx, r.ev.totals, appID)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	out := []bulkid.EventTotal{}
	for rows.Next() {
		var t bulkid.EventTotal
		if err := rows.Scan(&t.Name, &t.Count, (*timeDest)(&t.LastAt)); err != nil {
			return nil, r.d.Err(err)
		}
		out = append(out, t)
	}
	return out, r.d.Err(rows.Err())
}
