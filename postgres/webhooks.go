package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/bulkid/bulkid"
	"github.com/bulkid/bulkid/internal/sqlstore"
	"github.com/jackc/pgx/v5"
)

// CreateWebhook stores a webhook.
func (db *DB) CreateWebhook(ctx context.Context, w *bulkid.Webhook) error {
	now := db.now().Truncate(time.Microsecond).UTC()
	_, err := db.pool.Exec(ctx, `INSERT INTO webhooks (id, app_id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		w.ID, w.AppID, w.URL, strings.Join(w.Events, ","), w.Secret, now)
	if err != nil {
		return interpretError(err)
	}
	w.CreatedAt = now
	return nil
}

// DeleteWebhook removes a webhook and its deliveries.
func (db *DB) DeleteWebhook(ctx context.Context, appID int64, id string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var seq int64
		if err := tx.QueryRow(ctx, "SELECT seq FROM webhooks WHERE app_id = $1 AND id = $2 FOR UPDATE", appID, id).Scan(&seq); err != nil {
			return err // ENOTFOUND for no rows
		}
		if _, err := tx.Exec(ctx, "DELETE FROM webhook_deliveries WHERE webhook_seq = $1", seq); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM webhooks WHERE seq = $1", seq)
		return err
	})
}

// ClaimDeliveries leases due deliveries. SKIP LOCKED lets deliverers of
// many processes claim at once, each getting other deliveries, without
// waiting on one another.
func (db *DB) ClaimDeliveries(ctx context.Context, owner string, ttl time.Duration, limit int) ([]*bulkid.Delivery, error) {
	now := db.now()
	rows, err := db.pool.Query(ctx, `UPDATE webhook_deliveries d SET lease_owner = $1, lease_until = $2
		FROM webhooks w
		WHERE w.seq = d.webhook_seq AND d.seq IN (SELECT seq FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
			ORDER BY next_attempt_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED)
		RETURNING `+sqlstore.DeliveryColumns+`, w.url, w.secret`, owner, now.Add(ttl), now, limit)
	if err != nil {
		return nil, interpretError(err)
	}
	defer rows.Close()
	var out []*bulkid.Delivery
	for rows.Next() {
		var url, secret string
		d, err := sqlstore.ScanDelivery(rows, &url, &secret)
		if err != nil {
			return nil, interpretError(err)
		}
		d.URL, d.Secret = url, secret
		out = append(out, d)
	}
	return out, interpretError(rows.Err())
}

var errDeliveryLeaseLost = &bulkid.Error{Code: bulkid.ELEASELOST, Message: "The delivery is no longer held by this deliverer."}

// RecordAttempt records an attempt's outcome and ends the lease.
func (db *DB) RecordAttempt(ctx context.Context, l bulkid.DeliveryLease, a bulkid.DeliveryAttempt) error {
	now := db.now()
	var status bulkid.DeliveryStatus
	var next, delivered *time.Time
	var lastErr *string
	switch {
	case a.Delivered:
		status, delivered = bulkid.DeliveryDelivered, &now
	case a.Next.IsZero():
		status, lastErr = bulkid.DeliveryFailed, &a.Error
	default:
		status, next, lastErr = bulkid.DeliveryPending, &a.Next, &a.Error
	}
	var code *int
	if a.StatusCode != 0 {
		code = &a.StatusCode
	}
	tag, err := db.pool.Exec(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, status = $1, last_status_code = $2,
		last_error = $3, next_attempt_at = $4, delivered_at = $5, lease_owner = NULL, lease_until = NULL
		WHERE id = $6 AND lease_owner = $7 AND status = 'pending'`,
		status, code, lastErr, next, delivered, l.DeliveryID, l.Owner)
	if err != nil {
		return interpretError(err)
	}
	if tag.RowsAffected() != 1 {
		return errDeliveryLeaseLost
	}
	return nil
}

// enqueueDeliveries creates, in tx, a pending delivery due now for each
// webhook of the app subscribed to the event of a job ending in status.
func enqueueDeliveries(ctx context.Context, tx pgx.Tx, appID int64, jobID string, status bulkid.JobStatus, now time.Time) error {
	event := bulkid.JobEvent(status)
	// FOR KEY SHARE: a webhook being deleted meanwhile is waited for, and
	// skipped once gone, so no delivery refers to a deleted webhook.
	rows, err := tx.Query(ctx, "SELECT seq, events FROM webhooks WHERE app_id = $1 ORDER BY seq FOR KEY SHARE", appID)
	if err != nil {
		return err
	}
	var seqs []int64
	var seq int64
	var events string
	if _, err := pgx.ForEachRow(rows, []any{&seq, &events}, func() error {
		if (&bulkid.Webhook{Events: sqlstore.SplitEvents(events)}).Subscribes(event) {
			seqs = append(seqs, seq)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, seq := range seqs {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (id, webhook_seq, job_id, event, status, next_attempt_at, created_at)
			VALUES ($1, $2, $3, $4, 'pending', $5, $5)`, bulkid.NewDeliveryID(), seq, jobID, event, now); err != nil {
			return err
		}
	}
	return nil
}
