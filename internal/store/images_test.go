package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// images is a scripted Images: the state of each SHA, the commits of each
// pull request, and failures by SHA.
type images struct {
	mu      sync.Mutex
	state   map[string]ImageState
	fail    map[string]error
	commits map[int][]string
	asked   []string
}

func newImages() *images {
	return &images{state: map[string]ImageState{}, fail: map[string]error{}, commits: map[int][]string{}}
}

func (m *images) ImageState(_ context.Context, _ pr.Repo, sha string, gate ImageGate) (Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked = append(m.asked, sha)
	if err := m.fail[sha]; err != nil {
		return Image{}, err
	}
	st := m.state[sha]
	detail := map[ImageState]string{ImagePending: "is queued", ImageReady: "succeeded", ImageFailed: "failed (failure)"}[st]
	return Image{State: st, Detail: gate.String() + " " + detail}, nil
}

func (m *images) PullRequestCommits(_ context.Context, _ pr.Repo, number int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.commits[number], nil
}

func (m *images) set(sha string, st ImageState, fail error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state[sha], m.fail[sha] = st, fail
}

func (m *images) takeAsked() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.asked
	m.asked = nil
	return out
}

var buildImage = ImageGate{CheckRun: "build-image"}

// warmGatedStore returns a store over l with backend gated on build-image,
// whose images know each PR's commits and have the ready SHAs built, after
// a first Get.
func warmGatedStore(t *testing.T, l *scripted, commits map[int][]string, ready ...string) (*Store, *images) {
	t.Helper()
	im := newImages()
	im.commits = commits
	for _, sha := range ready {
		im.set(sha, ImageReady, nil)
	}
	s := New(l, Config{Images: im, ImageGates: map[string]ImageGate{backend.Key(): buildImage}})
	if _, err := s.Get(context.Background(), []pr.Repo{backend}, "preview"); err != nil {
		t.Fatal(err)
	}
	return s, im
}

func TestImageGating(t *testing.T) {
	t.Parallel()
	type want struct {
		listed            bool
		head, pending     string
		status, detailHas string
		waiting           bool
		overlayFromCommit string
	}
	tests := []struct {
		name    string
		commits []string // oldest first; the last is the head
		states  map[string]ImageState
		fail    map[string]error
		want    want
	}{
		{name: "head ready", commits: []string{"c1", "c2"}, states: map[string]ImageState{"c2": ImageReady},
			want: want{listed: true, head: "c2", status: "ready"}},
		{name: "head pending, previous ready", commits: []string{"c1", "c2", "c3"}, states: map[string]ImageState{"c1": ImageReady, "c2": ImageReady},
			want: want{listed: true, head: "c2", pending: "c3", status: "pending", detailHas: "check build-image is queued at c3; serving c2"}},
		{name: "head failed, older ready", commits: []string{"c1", "c2", "c3"}, states: map[string]ImageState{"c1": ImageReady, "c3": ImageFailed},
			want: want{listed: true, head: "c1", pending: "c3", status: "failed", detailHas: "failed (failure) at c3; serving c1"}},
		{name: "no commit ready", commits: []string{"c1", "c2"},
			want: want{waiting: true}},
		{name: "head failed, none ready", commits: []string{"c1", "c2"}, states: map[string]ImageState{"c2": ImageFailed},
			want: want{waiting: true}},
		{name: "reading the head fails on a cold start", commits: []string{"c1", "c2"}, fail: map[string]error{"c2": errors.New("502")},
			want: want{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newScripted()
			head := tc.commits[len(tc.commits)-1]
			l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, head), mkPR(2, "other", "bug")}
			im := newImages()
			im.commits[1] = tc.commits
			for sha, st := range tc.states {
				im.set(sha, st, nil)
			}
			for sha, err := range tc.fail {
				im.set(sha, ImagePending, err)
			}
			var reports []ImageReport
			s := New(l, Config{Images: im, ImageGates: map[string]ImageGate{backend.Key(): buildImage},
				OnImages: func(_ context.Context, _ pr.Repo, r []ImageReport) { reports = append(reports, r...) }})
			res, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
			if tc.fail != nil {
				if err == nil || !errors.Is(err, ErrUnavailable) {
					t.Fatalf("Get = %v, %v; want unavailable (a new PR of a cold repository cannot be judged)", numbers(res), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, listed := byNumber(res)[1]
			if listed != tc.want.listed {
				t.Fatalf("listed = %v, want %v (%v)", listed, tc.want.listed, numbers(res))
			}
			if _, ok := byNumber(res)[2]; !ok {
				t.Error("the unlabelled PR left the list")
			}
			if listed {
				if got.HeadSHA != tc.want.head || got.PendingSHA != tc.want.pending || got.ImageStatus != tc.want.status {
					t.Errorf("head %q pending %q status %q, want %q %q %q", got.HeadSHA, got.PendingSHA, got.ImageStatus, tc.want.head, tc.want.pending, tc.want.status)
				}
				if !strings.Contains(got.ImageDetail, tc.want.detailHas) {
					t.Errorf("detail %q, want it to contain %q", got.ImageDetail, tc.want.detailHas)
				}
			}
			if len(reports) != 1 || reports[0].Number != 1 || reports[0].Head != head || reports[0].Waiting != tc.want.waiting {
				t.Errorf("reports = %+v, want one for #1 at %s, waiting %v", reports, head, tc.want.waiting)
			}
		})
	}
}

// A ready head is final: the next refreshes ask nothing. A pending head is
// asked again at every refresh, and the earlier commits walked again.
func TestImageGatingAsksOnlyForPendingHeads(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, "a2"), mkPR(2, "b1")}
	s, im := warmGatedStore(t, l, map[int][]string{1: {"a1", "a2"}, 2: {"b1"}}, "a1", "b1")
	ctx := context.Background()
	im.takeAsked()
	for range 3 {
		if err := s.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(im.takeAsked(), ","); got != "a2,a1,a2,a1,a2,a1" {
		t.Errorf("asked %s, want a2,a1 per refresh (b1 is ready: final)", got)
	}
	im.set("a2", ImageReady, nil)
	for range 3 {
		if err := s.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(im.takeAsked(), ","); got != "a2" {
		t.Errorf("asked %s, want a2 once (then final)", got)
	}
	res, _ := s.Get(ctx, []pr.Repo{backend}, "preview")
	if p := byNumber(res)[1]; p.HeadSHA != "a2" || p.PendingSHA != "" || p.ImageStatus != "ready" {
		t.Errorf("PR #1 = head %q pending %q status %q, want a2 served", p.HeadSHA, p.PendingSHA, p.ImageStatus)
	}
}

// A failure to read one PR's image state is that PR's: it keeps its last
// good state, the others refresh.
func TestImageGatingFailureIsThePRs(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, "a1"), mkPR(2, "b1")}
	s, im := warmGatedStore(t, l, map[int][]string{1: {"a1"}, 2: {"b1"}}, "a1", "b1")
	ctx := context.Background()
	// #1 pushes a2, unreadable; #2 pushes b2, ready; #3 opens, unreadable.
	l.mu.Lock()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, "a2"), mkPR(2, "b2"), mkPR(3, "c1")}
	l.mu.Unlock()
	im.mu.Lock()
	im.commits[1] = []string{"a1", "a2"}
	im.commits[2] = []string{"b1", "b2"}
	im.commits[3] = []string{"c1"}
	im.mu.Unlock()
	im.set("a2", ImagePending, errors.New("502 Bad Gateway"))
	im.set("b2", ImageReady, nil)
	im.set("c1", ImagePending, errors.New("502 Bad Gateway"))
	if err := s.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.Get(ctx, []pr.Repo{backend}, "preview")
	if err != nil || len(res.Stale) != 0 {
		t.Fatalf("Get: %v, stale %v", err, res.Stale)
	}
	got := byNumber(res)
	if p := got[1]; p.HeadSHA != "a1" || !strings.Contains(p.Problem, "502") {
		t.Errorf("#1 = %q (%q), want its last good a1 with the problem", p.HeadSHA, p.Problem)
	}
	if p := got[2]; p.HeadSHA != "b2" {
		t.Errorf("#2 = %q, want b2", p.HeadSHA)
	}
	if _, ok := got[3]; ok {
		t.Error("#3 is listed though its image state is unknown")
	}
}

// Repositories without a gate are served as before, without a request.
func TestImageGatingOnlyGatedRepositories(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, "a1")}
	im := newImages()
	s := New(l, Config{Images: im, ImageGates: map[string]ImageGate{"acme/frontend": buildImage}})
	res, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatal(err)
	}
	if p := byNumber(res)[1]; p.HeadSHA != "a1" || p.ImageStatus != "" {
		t.Errorf("#1 = %q %q, want the head, ungated", p.HeadSHA, p.ImageStatus)
	}
	if a := im.takeAsked(); len(a) != 0 {
		t.Errorf("asked %v for an ungated repository", a)
	}
}

// gatedStore is a store over srv with a fresh client (a new replica or a
// restart), gating acme/backend on the check run build-image and posting
// image statuses.
func gatedStore(t *testing.T, srv *githubtest.Server) *Store {
	t.Helper()
	c, err := github.New(github.Config{BaseURL: srv.URL(), Token: "t0ken", HTTPClient: srv.Client(), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st := &ImageStatuses{Client: c, IsForbidden: func(err error) bool {
		return errors.Is(err, github.ErrForbidden) || errors.Is(err, github.ErrNotFound)
	}}
	return New(c, Config{Images: GitHubImages{Client: c}, ImageGates: map[string]ImageGate{backend.Key(): buildImage}, OnImages: st.Report})
}

// TestNoReadyImageNoEntryOnePendingStatus: a PR none of whose commits has a
// ready image gets no entry, and its head exactly one pending status, over
// refreshes, restarts and a second replica; once the image is ready it
// is listed and the status turns to success, once.
func TestNoReadyImageNoEntryOnePendingStatus(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	const head = "1111111111111111111111111111111111111111"
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: head, Labels: []string{"preview"}})
	run := srv.AddCheckRun("acme/backend", head, "build-image", "queued", "")
	ctx := context.Background()
	for replica := range 3 {
		if replica == 1 {
			srv.UpdateCheckRun("acme/backend", run, "in_progress", "") // the same state for the PR: no new post
		}
		s := gatedStore(t, srv)
		for range 3 {
			res, err := s.Get(ctx, []pr.Repo{backend}, "preview")
			if err != nil {
				t.Fatal(err)
			}
			if len(res.All()) != 0 {
				t.Fatalf("replica %d: listed %v, want nothing until an image is ready", replica, numbers(res))
			}
			if err := s.SyncAll(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := srv.Count(githubtest.RouteStatusCreate, 201); got != 1 {
		t.Errorf("status posts = %d, want exactly 1", got)
	}
	sts := srv.Statuses("acme/backend", head)
	if len(sts) != 1 || sts[0].State != "pending" || sts[0].Context != "preview" || sts[0].Description != "Waiting for check build-image: no commit of the pull request has a built image yet" {
		t.Errorf("statuses = %+v", sts)
	}

	// The check fails: one failure status.
	s := gatedStore(t, srv)
	if err := s.Watch(backend, "preview"); err != nil {
		t.Fatal(err)
	}
	srv.UpdateCheckRun("acme/backend", run, "completed", "failure")
	for range 2 {
		if err := s.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sts = srv.Statuses("acme/backend", head)
	if len(sts) != 2 || sts[1].State != "failure" || !strings.Contains(sts[1].Description, "check build-image failed (failure)") {
		t.Errorf("statuses = %+v, want a failure second", sts)
	}

	// A rerun succeeds: listed, and the status turns to success once.
	srv.AddCheckRun("acme/backend", head, "build-image", "completed", "success")
	for range 2 {
		if err := s.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Get(ctx, []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatal(err)
	}
	if p := byNumber(res)[1]; p.HeadSHA != head || p.ImageStatus != "ready" {
		t.Errorf("#1 = %q %q, want the head, ready", p.HeadSHA, p.ImageStatus)
	}
	sts = srv.Statuses("acme/backend", head)
	if len(sts) != 3 || sts[2].State != "success" {
		t.Errorf("statuses = %+v, want success third", sts)
	}
}

// Without the permission to post statuses, ImageStatuses tries once and
// leaves the repository alone.
func TestImageStatusWithoutPermission(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	for i := 1; i <= 3; i++ {
		srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: i, HeadSHA: fmt.Sprintf("%040d", i), Labels: []string{"preview"}})
	}
	srv.Fail(githubtest.Failure{Kind: githubtest.ErrorStatus, Status: 403, Route: githubtest.RouteStatusCreate})
	s := gatedStore(t, srv)
	ctx := context.Background()
	for range 3 {
		if err := s.SyncAll(ctx); err != nil && !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, []pr.Repo{backend}, "preview"); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Count(githubtest.RouteStatusCreate, 0); got != 1 {
		t.Errorf("status posts = %d, want 1 (then the repository is left alone)", got)
	}
}
