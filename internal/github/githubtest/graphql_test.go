package githubtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// graphQLAnswer is a decoded GraphQL response.
type graphQLAnswer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// postGraphQL sends query to s's GraphQL endpoint, with token when not
// empty.
func postGraphQL(t *testing.T, s *Server, token, query string) graphQLAnswer {
	t.Helper()
	b, err := json.Marshal(map[string]string{"query": query})
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSuffix(s.URL(), Prefix+"/") + GraphQLPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := graphQLAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body) // a truncated body stays nil
	return a
}

// jsonOf re-encodes a decoded value, for comparisons with hand-written
// JSON.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGraphQLObjects(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	const repo = "acme/backend"
	sha := strings.Repeat("a", 40)
	s.AddFile(repo, ".preview.yaml", sha, []byte("database: true\n"))
	s.AddFile(repo, "logo.png", sha, []byte{0x89, 'P', 'N', 'G', 0, 1})
	s.AddFile(repo, "latin1.txt", sha, []byte{'c', 0xe9})
	s.AddFile(repo, "nul.txt", sha, []byte("a\x00b"))
	s.AddDir(repo, "k8s", sha, "app.yaml")
	s.AddSubmodule(repo, "vendor", sha, "https://github.com/acme/charts.git")
	s.AddSymlink(repo, "link.yaml", sha, ".preview.yaml")
	blob := `{ __typename ... on Blob { byteSize isBinary isTruncated text } }`
	q := `query {
	  repository(owner: "acme", name: "backend") {
	    file: object(expression: "` + sha + `:.preview.yaml") ` + blob + `
	    png: object(expression: "` + sha + `:logo.png") ` + blob + `
	    latin1: object(expression: "` + sha + `:latin1.txt") ` + blob + `
	    nul: object(expression: "` + sha + `:nul.txt") ` + blob + `
	    dir: object(expression: "` + sha + `:k8s") ` + blob + `
	    sub: object(expression: "` + sha + `:vendor") ` + blob + `
	    link: object(expression: "` + sha + `:link.yaml") ` + blob + `
	    missing: object(expression: "` + sha + `:nothing.yaml") ` + blob + `
	    otherCommit: object(expression: "` + strings.Repeat("b", 40) + `:.preview.yaml") ` + blob + `
	    badRev: object(expression: "main~1:.preview.yaml") ` + blob + `
	  }
	  rateLimit { cost remaining limit }
	}`
	a := postGraphQL(t, s, "", q)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	data, _ := a.body["data"].(map[string]any)
	repoData, _ := data["repository"].(map[string]any)
	tests := []struct {
		alias string
		want  string
	}{
		{"file", `{"__typename":"Blob","byteSize":15,"isBinary":false,"isTruncated":false,"text":"database: true\n"}`},
		{"png", `{"__typename":"Blob","byteSize":6,"isBinary":true,"isTruncated":false,"text":null}`},
		{"latin1", `{"__typename":"Blob","byteSize":2,"isBinary":true,"isTruncated":false,"text":null}`},
		{"nul", `{"__typename":"Blob","byteSize":3,"isBinary":true,"isTruncated":false,"text":null}`},
		{"dir", `{"__typename":"Tree"}`},
		{"sub", `{"__typename":"Commit"}`},
		// git stores a link as a blob of its target; GraphQL does not
		// follow it.
		{"link", `{"__typename":"Blob","byteSize":13,"isBinary":false,"isTruncated":false,"text":".preview.yaml"}`},
		{"missing", `null`},
		{"otherCommit", `null`},
		{"badRev", `null`},
	}
	for _, tc := range tests {
		t.Run(tc.alias, func(t *testing.T) {
			v, ok := repoData[tc.alias]
			if !ok {
				t.Fatalf("no %s in %s", tc.alias, a.raw)
			}
			if got := jsonOf(t, v); got != tc.want {
				t.Errorf("got %s\nwant %s", got, tc.want)
			}
		})
	}
	if len(repoData) != len(tests) {
		t.Errorf("repository has %d fields, want %d: %s", len(repoData), len(tests), a.raw)
	}
	errs, _ := a.body["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("errors = %v, want one for badRev", errs)
	}
	e, _ := errs[0].(map[string]any)
	if e["type"] != "NOT_FOUND" || jsonOf(t, e["path"]) != `["repository","badRev"]` {
		t.Errorf("error %v, want type NOT_FOUND at [repository badRev]", e)
	}
	if got := jsonOf(t, data["rateLimit"]); got != `{"cost":1,"limit":5000,"remaining":4999}` {
		t.Errorf("rateLimit = %s", got)
	}
	if got := a.header.Get("X-RateLimit-Resource"); got != "graphql" {
		t.Errorf("X-RateLimit-Resource = %q, want graphql", got)
	}
	if got := a.header.Get("X-RateLimit-Remaining"); got != "4999" {
		t.Errorf("X-RateLimit-Remaining = %q, want 4999", got)
	}
	if a.header.Get("ETag") != "" {
		t.Errorf("a GraphQL answer has an ETag")
	}
	if got, want := s.GraphQLRateRemaining(), 4999; got != want {
		t.Errorf("GraphQL budget %d, want %d", got, want)
	}
	if got := s.RateRemaining(); got != defaultRateLimit {
		t.Errorf("REST budget %d, want untouched %d", got, defaultRateLimit)
	}
	if n := s.Count(RouteGraphQL, http.StatusOK); n != 1 {
		t.Errorf("Count(graphql, 200) = %d, want 1", n)
	}
}

func TestGraphQLRepositoryErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		setup    func(*Server)
		wantType string
		wantData string // the repository field
	}{
		{name: "unknown", setup: func(*Server) {}, wantType: "NOT_FOUND", wantData: "null"},
		{name: "deleted", setup: func(s *Server) { s.AddRepo("acme/backend"); s.DeleteRepo("acme/backend") }, wantType: "NOT_FOUND", wantData: "null"},
		{name: "forbidden", setup: func(s *Server) { s.SetRepoStatus("acme/backend", http.StatusForbidden) }, wantType: "FORBIDDEN", wantData: "null"},
		{
			name: "renamed is followed",
			setup: func(s *Server) {
				s.AddFile("acme/old", "f", "abcd", []byte("x\n"))
				s.RenameRepo("acme/old", "acme/backend")
			},
			wantData: `{"o":{"__typename":"Blob"}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			tc.setup(s)
			owner := "acme"
			name := "backend"
			if tc.name == "renamed is followed" {
				name = "old"
			}
			a := postGraphQL(t, s, "", `{ repository(owner: "`+owner+`", name: "`+name+`") { o: object(expression: "abcd:f") { __typename } } }`)
			data, _ := a.body["data"].(map[string]any)
			if got := jsonOf(t, data["repository"]); got != tc.wantData {
				t.Errorf("repository = %s, want %s", got, tc.wantData)
			}
			errs, _ := a.body["errors"].([]any)
			if tc.wantType == "" {
				if len(errs) != 0 {
					t.Errorf("errors %v, want none", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].(map[string]any)["type"] != tc.wantType {
				t.Errorf("errors %v, want one of type %s", errs, tc.wantType)
			}
		})
	}
}

func TestGraphQLRejectsOtherQueries(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.AddRepo("acme/backend")
	obj := `{ repository(owner: "acme", name: "backend") { o: object(expression: "abcd:f") %s } }`
	tests := []struct {
		name  string
		query string
	}{
		{"empty", ``},
		{"empty selection", `{ }`},
		{"unknown root field", `{ viewer { login } }`},
		{"mutation", `mutation { addStar(input: {}) { clientMutationId } }`},
		{"unknown repository field", `{ repository(owner: "acme", name: "backend") { pullRequests { totalCount } } }`},
		{"missing argument", `{ repository(owner: "acme") { o: object(expression: "abcd:f") { __typename } } }`},
		{"unknown argument", `{ repository(owner: "acme", name: "backend", followRenames: "x") { o: object(expression: "abcd:f") { __typename } } }`},
		{"variable argument", `{ repository(owner: $owner, name: "backend") { o: object(expression: "abcd:f") { __typename } } }`},
		{"object by oid", `{ repository(owner: "acme", name: "backend") { o: object(oid: "abcd") { __typename } } }`},
		{"fragment on Tree", strings.Replace(obj, "%s", `{ ... on Tree { entries { name } } }`, 1)},
		{"unknown blob field", strings.Replace(obj, "%s", `{ ... on Blob { commitUrl } }`, 1)},
		{"nested selection in blob", strings.Replace(obj, "%s", `{ ... on Blob { repository { name } } }`, 1)},
		{"empty object selection", strings.Replace(obj, "%s", `{ }`, 1)},
		{"no object selection", strings.Replace(obj, "%s", ``, 1)},
		{"duplicate alias", `{ repository(owner: "acme", name: "backend") { o: object(expression: "abcd:f") { __typename } o: object(expression: "abcd:g") { __typename } } }`},
		{"unknown rateLimit field", `{ rateLimit { cost resources } }`},
		{"trailing tokens", `{ rateLimit { cost } } }`},
		{"unterminated string", `{ repository(owner: "acme, name: "backend") { o: object(expression: "abcd:f") { __typename } } }`},
		{"block string", `{ repository(owner: """acme""", name: "backend") { o: object(expression: "abcd:f") { __typename } } }`},
		{"number", `{ repository(owner: 1, name: "backend") { o: object(expression: "abcd:f") { __typename } } }`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := postGraphQL(t, s, "", tc.query)
			errs, _ := a.body["errors"].([]any)
			if a.status != http.StatusOK || len(errs) == 0 {
				t.Fatalf("status %d, body %s; want 200 with errors", a.status, a.raw)
			}
			if _, ok := a.body["data"]; ok {
				t.Errorf("data in an answer to a rejected query: %s", a.raw)
			}
		})
	}
	// Accepted forms: named operation, comments, commas, escapes, no alias.
	a := postGraphQL(t, s, "", "query Files { # a comment\n repository(owner: \"ac\\u006de\", name: \"backend\") { object(expression: \"abcd:f\") { __typename, oid } } }")
	if errs, _ := a.body["errors"].([]any); a.status != http.StatusOK || len(errs) != 0 {
		t.Errorf("accepted form refused: %d %s", a.status, a.raw)
	}
	if got := jsonOf(t, a.body["data"]); got != `{"repository":{"object":null}}` {
		t.Errorf("data = %s", got)
	}
}

func TestGraphQLRateLimitAndAuth(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.AddRepo("acme/backend")
	s.RequireToken("good")
	q := `{ repository(owner: "acme", name: "backend") { o: object(expression: "abcd:f") { __typename } } }`

	if a := postGraphQL(t, s, "", q); a.status != http.StatusUnauthorized {
		t.Errorf("without a token: status %d, want 401", a.status)
	}
	if a := postGraphQL(t, s, "bad", q); a.status != http.StatusUnauthorized {
		t.Errorf("with a wrong token: status %d, want 401", a.status)
	}
	if n := s.Count(RouteGraphQL, http.StatusUnauthorized); n != 2 {
		t.Errorf("Count(graphql, 401) = %d, want 2", n)
	}

	reset := time.Now().Add(20 * time.Minute).Truncate(time.Second)
	s.SetGraphQLRateLimit(5000, 1, reset)
	if a := postGraphQL(t, s, "good", q); a.status != http.StatusOK || a.body["errors"] != nil || a.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("last point: status %d remaining %q body %s", a.status, a.header.Get("X-RateLimit-Remaining"), a.raw)
	}
	a := postGraphQL(t, s, "good", q)
	errs, _ := a.body["errors"].([]any)
	if a.status != http.StatusOK || len(errs) != 1 || errs[0].(map[string]any)["type"] != "RATE_LIMITED" {
		t.Fatalf("over the budget: status %d body %s; want 200 with a RATE_LIMITED error", a.status, a.raw)
	}
	if a.body["data"] != nil {
		t.Errorf("data with a RATE_LIMITED error: %s", a.raw)
	}
	if got, want := a.header.Get("X-RateLimit-Reset"), reset.Unix(); got != jsonOf(t, want) {
		t.Errorf("X-RateLimit-Reset = %s, want %d", got, want)
	}
	// REST has its own budget.
	if _, _, _, err := ghClient(t, s, "good").Repositories.GetContents(ctx, "acme", "backend", "f", &githubRef); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("REST during the GraphQL limit: %v, want a plain 404", err)
	}
	s.Heal()
	if a := postGraphQL(t, s, "good", q); a.status != http.StatusOK || a.body["errors"] != nil {
		t.Errorf("after Heal: status %d body %s", a.status, a.raw)
	}
}

func TestGraphQLFailures(t *testing.T) {
	t.Parallel()
	q := `{ repository(owner: "acme", name: "backend") { o: object(expression: "abcd:f") { __typename } } }`
	tests := []struct {
		name       string
		failure    Failure
		wantStatus int
		wantValid  bool // the body is valid JSON
		wantHeader string
	}{
		{name: "server error", failure: Failure{Kind: ServerError, Route: RouteGraphQL}, wantStatus: http.StatusBadGateway, wantValid: true},
		{name: "secondary limit", failure: Failure{Kind: SecondaryRateLimit, Route: RouteGraphQL, RetryAfter: 30 * time.Second}, wantStatus: http.StatusForbidden, wantValid: true, wantHeader: "30"},
		{name: "truncated", failure: Failure{Kind: TruncatedJSON, Route: RouteGraphQL}, wantStatus: http.StatusOK},
		{name: "any route", failure: Failure{Kind: ErrorStatus, Status: http.StatusServiceUnavailable}, wantStatus: http.StatusServiceUnavailable, wantValid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			s.AddRepo("acme/backend")
			tc.failure.Times = 1
			s.Fail(tc.failure)
			a := postGraphQL(t, s, "", q)
			if a.status != tc.wantStatus {
				t.Errorf("status %d, want %d", a.status, tc.wantStatus)
			}
			if valid := json.Valid(a.raw); valid != tc.wantValid {
				t.Errorf("body valid JSON = %v, want %v: %s", valid, tc.wantValid, a.raw)
			}
			if got := a.header.Get("Retry-After"); got != tc.wantHeader {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantHeader)
			}
			if a := postGraphQL(t, s, "", q); a.status != http.StatusOK || !reflect.DeepEqual(a.body["data"], map[string]any{"repository": map[string]any{"o": nil}}) {
				t.Errorf("after the failure: %d %s", a.status, a.raw)
			}
		})
	}
}

func TestGraphQLSecondaryLimitsAndHooks(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.AddRepo("acme/backend")
	s.SetSecondaryLimit(2)
	var seen []string
	s.OnRequest(func(r Request) { seen = append(seen, r.Route+" "+r.Method+" "+r.Path) })
	q := `{ rateLimit { cost } }`
	for i, want := range []int{200, 200, 403} {
		if a := postGraphQL(t, s, "", q); a.status != want {
			t.Errorf("query %d: status %d, want %d", i, a.status, want)
		}
	}
	if !reflect.DeepEqual(seen, []string{"graphql POST /api/graphql", "graphql POST /api/graphql", "graphql POST /api/graphql"}) {
		t.Errorf("OnRequest saw %v", seen)
	}
	if n := s.Count(RouteGraphQL, 0); n != 3 {
		t.Errorf("Count(graphql) = %d, want 3", n)
	}
	// GET is no GraphQL route.
	resp, err := s.Client().Get(strings.TrimSuffix(s.URL(), Prefix+"/") + GraphQLPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s: %d, want 404", GraphQLPath, resp.StatusCode)
	}
}

// FuzzParseQuery checks that no query makes the parser panic (a panic in
// a handler would leave the fake's lock held) and that what it accepts has
// only the fields it knows.
func FuzzParseQuery(f *testing.F) {
	f.Add(`query { repository(owner: "a", name: "b") { f0: object(expression: "abcd:x") { __typename ... on Blob { text } } } rateLimit { cost } }`)
	f.Add(`{ repository(owner: "a\u0022", name: "b") { object(expression: "") { oid } } }`)
	f.Add(`{ rateLimit { cost } } }`)
	f.Add(`{ repository(owner: `)
	f.Fuzz(func(t *testing.T, q string) {
		fields, err := parseQuery(q)
		if err != nil {
			return
		}
		for _, fd := range fields {
			if fd.name != "repository" && fd.name != "rateLimit" {
				t.Errorf("accepted root field %q", fd.name)
			}
		}
	})
}
