// Package github reads open pull requests and files from the GitHub REST API
// (or GitHub Enterprise) with go-github v57. It is built to be polled: list
// pages and issue events are fetched with conditional requests (an unchanged
// repository costs no rate limit), commits and file contents are cached by
// SHA (and read in batches of 100 commits with one GraphQL query each, see
// GetFiles), every request waits for a request budget that keeps it within
// GitHub's secondary limits, and a rate limit stops the calls it applies
// to until it resets.
package github

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v57/github"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Defaults for Config.
const (
	DefaultBaseURL           = "https://api.github.com/"
	DefaultTimeout           = 10 * time.Second
	DefaultCachePullRequests = 20000
)

const (
	perPage          = 100
	etagMaxBytes     = 64 << 20
	contentsMaxBytes = 16 << 20
)

// maxPages bounds the page reads of one listing (100 000 items): a guard
// against a Link loop. It is a variable only so that tests can lower it;
// nothing else changes it.
var maxPages = 1000

// Config configures a Client. Give either Token or the GitHub App triple
// (AppID, InstallationID, AppPrivateKey), or neither for anonymous access.
type Config struct {
	// BaseURL is the API root; empty means https://api.github.com/. For
	// GitHub Enterprise use "https://ghe.example.com/api/v3/".
	BaseURL string
	// Token is a personal access or installation token.
	Token string
	// AppID, InstallationID and AppPrivateKey (PEM) authenticate as a
	// GitHub App installation.
	AppID          int64
	InstallationID int64
	AppPrivateKey  []byte
	// Timeout bounds each request; default 10s.
	Timeout time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Metrics may be nil.
	Metrics Metrics
	// HTTPClient supplies the base transport (tests); default a copy of
	// http.DefaultTransport that keeps more idle connections per host. Its
	// Timeout is not used: Timeout applies.
	HTTPClient *http.Client
	// ETagCacheBytes bounds the memory of the conditional-request cache,
	// which keeps list pages converted, not as JSON; default 64 MiB. A
	// page of 100 pull requests costs about 45 KB there (its JSON from
	// github.com is about 2 MB). When the bound is too small, pages are
	// evicted and fetched again in full, costing rate limit.
	ETagCacheBytes int64
	// CachePullRequests is how many open pull requests, over all
	// repositories, the caches are sized for; default 20000: 100 pull
	// requests need a list page, and each labelled one a .preview.yaml
	// answer by commit. Beyond it, a resync misses the cache (a
	// least-recently-used cache polled in a cycle larger than itself misses
	// every time) and fetches everything again, spending rate limit.
	CachePullRequests int
	// MaxRequestsPerMinute bounds the requests sent to each endpoint
	// (pulls.list, contents.get, graphql, ...) in any 60 seconds, 304s
	// included: GitHub's secondary limit is 900 a minute per REST endpoint
	// and counts every request. A request over the bound waits for a
	// place (as long as its context allows); it does not fail. Default
	// DefaultMaxRequestsPerMinute (800).
	MaxRequestsPerMinute int
	// MaxConcurrent bounds the requests in flight at once, over all
	// endpoints (GitHub allows fewer than 100); a request over it waits.
	// Default DefaultMaxConcurrent (8).
	MaxConcurrent int
}

// cacheEntries returns the entry bounds of the conditional-request cache
// (list pages) and of the contents cache for n labelled pull requests,
// with a quarter to spare for pushes and older commits' files.
func cacheEntries(n int) (etag, contents int) {
	spare := n/4 + 16
	return n/perPage + spare, n + spare
}

// Client lists pull requests and reads files. It is safe for concurrent use.
type Client struct {
	gh       *gh.Client
	http     *http.Client // gh's, for GraphQL
	graphql  string       // the GraphQL endpoint's URL
	budget   *budget
	timeout  time.Duration
	log      *slog.Logger
	metrics  Metrics
	gates    gates
	etag     *etagTransport
	now      func() time.Time
	contents *lru[string, contentEntry]
	ready    *lru[string, struct{}] // commits whose image is ready, by repo, SHA and check
	pages    sync.Map               // repo key → pages the last listing had
	perms    permCache              // collaborator permissions, see Permission
}

type contentEntry struct {
	data    []byte
	missing bool
	invalid string // why the path is no file (InvalidFileError.Reason)
}

// authTransport sets the Authorization header.
type authTransport struct {
	next  http.RoundTripper
	token string
}

func (t authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(req)
}

// New validates cfg and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("GitHub base URL %q: want an absolute http(s) URL", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	app := cfg.AppID != 0 || cfg.InstallationID != 0 || len(cfg.AppPrivateKey) > 0
	if app && cfg.Token != "" {
		return nil, errors.New("GitHub credentials: give a token or a GitHub App, not both")
	}
	if app && (cfg.AppID == 0 || cfg.InstallationID == 0 || len(cfg.AppPrivateKey) == 0) {
		return nil, errors.New("GitHub App credentials: app ID, installation ID and private key are all required")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var metrics Metrics = nopMetrics{}
	if cfg.Metrics != nil {
		metrics = cfg.Metrics
	}

	if cfg.MaxRequestsPerMinute < 0 {
		return nil, fmt.Errorf("GitHub max requests per minute %d: want a positive number (0 for the default %d)", cfg.MaxRequestsPerMinute, DefaultMaxRequestsPerMinute)
	}
	if cfg.MaxConcurrent < 0 || cfg.MaxConcurrent >= 100 {
		return nil, fmt.Errorf("GitHub max concurrent requests %d: want 1 to 99, GitHub allows fewer than 100 (0 for the default %d)", cfg.MaxConcurrent, DefaultMaxConcurrent)
	}
	perMinute := cfg.MaxRequestsPerMinute
	if perMinute == 0 {
		perMinute = DefaultMaxRequestsPerMinute
	}
	concurrent := cfg.MaxConcurrent
	if concurrent == 0 {
		concurrent = DefaultMaxConcurrent
	}

	var transport http.RoundTripper = defaultTransport(concurrent)
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		transport = cfg.HTTPClient.Transport
	}
	identity := "anonymous"
	switch {
	case app:
		itr, err := ghinstallation.New(transport, cfg.AppID, cfg.InstallationID, cfg.AppPrivateKey)
		if err != nil {
			return nil, fmt.Errorf("GitHub App %d: %w", cfg.AppID, err)
		}
		itr.BaseURL = strings.TrimSuffix(u.String(), "/")
		transport = itr
		identity = fmt.Sprintf("app:%d/%d", cfg.AppID, cfg.InstallationID)
	case cfg.Token != "":
		transport = authTransport{next: transport, token: cfg.Token}
		sum := sha256.Sum256([]byte(cfg.Token))
		identity = "token:" + hex.EncodeToString(sum[:8])
	default:
		logger.Warn("no GitHub credentials: anonymous requests are limited to 60 an hour")
	}
	cacheBytes := cfg.ETagCacheBytes
	if cacheBytes <= 0 {
		cacheBytes = etagMaxBytes
	}
	capacity := cfg.CachePullRequests
	if capacity <= 0 {
		capacity = DefaultCachePullRequests
	}
	etagEntries, contentEntries := cacheEntries(capacity)
	et := newETagTransport(transport, identity, etagEntries, cacheBytes)

	httpClient := &http.Client{Transport: et}
	client := gh.NewClient(httpClient)
	client.BaseURL = u
	client.UserAgent = "preview-generator"

	now := time.Now
	return &Client{
		gh:       client,
		http:     httpClient,
		graphql:  graphQLURL(u),
		budget:   newBudget(perMinute, concurrent, now),
		timeout:  timeout,
		log:      logger,
		metrics:  metrics,
		gates:    newGates(now),
		etag:     et,
		now:      now,
		contents: newLRU[string, contentEntry](contentEntries, contentsMaxBytes, func(e contentEntry) int64 { return int64(len(e.data)) + 64 }),
		ready:    newLRU[string, struct{}](contentEntries, 0, nil),
	}, nil
}

// defaultTransport is Go's default transport keeping an idle connection
// per concurrent request (at most concurrent): with the default of 2 per
// host, each burst of requests would close connections and open new ones,
// a TLS handshake each.
func defaultTransport(concurrent int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(concurrent, 2)
	return t
}

// call runs one API request: it refuses while a rate limit holds, waits
// for the request budget (Config.MaxRequestsPerMinute, MaxConcurrent),
// bounds the request by the timeout, records the rate-limit headers and
// the outcome, and classifies the error. A non-nil cr makes the request
// conditional.
func (c *Client) call(ctx context.Context, endpoint string, cr *condRequest, fn func(context.Context) (*gh.Response, error)) (*gh.Response, error) {
	if err := c.gates.check(endpoint); err != nil {
		c.metrics.GitHubRequest(endpoint, OutcomeRateLimited)
		return nil, err
	}
	release, waited, err := c.budget.acquire(ctx, endpoint)
	c.metrics.GitHubBudgetWait(endpoint, waited)
	if err != nil {
		c.metrics.GitHubRequest(endpoint, OutcomeError)
		return nil, fmt.Errorf("waiting %s for the request budget of %s: %w", waited.Round(time.Millisecond), endpoint, err)
	}
	defer release()
	// A limit may have been met while this request waited.
	if err := c.gates.check(endpoint); err != nil {
		c.metrics.GitHubRequest(endpoint, OutcomeRateLimited)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if cr != nil {
		ctx = conditional(ctx, cr)
	}
	resp, err := fn(ctx)
	now := c.now()
	if resp != nil && resp.Response != nil && resp.Rate.Limit > 0 {
		if endpoint != EndpointGraphQL {
			c.metrics.GitHubRateLimit(resp.Rate.Remaining, resp.Rate.Limit, resp.Rate.Reset.Time)
		}
		if resp.Rate.Remaining == 0 && resp.Rate.Reset.After(now) {
			c.gates.block(endpoint, resp.Rate.Reset.Time, false)
		}
	}
	err = classify(err, now)
	var rle *RateLimitError
	if errors.As(err, &rle) {
		c.gates.block(endpoint, rle.Reset, rle.Secondary)
		c.log.Warn("GitHub rate limit", "endpoint", endpoint, "secondary", rle.Secondary, "reset", rle.Reset)
	}
	revalidated := err == nil && resp != nil && resp.Response != nil && resp.Header.Get(revalidatedHeader) != ""
	c.metrics.GitHubRequest(endpoint, outcome(err, revalidated))
	return resp, err
}

// ListOpenPullRequests returns every open pull request of repo: a
// consistent snapshot, in which every pull request that stayed open while
// the listing ran appears, even when others open or close between two
// pages. Pull requests are listed oldest first (sort=created,
// direction=asc), so a new pull request is appended at the end and a
// closed one only moves later ones towards the front; the pages are read
// from the last to the first, so a pull request that moves forward moves
// onto a page still to be read, never onto one already read. (Reading
// forward, a close between two pages would shift an open pull request
// onto the page just read, and the listing would skip it.) The last page
// is found from the previous listing's page count, or from page 1's Link.
//
// A pull request seen twice (it moved between pages) counts once, as last
// seen. More than maxPages pages is an error, never a short list. A
// repository without open pull requests gives an empty slice; a missing or
// forbidden one an error wrapping ErrNotFound or ErrForbidden.
//
// A pull request reopened during a listing goes back to its place in the
// middle of the list and pushes later ones back by one, onto a page that
// may have been read: one of those can be missed by this listing. A pull
// request the last answer served is still safe (internal/store reads it by
// number before letting it go); a newly labelled one waits for the next
// listing.
func (c *Client) ListOpenPullRequests(ctx context.Context, repo pr.Repo) ([]pr.PullRequest, error) {
	byNumber := map[int]pr.PullRequest{}
	reads := 0
	// page reads page n. next is the page after it when one may exist,
	// else 0; last is the last page its Link names, if any.
	page := func(n int) (next, last int, err error) {
		if reads++; n > maxPages || reads > 2*maxPages+1 {
			return 0, 0, fmt.Errorf("listing pull requests for %s: more than %d pages: %w", repo, maxPages, ErrTooManyPages)
		}
		prs, resp, err := c.listPage(ctx, repo, n)
		if err != nil {
			return 0, 0, fmt.Errorf("listing pull requests for %s (page %d): %w", repo, n, err)
		}
		for _, p := range prs {
			// The cached page is shared: give the caller its own labels.
			p.Labels = slices.Clone(p.Labels)
			byNumber[p.Number] = p
		}
		if resp.NextPage > n {
			return resp.NextPage, resp.LastPage, nil
		}
		// A server that leaves Link off its 304s cannot say whether pages
		// were added after a full last page: read one further. (A single
		// page has no Link at all; its 304 is taken at its word, so on
		// such a server a repository of exactly 100 pull requests sees a
		// new one when its page changes: the store's read by number keeps
		// every served PR safe meanwhile.)
		if resp.Header.Get(linkReplayedHeader) != "" && len(prs) == perPage {
			return n + 1, 0, nil
		}
		return 0, 0, nil
	}

	last, known := c.pages.Load(repo.Key())
	start := 1
	if known {
		start = max(last.(int), 1)
	}
	if !known {
		next, last, err := page(1)
		if err != nil {
			return nil, err
		}
		if next == 0 {
			return c.snapshot(repo, byNumber), nil
		}
		start = max(last, next)
	}
	// Forward from the expected last page to the real one, in case the
	// list grew; then back to page 1.
	n := start
	for {
		next, _, err := page(n)
		if err != nil {
			return nil, err
		}
		if next == 0 {
			break
		}
		n = next
	}
	for n--; n >= 1; n-- {
		if _, _, err := page(n); err != nil {
			return nil, err
		}
	}
	return c.snapshot(repo, byNumber), nil
}

// snapshot returns the pull requests sorted by number and remembers how
// many pages the next listing should expect.
func (c *Client) snapshot(repo pr.Repo, byNumber map[int]pr.PullRequest) []pr.PullRequest {
	out := make([]pr.PullRequest, 0, len(byNumber))
	for _, p := range byNumber {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b pr.PullRequest) int { return a.Number - b.Number })
	c.pages.Store(repo.Key(), max(1, (len(out)+perPage-1)/perPage))
	c.log.Debug("listed open pull requests", "repository", repo.String(), "count", len(out))
	return out
}

// listPage reads one page of open pull requests, oldest first, with a
// conditional request.
func (c *Client) listPage(ctx context.Context, repo pr.Repo, n int) ([]pr.PullRequest, *gh.Response, error) {
	opts := &gh.PullRequestListOptions{State: "open", Sort: "created", Direction: "asc", ListOptions: gh.ListOptions{PerPage: perPage, Page: n}}
	var page []*gh.PullRequest
	return conditionalPage(ctx, c, EndpointPullsList, func(ctx context.Context) (*gh.Response, error) {
		var (
			resp *gh.Response
			err  error
		)
		page, resp, err = c.gh.PullRequests.List(ctx, repo.Owner, repo.Name, opts)
		return resp, err
	}, func() ([]pr.PullRequest, int64) {
		prs := make([]pr.PullRequest, len(page))
		var cost int64
		for i, p := range page {
			prs[i] = convert(repo, p)
			cost += prCost(&prs[i])
		}
		return prs, cost
	})
}

// GetPullRequest reads one pull request of repo, in any state, and reports
// whether it is open. A pull request that does not exist is (zero, false,
// nil): nothing is left to preview.
func (c *Client) GetPullRequest(ctx context.Context, repo pr.Repo, number int) (pr.PullRequest, bool, error) {
	var p *gh.PullRequest
	_, err := c.call(ctx, EndpointPullsGet, nil, func(ctx context.Context) (*gh.Response, error) {
		var (
			resp *gh.Response
			err  error
		)
		p, resp, err = c.gh.PullRequests.Get(ctx, repo.Owner, repo.Name, number)
		return resp, err
	})
	if errors.Is(err, ErrNotFound) {
		// The repository answered the list a moment ago: the pull request
		// is gone (GitHub deletes no pull request, but a transfer can).
		return pr.PullRequest{}, false, nil
	}
	if err != nil {
		return pr.PullRequest{}, false, fmt.Errorf("reading pull request %s#%d: %w", repo, number, err)
	}
	return convert(repo, p), p.GetState() == "open", nil
}

// maxPullRequestCommits is how many commits GitHub lists for one pull
// request at most.
const maxPullRequestCommits = 250

// PullRequestCommits returns the SHAs of the commits of pull request
// number, oldest first, as GitHub lists them (at most 250). Pages are
// conditional requests: an unchanged list costs no rate limit.
func (c *Client) PullRequestCommits(ctx context.Context, repo pr.Repo, number int) ([]string, error) {
	var out []string
	opts := &gh.ListOptions{PerPage: perPage}
	for len(out) < maxPullRequestCommits {
		var page []*gh.RepositoryCommit
		shas, resp, err := conditionalPage(ctx, c, EndpointPullCommits, func(ctx context.Context) (*gh.Response, error) {
			var (
				resp *gh.Response
				err  error
			)
			page, resp, err = c.gh.PullRequests.ListCommits(ctx, repo.Owner, repo.Name, number, opts)
			return resp, err
		}, func() ([]string, int64) {
			shas := make([]string, len(page))
			for i, cm := range page {
				shas[i] = cm.GetSHA()
			}
			return shas, int64(len(shas))*56 + 64
		})
		if err != nil {
			return nil, fmt.Errorf("listing commits of %s#%d: %w", repo, number, err)
		}
		out = append(out, shas...)
		if resp.NextPage == 0 || resp.NextPage <= opts.Page {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

// conditionalPage fetches one page with a conditional request. On a 200,
// convert turns the decoded page into the value to return and keep (with
// its cost in bytes); on a 304 the kept value is returned without decoding
// anything. The value is shared between callers: they must not modify it.
func conditionalPage[T any](ctx context.Context, c *Client, endpoint string, fetch func(context.Context) (*gh.Response, error), convert func() (T, int64)) (T, *gh.Response, error) {
	var zero T
	cr := &condRequest{}
	resp, err := c.call(ctx, endpoint, cr, fetch)
	if err != nil {
		return zero, nil, err
	}
	if cr.revalidated {
		v, ok := cr.value.(T)
		if !ok {
			return zero, nil, fmt.Errorf("%s: cached page holds %T, want %T", endpoint, cr.value, zero)
		}
		return v, resp, nil
	}
	v, cost := convert()
	c.etag.store(cr, v, cost)
	return v, resp, nil
}

// prCost estimates the bytes a converted pull request holds.
func prCost(p *pr.PullRequest) int64 {
	n := int64(unsafe.Sizeof(*p)) + int64(len(p.Repo.Owner)+len(p.Repo.Name)+len(p.Title)+len(p.Author)+
		len(p.HeadBranch)+len(p.BaseBranch)+len(p.HeadSHA)+len(p.HeadRepo.Owner)+len(p.HeadRepo.Name)+len(p.HTMLURL))
	for _, l := range p.Labels {
		n += 16 + int64(len(l))
	}
	return n
}

// InvalidFileError reports a path that exists at a commit but is no
// readable file of at most the size asked for: a directory, a submodule, a
// symlink out of the repository, a binary file (not valid UTF-8, or
// holding a NUL byte), or a file too large. It is a fact about
// the commit, not a failure: the same answer comes every time.
type InvalidFileError struct {
	Path   string
	Reason string
}

func (e *InvalidFileError) Error() string { return e.Path + " " + e.Reason }

// GetFile returns the file at path in commit sha, of at most maxBytes. A
// missing file is an error wrapping ErrNotFound; a path that is no such
// file an *InvalidFileError. Both, and the content, are cached by (repo,
// path, sha): a commit never changes. Any other error is a failure to
// read, and is not cached.
func (c *Client) GetFile(ctx context.Context, repo pr.Repo, path, sha string, maxBytes int) ([]byte, error) {
	key := contentKey(repo, path, sha, maxBytes)
	if e, ok := c.contents.Get(key); ok {
		return e.result(path, sha, repo)
	}
	e, err := c.readFile(ctx, repo, path, sha, maxBytes)
	if err != nil {
		return nil, err
	}
	c.contents.Add(key, e)
	return e.result(path, sha, repo)
}

// contentKey is the key of the contents cache.
func contentKey(repo pr.Repo, path, sha string, maxBytes int) string {
	return repo.Key() + "\x00" + path + "\x00" + sha + "\x00" + strconv.Itoa(maxBytes)
}

// readFile reads path at sha with the contents API: a missing file, or a
// path that is no readable file of at most maxBytes, is in the entry. An
// error is a failure to read.
func (c *Client) readFile(ctx context.Context, repo pr.Repo, path, sha string, maxBytes int) (contentEntry, error) {
	var (
		file *gh.RepositoryContent
		dir  []*gh.RepositoryContent
	)
	_, err := c.call(ctx, EndpointContentsGet, nil, func(ctx context.Context) (*gh.Response, error) {
		var (
			resp *gh.Response
			err  error
		)
		file, dir, resp, err = c.gh.Repositories.GetContents(ctx, repo.Owner, repo.Name, path, &gh.RepositoryContentGetOptions{Ref: sha})
		return resp, err
	})
	var e contentEntry
	switch {
	case errors.Is(err, ErrNotFound):
		e.missing = true
	case err != nil:
		return e, fmt.Errorf("reading %s at %s in %s: %w", path, sha, repo, err)
	case file == nil && dir != nil:
		e.invalid = "is a directory"
	case file == nil:
		return e, fmt.Errorf("reading %s at %s in %s: empty answer", path, sha, repo)
	case file.GetType() != "file":
		e.invalid = "is a " + file.GetType() + ", not a file"
	case file.GetSize() > maxBytes:
		e.invalid = tooLarge(file.GetSize(), maxBytes)
	case file.GetEncoding() == "none":
		e.invalid = fmt.Sprintf("is %d bytes, too large for GitHub's contents API to return", file.GetSize())
	default:
		s, err := file.GetContent()
		if err != nil {
			return e, fmt.Errorf("reading %s at %s in %s: %w", path, sha, repo, err)
		}
		switch {
		case len(s) > maxBytes:
			e.invalid = tooLarge(len(s), maxBytes)
		case isBinary([]byte(s)):
			e.invalid = "is binary"
		default:
			e.data = []byte(s)
		}
	}
	return e, nil
}

// result turns a cached answer into GetFile's.
func (e contentEntry) result(path, sha string, repo pr.Repo) ([]byte, error) {
	switch {
	case e.missing:
		return nil, fmt.Errorf("reading %s at %s in %s: %w", path, sha, repo, ErrNotFound)
	case e.invalid != "":
		return nil, &InvalidFileError{Path: path, Reason: e.invalid}
	}
	return slices.Clone(e.data), nil
}

// convert maps a go-github pull request to the pr model. repo is the
// repository asked for. GitHub's own spelling from base.repo wins when it
// differs only in case; a renamed repository (GitHub redirects the old
// name) keeps the name asked for, so its previews keep their names.
func convert(repo pr.Repo, p *gh.PullRequest) pr.PullRequest {
	if r, err := pr.ParseRepo(p.GetBase().GetRepo().GetFullName()); err == nil && r.Key() == repo.Key() {
		repo = r
	}
	out := pr.PullRequest{
		Repo:        repo,
		Number:      p.GetNumber(),
		Title:       p.GetTitle(),
		Author:      p.GetUser().GetLogin(),
		AuthorIsBot: p.GetUser().GetType() == "Bot" || strings.HasSuffix(p.GetUser().GetLogin(), "[bot]"),
		Draft:       p.GetDraft(),
		Labels:      make([]string, 0, len(p.Labels)),
		HeadBranch:  p.GetHead().GetRef(),
		BaseBranch:  p.GetBase().GetRef(),
		HeadSHA:     p.GetHead().GetSHA(),
		HTMLURL:     p.GetHTMLURL(),
		CreatedAt:   p.GetCreatedAt().UTC(),
		UpdatedAt:   p.GetUpdatedAt().UTC(),
	}
	for _, l := range p.Labels {
		if n := l.GetName(); n != "" {
			out.Labels = append(out.Labels, n)
		}
	}
	// A PR whose head lives in its base repository is no fork, whatever
	// the name: compare GitHub's names of both (after a rename both say
	// the new name, while Repo keeps the one asked for).
	head, base := p.GetHead().GetRepo(), p.GetBase().GetRepo()
	switch {
	case head.GetID() != 0 && head.GetID() == base.GetID(),
		head.GetFullName() != "" && strings.EqualFold(head.GetFullName(), base.GetFullName()):
		out.HeadRepo = repo
	default:
		if r, err := pr.ParseRepo(head.GetFullName()); err == nil {
			out.HeadRepo = r
		}
	}
	return out
}

// EndpointStatusCreate names the commit-status call in Metrics.
const EndpointStatusCreate = "statuses.create"

// SetCommitStatus posts a commit status on sha of repo (needs the token's
// "commit statuses: write" permission). description is cut to GitHub's
// 140 characters.
func (c *Client) SetCommitStatus(ctx context.Context, repo pr.Repo, sha, state, statusContext, description, targetURL string) error {
	if r := []rune(description); len(r) > 140 {
		description = string(r[:139]) + "…"
	}
	st := &gh.RepoStatus{State: gh.String(state), Context: gh.String(statusContext), Description: gh.String(description)}
	if targetURL != "" {
		st.TargetURL = gh.String(targetURL)
	}
	_, err := c.call(ctx, EndpointStatusCreate, nil, func(ctx context.Context) (*gh.Response, error) {
		_, resp, err := c.gh.Repositories.CreateStatus(ctx, repo.Owner, repo.Name, sha, st)
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("setting status %s on %s@%s: %w", statusContext, repo, sha, err)
	}
	return nil
}
