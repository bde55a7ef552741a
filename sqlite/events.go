package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/bulkid/bulkid"
)

// The event writes. A user named by an event is created with empty
// metadata, as identify creates one (created_at = updated_at = now); a
// user that exists is not written at all. event_totals keeps each name's
// count and newest received_at with every insert and delete of an event;
// a delete that takes a count to 0 deletes the row, so a row always
// counts at least one event.
const (
	trackUser = `INSERT INTO users (app_id, user_id, company_id, metadata, created_at, updated_at)
		VALUES (?, ?, NULL, '{}', ?, ?) ON CONFLICT (app_id, user_id) DO NOTHING`
	trackEvent = `INSERT INTO events (app_id, user_id, name, metadata, received_at, sent_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`
	trackTotal = `INSERT INTO event_totals (app_id, name, count, last_at) VALUES (?, ?, 1, ?)
		ON CONFLICT (app_id, name) DO UPDATE SET count = count + 1, last_at = max(last_at, excluded.last_at)`
)

// Track stores an event, creating its user if the app has none of that
// id, in one transaction.
func (db *DB) Track(ctx context.Context, appID int64, ev *bulkid.Event) error {
	ev.ReceivedAt = ev.ReceivedAt.Truncate(time.Millisecond)
	ev.SentAt = ev.SentAt.Truncate(time.Millisecond)
	var user, sent any // NULL: no user, no client timestamp
	if ev.UserID != "" {
		user = ev.UserID
	}
	if !ev.SentAt.IsZero() {
		sent = ms(ev.SentAt)
	}
	md := "{}"
	if len(ev.Metadata) > 0 {
		md = string(ev.Metadata)
	}
	now := ms(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if user != nil {
			if _, err := tx.ExecContext(ctx, trackUser, appID, user, now, now); err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, trackEvent, appID, user, ev.Name, md, ms(ev.ReceivedAt), sent).Scan(&ev.Seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, trackTotal, appID, ev.Name, ms(ev.ReceivedAt))
		return err
	})
}
