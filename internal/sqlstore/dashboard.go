package sqlstore

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulkid/bulkid"
	"github.com/valyala/fastjson"
)

// The dashboard's reads (bulkid.DashboardStore). Every listing is keyset
// paged on an index (migrations sqlite 0007 and postgres 0006 add the
// two it needs): companies by (app_id, visible, company_id) or (app_id,
// visible, updated_at, company_id), users by (app_id, user_id) or (app_id,
// company_id, user_id). A filter no index serves (a property value, or an
// id prefix in the order of last update) is applied here, in Go, to at
// most bulkid.MaxCompanyScan rows a call, so that its semantics are the
// same on both databases and no request reads a million rows.

const userColumns = "user_id, company_id, metadata, created_at, updated_at"

// timeArg is t as a query argument: SQLite keeps Unix milliseconds,
// PostgreSQL timestamptz (the one dialect with numbered placeholders).
func (r *Reader) timeArg(t time.Time) any {
	if r.d.Numbered {
		return t
	}
	return t.UnixMilli()
}

// CountCompanies counts an app's visible or hidden companies from the
// (app_id, visible, company_id) index, up to limit (0: all of them).
func (r *Reader) CountCompanies(ctx context.Context, appID int64, visible bool, limit int64) (int64, error) {
	v := r.d.False
	if visible {
		v = r.d.True
	}
	q := "SELECT count(*) FROM companies WHERE app_id = ? AND visible = " + v
	args := []any{appID}
	if limit > 0 {
		// ORDER BY the index's order: without it PostgreSQL, on a table
		// never analyzed, counted through a bitmap scan, which reads every
		// entry of the range before the LIMIT applies (110 ms at 195,000
		// hidden companies; 0.4 ms for the first 1,000 in order).
		q = "SELECT count(*) FROM (SELECT 1 FROM companies WHERE app_id = ? AND visible = " + v + " ORDER BY company_id LIMIT ?) AS c"
		args = append(args, limit)
	}
	var n int64
	err := r.db.QueryRow(ctx, r.d.Rebind(q), args...).Scan(&n)
	return n, r.d.Err(err)
}

// CountUsers counts an app's users.
func (r *Reader) CountUsers(ctx context.Context, appID int64) (int64, error) {
	var n int64
	err := r.db.QueryRow(ctx, r.d.Rebind("SELECT count(*) FROM users WHERE app_id = ?"), appID).Scan(&n)
	return n, r.d.Err(err)
}

// prefixEnd is the least string above every string that begins with
// prefix, in bytewise (code point) order: prefix with its last code point
// raised by one. ok is false when there is none (prefix is "" or all
// U+10FFFF), and the range has no upper bound.
func prefixEnd(prefix string) (end string, ok bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		if r == utf8.MaxRune || r == utf8.RuneError && size <= 1 {
			continue
		}
		r++
		if r == 0xD800 { // surrogates are not code points UTF-8 encodes
			r = 0xE000
		}
		return prefix + string(r), true
	}
	return "", false
}

// An updated-order cursor is "MICROS.ID": the last company's updated_at in
// Unix microseconds and its id.
func updatedCursor(c *bulkid.Company) string {
	return strconv.FormatInt(c.UpdatedAt.UnixMicro(), 10) + "." + c.ID
}

func parseUpdatedCursor(s string) (time.Time, string, error) {
	micros, id, ok := strings.Cut(s, ".")
	us, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil {
		return time.Time{}, "", bulkid.Errorf(bulkid.EINVALID, "The cursor %q is not one of a listing by last update.", s)
	}
	return time.UnixMicro(us).UTC(), id, nil
}

// SearchCompanies reads one page of companies: a window of rows in the
// order asked, from its index, filtered here by what the index does not
// serve.
func (r *Reader) SearchCompanies(ctx context.Context, appID int64, q bulkid.CompanyQuery) (*bulkid.CompanyPage, error) {
	limit := max(q.Limit, 1)
	vis := r.d.True
	if q.Hidden {
		vis = r.d.False
	}
	var b strings.Builder
	b.WriteString("SELECT " + companyColumns + " FROM companies WHERE app_id = ? AND visible = " + vis)
	args := []any{appID}
	// prefixHere is a prefix that the order's index cannot bound.
	prefixHere := ""
	switch q.Sort {
	case "", bulkid.SortByID:
		if q.After != "" {
			b.WriteString(" AND company_id > ?")
			args = append(args, q.After)
		}
		if q.IDPrefix != "" {
			b.WriteString(" AND company_id >= ?")
			args = append(args, q.IDPrefix)
			if end, ok := prefixEnd(q.IDPrefix); ok {
				b.WriteString(" AND company_id < ?")
				args = append(args, end)
			}
		}
		b.WriteString(" ORDER BY company_id")
	case bulkid.SortByUpdated:
		if q.After != "" {
			at, id, err := parseUpdatedCursor(q.After)
			if err != nil {
				return nil, err
			}
			b.WriteString(" AND (updated_at < ? OR (updated_at = ? AND company_id < ?))")
			args = append(args, r.timeArg(at), r.timeArg(at), id)
		}
		prefixHere = q.IDPrefix
		b.WriteString(" ORDER BY updated_at DESC, company_id DESC")
	default:
		return nil, bulkid.Errorf(bulkid.EINVALID, "There is no order %q; use id or updated.", q.Sort)
	}
	filtered := prefixHere != "" || q.Property != ""
	window := limit + 1 // one more tells whether a next page exists
	if filtered {
		window = max(bulkid.MaxCompanyScan, window)
	}
	b.WriteString(" LIMIT ?")
	args = append(args, window)

	rows, err := r.db.Query(ctx, r.d.Rebind(b.String()), args...)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	page := &bulkid.CompanyPage{}
	var p fastjson.Parser
	var last *bulkid.Company
	more := false
	for rows.Next() {
		c, err := scanCompany(rows)
		if err != nil {
			return nil, r.d.Err(err)
		}
		if len(page.Companies) == limit {
			more = true // a row beyond a full page: there is a next one
			break
		}
		page.Scanned++
		last = c
		if prefixHere != "" && !strings.HasPrefix(c.ID, prefixHere) {
			continue
		}
		if q.Property != "" && !propertyIs(&p, c.Metadata, q.Property, q.Value) {
			continue
		}
		page.Companies = append(page.Companies, c)
	}
	if err := rows.Err(); err != nil {
		return nil, r.d.Err(err)
	}
	if filtered && page.Scanned == window {
		more = true // the scan stopped at its bound, not at the end
	}
	if more && last != nil {
		if len(page.Companies) == limit {
			last = page.Companies[limit-1]
		}
		if q.Sort == bulkid.SortByUpdated {
			page.Next = updatedCursor(last)
		} else {
			page.Next = last.ID
		}
	}
	return page, nil
}

// propertyIs reports whether the metadata object has key with value as
// its text: a string equal to value, true or false, or a number whose
// JSON text is value or that equals value read as a number.
func propertyIs(p *fastjson.Parser, metadata []byte, key, value string) bool {
	v, err := p.ParseBytes(metadata)
	if err != nil {
		return false
	}
	v = v.Get(key)
	if v == nil {
		return false
	}
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes()) == value
	case fastjson.TypeNumber:
		text := string(v.MarshalTo(nil))
		if text == value {
			return true
		}
		want, err := strconv.ParseFloat(value, 64)
		return err == nil && !math.IsNaN(want) && v.GetFloat64() == want
	case fastjson.TypeTrue:
		return value == "true"
	case fastjson.TypeFalse:
		return value == "false"
	case fastjson.TypeNull:
		return value == "null"
	}
	return false
}

func (r *Reader) users(ctx context.Context, q string, args ...any) ([]*bulkid.User, error) {
	rows, err := r.db.Query(ctx, r.d.Rebind(q), args...)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	var out []*bulkid.User
	for rows.Next() {
		var u bulkid.User
		var company *string
		if err := rows.Scan(&u.ID, &company, (*textDest)(&u.Metadata), (*timeDest)(&u.CreatedAt), (*timeDest)(&u.UpdatedAt)); err != nil {
			return nil, r.d.Err(err)
		}
		if company != nil {
			u.CompanyID = *company
		}
		out = append(out, &u)
	}
	return out, r.d.Err(rows.Err())
}

// CompanyUsers lists a company's users by id, from the (app_id,
// company_id, user_id) index.
func (r *Reader) CompanyUsers(ctx context.Context, appID int64, companyID string, p bulkid.Page) ([]*bulkid.User, error) {
	return r.users(ctx, "SELECT "+userColumns+" FROM users WHERE app_id = ? AND company_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
		appID, companyID, p.After, max(p.Limit, 1))
}

// SearchUsers lists users by id within the range of a prefix.
func (r *Reader) SearchUsers(ctx context.Context, appID int64, prefix string, p bulkid.Page) ([]*bulkid.User, error) {
	q := "SELECT " + userColumns + " FROM users WHERE app_id = ? AND user_id > ? AND user_id >= ?"
	args := []any{appID, p.After, prefix}
	if end, ok := prefixEnd(prefix); ok {
		q += " AND user_id < ?"
		args = append(args, end)
	}
	return r.users(ctx, q+" ORDER BY user_id LIMIT ?", append(args, max(p.Limit, 1))...)
}

// JobSummary returns one job of an app, without its record errors.
func (r *Reader) JobSummary(ctx context.Context, appID int64, jobID string) (*bulkid.Job, error) {
	j, _, err := ScanJob(r.db.QueryRow(ctx, r.q.job, jobID, appID))
	return j, r.d.Err(err)
}

// JobSummaries lists an app's jobs newest first, without record errors.
func (r *Reader) JobSummaries(ctx context.Context, appID int64, p bulkid.Page) ([]*bulkid.Job, error) {
	jobs, _, err := r.jobPage(ctx, appID, p)
	return jobs, err
}

func (r *Reader) appJobSeq(ctx context.Context, appID int64, jobID string) (int64, error) {
	var seq int64
	err := r.db.QueryRow(ctx, r.q.jobSeq, jobID, appID).Scan(&seq)
	if errors.Is(err, r.d.NoRows) {
		return 0, bulkid.Errorf(bulkid.ENOTFOUND, "No job with the id %q exists in this app.", jobID)
	}
	return seq, r.d.Err(err)
}

// JobErrorCodes counts a job's record errors by code: a scan of the job's
// errors, at most a job's records (bulkid.MaxRecords).
func (r *Reader) JobErrorCodes(ctx context.Context, appID int64, jobID string) ([]bulkid.CodeCount, error) {
	seq, err := r.appJobSeq(ctx, appID, jobID)
	if err != nil {
		return nil, err
	}
	rows, err := r.db.Query(ctx, r.d.Rebind("SELECT code, count(*) FROM job_errors WHERE job_seq = ? GROUP BY code ORDER BY code"), seq)
	if err != nil {
		return nil, r.d.Err(err)
	}
	defer rows.Close()
	var out []bulkid.CodeCount
	for rows.Next() {
		var c bulkid.CodeCount
		var n int64
		if err := rows.Scan(&c.Code, &n); err != nil {
			return nil, r.d.Err(err)
		}
		c.Count = int(n)
		out = append(out, c)
	}
	return out, r.d.Err(rows.Err())
}

// JobErrorsByCode returns a job's record errors of one code in input order.
func (r *Reader) JobErrorsByCode(ctx context.Context, appID int64, jobID, code string, fromSeq, limit int) ([]bulkid.RecordError, error) {
	seq, err := r.appJobSeq(ctx, appID, jobID)
	if err != nil {
		return nil, err
	}
	return r.queryErrors(ctx, r.d.Rebind("SELECT "+errorColumns+" FROM job_errors WHERE job_seq = ? AND n >= ? AND code = ? ORDER BY n LIMIT ?"),
		seq, fromSeq, code, limit)
}
