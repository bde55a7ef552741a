package wiretest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/bulkid/bulkid/httpapi"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Every answer a wire test receives through this package is checked
// against the OpenAPI 3.1 document the server serves (httpapi/openapi.yaml)
// by CheckResponse: the operation of the method and path, the status
// among its documented responses, the documented headers (required ones
// present, each value of its schema) and the body against the schema of
// its Content-Type, each line of an NDJSON body alone. An answer to a path
// or method no operation has must be the document's 401, 404 or 405 (or
// one of the errors any request may get). So the document and the server
// cannot drift apart: an undocumented status, header value or member fails
// the test that received it.
//
// The document is loaded and checked as an OpenAPI 3.1 document once per
// process by kin-openapi, which reads 3.1 (type arrays, const, webhooks).
// Bodies and headers are validated by santhosh-tekuri/jsonschema (JSON
// Schema 2020-12, the dialect of OpenAPI 3.1, with formats asserted),
// each schema compiled once by its location in the document: kin-openapi's
// own 3.1 body validation compiles a new validator on every call, which
// the thousands of answers of a test run would pay for.

// docURL names the document's JSON as a schema resource.
const docURL = "mem:///openapi.json"

type spec struct {
	doc    *openapi3.T
	routes []route

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

// route is a path of the document, split into segments.
type route struct {
	template string
	segs     []string // "" for a {param} segment
	item     *openapi3.PathItem
}

var loadSpec = sync.OnceValues(func() (*spec, error) {
	b := httpapi.OpenAPIJSON()
	doc, err := LoadOpenAPI(b)
	if err != nil {
		return nil, err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, v); err != nil {
		return nil, err
	}
	sp := &spec{doc: doc, compiler: c, compiled: map[string]*jsonschema.Schema{}}
	for tmpl, item := range doc.Paths.Map() {
		r := route{template: tmpl, item: item}
		for _, seg := range strings.Split(strings.TrimPrefix(tmpl, "/"), "/") {
			if strings.HasPrefix(seg, "{") {
				seg = ""
			}
			r.segs = append(r.segs, seg)
		}
		sp.routes = append(sp.routes, r)
	}
	sort.Slice(sp.routes, func(i, j int) bool { return sp.routes[i].template < sp.routes[j].template })
	return sp, nil
})

// LoadOpenAPI parses b as an OpenAPI document and checks that it is a
// valid OpenAPI 3.1 document.
func LoadOpenAPI(b []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		return nil, fmt.Errorf("the document is OpenAPI %q, not 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is not valid: %w", err)
	}
	return doc, nil
}

// OpenAPI returns the document the answers are checked against.
func OpenAPI() (*openapi3.T, error) {
	sp, err := loadSpec()
	if err != nil {
		return nil, err
	}
	return sp.doc, nil
}

// CheckResponse checks the answer r to method rawURL against the OpenAPI
// document, and returns what does not match it.
func CheckResponse(method, rawURL string, r Response) error {
	sp, err := loadSpec()
	if err != nil {
		return err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if err := sp.check(method, u, r); err != nil {
		body := r.Body
		if len(body) > 2000 {
			body = append(body[:2000:2000], "..."...)
		}
		return fmt.Errorf("the answer %d to %s %s does not match the OpenAPI document (httpapi/openapi.yaml): %w\nbody: %s", r.Status, method, u.RequestURI(), err, body)
	}
	return nil
}

// anyRequest are the errors of any request, whatever its path: a second
// Authorization header, a URL or headers too long, a throttled address,
// an unparsable request (cmd/bulkid shapes net/http's refusals), a store
// away.
var anyRequest = map[int]string{
	400: "BadRequest", 414: "URITooLong", 429: "TooManyRequests", 431: "HeadersTooLarge",
	500: "InternalError", 501: "NotImplemented", 503: "ServiceUnavailable", 505: "HTTPVersionNotSupported",
}

func (sp *spec) check(method string, u *url.URL, r Response) error {
	path := u.EscapedPath()
	if path == "/ui" || strings.HasPrefix(path, "/ui/") {
		return nil // the dashboard is not part of the API
	}
	head := method == http.MethodHead // GET's answer without its body
	if head {
		method = http.MethodGet
	}
	rt, op, pathKnown := sp.route(method, path)
	if op == nil {
		// No operation: the answer must be one of the routing errors.
		name := anyRequest[r.Status]
		switch {
		case r.Status == 401 && inAPI(path):
			name = "Unauthorized"
		case r.Status == 404 && !pathKnown:
			name = "NotFound"
		case r.Status == 405 && pathKnown:
			name = "MethodNotAllowed"
		}
		if name == "" {
			what := "no path of the document is " + path
			if pathKnown {
				what = "the path " + rt.template + " has no " + method + " operation"
			}
			return fmt.Errorf("%s, so the answer should be 401, 404 or 405, not %d", what, r.Status)
		}
		ref := "#/components/responses/" + name
		resp := sp.doc.Components.Responses[name]
		if resp == nil || resp.Value == nil {
			return fmt.Errorf("the document has no %s", ref)
		}
		return sp.checkResponse(ref, resp.Value, r, head)
	}
	opLoc := "#/paths/" + pointerToken(rt.template) + "/" + strings.ToLower(method) + "/responses/"
	for _, key := range []string{strconv.Itoa(r.Status), strconv.Itoa(r.Status/100) + "XX", "default"} {
		ref := op.Responses.Value(key)
		if ref == nil {
			continue
		}
		loc := opLoc + pointerToken(key)
		if ref.Ref != "" {
			loc = ref.Ref
		}
		if err := sp.checkResponse(loc, ref.Value, r, head); err != nil {
			return fmt.Errorf("as %s %s %s: %w", method, rt.template, key, err)
		}
		return nil
	}
	if r.Status == http.StatusNotFound {
		// A process that serves only /healthz (serve --role worker) has
		// no route for the rest: its 404 is the routing error's.
		if resp := sp.doc.Components.Responses["NotFound"]; resp != nil && resp.Value != nil {
			return sp.checkResponse("#/components/responses/NotFound", resp.Value, r, head)
		}
	}
	return fmt.Errorf("%s %s does not document the status %d", method, rt.template, r.Status)
}

// route finds the operation of method on path as http.ServeMux would:
// of the paths that match and have the method, the one with the most
// literal segments. pathKnown tells whether any path matches, with the
// method or not. Empty segments under /v1 are dropped, as the server does.
func (sp *spec) route(method, path string) (rt *route, op *openapi3.Operation, pathKnown bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if kept := nonEmpty(segs); len(kept) > 0 && kept[0] == "v1" {
		segs = kept
	}
	best := -1
	for i := range sp.routes {
		cand := &sp.routes[i]
		literals, ok := cand.match(segs)
		if !ok {
			continue
		}
		if !pathKnown || rt == nil {
			rt = cand
		}
		pathKnown = true
		if o := cand.item.GetOperation(method); o != nil && literals > best {
			best, rt, op = literals, cand, o
		}
	}
	return rt, op, pathKnown
}

// inAPI reports whether path is under /v1, where the key is checked
// before routing.
func inAPI(path string) bool {
	kept := nonEmpty(strings.Split(path, "/"))
	return len(kept) > 0 && kept[0] == "v1"
}

func nonEmpty(segs []string) []string {
	var kept []string
	for _, s := range segs {
		if s != "" {
			kept = append(kept, s)
		}
	}
	return kept
}

func (r *route) match(segs []string) (literals int, ok bool) {
	if len(segs) != len(r.segs) {
		return 0, false
	}
	for i, want := range r.segs {
		switch {
		case want == "":
			if segs[i] == "" {
				return 0, false
			}
		case segs[i] != want:
			return 0, false
		default:
			literals++
		}
	}
	return literals, true
}

// checkResponse checks r against the response object at loc; the answer
// to a HEAD has no body to check.
func (sp *spec) checkResponse(loc string, resp *openapi3.Response, r Response, head bool) error {
	names := make([]string, 0, len(resp.Headers))
	for name := range resp.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		h := resp.Headers[name]
		hloc := loc + "/headers/" + pointerToken(name)
		if h.Ref != "" {
			hloc = h.Ref
		}
		if err := sp.checkHeader(name, hloc, h.Value, r.Header); err != nil {
			return err
		}
	}
	if len(resp.Content) == 0 || head {
		if len(r.Body) > 0 {
			return fmt.Errorf("the response documents no body, but %d bytes came", len(r.Body))
		}
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %v", ct, err)
	}
	var key string
	for k := range resp.Content {
		if strings.EqualFold(k, mt) {
			key = k
		}
	}
	if key == "" {
		return fmt.Errorf("the Content-Type %s is not documented", mt)
	}
	sloc := loc + "/content/" + pointerToken(key) + "/schema"
	if resp.Content[key].Schema == nil {
		return nil
	}
	sch, err := sp.schema(sloc)
	if err != nil {
		return err
	}
	if mt == "application/x-ndjson" {
		sc := bufio.NewScanner(bytes.NewReader(r.Body))
		sc.Buffer(nil, 64<<20)
		for n := 1; sc.Scan(); n++ {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			if err := validateJSON(sch, sc.Bytes()); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
		}
		return sc.Err()
	}
	return validateJSON(sch, r.Body)
}

func validateJSON(sch *jsonschema.Schema, b []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("the body does not match its schema: %s", schemaError(err))
	}
	return nil
}

func (sp *spec) checkHeader(name, loc string, h *openapi3.Header, got http.Header) error {
	vs := got.Values(name)
	if len(vs) == 0 {
		if h.Required {
			return fmt.Errorf("the required header %s is missing", name)
		}
		return nil
	}
	if h.Schema == nil {
		return nil
	}
	sch, err := sp.schema(loc + "/schema")
	if err != nil {
		return err
	}
	for _, s := range vs {
		var v any = s
		if t := h.Schema.Value.Type; t != nil && (t.Is("integer") || t.Is("number")) {
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("header %s: %q is not a number", name, s)
			}
			v = n
			if t.Is("integer") {
				i, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return fmt.Errorf("header %s: %q is not an integer", name, s)
				}
				v = i
			}
		}
		if err := sch.Validate(v); err != nil {
			return fmt.Errorf("header %s: %q does not match its schema: %s", name, s, schemaError(err))
		}
	}
	return nil
}

// schema compiles the schema at loc (a fragment of the document) once.
func (sp *spec) schema(loc string) (*jsonschema.Schema, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if s, ok := sp.compiled[loc]; ok {
		return s, nil
	}
	s, err := sp.compiler.Compile(docURL + loc)
	if err != nil {
		return nil, fmt.Errorf("compile the schema %s: %w", loc, err)
	}
	sp.compiled[loc] = s
	return s, nil
}

// schemaError says where and why a value failed its schema.
func schemaError(err error) string {
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return fmt.Sprintf("%#v", ve)
	}
	return err.Error()
}

// pointerToken escapes s as one token of a JSON pointer in a URL fragment.
func pointerToken(s string) string { return url.PathEscape(pointerEscape.Replace(s)) }

var pointerEscape = strings.NewReplacer("~", "~0", "/", "~1")
