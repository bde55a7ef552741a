package webhook_test

import (
	"fmt"
	"time"

	"github.com/bulkid/bulkid/webhook"
)

// A receiver checks each delivery's Bulkid-Signature over the raw body, with
// the secret its webhook's registration returned, and refuses old ones.
func ExampleVerify() {
	secret := "whsec_3f9a…" // from POST /v1/webhooks
	body := []byte(`{"job_id":"9d0c4e0a-3f57-4c61-9a3e-1f2b3c4d5e6f","status":"completed"}`)
	sent := time.Unix(1764652272, 0)
	header := webhook.Sign(secret, sent, body) // what the server sent as Bulkid-Signature

	fmt.Println(webhook.Verify(secret, header, body, 5*time.Minute, sent.Add(time.Minute)))
	fmt.Println(webhook.Verify(secret, header, body, 5*time.Minute, sent.Add(time.Hour)) != nil) // a replay
	// Output:
	// <nil>
	// true
}
