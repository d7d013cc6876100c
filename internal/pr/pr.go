// Package pr holds the plain data the rest of preview-generator agrees on: an
// open pull request as read from a source (GitHub or a demo file), with the
// few facts the parameter engine needs. It performs no I/O.
package pr

import (
	"fmt"
	"strings"
	"time"
)

// Repo names a repository as owner/name.
type Repo struct {
	Owner string `json:"owner" yaml:"owner"`
	Name  string `json:"name" yaml:"name"`
}

// String returns "owner/name".
func (r Repo) String() string { return r.Owner + "/" + r.Name }

// Key returns the case-folded "owner/name"; GitHub names are case-insensitive.
func (r Repo) Key() string { return strings.ToLower(r.String()) }

// ParseRepo parses "owner/name". Both parts must be non-empty and contain no
// further slash or white space.
func ParseRepo(s string) (Repo, error) {
	owner, name, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(owner+name, "/ \t\r\n") {
		return Repo{}, fmt.Errorf("repository %q: want owner/name", s)
	}
	return Repo{Owner: owner, Name: name}, nil
}

// PullRequest is one open pull request with the facts needed to decide on and
// describe its preview. Times are UTC; zero means unknown.
type PullRequest struct {
	Repo   Repo   `json:"repo" yaml:"repo"`
	Number int    `json:"number" yaml:"number"`
	Title  string `json:"title" yaml:"title"`
	// Author is the login of the PR's author; AuthorIsBot is true when
	// GitHub reports the account type "Bot" (or the login ends in "[bot]").
	Author      string `json:"author" yaml:"author"`
	AuthorIsBot bool   `json:"authorIsBot,omitempty" yaml:"authorIsBot,omitempty"`
	Draft       bool   `json:"draft,omitempty" yaml:"draft,omitempty"`
	// Labels are the label names currently on the PR.
	Labels []string `json:"labels" yaml:"labels"`
	// HeadBranch is the source branch; BaseBranch the target branch.
	HeadBranch string `json:"headBranch" yaml:"headBranch"`
	BaseBranch string `json:"baseBranch" yaml:"baseBranch"`
	HeadSHA    string `json:"headSHA" yaml:"headSHA"`
	// HeadRepo is the repository the head branch lives in. It differs from
	// Repo for a PR from a fork; it is empty when the fork was deleted.
	HeadRepo Repo   `json:"headRepo" yaml:"headRepo"`
	HTMLURL  string `json:"htmlURL" yaml:"htmlURL"`
	// CreatedAt is when the PR was opened.
	CreatedAt time.Time `json:"createdAt" yaml:"createdAt"`
	// UpdatedAt is GitHub's server time of the PR's last change: a push to
	// its head, a label applied or removed, a comment, a review, an edit.
	// It is the PR's last activity. Unlike a commit's dates it cannot be
	// set by the PR's author, so it is what lifecycle decisions use.
	UpdatedAt time.Time `json:"updatedAt" yaml:"updatedAt"`
	// Overlay is the overlay config file (.preview.yaml) in force for the
	// PR: the head commit's, or, when that one is invalid, the newest
	// valid one of the PR's earlier commits (see OverlaySHA). nil when
	// there is no file or it was not read.
	Overlay []byte `json:"overlay,omitempty" yaml:"overlay,omitempty"`
	// OverlaySHA is the commit Overlay was read at when that is not the
	// head commit; empty otherwise.
	OverlaySHA string `json:"overlaySHA,omitempty" yaml:"overlaySHA,omitempty"`
	// Problem says why the PR is not described by its head commit alone:
	// its head's config file is invalid (and which commit's file is used
	// instead), or reading it failed and the PR keeps its last good state.
	// It ends up in the config_error parameter. Empty when all is well.
	Problem string `json:"problem,omitempty" yaml:"problem,omitempty"`
	// PendingSHA is the PR's head commit when image gating serves an
	// earlier commit (HeadSHA) because the head's image is not ready yet;
	// empty when HeadSHA is the head.
	PendingSHA string `json:"pendingSHA,omitempty" yaml:"pendingSHA,omitempty"`
	// ImageStatus is the image state of the PR's head commit under image
	// gating: "ready", "pending" or "failed"; empty when the repository is
	// not gated. ImageDetail says what was found, for people.
	ImageStatus string `json:"imageStatus,omitempty" yaml:"imageStatus,omitempty"`
	ImageDetail string `json:"imageDetail,omitempty" yaml:"imageDetail,omitempty"`
	// Extension is the newest valid "/preview extend <duration>" comment
	// on the PR, read from GitHub (see internal/store); nil when none.
	Extension *Extension `json:"extension,omitempty" yaml:"extension,omitempty"`
	// ExtensionUnknown is true when the PR's comments were needed (its
	// expiry is near) but could not be read, and no earlier read is
	// known: the preview is then kept as long as an extension could keep
	// it, so that unknown is never empty.
	ExtensionUnknown bool `json:"extensionUnknown,omitempty" yaml:"extensionUnknown,omitempty"`
	// ExtensionUnchecked is true when the source reads comments but did
	// not read this PR's yet, its expiry being far by the TTLs the source
	// knows. An ApplicationSet may ask for a shorter TTL: once that one
	// passes, the preview is kept as if its comments were unknown until
	// they are read, so an extension is never missed.
	ExtensionUnchecked bool `json:"extensionUnchecked,omitempty" yaml:"extensionUnchecked,omitempty"`
	// CommandNote says why the newest "/preview extend" command on the
	// PR, newer than Extension, was refused (no write permission, a bad
	// duration) or what was capped (a duration over the maximum TTL);
	// empty otherwise. It is reported on the preview/expiry commit status,
	// never as a comment.
	CommandNote string `json:"commandNote,omitempty" yaml:"commandNote,omitempty"`
}

// Extension is a "/preview extend" command that counts: its comment's
// creation time (GitHub's clock), the duration asked for and who asked.
type Extension struct {
	CommentID int64         `json:"commentID" yaml:"commentID"`
	At        time.Time     `json:"at" yaml:"at"`
	For       time.Duration `json:"for" yaml:"for"`
	By        string        `json:"by" yaml:"by"`
}

// HasLabel reports whether the PR carries label (case-insensitive, as GitHub).
func (p PullRequest) HasLabel(label string) bool {
	for _, l := range p.Labels {
		if strings.EqualFold(l, label) {
			return true
		}
	}
	return false
}

// IsFork reports whether the head branch lives outside the base repository
// (a deleted fork counts as a fork).
func (p PullRequest) IsFork() bool {
	return p.HeadRepo.Key() != p.Repo.Key()
}
