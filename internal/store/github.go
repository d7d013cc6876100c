package store

import (
	"context"
	"errors"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// GitHubFiles reads config files and pull requests' commits from GitHub: a
// missing file, or a path that is no readable file of at most MaxBytes,
// is a fact about the commit (File.Missing, File.Invalid), not an error.
type GitHubFiles struct {
	Client   *github.Client
	MaxBytes int
}

var (
	_ Files      = GitHubFiles{}
	_ BatchFiles = GitHubFiles{}
)

// ReadFile implements Files.
func (g GitHubFiles) ReadFile(ctx context.Context, repo pr.Repo, path, sha string) (File, error) {
	b, err := g.Client.GetFile(ctx, repo, path, sha, g.MaxBytes)
	var inv *github.InvalidFileError
	switch {
	case errors.Is(err, github.ErrNotFound):
		return File{Missing: true}, nil
	case errors.As(err, &inv):
		return File{Invalid: inv.Reason}, nil
	case err != nil:
		return File{}, err
	}
	return File{Data: b}, nil
}

// PullRequestCommits implements Files.
func (g GitHubFiles) PullRequestCommits(ctx context.Context, repo pr.Repo, number int) ([]string, error) {
	return g.Client.PullRequestCommits(ctx, repo, number)
}

// ReadFiles implements BatchFiles with one GraphQL query per 100 commits
// (github.Client.GetFiles), sharing ReadFile's cache.
func (g GitHubFiles) ReadFiles(ctx context.Context, repo pr.Repo, path string, shas []string) (map[string]File, error) {
	res, err := g.Client.GetFiles(ctx, repo, path, shas, g.MaxBytes)
	if err != nil {
		return nil, err
	}
	out := make(map[string]File, len(res))
	for sha, r := range res {
		out[sha] = File{Data: r.Data, Missing: r.Missing, Invalid: r.Invalid}
	}
	return out, nil
}

// GitHubImages reads image gates from GitHub: check runs and commit
// statuses (github.Client.ImageState) and the commits of pull requests.
type GitHubImages struct {
	Client *github.Client
}

var _ Images = GitHubImages{}

// ImageState implements Images.
func (g GitHubImages) ImageState(ctx context.Context, repo pr.Repo, sha string, gate ImageGate) (Image, error) {
	st, err := g.Client.ImageState(ctx, repo, sha, github.ImageCheck{CheckRun: gate.CheckRun, Status: gate.Status})
	if err != nil {
		return Image{}, err
	}
	im := Image{State: ImagePending, Detail: st.Detail}
	switch {
	case st.Ready:
		im.State = ImageReady
	case st.Failed:
		im.State = ImageFailed
	}
	return im, nil
}

// PullRequestCommits implements Images.
func (g GitHubImages) PullRequestCommits(ctx context.Context, repo pr.Repo, number int) ([]string, error) {
	return g.Client.PullRequestCommits(ctx, repo, number)
}
