package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gh "github.com/google/go-github/v57/github"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// filesPerQuery is how many commits one GraphQL query of GetFiles reads.
const filesPerQuery = 100

// maxGraphQLBody bounds the answer to one GraphQL query. A blob's text
// comes whole whatever its size (a file over the limit is only known to be
// so from its byteSize), so a batch with a very large file can exceed it:
// that batch fails, and callers fall back to reading file by file.
const maxGraphQLBody = 32 << 20

// FileResult is what a repository holds at a path and commit.
type FileResult struct {
	// Data is the file's content; nil when Missing or Invalid.
	Data []byte
	// Missing is true when nothing is at the path (or the commit does not
	// exist).
	Missing bool
	// Invalid says why the path is no readable file of at most the size
	// asked for: "is a directory", "is a submodule, not a file", "is
	// binary", "is N bytes, over the limit of M", ...; empty otherwise.
	Invalid string
}

// fileResult turns a cached answer into GetFiles'.
func (e contentEntry) fileResult() FileResult {
	return FileResult{Data: slices.Clone(e.data), Missing: e.missing, Invalid: e.invalid}
}

// graphQLURL is the GraphQL endpoint beside the REST API root api:
// https://api.github.com/graphql for https://api.github.com/, and
// https://HOST/api/graphql for GitHub Enterprise's https://HOST/api/v3/.
func graphQLURL(api *url.URL) string {
	u := *api
	if p, ok := strings.CutSuffix(u.Path, "/api/v3/"); ok {
		u.Path = p + "/api/graphql"
	} else {
		u.Path += "graphql"
	}
	u.RawPath = ""
	return u.String()
}

// GetFiles reads path at each of shas in repo, as GetFile does, with one
// GraphQL query per 100 commits instead of a REST request per commit. It
// shares GetFile's cache: commits whose answer is cached cost nothing, and
// every answer is cached. A missing file, or a path that is no readable
// file of at most maxBytes, is in the result (Missing, Invalid) and
// cached; so is a commit whose object GitHub cannot resolve (an error of
// type NOT_FOUND on its alias).
//
// The answers agree with GetFile's: where GraphQL's cannot tell, the
// commit is read again through REST. That is a blob that is binary, whose
// text is truncated or is not its byteSize in bytes, or that is one line
// without a newline: a symbolic link is a one-line blob of its target's
// path to GraphQL, where REST serves the target file.
//
// Any other error fails the whole call and nothing of the failed query is
// cached: a rate limit (*RateLimitError; GraphQL's own budget answers 200
// with an error of type RATE_LIMITED), an HTTP error classified as for
// REST (ErrNotFound, ErrForbidden), an error GraphQL reports for the query
// or the repository, or an answer that cannot be decoded.
func (c *Client) GetFiles(ctx context.Context, repo pr.Repo, path string, shas []string, maxBytes int) (map[string]FileResult, error) {
	out := make(map[string]FileResult, len(shas))
	var todo []string
	for _, sha := range shas {
		if _, done := out[sha]; done || sha == "" || slices.Contains(todo, sha) {
			continue
		}
		if e, ok := c.contents.Get(contentKey(repo, path, sha, maxBytes)); ok {
			out[sha] = e.fileResult()
			continue
		}
		todo = append(todo, sha)
	}
	for batch := range slices.Chunk(todo, filesPerQuery) {
		objects, err := c.queryFiles(ctx, repo, path, batch, maxBytes)
		if err != nil {
			return nil, fmt.Errorf("reading %s at %d commits in %s: %w", path, len(batch), repo, err)
		}
		for _, sha := range batch {
			e, ok := blobEntry(objects[sha], maxBytes)
			if !ok {
				e, err = c.readFile(ctx, repo, path, sha, maxBytes)
				if err != nil {
					return nil, err
				}
			}
			c.contents.Add(contentKey(repo, path, sha, maxBytes), e)
			out[sha] = e.fileResult()
		}
	}
	return out, nil
}

// gqlObject is what object(expression:) answers, as GetFiles asks for it;
// nil when nothing is at the path.
type gqlObject struct {
	Typename    string  `json:"__typename"`
	ByteSize    int     `json:"byteSize"`
	IsBinary    bool    `json:"isBinary"`
	IsTruncated bool    `json:"isTruncated"`
	Text        *string `json:"text"`
}

// blobEntry turns the object at a commit (nil: nothing there) into the
// answer to cache, or reports false when GraphQL's answer cannot tell what
// GetFile would say (see GetFiles).
func blobEntry(o *gqlObject, maxBytes int) (contentEntry, bool) {
	switch {
	case o == nil:
		return contentEntry{missing: true}, true
	case o.Typename == "Tree":
		return contentEntry{invalid: "is a directory"}, true
	case o.Typename == "Commit":
		return contentEntry{invalid: "is a submodule, not a file"}, true
	case o.Typename != "Blob":
		return contentEntry{}, false
	case o.ByteSize > maxBytes:
		return contentEntry{invalid: tooLarge(o.ByteSize, maxBytes)}, true
	case o.IsBinary || o.IsTruncated || o.Text == nil || len(*o.Text) != o.ByteSize || isBinary([]byte(*o.Text)):
		return contentEntry{}, false
	case o.ByteSize > 0 && !strings.Contains(*o.Text, "\n"):
		// Maybe a symbolic link: REST follows it.
		return contentEntry{}, false
	}
	return contentEntry{data: []byte(*o.Text)}, true
}

func tooLarge(size, maxBytes int) string {
	return fmt.Sprintf("is %d bytes, over the limit of %d", size, maxBytes)
}

// isBinary reports whether data is no text: not valid UTF-8, or holding
// a NUL byte.
func isBinary(data []byte) bool {
	return !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0
}

// gqlError is one entry of a GraphQL answer's errors.
type gqlError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Path    []any  `json:"path"`
}

// gqlAnswer is the answer to a GetFiles query.
type gqlAnswer struct {
	Data *struct {
		Repository map[string]*gqlObject `json:"repository"`
		RateLimit  *gqlRateLimit         `json:"rateLimit"`
	} `json:"data"`
	Errors []gqlError `json:"errors"`
}

// gqlRateLimit is the rateLimit field: what the query cost of GraphQL's
// own budget.
type gqlRateLimit struct {
	Cost      int       `json:"cost"`
	Remaining int       `json:"remaining"`
	ResetAt   time.Time `json:"resetAt"`
}

// queryFiles runs one GraphQL query for path at shas and returns the
// object at each commit; nil when nothing is there or GitHub could not
// resolve it.
func (c *Client) queryFiles(ctx context.Context, repo pr.Repo, path string, shas []string, maxBytes int) (map[string]*gqlObject, error) {
	body, err := json.Marshal(map[string]string{"query": filesQuery(repo, path, shas)})
	if err != nil {
		return nil, fmt.Errorf("encoding the query: %w", err)
	}
	limit := min(int64(len(shas))*(6*int64(maxBytes)+1024)+1<<16, maxGraphQLBody)
	var objects map[string]*gqlObject
	_, err = c.call(ctx, EndpointGraphQL, nil, func(ctx context.Context) (*gh.Response, error) {
		var answer gqlAnswer
		resp, err := c.postGraphQL(ctx, body, limit, &answer)
		if err != nil {
			return resp, err
		}
		if rl := answer.rateLimit(); rl != nil {
			c.log.Debug("GraphQL query", "repository", repo.String(), "commits", len(shas), "cost", rl.Cost, "remaining", rl.Remaining, "reset", rl.ResetAt)
		}
		objects, err = answer.objects(repo, shas)
		return resp, err
	})
	return objects, err
}

// rateLimit returns the answer's rateLimit field, if any.
func (a *gqlAnswer) rateLimit() *gqlRateLimit {
	if a.Data == nil {
		return nil
	}
	return a.Data.RateLimit
}

// objects returns the object at each of shas, queried as f0, f1, ...: an
// error of type NOT_FOUND on one alias means nothing is there; any other
// error fails the query.
func (a *gqlAnswer) objects(repo pr.Repo, shas []string) (map[string]*gqlObject, error) {
	for _, e := range a.Errors {
		if len(e.Path) == 2 && e.Path[0] == "repository" && e.Type == "NOT_FOUND" {
			if n, ok := e.Path[1].(string); ok && isAlias(n, len(shas)) {
				continue
			}
		}
		return nil, graphQLError(repo, e)
	}
	if a.Data == nil || a.Data.Repository == nil {
		return nil, errors.New("GraphQL answer without the repository")
	}
	out := make(map[string]*gqlObject, len(shas))
	for i, sha := range shas {
		o, ok := a.Data.Repository[alias(i)]
		if !ok {
			return nil, fmt.Errorf("GraphQL answer without %s (%s)", alias(i), sha)
		}
		out[sha] = o
	}
	return out, nil
}

// isAlias reports whether name is one of the aliases f0 to f(n-1).
func isAlias(name string, n int) bool {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "f"))
	return err == nil && i >= 0 && i < n && name == alias(i)
}

func alias(i int) string { return "f" + strconv.Itoa(i) }

// filesQuery is the GraphQL query for path at shas: an aliased
// object(expression: "<sha>:<path>") per commit, f0, f1, ...
func filesQuery(repo pr.Repo, path string, shas []string) string {
	var b strings.Builder
	b.WriteString("query{repository(owner:")
	b.WriteString(gqlString(repo.Owner))
	b.WriteString(",name:")
	b.WriteString(gqlString(repo.Name))
	b.WriteString("){")
	for i, sha := range shas {
		fmt.Fprintf(&b, "%s:object(expression:%s){__typename ...on Blob{byteSize isBinary isTruncated text}}", alias(i), gqlString(sha+":"+path))
	}
	b.WriteString("}rateLimit{cost remaining resetAt}}")
	return b.String()
}

// gqlString quotes s as a GraphQL string: JSON's escapes are GraphQL's.
func gqlString(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

// graphQLError classifies an error GraphQL reports in a 200.
func graphQLError(repo pr.Repo, e gqlError) error {
	err := fmt.Errorf("GraphQL error %s: %s", cmpOr(e.Type, "(untyped)"), e.Message)
	switch e.Type {
	case "RATE_LIMITED":
		return err // the caller turns it into a *RateLimitError
	case "NOT_FOUND":
		return fmt.Errorf("repository %s: %w: %w", repo, ErrNotFound, err)
	case "FORBIDDEN":
		return fmt.Errorf("repository %s: %w: %w", repo, ErrForbidden, err)
	}
	return err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// postGraphQL sends one query and decodes its answer into v. An HTTP
// error comes as go-github reports it, for classify; a RATE_LIMITED error
// in a 200 as a *RateLimitError.
func (c *Client) postGraphQL(ctx context.Context, body []byte, limit int64, v *gqlAnswer) (*gh.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.graphql, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("GraphQL request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.gh.UserAgent)
	httpResp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = httpResp.Body.Close() }()
	resp := &gh.Response{Response: httpResp, Rate: parseRate(httpResp.Header)}
	if err := gh.CheckResponse(httpResp); err != nil {
		return resp, err
	}
	data, err := io.ReadAll(io.LimitReader(httpResp.Body, limit+1))
	if err != nil {
		return resp, fmt.Errorf("reading the GraphQL answer: %w", err)
	}
	if int64(len(data)) > limit {
		return resp, fmt.Errorf("GraphQL answer over %d bytes", limit)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return resp, fmt.Errorf("decoding the GraphQL answer: %w", err)
	}
	for _, e := range v.Errors {
		if e.Type == "RATE_LIMITED" {
			now := c.now()
			reset := now.Add(defaultBackoff)
			if resp.Rate.Reset.After(now) {
				reset = resp.Rate.Reset.Time
			}
			return resp, &RateLimitError{Reset: reset, Err: graphQLError(pr.Repo{}, e)}
		}
	}
	return resp, nil
}

// parseRate reads GitHub's X-RateLimit-* headers.
func parseRate(h http.Header) gh.Rate {
	var r gh.Rate
	r.Limit, _ = strconv.Atoi(h.Get("X-RateLimit-Limit"))
	r.Remaining, _ = strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if v, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		r.Reset = gh.Timestamp{Time: time.Unix(v, 0)}
	}
	return r
}
