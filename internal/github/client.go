// Package github reads open pull requests and files from the GitHub REST API
// (or GitHub Enterprise) with go-github v57. It is built to be polled: list
// pages and issue events are fetched with conditional requests (an unchanged
// repository costs no rate limit), commits and file contents are cached by
// SHA, and a rate limit stops all calls until it resets.
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
	maxPages         = 1000 // 100 000 items: a guard against a Link loop
	fetchConcurrency = 4
	etagMaxBytes     = 64 << 20
	contentsMaxBytes = 16 << 20
)

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
	// which keeps list and event pages converted, not as JSON; default
	// 64 MiB. A page of 100 pull requests costs about 45 KB there (its JSON
	// from github.com is about 2 MB), the events of one pull request about
	// 300 bytes. When the bound is too small, pages are evicted and fetched
	// again in full, costing rate limit.
	ETagCacheBytes int64
	// CachePullRequests is how many labelled open pull requests, over all
	// repositories, the caches are sized for; default 20000. Each one
	// needs an events page and a head commit (and a .preview.yaml answer)
	// kept from one resync to the next; 100 pull requests need a list page.
	// Beyond it, a resync misses the cache (a least-recently-used cache
	// polled in a cycle larger than itself misses every time) and fetches
	// everything again, spending rate limit. A pull request's entries cost
	// about 800 bytes, so the default lets them grow to about 16 MB.
	CachePullRequests int
}

// cacheEntries returns the entry bounds of the conditional-request cache
// and of the commit and contents caches for n labelled pull requests,
// with a quarter to spare for pushes and unlabelled pull requests' pages.
func cacheEntries(n int) (etag, commits, contents int) {
	spare := n/4 + 16
	return n + n/perPage + spare, n + spare, n + spare
}

// Client lists pull requests and reads files. It is safe for concurrent use.
type Client struct {
	gh       *gh.Client
	timeout  time.Duration
	log      *slog.Logger
	metrics  Metrics
	gate     *rateGate
	etag     *etagTransport
	now      func() time.Time
	commits  *lru[string, time.Time]
	contents *lru[string, contentEntry]
}

type contentEntry struct {
	data    []byte
	missing bool
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

	var transport http.RoundTripper = defaultTransport()
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
	etagEntries, commitEntries, contentEntries := cacheEntries(capacity)
	et := newETagTransport(transport, identity, etagEntries, cacheBytes)

	client := gh.NewClient(&http.Client{Transport: et})
	client.BaseURL = u
	client.UserAgent = "preview-generator"

	now := time.Now
	return &Client{
		gh:       client,
		timeout:  timeout,
		log:      logger,
		metrics:  metrics,
		gate:     &rateGate{now: now},
		etag:     et,
		now:      now,
		commits:  newLRU[string, time.Time](commitEntries, 0, nil),
		contents: newLRU[string, contentEntry](contentEntries, contentsMaxBytes, func(e contentEntry) int64 { return int64(len(e.data)) + 64 }),
	}, nil
}

// defaultTransport is Go's default transport keeping an idle connection
// per concurrent request: with the default of 2 per host, each burst of
// fetchConcurrency requests would close connections and open new ones, a
// TLS handshake each.
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = fetchConcurrency * 2
	return t
}

// call runs one API request: it refuses while a rate limit holds, bounds the
// request by the timeout, records the rate-limit headers and the outcome, and
// classifies the error. A non-nil cr makes the request conditional.
func (c *Client) call(ctx context.Context, endpoint string, cr *condRequest, fn func(context.Context) (*gh.Response, error)) (*gh.Response, error) {
	if err := c.gate.check(); err != nil {
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
		c.metrics.GitHubRateLimit(resp.Rate.Remaining, resp.Rate.Limit, resp.Rate.Reset.Time)
		if resp.Rate.Remaining == 0 && resp.Rate.Reset.After(now) {
			c.gate.block(resp.Rate.Reset.Time, false)
		}
	}
	err = classify(err, now)
	var rle *RateLimitError
	if errors.As(err, &rle) {
		c.gate.block(rle.Reset, rle.Secondary)
		c.log.Warn("GitHub rate limit", "endpoint", endpoint, "secondary", rle.Secondary, "reset", rle.Reset)
	}
	revalidated := err == nil && resp != nil && resp.Response != nil && resp.Header.Get(revalidatedHeader) != ""
	c.metrics.GitHubRequest(endpoint, outcome(err, revalidated))
	return resp, err
}

// ListOpenPullRequests returns every open pull request of repo (all pages),
// newest first. For each one carrying at least one of labels it also fills
// LabeledAt (the last "labeled" event of each label now on the PR) and
// HeadCommittedAt (the head commit's committer date). A repository without
// open pull requests gives an empty slice; a missing or forbidden one an
// error wrapping ErrNotFound or ErrForbidden.
func (c *Client) ListOpenPullRequests(ctx context.Context, repo pr.Repo, labels []string) ([]pr.PullRequest, error) {
	out := []pr.PullRequest{}
	seen := map[int]bool{} // a PR opened while paging shifts one onto the next page
	opts := &gh.PullRequestListOptions{State: "open", ListOptions: gh.ListOptions{PerPage: perPage}}
	for range maxPages {
		var page []*gh.PullRequest
		prs, resp, err := conditionalPage(ctx, c, EndpointPullsList, func(ctx context.Context) (*gh.Response, error) {
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
		if err != nil {
			return nil, fmt.Errorf("listing pull requests for %s: %w", repo, err)
		}
		for _, p := range prs {
			if !seen[p.Number] {
				seen[p.Number] = true
				// The cached page is shared: give the caller its own
				// label slice; enrich sets the rest anew.
				p.Labels = slices.Clone(p.Labels)
				out = append(out, p)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}

	var todo []int
	for i := range out {
		if slices.ContainsFunc(labels, out[i].HasLabel) {
			todo = append(todo, i)
		}
	}
	if err := c.forEach(ctx, todo, func(ctx context.Context, i int) error {
		return c.enrich(ctx, &out[i])
	}); err != nil {
		return nil, fmt.Errorf("listing pull requests for %s: %w", repo, err)
	}
	c.log.Debug("listed open pull requests", "repository", repo.String(), "count", len(out), "labelled", len(todo))
	return out, nil
}

// forEach runs fn on every index with bounded concurrency and returns the
// first error, cancelling the rest.
func (c *Client) forEach(ctx context.Context, idx []int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		work     = make(chan int)
	)
	for range min(fetchConcurrency, len(idx)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, i := range idx {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// enrich fills LabeledAt and HeadCommittedAt of p.
func (c *Client) enrich(ctx context.Context, p *pr.PullRequest) error {
	labeled, err := c.labeledAt(ctx, p.Repo, p.Number)
	if err != nil {
		return fmt.Errorf("issue events of #%d: %w", p.Number, err)
	}
	// Label names are case-insensitive on GitHub; an event may carry an
	// older spelling. Key the times by the label's current spelling.
	for _, name := range p.Labels {
		if t, ok := labeled[strings.ToLower(name)]; ok {
			if p.LabeledAt == nil {
				p.LabeledAt = map[string]time.Time{}
			}
			p.LabeledAt[name] = t
		}
	}
	if p.HeadSHA != "" {
		t, err := c.commitTime(ctx, p.Repo, p.HeadSHA)
		if err != nil {
			return fmt.Errorf("head commit %s of #%d: %w", p.HeadSHA, p.Number, err)
		}
		p.HeadCommittedAt = t
	}
	return nil
}

// labeledAt returns the last "labeled" time of every label (by lower-case
// name) in the issue events of PR number (all pages).
func (c *Client) labeledAt(ctx context.Context, repo pr.Repo, number int) (map[string]time.Time, error) {
	last := map[string]time.Time{}
	opts := &gh.ListOptions{PerPage: perPage}
	for range maxPages {
		var page []*gh.IssueEvent
		labeled, resp, err := conditionalPage(ctx, c, EndpointIssueEvents, func(ctx context.Context) (*gh.Response, error) {
			var (
				resp *gh.Response
				err  error
			)
			page, resp, err = c.gh.Issues.ListIssueEvents(ctx, repo.Owner, repo.Name, number, opts)
			return resp, err
		}, func() ([]labelTime, int64) {
			return lastLabeled(page)
		})
		if err != nil {
			return nil, err
		}
		for _, l := range labeled {
			if l.at.After(last[l.name]) {
				last[l.name] = l.at
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return last, nil
}

// labelTime is the last time a label (lower-case name) was applied, as
// seen in one page of issue events.
type labelTime struct {
	name string
	at   time.Time
}

// lastLabeled reduces a page of issue events to the last "labeled" time of
// each label, and returns its cost in bytes.
func lastLabeled(page []*gh.IssueEvent) ([]labelTime, int64) {
	var out []labelTime
	cost := int64(24)
	for _, e := range page {
		name := strings.ToLower(e.GetLabel().GetName())
		if e.GetEvent() != "labeled" || name == "" {
			continue
		}
		t := e.GetCreatedAt().UTC()
		i := slices.IndexFunc(out, func(l labelTime) bool { return l.name == name })
		switch {
		case i < 0:
			out = append(out, labelTime{name: name, at: t})
			cost += int64(unsafe.Sizeof(labelTime{})) + int64(len(name))
		case t.After(out[i].at):
			out[i].at = t
		}
	}
	return out, cost
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

// commitTime returns the committer date of sha, cached by SHA.
func (c *Client) commitTime(ctx context.Context, repo pr.Repo, sha string) (time.Time, error) {
	key := repo.Key() + "@" + sha
	if t, ok := c.commits.Get(key); ok {
		return t, nil
	}
	var commit *gh.RepositoryCommit
	_, err := c.call(ctx, EndpointCommitGet, nil, func(ctx context.Context) (*gh.Response, error) {
		var (
			resp *gh.Response
			err  error
		)
		commit, resp, err = c.gh.Repositories.GetCommit(ctx, repo.Owner, repo.Name, sha, nil)
		return resp, err
	})
	if err != nil {
		return time.Time{}, err
	}
	t := commit.GetCommit().GetCommitter().GetDate().UTC()
	c.commits.Add(key, t)
	return t, nil
}

// GetContents returns the file at path in commit sha, or an error wrapping
// ErrNotFound. Answers, including "not found", are cached by (repo, path,
// sha): a commit never changes.
func (c *Client) GetContents(ctx context.Context, repo pr.Repo, path, sha string) ([]byte, error) {
	key := repo.Key() + "\x00" + path + "\x00" + sha
	if e, ok := c.contents.Get(key); ok {
		if e.missing {
			return nil, fmt.Errorf("reading %s at %s in %s: %w", path, sha, repo, ErrNotFound)
		}
		return slices.Clone(e.data), nil
	}
	var file *gh.RepositoryContent
	_, err := c.call(ctx, EndpointContentsGet, nil, func(ctx context.Context) (*gh.Response, error) {
		var (
			resp *gh.Response
			err  error
		)
		file, _, resp, err = c.gh.Repositories.GetContents(ctx, repo.Owner, repo.Name, path, &gh.RepositoryContentGetOptions{Ref: sha})
		return resp, err
	})
	if errors.Is(err, ErrNotFound) {
		c.contents.Add(key, contentEntry{missing: true})
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s at %s in %s: %w", path, sha, repo, err)
	}
	if file == nil || file.GetType() != "file" {
		return nil, fmt.Errorf("reading %s at %s in %s: not a file", path, sha, repo)
	}
	s, err := file.GetContent()
	if err != nil {
		return nil, fmt.Errorf("reading %s at %s in %s: %w", path, sha, repo, err)
	}
	data := []byte(s)
	c.contents.Add(key, contentEntry{data: data})
	return slices.Clone(data), nil
}

// convert maps a go-github pull request to the pr model. repo is the
// repository asked for; GitHub's own spelling from base.repo wins.
func convert(repo pr.Repo, p *gh.PullRequest) pr.PullRequest {
	if r, err := pr.ParseRepo(p.GetBase().GetRepo().GetFullName()); err == nil {
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
	}
	for _, l := range p.Labels {
		if n := l.GetName(); n != "" {
			out.Labels = append(out.Labels, n)
		}
	}
	if r, err := pr.ParseRepo(p.GetHead().GetRepo().GetFullName()); err == nil {
		out.HeadRepo = r
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
