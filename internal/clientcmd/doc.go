// Package clientcmd holds bulkid's client commands: push, which validates
// files of companies or users and syncs them as bulk jobs, and jobs,
// companies and users, which read a server. They talk to the server only
// through the SDK (package client), so they work against the hosted
// service as well as against bulkid, and know nothing of the server's
// code. Each command is a function of the command line and the OS handles,
// which cmd/bulkid's run calls; the returned error is what bulkid prints
// before exiting 1.
package clientcmd
