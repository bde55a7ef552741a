package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
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

// ListWebhooks returns an app's webhooks, oldest first.
func (db *DB) ListWebhooks(ctx context.Context, appID int64) ([]*bulkid.Webhook, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, app_id, url, events, secret, created_at FROM webhooks
		WHERE app_id = ? ORDER BY seq`, appID)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var out []*bulkid.Webhook
	for rows.Next() {
		var w bulkid.Webhook
		var events string
		var created int64
		if err := rows.Scan(&w.ID, &w.AppID, &w.URL, &events, &w.Secret, &created); err != nil {
			return nil, interpretError(err)
		}
		w.Events, w.CreatedAt = splitEvents(events), time.UnixMilli(created).UTC()
		out = append(out, &w)
	}
	return out, interpretError(rows.Err())
}

func splitEvents(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
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

const deliveryColumns = `d.id, w.id, w.app_id, d.job_id, d.event, d.status, d.attempts, d.last_status_code, d.last_error,
	d.next_attempt_at, d.delivered_at, d.created_at`

func scanDelivery(row interface{ Scan(...any) error }, extra ...any) (*bulkid.Delivery, error) {
	var d bulkid.Delivery
	var code, next, delivered sql.NullInt64
	var lastErr sql.NullString
	var created int64
	dest := append([]any{&d.ID, &d.WebhookID, &d.AppID, &d.JobID, &d.Event, &d.Status, &d.Attempts, &code, &lastErr,
		&next, &delivered, &created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	d.LastStatusCode, d.LastError = int(code.Int64), lastErr.String
	if next.Valid {
		d.NextAttemptAt = time.UnixMilli(next.Int64).UTC()
	}
	if delivered.Valid {
		d.DeliveredAt = time.UnixMilli(delivered.Int64).UTC()
	}
	d.CreatedAt = time.UnixMilli(created).UTC()
	return &d, nil
}

// Deliveries returns a webhook's deliveries, newest first.
func (db *DB) Deliveries(ctx context.Context, appID int64, webhookID string, p bulkid.Page) ([]*bulkid.Delivery, error) {
	var wseq int64
	if err := db.read.QueryRowContext(ctx, "SELECT seq FROM webhooks WHERE app_id = ? AND id = ?", appID, webhookID).Scan(&wseq); err != nil {
		return nil, interpretError(err)
	}
	after := int64(1<<63 - 1)
	if p.After != "" {
		err := db.read.QueryRowContext(ctx, "SELECT seq FROM webhook_deliveries WHERE webhook_seq = ? AND id = ?", wseq, p.After).Scan(&after)
		if err == sql.ErrNoRows {
			return nil, bulkid.Errorf(bulkid.EINVALID, "after=%q is not a delivery of this webhook.", p.After)
		} else if err != nil {
			return nil, interpretError(err)
		}
	}
	rows, err := db.read.QueryContext(ctx, "SELECT "+deliveryColumns+` FROM webhook_deliveries d JOIN webhooks w ON w.seq = d.webhook_seq
		WHERE d.webhook_seq = ? AND d.seq < ? ORDER BY d.seq DESC LIMIT ?`, wseq, after, p.Limit)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var out []*bulkid.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, interpretError(err)
		}
		out = append(out, d)
	}
	return out, interpretError(rows.Err())
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
		rows, err := tx.QueryContext(ctx, "SELECT "+deliveryColumns+`, w.url, w.secret FROM webhook_deliveries d
			JOIN webhooks w ON w.seq = d.webhook_seq WHERE `+due+` ORDER BY d.next_attempt_at, d.seq LIMIT ?`, now, now, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var url, secret string
			d, err := scanDelivery(rows, &url, &secret)
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
		if (&bulkid.Webhook{Events: splitEvents(events)}).Subscribes(event) {
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
