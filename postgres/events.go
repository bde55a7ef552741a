package postgres

import (
	"context"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/jackc/pgx/v5"
)

// The event writes, as in the sqlite store: a user named by an event is
// created with empty metadata (created_at = updated_at = now) and one
// that exists is not written; event_totals keeps each name's count and
// newest received_at with every insert and delete of an event, and a
// delete that takes a count to 0 deletes the row.
//
// Lock order (see work.go): an event touches no company, so Track takes
// no app lock (events of an app are stored in parallel): it locks the
// user's row first, then the event_totals row of its name. The user is
// locked even when it exists (DO UPDATE … WHERE false; DO NOTHING would
// not lock it), so that a deletion of the user
// cannot commit between this check and the insert of its event, which
// would leave an event of no stored user. Writers that lock several
// event_totals rows (a deletion of users) take them after the users,
// sorted by name bytewise.
const (
	trackUser = `INSERT INTO users (app_id, user_id, metadata, created_at, updated_at) VALUES ($1, $2, '{}', $3, $3)
		ON CONFLICT (app_id, user_id) DO UPDATE SET updated_at = users.updated_at WHERE false`
	trackEvent = `INSERT INTO events (app_id, user_id, name, metadata, received_at, sent_at)
		VALUES ($1, $2, $3, $4::jsonb, $5, $6) RETURNING seq`
	trackTotal = `INSERT INTO event_totals (app_id, name, count, last_at) VALUES ($1, $2, 1, $3)
		ON CONFLICT (app_id, name) DO UPDATE SET count = event_totals.count + 1, last_at = greatest(event_totals.last_at, excluded.last_at)`
)

// Track stores an event, creating its user if the app has none of that
// id, in one transaction.
func (db *DB) Track(ctx context.Context, appID int64, ev *bulkid.Event) error {
	// Milliseconds, as the sqlite store keeps times: both read back alike.
	ev.ReceivedAt = ev.ReceivedAt.Truncate(time.Millisecond)
	ev.SentAt = ev.SentAt.Truncate(time.Millisecond)
	var user *string // NULL: no user
	if ev.UserID != "" {
		user = &ev.UserID
	}
	var sent *time.Time // NULL: no client timestamp
	if !ev.SentAt.IsZero() {
		sent = &ev.SentAt
	}
	md := "{}"
	if len(ev.Metadata) > 0 {
		md = string(ev.Metadata)
	}
	now := db.now()
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if user != nil {
			if _, err := tx.Exec(ctx, trackUser, appID, *user, now); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, trackEvent, appID, user, ev.Name, md, ev.ReceivedAt, sent).Scan(&ev.Seq); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, trackTotal, appID, ev.Name, ev.ReceivedAt)
		return err
	})
}
