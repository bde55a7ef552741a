package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/bulkid/bulkid"
)

// Paths the mux cannot route by itself.
//
// http.ServeMux redirects a path that is not clean (an empty, "." or ".."
// segment) with a 307 and an HTML body, and takes a trailing "/" (or an id
// sent escaped as %2F) for a directory. Ids are the client's, any text:
// "/", "." and ".." are ids a record may carry, and a client escapes them
// as url.PathEscape does ("%2F", ".", ".."), so the id routes must take
// them as they come. withPaths does that before the mux sees the path:
//
//   - an API path (under /v1) with empty segments, a doubled slash
//     anywhere (Segment joins its base URL and the path as strings, so
//     "//v1/identify" arrives) or a trailing slash, means the path
//     without them, and is routed as that, never redirected;
//   - a path that matches an id route segment by segment, where each
//     wildcard is one escaped segment (no raw "/"), is routed with its ids
//     taken from the escaped path, whatever they are;
//   - any other unclean path is answered 404 in the error shape, naming
//     the clean path the client may have meant (under /v1, once the key
//     is known good: see handleNotFound); nothing is redirected.
//
// Other paths go to the mux as they are.

// idRoutes are the patterns, without their methods, whose wildcards name
// an id: the routes withPaths matches itself.
var idRoutes = [][]string{
	{"v1", "companies", "{company_id}"},
	{"v1", "users", "{user_id}"},
	{"v1", "users", "{user_id}", "events"},
	{"v1", "background_jobs", "{job_id}"},
	{"v1", "background_jobs", "{job_id}", "errors"},
}

// pathIDs holds the wildcards withPaths took from the escaped path and,
// under "" (no wildcard's name), that path, for messages: the mux sees a
// placeholder for each id.
type pathIDs map[string]string

// withPaths routes the paths the mux would redirect or misread; see above.
func (s *server) withPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		escaped := r.URL.EscapedPath()
		if strings.HasPrefix(r.RequestURI, "//") {
			// net/url reads "//v1/companies" as the host "v1" and the path
			// "/companies": take the path as sent.
			escaped, _, _ = strings.Cut(r.RequestURI, "?")
		}
		segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
		if kept := nonEmpty(segs); len(kept) < len(segs) && len(kept) > 0 && kept[0] == "v1" {
			segs, escaped = kept, "/"+strings.Join(kept, "/")
			r = withPath(r, escaped)
		}
		clean := cleanPath(escaped)
		if clean == escaped && !hasSlashID(segs) {
			next.ServeHTTP(w, r)
			return
		}
		if ids, routed, ok := matchIDRoute(segs); ok {
			ids[""] = escaped
			r2 := r.WithContext(context.WithValue(r.Context(), keyPathIDs, ids))
			u := *r.URL
			u.Path, u.RawPath = routed, ""
			r2.URL = &u
			next.ServeHTTP(w, r2)
			return
		}
		what := `empty, "." or ".."`
		if inAPI(clean) {
			what = `"." or ".."` // empty segments are dropped there
		}
		unclean := func(w http.ResponseWriter, r *http.Request, _ *bulkid.App) {
			s.writeError(w, r, bulkid.Errorf(bulkid.ENOTFOUND,
				"There is no endpoint %s %s: a path must not hold %s segments (did you mean %s?). Escape a \"/\" within an id as %%2F.",
				r.Method, escaped, what, clean))
		}
		if inAPI(clean) {
			s.authenticated(unclean).ServeHTTP(w, r)
			return
		}
		unclean(w, r, nil)
	})
}

// nonEmpty is segs without its empty segments.
func nonEmpty(segs []string) []string {
	kept := make([]string, 0, len(segs))
	for _, seg := range segs {
		if seg != "" {
			kept = append(kept, seg)
		}
	}
	return kept
}

// withPath is r routed to the escaped path p.
func withPath(r *http.Request, p string) *http.Request {
	path, err := url.PathUnescape(p)
	if err != nil {
		return r // the segments came from an escaped path: cannot happen
	}
	r2 := r.WithContext(r.Context())
	u := *r.URL
	u.Path, u.RawPath = path, p
	if u.Scheme == "" {
		u.Host = "" // "//v1/..." read as a host
	}
	r2.URL = &u
	return r2
}

// cleanPath is the path the mux would redirect p to: path.Clean, keeping
// a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// hasSlashID reports whether a segment is an escaped "/" alone, which the
// mux takes for a trailing slash rather than an id.
func hasSlashID(segs []string) bool {
	for _, s := range segs {
		if s == "%2F" || s == "%2f" {
			return true
		}
	}
	return false
}

// matchIDRoute matches the escaped segments against idRoutes. It returns
// the wildcards' unescaped values and a clean path the mux routes to the
// same pattern (each wildcard a placeholder), or ok false.
func matchIDRoute(segs []string) (ids pathIDs, routed string, ok bool) {
next:
	for _, route := range idRoutes {
		if len(route) != len(segs) {
			continue
		}
		ids = pathIDs{}
		var b strings.Builder
		for i, want := range route {
			b.WriteByte('/')
			if name, isWild := strings.CutPrefix(want, "{"); isWild {
				id, err := url.PathUnescape(segs[i])
				if err != nil || id == "" {
					continue next
				}
				ids[strings.TrimSuffix(name, "}")] = id
				b.WriteByte('_')
				continue
			}
			if segs[i] != want {
				continue next
			}
			b.WriteString(want)
		}
		return ids, b.String(), true
	}
	return nil, "", false
}

// pathValue is the wildcard name of the request's route: as withPaths
// took it from the escaped path, or as the mux matched it.
func pathValue(r *http.Request, name string) string {
	if ids, ok := r.Context().Value(keyPathIDs).(pathIDs); ok {
		if v, ok := ids[name]; ok {
			return v
		}
	}
	return r.PathValue(name)
}

// shownPath is the request's path as messages name it: as routed, with
// the ids withPaths took as they were sent.
func shownPath(r *http.Request) string {
	if ids, ok := r.Context().Value(keyPathIDs).(pathIDs); ok {
		return ids[""]
	}
	return r.URL.Path
}
