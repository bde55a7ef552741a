-- The dashboard's listings, keyset paged (internal/sqlstore/dashboard.go):
-- companies by last update, newest first, within visible or hidden; and a
-- company's users by id. users_by_company gains user_id, so that a
-- company's users come in id order from the index; its lookups by
-- (app_id, company_id) are served as before.
CREATE INDEX companies_updated ON companies (app_id, visible, updated_at, company_id);
DROP INDEX users_by_company;
CREATE INDEX users_by_company ON users (app_id, company_id, user_id);
