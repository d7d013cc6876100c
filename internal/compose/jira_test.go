package compose

import (
	"testing"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// TestJiraParams: every preview carries jira_issue and jira_url, from its
// branch name first, then its title, under the server config's jira
// section; a .preview.yaml cannot change them.
func TestJiraParams(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	site := params.Jira{BaseURL: "https://acme.atlassian.net", Projects: []string{"ABC", "OPS"}}
	tests := []struct {
		name          string
		jira          params.Jira
		branch, title string
		overlay       string
		issue, url    string
	}{
		{"branch", site, "feature/ABC-12-login", "OPS-3 login", "", "ABC-12", "https://acme.atlassian.net/browse/ABC-12"},
		{"title", site, "feature/login", "OPS-3 login", "", "OPS-3", "https://acme.atlassian.net/browse/OPS-3"},
		{"project not configured", site, "NOPE-1", "Login", "", "", ""},
		{"no jira section", params.Jira{}, "ABC-12", "", "", "ABC-12", ""},
		{"no key", site, "feature", "Login", "", "", ""},
		{"overlay config applied, keys unchanged", site, "ABC-12", "", "ttl: 24h\n", "ABC-12", "https://acme.atlassian.net/browse/ABC-12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := cfg
			oc := *cfg.Overlay
			oc.Jira = tc.jira
			c.Overlay = &oc
			p := mkPR(backend, 7, "aaaaaaa1", tc.overlay)
			p.HeadBranch, p.Title = tc.branch, tc.title
			m := only(t)(Compose([]pr.PullRequest{p}, nil, o, c, NewCache(), now))
			got, ok := m[params.KeyJiraIssue]
			if !ok || got != tc.issue {
				t.Errorf("jira_issue = %q (present: %v), want %q", got, ok, tc.issue)
			}
			got, ok = m[params.KeyJiraURL]
			if !ok || got != tc.url {
				t.Errorf("jira_url = %q (present: %v), want %q", got, ok, tc.url)
			}
		})
	}
}
