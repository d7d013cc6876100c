// Package prfile is a pull-request source read from a YAML file instead of
// GitHub: the embedded demo and local experiments use it. The file is read
// again on every listing, so editing it changes the answer at the next
// resync, as a change on GitHub would.
package prfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// File is the document layout:
//
//	pullRequests:
//	  - repository: acme/backend
//	    number: 1
//	    title: Add login
//	    author: octocat
//	    labels: [preview]
//	    headBranch: feature/login
//	    baseBranch: main
//	    headSHA: 1a2b3c4d5e6f...
//	    headRepository: acme/backend   # default: repository; another repo means a fork
//	    draft: false
//	    bot: false
//	    created: 30h                   # "ago" duration, or an RFC 3339 time
//	    updated: 1h                    # last activity (GitHub's updated_at): a push, a label, a comment
//	    previewConfig: |               # the PR's .preview.yaml at its head (optional)
//	      ttl: 24h
//
// The pullRequests key is required: a file without it (an empty file, one
// cut short while being written) is an error, never an empty answer.
// `pullRequests: []` is the one way to say that no pull request is open.
type File struct {
	PullRequests *[]Entry `yaml:"pullRequests"`
}

// Entry is one pull request in a File.
type Entry struct {
	Repository     string   `yaml:"repository"`
	Number         int      `yaml:"number"`
	Title          string   `yaml:"title"`
	Author         string   `yaml:"author"`
	Bot            bool     `yaml:"bot"`
	Draft          bool     `yaml:"draft"`
	Labels         []string `yaml:"labels"`
	HeadBranch     string   `yaml:"headBranch"`
	BaseBranch     string   `yaml:"baseBranch"`
	HeadSHA        string   `yaml:"headSHA"`
	HeadRepository string   `yaml:"headRepository"`
	Created        string   `yaml:"created"`
	Updated        string   `yaml:"updated"`
	// PreviewConfig is the PR's .preview.yaml at its head, inline.
	PreviewConfig *string `yaml:"previewConfig"`
}

// Parse decodes a File strictly (unknown fields are errors naming the line)
// and resolves relative times against now.
func Parse(data []byte, now time.Time) ([]pr.PullRequest, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("pull request file is empty: write `pullRequests: []` for no open pull requests")
		}
		return nil, fmt.Errorf("decoding pull request file: %w", err)
	}
	if f.PullRequests == nil {
		return nil, errors.New("pull request file has no pullRequests key: write `pullRequests: []` for no open pull requests")
	}
	out := make([]pr.PullRequest, 0, len(*f.PullRequests))
	seen := map[string]bool{}
	for i, e := range *f.PullRequests {
		p, err := e.toPR(now)
		if err != nil {
			return nil, fmt.Errorf("pullRequests[%d]: %w", i, err)
		}
		id := fmt.Sprintf("%s#%d", p.Repo.Key(), p.Number)
		if seen[id] {
			return nil, fmt.Errorf("pullRequests[%d]: %s#%d listed twice", i, p.Repo, p.Number)
		}
		seen[id] = true
		out = append(out, p)
	}
	return out, nil
}

func (e Entry) toPR(now time.Time) (pr.PullRequest, error) {
	repo, err := pr.ParseRepo(e.Repository)
	if err != nil {
		return pr.PullRequest{}, fmt.Errorf("repository: %w", err)
	}
	if e.Number <= 0 {
		return pr.PullRequest{}, fmt.Errorf("number: must be a positive integer, got %d", e.Number)
	}
	if len(e.HeadSHA) < 7 || strings.Trim(strings.ToLower(e.HeadSHA), "0123456789abcdef") != "" {
		return pr.PullRequest{}, fmt.Errorf("headSHA: %q is not a hex commit SHA", e.HeadSHA)
	}
	head := repo
	if e.HeadRepository != "" {
		if head, err = pr.ParseRepo(e.HeadRepository); err != nil {
			return pr.PullRequest{}, fmt.Errorf("headRepository: %w", err)
		}
	}
	p := pr.PullRequest{
		Repo: repo, Number: e.Number, Title: e.Title, Author: e.Author, AuthorIsBot: e.Bot, Draft: e.Draft,
		Labels: e.Labels, HeadBranch: e.HeadBranch, BaseBranch: e.BaseBranch, HeadSHA: strings.ToLower(e.HeadSHA),
		HeadRepo: head, HTMLURL: fmt.Sprintf("https://github.com/%s/pull/%d", repo, e.Number),
	}
	if e.PreviewConfig != nil {
		p.Overlay = []byte(*e.PreviewConfig)
	}
	if p.BaseBranch == "" {
		p.BaseBranch = "main"
	}
	if p.CreatedAt, err = when(e.Created, now); err != nil {
		return pr.PullRequest{}, fmt.Errorf("created: %w", err)
	}
	if p.UpdatedAt, err = when(e.Updated, now); err != nil {
		return pr.PullRequest{}, fmt.Errorf("updated: %w", err)
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	return p, nil
}

// when parses "" (unknown), an "ago" duration such as 90m, or RFC 3339.
func when(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration ago (2h) nor an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// Source lists pull requests from a file, or from fixed bytes. Content is
// parsed once per change: relative times ("2h" ago) count from the moment a
// content was first read, as a real PR's times stay put between polls.
type Source struct {
	path string
	data []byte
	now  func() time.Time

	mu     sync.Mutex
	parsed []byte // content of the last successful parse
	prs    []pr.PullRequest
}

// NewFile returns a Source that reads path at every listing.
func NewFile(path string) *Source { return &Source{path: path, now: time.Now} }

// NewBytes returns a Source over fixed content (the embedded demo).
func NewBytes(data []byte) *Source { return &Source{data: data, now: time.Now} }

// Repos returns the repositories the file mentions, in first-seen order.
func (s *Source) Repos() ([]pr.Repo, error) {
	prs, err := s.load(context.Background())
	if err != nil {
		return nil, err
	}
	var out []pr.Repo
	seen := map[string]bool{}
	for _, p := range prs {
		if !seen[p.Repo.Key()] {
			seen[p.Repo.Key()] = true
			out = append(out, p.Repo)
		}
	}
	return out, nil
}

// Quiet is how long a file must have stayed unchanged before it is read:
// a file being written is never taken for a short list.
const Quiet = 300 * time.Millisecond

func (s *Source) load(ctx context.Context) ([]pr.PullRequest, error) {
	data := s.data
	if s.path != "" {
		var err error
		if data, err = s.readQuiet(ctx); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parsed != nil && bytes.Equal(s.parsed, data) {
		return s.prs, nil
	}
	prs, err := Parse(data, s.now())
	if err != nil {
		if s.path != "" {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		return nil, err
	}
	s.parsed, s.prs = data, prs
	return prs, nil
}

// readQuiet reads the file once it has not changed for Quiet: it waits
// while the modification time is recent and reads again until two reads,
// Quiet apart, agree.
func (s *Source) readQuiet(ctx context.Context) ([]byte, error) {
	var last []byte
	for range 20 {
		fi, err := os.Stat(s.path)
		if err != nil {
			return nil, fmt.Errorf("reading pull request file: %w", err)
		}
		if age := time.Since(fi.ModTime()); age >= 0 && age < Quiet {
			if err := sleep(ctx, Quiet-age); err != nil {
				return nil, err
			}
			continue
		}
		data, err := os.ReadFile(s.path)
		if err != nil {
			return nil, fmt.Errorf("reading pull request file: %w", err)
		}
		if last != nil && bytes.Equal(last, data) {
			return data, nil
		}
		s.mu.Lock()
		same := s.parsed != nil && bytes.Equal(s.parsed, data)
		s.mu.Unlock()
		if same {
			return data, nil // the content last parsed: nothing to guard
		}
		last = data
		if err := sleep(ctx, Quiet); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("pull request file %s keeps changing; not reading it mid-write", s.path)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the pull request file to settle: %w", ctx.Err())
	}
}

// ListOpenPullRequests returns the file's pull requests of repo.
func (s *Source) ListOpenPullRequests(ctx context.Context, repo pr.Repo) ([]pr.PullRequest, error) {
	prs, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	out := []pr.PullRequest{}
	for _, p := range prs {
		if p.Repo.Key() == repo.Key() {
			out = append(out, p)
		}
	}
	return out, nil
}

// GetPullRequest returns pull request number of repo and whether it is
// open: a pull request the file does not list counts as closed.
func (s *Source) GetPullRequest(ctx context.Context, repo pr.Repo, number int) (pr.PullRequest, bool, error) {
	prs, err := s.ListOpenPullRequests(ctx, repo)
	if err != nil {
		return pr.PullRequest{}, false, err
	}
	for _, p := range prs {
		if p.Number == number {
			return p, true, nil
		}
	}
	return pr.PullRequest{}, false, nil
}
