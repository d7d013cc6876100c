package prfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/examples"
	"github.com/preview-generator/preview-generator/internal/pr"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func TestParseDemo(t *testing.T) {
	t.Parallel()
	prs, err := Parse(examples.PullRequests, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(prs) != 6 {
		t.Fatalf("demo has %d PRs, want 6", len(prs))
	}
	p := prs[0]
	if p.Repo.String() != "acme/backend" || p.Number != 1 || p.HeadBranch != "feature/login" || p.BaseBranch != "main" {
		t.Errorf("first PR = %+v", p)
	}
	if want := now.Add(-time.Hour); !p.UpdatedAt.Equal(want) {
		t.Errorf("UpdatedAt = %v, want %v", p.UpdatedAt, want)
	}
	if want := now.Add(-30 * time.Hour); !p.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v", p.CreatedAt, want)
	}
	if p.IsFork() || !prs[2].IsFork() || !prs[1].Draft || !prs[3].AuthorIsBot {
		t.Error("fork, draft or bot flags not read")
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc, want string }{
		{"unknown field", "pullRequests:\n  - repository: a/b\n    numbr: 1\n", "line 3: field numbr not found"},
		{"bad repo", "pullRequests:\n  - repository: ab\n    number: 1\n    headSHA: abcdef1\n", "pullRequests[0]: repository"},
		{"bad number", "pullRequests:\n  - repository: a/b\n    number: 0\n    headSHA: abcdef1\n", "pullRequests[0]: number"},
		{"bad sha", "pullRequests:\n  - repository: a/b\n    number: 1\n    headSHA: xyz\n", "pullRequests[0]: headSHA"},
		{"bad time", "pullRequests:\n  - repository: a/b\n    number: 1\n    headSHA: abcdef1\n    updated: yesterday\n", "updated: \"yesterday\""},
		{"old activity fields are gone", "pullRequests:\n  - repository: a/b\n    number: 1\n    headSHA: abcdef1\n    headCommitted: 2h\n", "field headCommitted not found"},
		{"empty file", "", "is empty"},
		{"only a comment", "# nothing yet\n", "is empty"},
		{"no pullRequests key", "pullRequest: []\n", "field pullRequest not found"},
		{"null pullRequests", "pullRequests:\n", "no pullRequests key"},
		{"duplicate", "pullRequests:\n  - {repository: a/b, number: 1, headSHA: abcdef1}\n  - {repository: A/B, number: 1, headSHA: abcdef1}\n", "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestFileSourceRereads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "prs.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("pullRequests:\n  - {repository: a/b, number: 1, headSHA: abcdef1}\n  - {repository: c/d, number: 2, headSHA: abcdef1}\n")
	s := NewFile(path)
	repos, err := s.Repos()
	if err != nil || len(repos) != 2 {
		t.Fatalf("Repos = %v, %v", repos, err)
	}
	got, err := s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"})
	if err != nil || len(got) != 1 || got[0].Number != 1 {
		t.Fatalf("List a/b = %v, %v", got, err)
	}
	write("pullRequests: []\n")
	got, err = s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("after edit List a/b = %#v, %v; want empty, non-nil", got, err)
	}
	write("pullRequests: [")
	if _, err := s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"}); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("broken file: err = %v, want an error naming %s", err, path)
	}
}

func TestRelativeTimesHoldBetweenReads(t *testing.T) {
	t.Parallel()
	clock := now
	s := NewBytes([]byte("pullRequests:\n  - {repository: a/b, number: 1, headSHA: abcdef1, updated: 2h}\n"))
	s.now = func() time.Time { return clock }
	first, err := s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	second, err := s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !first[0].UpdatedAt.Equal(now.Add(-2*time.Hour)) || !second[0].UpdatedAt.Equal(first[0].UpdatedAt) {
		t.Errorf("activity time moved between reads of the same content: %v then %v", first[0].UpdatedAt, second[0].UpdatedAt)
	}
}

// TestEmptyAnswerOnlyWhenSaid: a file that is empty, lost its key or is
// being written never gives an empty list; `pullRequests: []` does.
func TestEmptyAnswerOnlyWhenSaid(t *testing.T) {
	t.Parallel()
	repo := pr.Repo{Owner: "a", Name: "b"}
	for _, doc := range []string{"", "\n", "# editing\n", "pullRequests:\n", "pullRequests: ["} {
		path := filepath.Join(t.TempDir(), "prs.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := NewFile(path).ListOpenPullRequests(context.Background(), repo); err == nil {
			t.Errorf("file %q: List = %v, nil; want an error", doc, got)
		}
	}
	path := filepath.Join(t.TempDir(), "prs.yaml")
	if err := os.WriteFile(path, []byte("pullRequests: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := NewFile(path).ListOpenPullRequests(context.Background(), repo)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("pullRequests: [] gives %#v, %v; want empty, non-nil", got, err)
	}
}

// TestHalfWrittenFileIsNotRead writes a file in two steps, the first a
// valid prefix listing one of two pull requests, and lists while the write
// is in progress: the listing waits for the file to settle and sees both.
func TestHalfWrittenFileIsNotRead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "prs.yaml")
	full := "pullRequests:\n  - {repository: a/b, number: 1, headSHA: abcdef1}\n  - {repository: a/b, number: 2, headSHA: abcdef2}\n"
	half := full[:strings.Index(full, "  - {repository: a/b, number: 2")]
	if err := os.WriteFile(path, []byte(half), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(Quiet / 2)
		if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
			t.Error(err)
		}
	}()
	got, err := NewFile(path).ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"})
	<-done
	if err != nil || len(got) != 2 {
		t.Fatalf("listing during a write = %v, %v; want both pull requests", got, err)
	}
}

func TestGetPullRequest(t *testing.T) {
	t.Parallel()
	s := NewBytes([]byte("pullRequests:\n  - {repository: a/b, number: 1, headSHA: abcdef1}\n"))
	repo := pr.Repo{Owner: "a", Name: "b"}
	if p, open, err := s.GetPullRequest(context.Background(), repo, 1); err != nil || !open || p.Number != 1 {
		t.Errorf("#1 = %v, %v, %v; want open", p.Number, open, err)
	}
	if _, open, err := s.GetPullRequest(context.Background(), repo, 2); err != nil || open {
		t.Errorf("#2 = %v, %v; want closed (not listed)", open, err)
	}
}
