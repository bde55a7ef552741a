package sqlstore

// RefreshCounts is the UPDATE that recounts the users of companies and
// sets their visibility, less its WHERE clause, which each store adds:
// the rows to recount are chosen differently (SQLite's dirty flag under
// its one writer, PostgreSQL's ids locked first in id order).
func (d Dialect) RefreshCounts() string {
	return `UPDATE companies SET
		user_count = (SELECT count(*) FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id),
		visible = EXISTS (SELECT 1 FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id),
		dirty = ` + d.False
}
