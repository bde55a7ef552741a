// Package bulkid holds the domain of the bulk profile sync service: apps,
// companies, users, background jobs, record validation, the error codes every
// layer speaks, and the Store interface that each storage backend implements.
//
// Subpackages each wrap one dependency: sqlite (the embedded store), ingest
// (readers of request bodies), worker (runs jobs), httpapi (the wire API),
// and cmd/bulkid wires them together. They depend on this package, never on
// each other, except that cmd/bulkid knows them all.
package bulkid
