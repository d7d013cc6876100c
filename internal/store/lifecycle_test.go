package store

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// lifeNow is the store's clock in these tests: ten days after the fake's
// default PR creation times.
var lifeNow = time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)

// lifecycleStore is a store over a real GitHub client on srv that reads
// the commands of PRs idle for 60h or more, with a maximum TTL of 168h.
func lifecycleStore(t *testing.T, srv *githubtest.Server) *Store {
	t.Helper()
	c, err := github.New(github.Config{BaseURL: srv.URL(), Token: "t0ken", HTTPClient: srv.Client(), Timeout: 30 * time.Second, MaxRequestsPerMinute: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return New(c, Config{
		Now:       func() time.Time { return lifeNow },
		Lifecycle: LifecycleConfig{Comments: GitHubComments{Client: c}, Window: 60 * time.Hour, MaxTTL: 168 * time.Hour},
	})
}

func byNum(prs []pr.PullRequest) map[int]pr.PullRequest {
	out := map[int]pr.PullRequest{}
	for _, p := range prs {
		out[p.Number] = p
	}
	return out
}

// TestExtensionsFromComments: the newest valid /preview extend of a
// writer counts; readers' commands, bad durations and flood are refused
// with a note; PRs far from expiry cost nothing; edits and deletions are
// seen at the next refresh.
func TestExtensionsFromComments(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	const repo = "acme/backend"
	for n := 1; n <= 7; n++ {
		srv.OpenPR(githubtest.PullRequest{Repo: repo, Number: n, HeadSHA: fmt.Sprintf("%040x", n), Labels: []string{"preview"}})
	}
	srv.SetPermission(repo, "alice", "write")
	srv.SetPermission(repo, "mia", "maintain")
	srv.SetPermission(repo, "bob", "read")
	srv.SetPermission(repo, "ghost", "") // GitHub knows no such user
	old := lifeNow.Add(-70 * time.Hour)  // due: idle for more than 60h
	at := func(h int) time.Time { return old.Add(time.Duration(h) * time.Minute) }

	id1 := srv.AddComment(repo, 1, "alice", "Looks good.\n/preview extend 5d", at(1))
	srv.AddComment(repo, 1, "carol", "thanks", at(2)) // no command
	srv.AddComment(repo, 2, "bob", "/preview extend 5d", at(1))
	srv.AddComment(repo, 3, "alice", "/preview extend 48h", at(1))
	srv.AddComment(repo, 3, "bob", "/preview extend 7d", at(2))
	srv.AddComment(repo, 4, "mia", "/preview extend 500h", at(1))
	srv.AddComment(repo, 5, "alice", "/preview extend forever", at(1))
	srv.AddComment(repo, 5, "ghost", "/preview extend 24h", at(2))
	// #6: a command too old to matter (before now - maxTTL), and activity
	// since: it is due, but the command is not read as one.
	srv.AddComment(repo, 6, "alice", "/preview extend 7d", lifeNow.Add(-200*time.Hour))
	srv.Comment(repo, 6, old)
	// #7: recent activity, far from expiry: its comments are not read.
	srv.AddComment(repo, 7, "alice", "/preview extend 7d", lifeNow.Add(-time.Hour))

	s := lifecycleStore(t, srv)
	ctx := context.Background()
	res, err := s.Get(ctx, []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatal(err)
	}
	got := byNum(res.All())
	want := map[int]struct {
		ext  *pr.Extension
		note string
	}{
		1: {&pr.Extension{CommentID: id1, At: at(1), For: 120 * time.Hour, By: "alice"}, ""},
		2: {nil, "/preview extend by @bob refused: it needs write permission on acme/backend (@bob has read)"},
		3: {&pr.Extension{At: at(1), For: 48 * time.Hour, By: "alice"}, "/preview extend by @bob refused"},
		4: {&pr.Extension{At: at(1), For: 500 * time.Hour, By: "mia"}, "/preview extend 500h by @mia capped to 168h (the server's maximum TTL)"},
		5: {nil, "/preview extend by @ghost refused: it needs write permission on acme/backend (@ghost has none)"},
		6: {nil, ""},
		7: {nil, ""},
	}
	for n, w := range want {
		p := got[n]
		e := p.Extension
		if e != nil && w.ext != nil && w.ext.CommentID == 0 {
			e = &pr.Extension{At: e.At, For: e.For, By: e.By}
		}
		if !reflect.DeepEqual(e, w.ext) || !strings.HasPrefix(p.CommandNote, w.note) || (w.note == "") != (p.CommandNote == "") {
			t.Errorf("#%d: extension %+v note %q; want %+v %q", n, p.Extension, p.CommandNote, w.ext, w.note)
		}
		if p.ExtensionUnknown {
			t.Errorf("#%d: ExtensionUnknown", n)
		}
		// Only #7 is not due: its comments are not read, which the
		// parameters must know should a shorter TTL pass meanwhile.
		if p.ExtensionUnchecked != (n == 7) {
			t.Errorf("#%d: ExtensionUnchecked = %v, want %v", n, p.ExtensionUnchecked, n == 7)
		}
	}
	// Six PRs due (one comment page each); three distinct commenters with
	// commands that need a permission check (alice, bob, mia, ghost: 4).
	if n := srv.Count(githubtest.RouteIssueCommentsList, 0); n != 6 {
		t.Errorf("comment list requests = %d, want 6 (the due PRs)", n)
	}
	if n := srv.Count(githubtest.RoutePermission, 0); n != 4 {
		t.Errorf("permission requests = %d, want 4 (alice, bob, mia, ghost; cached per repository)", n)
	}

	// Unchanged: the due PRs cost a 304 each, permissions are cached.
	srv.ResetCounts()
	if err := s.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if all, nm := srv.Count(githubtest.RouteIssueCommentsList, 0), srv.Count(githubtest.RouteIssueCommentsList, http.StatusNotModified); all != 6 || nm != 6 {
		t.Errorf("resync: %d comment requests, %d of them 304; want 6, all 304", all, nm)
	}
	if n := srv.Count(githubtest.RoutePermission, 0); n != 0 {
		t.Errorf("resync: %d permission requests, want 0", n)
	}

	// Deleting alice's command on #1 drops the extension; editing bob's
	// on #2 into nonsense changes the note. Neither moves updated_at.
	srv.DeleteComment(repo, id1)
	for _, c := range srv.IssueComments(repo, 2) {
		srv.EditComment(repo, c.ID, "/preview extend soon", lifeNow.Add(-time.Minute))
	}
	if err := s.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	res, _ = s.Get(ctx, []pr.Repo{backend}, "preview")
	got = byNum(res.All())
	if got[1].Extension != nil {
		t.Errorf("#1 after its command was deleted: extension %+v", got[1].Extension)
	}
	if w := `command by @bob refused: "soon" is not a duration`; !strings.HasPrefix(got[2].CommandNote, w) {
		t.Errorf("#2 after the edit: note %q, want %q", got[2].CommandNote, w)
	}
}

// TestExtensionsUnreadable: a PR whose comments cannot be read keeps its
// last good extension; without one it is marked unknown (and kept, see
// params), never served as without an extension. Another replica that can
// read agrees with the first once the failure heals.
func TestExtensionsUnreadable(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	const repo = "acme/backend"
	for n := 1; n <= 2; n++ {
		srv.OpenPR(githubtest.PullRequest{Repo: repo, Number: n, HeadSHA: fmt.Sprintf("%040x", n), Labels: []string{"preview"}})
	}
	srv.SetPermission(repo, "alice", "admin")
	srv.AddComment(repo, 1, "alice", "/preview extend 7d", lifeNow.Add(-70*time.Hour))
	srv.AddComment(repo, 2, "alice", "/preview extend 7d", lifeNow.Add(-70*time.Hour))
	ctx := context.Background()

	a := lifecycleStore(t, srv)
	if _, err := a.Get(ctx, []pr.Repo{backend}, "preview"); err != nil {
		t.Fatal(err)
	}
	srv.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RouteIssueCommentsList})
	if err := a.SyncAll(ctx); err != nil {
		t.Fatalf("a failing comment read failed the refresh: %v", err)
	}
	resA, _ := a.Get(ctx, []pr.Repo{backend}, "preview")
	for _, p := range resA.All() {
		if p.Extension == nil || p.Extension.For != 7*24*time.Hour || p.ExtensionUnknown {
			t.Errorf("warm replica, #%d: extension %+v unknown %t; want the last good one", p.Number, p.Extension, p.ExtensionUnknown)
		}
	}

	b := lifecycleStore(t, srv) // a new replica, cold, while comments fail
	resB, err := b.Get(ctx, []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatalf("cold replica: %v", err)
	}
	if n := len(resB.All()); n != 2 {
		t.Fatalf("cold replica lists %d PRs, want 2", n)
	}
	for _, p := range resB.All() {
		if !p.ExtensionUnknown || p.Extension != nil {
			t.Errorf("cold replica, #%d: extension %+v unknown %t; want unknown", p.Number, p.Extension, p.ExtensionUnknown)
		}
	}

	srv.Heal()
	if err := b.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	resA, _ = a.Get(ctx, []pr.Repo{backend}, "preview")
	resB, _ = b.Get(ctx, []pr.Repo{backend}, "preview")
	if !reflect.DeepEqual(resA.All(), resB.All()) {
		t.Errorf("replicas disagree after healing:\n%+v\n%+v", resA.All(), resB.All())
	}
}

// TestLifecycleUnchangedResyncCostsNothing: with extension reading on,
// a repository whose previews are far from expiry still costs only its
// list page per refresh, a 304.
func TestLifecycleUnchangedResyncCostsNothing(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	const repo = "acme/backend"
	for n := 1; n <= 150; n++ {
		srv.OpenPR(githubtest.PullRequest{Repo: repo, Number: n, HeadSHA: fmt.Sprintf("%040x", n), Labels: []string{"preview"}})
		srv.Comment(repo, n, lifeNow.Add(-time.Hour)) // recent activity
	}
	s := lifecycleStore(t, srv)
	ctx := context.Background()
	if _, err := s.Get(ctx, []pr.Repo{backend}, "preview"); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	for range 3 {
		if err := s.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if all, nm, lists := srv.Count("", 0), srv.Count("", http.StatusNotModified), srv.Count(githubtest.RoutePullsList, 0); all != 6 || nm != 6 || lists != 6 {
		t.Errorf("3 resyncs of 2 unchanged pages: %d requests (%d list pages), %d of them 304; want 6 list pages, all 304", all, lists, nm)
	}
}
