package sqlstore

// A company's user_count is kept by difference, never counted again: each
// write that moves users in or out of companies knows by how much each
// company's count changes (bulkid.Applied's Dirty and Deltas, or the users
// a delete removes). A job's batches add theirs to company_refresh (one
// row a company, its delta summed), which commits with the batch, and the
// job's refresh adds them to the counts and empties the app's list, in one
// transaction: applied once, however often a crashed job's refresh runs
// again. A real-time identify or delete adds its own change at once, with
// whatever the company's row in company_refresh holds (a running job's
// batches'), and deletes that row: so at every commit a company's count
// plus its pending delta is the number of its users, and a company a
// real-time write touched reads exact at once, as when it was recounted.
// Deleting a company deletes its row of company_refresh with it, so that a
// company named again afterwards starts from 0 without the deltas of the
// one deleted (whose users the delete left without a company), and
// recounting is never needed: no situation leaves a count that the
// differences do not explain.

// AddToCount is the SET list of an UPDATE of companies that adds delta, an
// SQL expression, to a company's user count and sets its visibility from
// the result: a company is visible while it has at least one user.
func (d Dialect) AddToCount(delta string) string {
	return "user_count = user_count + " + delta + ", visible = user_count + " + delta + " > 0"
}
