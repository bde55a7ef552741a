package sqlstore

// RefreshCounts is the UPDATE that recounts the users of companies and
// sets their visibility, less its WHERE clause, which each store adds
// (the rows to recount are chosen differently: SQLite's company_refresh
// rows under its one writer, PostgreSQL's ids locked first in id order),
// followed by RefreshChanged.
func (d Dialect) RefreshCounts() string {
	return `UPDATE companies SET
		user_count = (SELECT count(*) FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id),
		visible = EXISTS (SELECT 1 FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id)`
}

// RefreshChanged ends the WHERE clause of RefreshCounts: only a company
// whose count changed is written (its visibility follows its count), so
// a recount that finds what is stored writes nothing, and on PostgreSQL
// leaves no dead row version behind.
func (d Dialect) RefreshChanged() string {
	return ` AND user_count <> (SELECT count(*) FROM users u WHERE u.app_id = companies.app_id AND u.company_id = companies.company_id)`
}
