package githubtest

import (
	"net/http"
	"testing"
	"time"
)

func TestCommentsEditsDeletionAndPermissions(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "1111111111111111111111111111111111111111"})
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	id := s.AddComment("acme/backend", 1, "alice", "/preview extend 24h", at)
	if p := s.OpenPRs("acme/backend")[0]; !p.UpdatedAt.Equal(at) {
		t.Errorf("a comment did not move updated_at: %v", p.UpdatedAt)
	}
	c := ghClient(t, s, "")
	list, _, err := c.Issues.ListComments(ctx, "acme", "backend", 1, nil)
	if err != nil || len(list) != 1 || list[0].GetUser().GetLogin() != "alice" || !list[0].GetCreatedAt().Time.Equal(at) {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if !s.EditComment("acme/backend", id, "/preview extend 48h", at.Add(time.Hour)) {
		t.Fatal("EditComment: not found")
	}
	list, _, _ = c.Issues.ListComments(ctx, "acme", "backend", 1, nil)
	if list[0].GetBody() != "/preview extend 48h" || !list[0].GetCreatedAt().Time.Equal(at) || !list[0].GetUpdatedAt().Time.Equal(at.Add(time.Hour)) {
		t.Errorf("after the edit: %+v", list[0])
	}
	if p := s.OpenPRs("acme/backend")[0]; !p.UpdatedAt.Equal(at) {
		t.Errorf("an edit moved updated_at: %v", p.UpdatedAt)
	}
	resp, err := c.Issues.DeleteComment(ctx, "acme", "backend", id)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE = %v, %v", resp, err)
	}
	if resp, err := c.Issues.DeleteComment(ctx, "acme", "backend", id); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE = %v, %v; want 404", resp, err)
	}
	if n := len(s.IssueComments("acme/backend", 1)); n != 0 {
		t.Errorf("%d comments after the deletion", n)
	}

	s.SetPermission("acme/backend", "mia", "maintain")
	s.SetPermission("acme/backend", "ghost", "")
	lvl, _, err := c.Repositories.GetPermissionLevel(ctx, "acme", "backend", "mia")
	if err != nil || lvl.GetPermission() != "write" || lvl.GetUser().GetRoleName() != "maintain" || lvl.GetUser().GetLogin() != "mia" {
		t.Errorf("mia = %+v, %v; want permission write, role maintain", lvl, err)
	}
	if lvl, _, err := c.Repositories.GetPermissionLevel(ctx, "acme", "backend", "anyone"); err != nil || lvl.GetPermission() != "read" {
		t.Errorf("anyone = %+v, %v; want read", lvl, err)
	}
	if _, resp, err := c.Repositories.GetPermissionLevel(ctx, "acme", "backend", "ghost"); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("ghost: %v; want 404", err)
	}
	s.Fail(Failure{Kind: ServerError, Route: RoutePermission, Times: 1})
	if _, _, err := c.Repositories.GetPermissionLevel(ctx, "acme", "backend", "mia"); err == nil {
		t.Error("an injected failure did not fail")
	}
	if n := s.Count(RoutePermission, 0); n != 4 {
		t.Errorf("%d permission requests counted, want 4", n)
	}
	if n := s.Count(RouteIssueCommentDelete, 0); n != 2 {
		t.Errorf("%d deletions counted, want 2", n)
	}
}
