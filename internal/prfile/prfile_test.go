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
	if want := now.Add(-2 * time.Hour); !p.HeadCommittedAt.Equal(want) {
		t.Errorf("HeadCommittedAt = %v, want %v", p.HeadCommittedAt, want)
	}
	if want := now.Add(-time.Hour); !p.LabelAppliedAt("preview").Equal(want) {
		t.Errorf("labeled = %v, want %v", p.LabelAppliedAt("preview"), want)
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
		{"bad time", "pullRequests:\n  - repository: a/b\n    number: 1\n    headSHA: abcdef1\n    headCommitted: yesterday\n", "headCommitted: \"yesterday\""},
		{"bad label time", "pullRequests:\n  - repository: a/b\n    number: 1\n    headSHA: abcdef1\n    labeled: {preview: soon}\n", "labeled.preview"},
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
	got, err := s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"}, nil)
	if err != nil || len(got) != 1 || got[0].Number != 1 {
		t.Fatalf("List a/b = %v, %v", got, err)
	}
	write("pullRequests: []\n")
	got, err = s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"}, nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("after edit List a/b = %#v, %v; want empty, non-nil", got, err)
	}
	write("pullRequests: [")
	if _, err := s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"}, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("broken file: err = %v, want an error naming %s", err, path)
	}
}

func TestRelativeTimesHoldBetweenReads(t *testing.T) {
	t.Parallel()
	clock := now
	s := NewBytes([]byte("pullRequests:\n  - {repository: a/b, number: 1, headSHA: abcdef1, headCommitted: 2h}\n"))
	s.now = func() time.Time { return clock }
	first, err := s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	second, err := s.ListOpenPullRequests(context.Background(), pr.Repo{Owner: "a", Name: "b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first[0].HeadCommittedAt.Equal(now.Add(-2*time.Hour)) || !second[0].HeadCommittedAt.Equal(first[0].HeadCommittedAt) {
		t.Errorf("head commit time moved between reads of the same content: %v then %v", first[0].HeadCommittedAt, second[0].HeadCommittedAt)
	}
}
