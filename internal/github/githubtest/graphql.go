package githubtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// GraphQLPath is where the fake serves GraphQL (POST): beside Prefix, as
// GitHub Enterprise serves https://HOST/api/graphql next to
// https://HOST/api/v3.
//
// The fake serves a subset of GitHub's GraphQL API: it understands only
// the queries that read files by commit, and answers anything else with a
// GraphQL error, so that a client that sends something else finds out.
//
// Accepted: an optional "query" keyword and operation name, then a
// selection set of
//
//	repository(owner: "...", name: "...") {
//	  alias: object(expression: "<rev>:<path>") {
//	    __typename oid
//	    ... on Blob { __typename oid byteSize isBinary isTruncated text }
//	  }
//	  ...
//	}
//	rateLimit { cost limit remaining resetAt used nodeCount }
//
// (any subset of the listed fields, string arguments only). An object is a
// Blob for a file or a symbolic link (whose text is the link's target, as
// git stores it; GraphQL does not follow links), a Tree for a directory, a
// Commit for a submodule, and null when nothing is at the path. A Blob is
// binary when its content is not valid UTF-8 or holds a NUL byte; its text
// is then null, as on GitHub. A revision that is not a hex object name (4
// to 40 hex digits) is answered null with an error of type NOT_FOUND whose
// path names the alias. An unknown repository is null with a NOT_FOUND
// error; one set to 403 with SetRepoStatus a FORBIDDEN error.
//
// Each query costs 1 point of the GraphQL budget, separate from the REST
// one (SetGraphQLRateLimit): X-RateLimit-* headers report it with
// X-RateLimit-Resource: graphql. When it is spent, a query is answered 200
// with an error of type RATE_LIMITED, as GitHub does.
const GraphQLPath = "/api/graphql"

// defaultGraphQLLimit is GitHub's GraphQL budget: points per hour.
const defaultGraphQLLimit = 5000

// SetGraphQLRateLimit sets the GraphQL budget: limit points an hour,
// remaining now, renewed at reset. With remaining 0, queries are answered
// with a RATE_LIMITED error until reset (real time) or Heal.
func (s *Server) SetGraphQLRateLimit(limit, remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gqlLimit, s.gqlRemaining, s.gqlReset = limit, remaining, reset
}

// GraphQLRateRemaining returns the points left of the GraphQL budget.
func (s *Server) GraphQLRateRemaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gqlRemaining
}

// gqlError is one entry of a GraphQL answer's "errors".
func gqlError(typ, message string, path ...any) object {
	e := object{"message": message, "locations": []any{object{"line": 1, "column": 1}}}
	if typ != "" {
		e["type"] = typ
	}
	if len(path) > 0 {
		e["path"] = path
	}
	return e
}

// gqlErrors is a 200 whose body holds only errors, as GitHub answers a
// query it cannot parse or validate.
func gqlErrors(errs ...object) result {
	list := make([]any, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return result{status: http.StatusOK, body: object{"errors": list}}
}

// graphQLLimitedLocked is the answer to a query over the GraphQL budget,
// or false while points remain. It renews the budget at its reset.
func (s *Server) graphQLLimitedLocked() (result, bool) {
	now := time.Now()
	if !now.Before(s.gqlReset) {
		s.gqlRemaining = s.gqlLimit
		s.gqlReset = now.Add(time.Hour).Truncate(time.Second)
	}
	if s.gqlRemaining > 0 {
		return result{}, false
	}
	return gqlErrors(gqlError("RATE_LIMITED", "API rate limit exceeded for user ID 1.")), true
}

// graphql answers POST /api/graphql.
func (s *Server) graphql(r *http.Request, _ renderer) result {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		return errorBody(http.StatusBadRequest, "Problems parsing JSON", "https://docs.github.com/graphql")
	}
	if len(req.Variables) > 0 {
		return gqlErrors(gqlError("", "githubtest: variables are not supported"))
	}
	q, err := parseQuery(req.Query)
	if err != nil {
		return gqlErrors(gqlError("", err.Error()))
	}
	data := object{}
	var errs []object
	for _, f := range q {
		switch f.name {
		case "rateLimit":
			// The query's cost is spent when the answer is recorded.
			rl := object{}
			for _, sel := range f.scalars {
				switch sel {
				case "cost":
					rl[sel] = 1
				case "limit":
					rl[sel] = s.gqlLimit
				case "remaining":
					rl[sel] = max(s.gqlRemaining-1, 0)
				case "used":
					rl[sel] = s.gqlLimit - max(s.gqlRemaining-1, 0)
				case "resetAt":
					rl[sel] = s.gqlReset.UTC().Format(time.RFC3339)
				case "nodeCount":
					rl[sel] = 0
				}
			}
			data[f.key()] = rl
		case "repository":
			repo, e := s.graphQLRepoLocked(f.args["owner"], f.args["name"], f.key())
			if e != nil {
				data[f.key()] = nil
				errs = append(errs, e)
				continue
			}
			out := object{}
			for _, o := range f.objects {
				v, e := resolveObject(repo, o)
				out[o.key()] = v
				if e != nil {
					errs = append(errs, gqlError(e.typ, e.message, f.key(), o.key()))
				}
			}
			data[f.key()] = out
		}
	}
	body := object{"data": data}
	if len(errs) > 0 {
		list := make([]any, len(errs))
		for i, e := range errs {
			list[i] = e
		}
		body["errors"] = list
	}
	return result{status: http.StatusOK, body: body}
}

// graphQLRepoLocked finds the repository of a repository field, following
// renames, or the error GitHub's GraphQL API gives.
func (s *Server) graphQLRepoLocked(owner, name, key string) (*repoState, object) {
	full := strings.ToLower(owner + "/" + name)
	if to, ok := s.moved[full]; ok {
		full = strings.ToLower(to)
	}
	repo, ok := s.repos[full]
	if ok && repo.status == 0 {
		return repo, nil
	}
	if ok && (repo.status == http.StatusForbidden || repo.status == http.StatusUnauthorized) {
		return nil, gqlError("FORBIDDEN", "Resource not accessible by integration", key)
	}
	return nil, gqlError("NOT_FOUND", fmt.Sprintf("Could not resolve to a Repository with the name '%s/%s'.", owner, name), key)
}

type objectError struct{ typ, message string }

// resolveObject answers one object(expression:) field.
func resolveObject(repo *repoState, o objectField) (any, *objectError) {
	rev, p, ok := strings.Cut(o.expression, ":")
	if !ok || !isHexName(rev) {
		return nil, &objectError{"NOT_FOUND", fmt.Sprintf("Could not resolve to a Git object for the expression '%s'.", o.expression)}
	}
	p = strings.Trim(p, "/")
	e, ok := repo.files[fileKey{path: p, ref: rev}]
	if !ok {
		return nil, nil
	}
	var typename, oid string
	var data []byte
	switch e.kind {
	case entryDir:
		typename, oid = "Tree", objectSHA("tree", p, rev)
	case entrySubmodule:
		typename, oid = "Commit", objectSHA("commit", p, rev)
	case entrySymlink:
		typename, data = "Blob", []byte(e.target)
		oid = blobSHA(data)
	default:
		typename, data = "Blob", e.data
		oid = blobSHA(data)
	}
	out := object{}
	for _, f := range o.fields {
		switch f {
		case "__typename":
			out[f] = typename
		case "oid":
			out[f] = oid
		}
	}
	if typename != "Blob" {
		return out, nil
	}
	binary := !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0
	for _, f := range o.blobFields {
		switch f {
		case "__typename":
			out[f] = typename
		case "oid":
			out[f] = oid
		case "byteSize":
			out[f] = len(data)
		case "isBinary":
			out[f] = binary
		case "isTruncated":
			out[f] = false
		case "text":
			if binary {
				out[f] = nil
			} else {
				out[f] = string(data)
			}
		}
	}
	return out, nil
}

func isHexName(s string) bool {
	if len(s) < 4 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// topField is one field of the query's root: repository or rateLimit.
type topField struct {
	alias, name string
	args        map[string]string
	objects     []objectField // repository
	scalars     []string      // rateLimit
}

func (f topField) key() string { return cmpOr(f.alias, f.name) }

// objectField is one object(expression:) field of a repository.
type objectField struct {
	alias, expression string
	fields            []string // selected on the object itself
	blobFields        []string // selected in "... on Blob"
}

func (o objectField) key() string { return cmpOr(o.alias, "object") }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// token is one lexical token of a query: punctuation, a name or a string
// (whose text is already unescaped).
type token struct {
	kind byte // 'p' punctuation, 'n' name, 's' string, 0 end
	text string
	pos  int
}

// lex splits a query into tokens, skipping white space, commas and
// comments.
func lex(q string) ([]token, error) {
	var out []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
		case c == '#':
			for i < len(q) && q[i] != '\n' && q[i] != '\r' {
				i++
			}
		case strings.IndexByte("{}():", c) >= 0:
			out = append(out, token{'p', string(c), i})
			i++
		case strings.HasPrefix(q[i:], "..."):
			out = append(out, token{'p', "...", i})
			i += 3
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(q) && (q[j] == '_' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z' || q[j] >= '0' && q[j] <= '9') {
				j++
			}
			out = append(out, token{'n', q[i:j], i})
			i = j
		case c == '"':
			if strings.HasPrefix(q[i:], `"""`) {
				return nil, fmt.Errorf("githubtest: block strings are not supported (at %d)", i)
			}
			j := i + 1
			for j < len(q) && q[j] != '"' && q[j] != '\n' {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(q) || q[j] != '"' {
				return nil, fmt.Errorf("githubtest: parse error: unterminated string at %d", i)
			}
			// GraphQL's string escapes are JSON's.
			var s string
			if err := json.Unmarshal([]byte(q[i:j+1]), &s); err != nil {
				return nil, fmt.Errorf("githubtest: parse error: bad string at %d: %w", i, err)
			}
			out = append(out, token{'s', s, i})
			i = j + 1
		default:
			return nil, fmt.Errorf("githubtest: parse error on %q at %d", string(c), i)
		}
	}
	return append(out, token{pos: len(q)}), nil
}

// parser reads the tokens of one query.
type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != 0 {
		p.i++
	}
	return t
}

func (p *parser) errorf(format string, a ...any) error {
	return fmt.Errorf("githubtest: "+format+" (at %d)", append(a, p.peek().pos)...)
}

// expect consumes the punctuation or name text.
func (p *parser) expect(text string) error {
	if !p.is(text) {
		return p.errorf("want %q, got %q", text, p.peek().text)
	}
	p.next()
	return nil
}

func (p *parser) is(text string) bool {
	t := p.peek()
	return (t.kind == 'p' || t.kind == 'n') && t.text == text
}

func (p *parser) name() (string, error) {
	if p.peek().kind != 'n' {
		return "", p.errorf("want a name, got %q", p.peek().text)
	}
	return p.next().text, nil
}

// aliasAndName reads "alias: name" or "name".
func (p *parser) aliasAndName() (alias, name string, err error) {
	name, err = p.name()
	if err != nil {
		return "", "", err
	}
	if p.is(":") {
		p.next()
		alias = name
		name, err = p.name()
	}
	return alias, name, err
}

// stringArgs reads "(k: "v", ...)" into a map, allowing only the keys in
// allowed and requiring each of them.
func (p *parser) stringArgs(field string, allowed ...string) (map[string]string, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	args := map[string]string{}
	for !p.is(")") {
		k, err := p.name()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		if p.peek().kind != 's' {
			return nil, p.errorf("argument %s of %s: want a string literal", k, field)
		}
		v := p.next()
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if _, dup := args[k]; !ok || dup {
			return nil, p.errorf("Field '%s' doesn't accept argument '%s' here", field, k)
		}
		args[k] = v.text
	}
	p.next()
	for _, a := range allowed {
		if _, ok := args[a]; !ok {
			return nil, p.errorf("Field '%s' is missing required argument '%s'", field, a)
		}
	}
	return args, nil
}

// scalars reads "{ a b c }" allowing only the names in allowed.
func (p *parser) scalars(on string, allowed ...string) ([]string, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var out []string
	for !p.is("}") {
		n, err := p.name()
		if err != nil {
			return nil, err
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == n
		}
		if !ok {
			return nil, p.errorf("Field '%s' doesn't exist on type '%s' (or is not supported by the fake)", n, on)
		}
		out = append(out, n)
	}
	p.next()
	if len(out) == 0 {
		return nil, p.errorf("empty selection on %s", on)
	}
	return out, nil
}

// parseQuery parses the query shape the fake understands.
func parseQuery(q string) ([]topField, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.is("query") {
		p.next()
		if p.peek().kind == 'n' {
			p.next()
		}
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var out []topField
	seen := map[string]bool{}
	for !p.is("}") {
		alias, name, err := p.aliasAndName()
		if err != nil {
			return nil, err
		}
		f := topField{alias: alias, name: name}
		switch name {
		case "repository":
			if f.args, err = p.stringArgs(name, "owner", "name"); err != nil {
				return nil, err
			}
			if f.objects, err = p.objects(); err != nil {
				return nil, err
			}
		case "rateLimit":
			if f.scalars, err = p.scalars("RateLimit", "cost", "limit", "remaining", "resetAt", "used", "nodeCount"); err != nil {
				return nil, err
			}
		default:
			return nil, p.errorf("Field '%s' doesn't exist on type 'Query' (or is not supported by the fake)", name)
		}
		if seen[f.key()] {
			return nil, p.errorf("Field '%s' is selected twice", f.key())
		}
		seen[f.key()] = true
		out = append(out, f)
	}
	p.next()
	if p.peek().kind != 0 {
		return nil, p.errorf("unexpected %q after the query", p.peek().text)
	}
	if len(out) == 0 {
		return nil, p.errorf("empty query")
	}
	return out, nil
}

// objects reads a repository's selection: object(expression:) fields.
func (p *parser) objects() ([]objectField, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var out []objectField
	seen := map[string]bool{}
	for !p.is("}") {
		alias, name, err := p.aliasAndName()
		if err != nil {
			return nil, err
		}
		if name != "object" {
			return nil, p.errorf("Field '%s' doesn't exist on type 'Repository' (or is not supported by the fake)", name)
		}
		args, err := p.stringArgs(name, "expression")
		if err != nil {
			return nil, err
		}
		o := objectField{alias: alias, expression: args["expression"]}
		if seen[o.key()] {
			return nil, p.errorf("Field '%s' is selected twice", o.key())
		}
		seen[o.key()] = true
		if err := p.expect("{"); err != nil {
			return nil, err
		}
		for !p.is("}") {
			if p.is("...") {
				p.next()
				if err := p.expect("on"); err != nil {
					return nil, err
				}
				typ, err := p.name()
				if err != nil {
					return nil, err
				}
				if typ != "Blob" {
					return nil, p.errorf("fragment on %s is not supported by the fake", typ)
				}
				fs, err := p.scalars("Blob", "__typename", "oid", "byteSize", "isBinary", "isTruncated", "text")
				if err != nil {
					return nil, err
				}
				o.blobFields = append(o.blobFields, fs...)
				continue
			}
			n, err := p.name()
			if err != nil {
				return nil, err
			}
			if n != "__typename" && n != "oid" {
				return nil, p.errorf("Field '%s' doesn't exist on type 'GitObject' (or is not supported by the fake)", n)
			}
			o.fields = append(o.fields, n)
		}
		p.next()
		if len(o.fields)+len(o.blobFields) == 0 {
			return nil, p.errorf("empty selection on object")
		}
		out = append(out, o)
	}
	p.next()
	if len(out) == 0 {
		return nil, p.errorf("empty selection on Repository")
	}
	return out, nil
}

// graphQLHeaders are the rate headers of a GraphQL answer.
func (s *Server) graphQLHeadersLocked(h http.Header) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.gqlLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(s.gqlRemaining, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.gqlReset.Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(max(s.gqlLimit-s.gqlRemaining, 0)))
	h.Set("X-RateLimit-Resource", "graphql")
}
