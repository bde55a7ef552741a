package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/sqlstore"
)

// CreateWebhook stores a webhook.
func (db *DB) CreateWebhook(ctx context.Context, w *bulkid.Webhook) error {
	now := db.now()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (id, app_id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			w.ID, w.AppID, w.URL, strings.Join(w.Events, ","), w.Secret, ms(now))
		return err
	})
	if err == nil {
		w.CreatedAt = time.UnixMilli(ms(now)).UTC()
	}
	return err
}

// DeleteWebhook removes a webhook and its deliveries.
func (db *DB) DeleteWebhook(ctx context.Context, appID int64, id string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, "SELECT seq FROM webhooks WHERE app_id = ? AND id = ?", appID, id).Scan(&seq); err != nil {
			return err // ENOTFOUND for no rows
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM webhook_deliveries WHERE webhook_seq = ?", seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM webhooks WHERE seq = ?", seq)
		return err
	})
}

// ClaimDeliveries leases due deliveries. SQLite's one writer orders
// concurrent claims.
func (db *DB) ClaimDeliveries(ctx context.Context, owner string, ttl time.Duration, limit int) ([]*bulkid.Delivery, error) {
	now := ms(db.now())
	const due = `d.status = 'pending' AND d.next_attempt_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?)`
	// Idle deliverers poll: look on the read pool first so that finding
	// nothing never takes the single write connection.
	var one int
	switch err := db.read.QueryRowContext(ctx, "SELECT 1 FROM webhook_deliveries d WHERE "+due+" LIMIT 1", now, now).Scan(&one); {
	case err == sql.ErrNoRows:
		return nil, nil
	case err != nil:
		return nil, interpretError(err)
	}
	var out []*bulkid.Delivery
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, "SELECT "+sqlstore.DeliveryColumns+`, w.url, w.secret FROM webhook_deliveries d
			JOIN webhooks w ON w.seq = d.webhook_seq WHERE `+due+` ORDER BY d.next_attempt_at, d.seq LIMIT ?`, now, now, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var url, secret string
			d, err := sqlstore.ScanDelivery(rows, &url, &secret)
			if err != nil {
				rows.Close()
				return err
			}
			d.URL, d.Secret = url, secret
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range out {
			if _, err := tx.ExecContext(ctx, "UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ? WHERE id = ?",
				owner, now+ttl.Milliseconds(), d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// RecordAttempt records an attempt's outcome and ends the lease.
func (db *DB) RecordAttempt(ctx context.Context, l bulkid.DeliveryLease, a bulkid.DeliveryAttempt) error {
	now := ms(db.now())
	status, next, delivered, lastErr := outcome(a, now)
	var code any
	if a.StatusCode != 0 {
		code = a.StatusCode
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, last_status_code = ?,
			last_error = ?, next_attempt_at = ?, delivered_at = ?, lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND lease_owner = ? AND status = 'pending'`,
			status, code, lastErr, next, delivered, l.DeliveryID, l.Owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return errDeliveryLeaseLost
		}
		return nil
	})
}

var errDeliveryLeaseLost = &bulkid.Error{Code: bulkid.ELEASELOST, Message: "The delivery is no longer held by this deliverer."}

// outcome is what an attempt leaves in a delivery's row: its status, next
// attempt, delivery time and last error (nil for none).
func outcome(a bulkid.DeliveryAttempt, now int64) (status bulkid.DeliveryStatus, next, delivered, lastErr any) {
	switch {
	case a.Delivered:
		return bulkid.DeliveryDelivered, nil, now, nil
	case a.Next.IsZero():
		return bulkid.DeliveryFailed, nil, nil, a.Error
	default:
		return bulkid.DeliveryPending, ms(a.Next), nil, a.Error
	}
}

// enqueueDeliveries creates, in tx, a pending delivery due now for each
// webhook of the app subscribed to the event of a job ending in status.
func enqueueDeliveries(ctx context.Context, tx *sql.Tx, appID int64, jobID string, status bulkid.JobStatus, now int64) error {
	event := bulkid.JobEvent(status)
	rows, err := tx.QueryContext(ctx, "SELECT seq, events FROM webhooks WHERE app_id = ? ORDER BY seq", appID)
	if err != nil {
		return err
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		var events string
		if err := rows.Scan(&seq, &events); err != nil {
			rows.Close()
			return err
		}
		if (&bulkid.Webhook{Events: sqlstore.SplitEvents(events)}).Subscribes(event) {
			seqs = append(seqs, seq)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, seq := range seqs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, webhook_seq, job_id, event, status, next_attempt_at, created_at)
			VALUES (?, ?, ?, ?, 'pending', ?, ?)`, bulkid.NewDeliveryID(), seq, jobID, event, now, now); err != nil {
			return err
		}
	}
	return nil
}
