package githubtest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The routes of lifecycle commands: deleting a comment, and a user's
// permission on a repository.
const (
	RouteIssueCommentDelete = "issues.comments.delete"
	RoutePermission         = "repos.collaborators.permission"
)

const docsPermission = "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user"

// AddComment adds a comment by author on pull request number of repo,
// created (and last updated) at at, and returns its ID. As on GitHub, it
// moves the pull request's updated_at.
func (s *Server) AddComment(repo string, number int, author, body string, at time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	r := s.repoLocked(repo, false)
	at = at.UTC().Truncate(time.Second)
	s.nextID++
	c := &IssueComment{ID: 4000000 + s.nextID, Number: number, Body: body, Author: author, CreatedAt: at, UpdatedAt: at}
	r.comments = append(r.comments, c)
	p.comments++
	p.touch(at)
	return c.ID
}

// EditComment changes the body of comment id of repo at at: its
// updated_at moves, its created_at stays. Editing a comment does not move
// the pull request's updated_at. It reports whether the comment exists.
func (s *Server) EditComment(repo string, id int64, body string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, false)
	if r == nil {
		return false
	}
	for _, c := range r.comments {
		if c.ID == id {
			c.Body, c.UpdatedAt = body, at.UTC().Truncate(time.Second)
			c.Edits++
			return true
		}
	}
	return false
}

// DeleteComment deletes comment id of repo, as its author or a
// maintainer would; the pull request's updated_at does not move. It
// reports whether the comment existed.
func (s *Server) DeleteComment(repo string, id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, false)
	return r != nil && r.deleteComment(id)
}

func (r *repoState) deleteComment(id int64) bool {
	i := slices.IndexFunc(r.comments, func(c *IssueComment) bool { return c.ID == id })
	if i < 0 {
		return false
	}
	r.comments = slices.Delete(r.comments, i, i+1)
	return true
}

// SetPermission gives user the role ("admin", "maintain", "write",
// "triage", "read" or "none") on repo. A user without one has "read", as
// anyone on a public repository; "" makes GitHub not know the user (404).
func (s *Server) SetPermission(repo, user, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, true)
	if r.perms == nil {
		r.perms = map[string]string{}
	}
	r.perms[strings.ToLower(user)] = role
}

// deleteIssueComment answers "Delete an issue comment": 204, or 404.
func (s *Server) deleteIssueComment(r *http.Request, _ renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || !repo.deleteComment(id) {
		return errorBody(http.StatusNotFound, "Not Found", docsComments+"#delete-an-issue-comment")
	}
	return result{status: http.StatusNoContent}
}

// legacyPermission maps a role to the permission field GitHub keeps for
// old clients: maintain is write, triage is read.
func legacyPermission(role string) string {
	switch role {
	case "maintain":
		return "write"
	case "triage":
		return "read"
	}
	return role
}

// getPermission answers "Get repository permissions for a user".
func (s *Server) getPermission(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	login := r.PathValue("username")
	role, ok := repo.perms[strings.ToLower(login)]
	switch {
	case !ok:
		role = "read"
	case role == "":
		return errorBody(http.StatusNotFound, "Not Found", docsPermission)
	}
	user := object{}
	for k, v := range rd.buildUser(login) {
		user[k] = v
	}
	user["role_name"] = role
	return result{status: http.StatusOK, body: object{
		"permission": legacyPermission(role),
		"role_name":  role,
		"user":       user,
	}}
}
