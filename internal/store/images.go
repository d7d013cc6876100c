package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// ImageGate names what tells that a commit's image is built: a check run
// (CheckRun, its name) or a commit status (Status, its context). Exactly
// one is set.
type ImageGate struct {
	CheckRun string
	Status   string
}

// String names the gate for people: "check build-image", "status ci/image".
func (g ImageGate) String() string {
	if g.CheckRun != "" {
		return "check " + g.CheckRun
	}
	return "status " + g.Status
}

// ImageState is what a gate says of one commit's image.
type ImageState int

// The image states.
const (
	// ImagePending: nothing says the image is built yet (no check run or
	// status, or one queued or running).
	ImagePending ImageState = iota
	// ImageReady: the gate succeeded for the commit at least once. A
	// ready image stays ready: GitHub keeps every check run and status,
	// so this is a fact about the commit.
	ImageReady
	// ImageFailed: the gate's latest outcome for the commit is a failure.
	ImageFailed
)

// Image is the image state of one commit and, for people, what was found
// ("check build-image is in progress").
type Image struct {
	State  ImageState
	Detail string
}

// Images reads what image gates say of commits.
type Images interface {
	// ImageState reports what gate says of sha's image. An error is a
	// failure to read (the state is unknown), never a fact about the
	// commit.
	ImageState(ctx context.Context, repo pr.Repo, sha string, gate ImageGate) (Image, error)
	// PullRequestCommits returns the SHAs of a pull request's commits,
	// oldest first.
	PullRequestCommits(ctx context.Context, repo pr.Repo, number int) ([]string, error)
}

// ImageMetrics is implemented by a Metrics that also counts the pull
// requests left out for want of an image.
type ImageMetrics interface {
	// ImagesWaiting reports how many labelled pull requests of repo have
	// no commit whose image is ready, after each successful refresh.
	ImagesWaiting(repo string, n int)
}

// ImageReport is the image state of one pull request's head, as a refresh
// found it.
type ImageReport struct {
	Number int
	// Head is the pull request's head commit; Served the commit served
	// ("" when Waiting).
	Head, Served string
	Gate         ImageGate
	Image        Image
	// Waiting is true when no commit of the pull request has a ready
	// image: it is left out of the answer.
	Waiting bool
}

// image_status values, as params documents them.
const (
	imageReady   = "ready"
	imagePending = "pending"
	imageFailed  = "failed"
)

// gated is where image gating leaves one head commit.
type gated struct {
	served  string // the commit served; "" without a gate, or when waiting
	status  string // image_status of the head; "" without a gate
	detail  string
	waiting bool // no commit with a ready image: left out
	gate    ImageGate
	image   Image // the head's
}

func (g gated) servedOr(head string) string {
	if g.served != "" {
		return g.served
	}
	return head
}

// report is g as an ImageReport of pull request number.
func (r resolution) report(number int) ImageReport {
	return ImageReport{Number: number, Head: r.head, Served: r.served, Gate: r.gate, Image: r.image, Waiting: r.waiting}
}

// gate returns the image gate of repo, if gating is on for it.
func (s *Store) gate(repo pr.Repo) (ImageGate, bool) {
	if s.cfg.Images == nil {
		return ImageGate{}, false
	}
	g, ok := s.cfg.ImageGates[repo.Key()]
	return g, ok
}

// gateImage finds the commit p serves under gate: its head when the
// head's image is ready, else the newest of the MaxWalk commits before the
// head whose image is ready, else none (waiting). The walk starts from
// GitHub's list of the pull request's commits, so every replica finds the
// same commit. An error is a failure to read.
func (s *Store) gateImage(ctx context.Context, p pr.PullRequest, gate ImageGate) (gated, error) {
	g := gated{gate: gate}
	head, err := s.cfg.Images.ImageState(ctx, p.Repo, p.HeadSHA, gate)
	if err != nil {
		return g, fmt.Errorf("reading the %s of %s: %w", gate, short(p.HeadSHA), err)
	}
	g.image = head
	switch head.State {
	case ImageReady:
		g.served, g.status = p.HeadSHA, imageReady
		return g, nil
	case ImageFailed:
		g.status = imageFailed
	default:
		g.status = imagePending
	}
	g.detail = fmt.Sprintf("%s at %s", head.Detail, short(p.HeadSHA))
	shas, err := s.cfg.Images.PullRequestCommits(ctx, p.Repo, p.Number)
	if err != nil {
		return g, fmt.Errorf("%s; listing the pull request's commits: %w", g.detail, err)
	}
	// Newest first, from the commit before the head. A head missing from
	// the list (pushed while it was read) walks the whole list.
	if i := slices.Index(shas, p.HeadSHA); i >= 0 {
		shas = shas[:i]
	}
	for i, looked := len(shas)-1, 0; i >= 0 && looked < s.cfg.MaxWalk; i, looked = i-1, looked+1 {
		im, err := s.cfg.Images.ImageState(ctx, p.Repo, shas[i], gate)
		if err != nil {
			return g, fmt.Errorf("%s; reading the %s of %s: %w", g.detail, gate, short(shas[i]), err)
		}
		if im.State == ImageReady {
			g.served = shas[i]
			g.detail = fmt.Sprintf("%s; serving %s, the newest earlier commit whose image is ready", g.detail, short(shas[i]))
			return g, nil
		}
	}
	g.waiting = true
	return g, nil
}
