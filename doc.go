// Package bulkid is the domain of the bulk profile sync service: apps,
// companies, users and background jobs (model.go); what a record is, as
// sent and as validated, and why one fails (record.go); the rules every
// store and reader applies to records: their validation (validate.go,
// with the JSON reading beneath it in rawjson.go and jsonmsg.go) and their
// merge into stored profiles within the profile bounds (merge.go); each
// app's rate (rate.go); API keys (apikey.go); the error codes every layer
// speaks (error.go); webhooks and their deliveries (webhook.go); and the
// Store interfaces that each storage backend implements (store.go).
//
// It imports the standard library and one package more: fastjson, the
// parser under validation and the merge. Those rules are the domain's, not
// a layer's: the readers of request bodies, the worker, the real-time
// identify handlers and both stores must give the same verdict on the same
// bytes, so they live here, where each of those can reach them.
//
// Subpackages each wrap one dependency: sqlite and postgres (the stores),
// ingest (readers of request bodies), worker (runs jobs), webhook (sends
// webhook deliveries), httpapi (the wire API); cmd/bulkid wires them
// together. They depend on this package, never
// on each other, except that httpapi uses ingest, input (the reader of
// pushed files) uses ingest's CSV conversion, and cmd/bulkid knows them
// all.
package bulkid
