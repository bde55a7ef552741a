package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/bulkid/bulkid"
)

// DeliveryColumns are the columns ScanDelivery reads, of webhook_deliveries
// d joined to webhooks w.
const DeliveryColumns = `d.id, w.id, w.app_id, d.job_id, d.event, d.status, d.attempts, d.last_status_code, d.last_error,
	d.next_attempt_at, d.delivered_at, d.created_at`

// ScanDelivery reads a row of DeliveryColumns, then extra columns into
// extra (the claims add the webhook's URL and secret).
func ScanDelivery(row Row, extra ...any) (*bulkid.Delivery, error) {
	var d bulkid.Delivery
	var code sql.NullInt64
	var lastErr sql.NullString
	dest := append([]any{&d.ID, &d.WebhookID, &d.AppID, &d.JobID, &d.Event, &d.Status, &d.Attempts, &code, &lastErr,
		(*timeDest)(&d.NextAttemptAt), (*timeDest)(&d.DeliveredAt), (*timeDest)(&d.CreatedAt)}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	d.LastStatusCode, d.LastError = int(code.Int64), lastErr.String
	return &d, nil
}

// SplitEvents reads a webhook's events column (comma-separated names).
func SplitEvents(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// ListWebhooks returns an app's webhooks, oldest first.
func (r *Reader) ListWebhooks(ctx context.Context, appID int64) ([]*bulkid.Webhook, error) {
	rows, err := r.db.Query(ctx, r.d.Rebind(`SELECT id, app_id, url, events, secret, created_at FROM webhooks
		WHERE app_id = ? ORDER BY seq`), appID)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	var out []*bulkid.Webhook
	for rows.Next() {
		var w bulkid.Webhook
		var events string
		if err := rows.Scan(&w.ID, &w.AppID, &w.URL, &events, &w.Secret, (*timeDest)(&w.CreatedAt)); err != nil {
			return nil, r.d.Err(err)
		}
		w.Events = SplitEvents(events)
		out = append(out, &w)
	}
	return out, r.d.Err(rows.Err())
}

// Deliveries returns a webhook's deliveries, newest first.
func (r *Reader) Deliveries(ctx context.Context, appID int64, webhookID string, p bulkid.Page) ([]*bulkid.Delivery, error) {
	var wseq int64
	if err := r.db.QueryRow(ctx, r.d.Rebind("SELECT seq FROM webhooks WHERE app_id = ? AND id = ?"), appID, webhookID).Scan(&wseq); err != nil {
		return nil, r.d.Err(err)
	}
	after := int64(1<<63 - 1)
	if p.After != "" {
		err := r.db.QueryRow(ctx, r.d.Rebind("SELECT seq FROM webhook_deliveries WHERE webhook_seq = ? AND id = ?"), wseq, p.After).Scan(&after)
		if errors.Is(err, r.d.NoRows) {
			return nil, bulkid.Errorf(bulkid.EINVALID, "after=%q is not a delivery of this webhook.", p.After)
		} else if err != nil {
			return nil, r.d.Err(err)
		}
	}
	rows, err := r.db.Query(ctx, r.d.Rebind("SELECT "+DeliveryColumns+` FROM webhook_deliveries d JOIN webhooks w ON w.seq = d.webhook_seq
		WHERE d.webhook_seq = ? AND d.seq < ? ORDER BY d.seq DESC LIMIT ?`), wseq, after, p.Limit)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	var out []*bulkid.Delivery
	for rows.Next() {
		d, err := ScanDelivery(rows)
		if err != nil {
			return nil, r.d.Err(err)
		}
		out = append(out, d)
	}
	return out, r.d.Err(rows.Err())
}
