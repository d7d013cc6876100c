package params

import (
	"strings"
	"testing"

	"github.com/preview-generator/preview-generator/internal/pr"
)

func TestJiraIssue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		projects []string
		want     string
	}{
		{"branch with prefix and suffix", "feature/ABC-123-login", nil, "ABC-123"},
		{"title with colon", "ABC-123: fix login", nil, "ABC-123"},
		{"bracketed", "[OPS-7] rotate keys", nil, "OPS-7"},
		{"underscore and digits in the project", "fix/MY_PROJ2-42", nil, "MY_PROJ2-42"},
		{"at the very end", "fix login OPS-9", nil, "OPS-9"},
		{"first of two", "ABC-1 and OPS-2", nil, "ABC-1"},
		{"followed by a dash and more digits", "ABC-123-456", nil, "ABC-123"},
		{"followed by a dot", "release/ABC-12.5", nil, "ABC-12"},
		{"lower case is not a key", "feature/abc-123-login", nil, ""},
		{"mixed case is not a key", "Abc-123", nil, ""},
		{"one-letter project", "A-1", nil, ""},
		{"glued to a word before", "xABC-123", nil, ""},
		{"glued to a digit before", "9ABC-123", nil, ""},
		{"glued to a word after", "ABC-123x", nil, ""},
		{"leading zero", "ABC-0123", nil, ""},
		{"zero", "ABC-0", nil, ""},
		{"no number", "ABC-", nil, ""},
		{"no dash", "ABC123", nil, ""},
		{"too many digits", "ABC-1234567890123", nil, ""},
		{"longest number", "ABC-123456789012", nil, "ABC-123456789012"},
		{"project too long", strings.Repeat("A", MaxJiraProjectKey+1) + "-1", nil, ""},
		{"longest project", strings.Repeat("A", MaxJiraProjectKey) + "-1", nil, strings.Repeat("A", MaxJiraProjectKey) + "-1"},
		{"long run: the word start after '_' still counts", strings.Repeat("A", MaxJiraProjectKey+1) + "_OPS-1", nil, "OPS-1"},
		{"empty", "", nil, ""},
		{"unicode around", "ü/ABC-5—login", nil, "ABC-5"},
		{"restricted: allowed project", "ABC-1", []string{"ABC", "OPS"}, "ABC-1"},
		{"restricted: other project skipped for a later one", "NOPE-1 OPS-2", []string{"ABC", "OPS"}, "OPS-2"},
		{"restricted: none allowed", "NOPE-1", []string{"ABC", "OPS"}, ""},
		{"restricted: inner word start after '_'", "X_ABC-5", []string{"ABC"}, "ABC-5"},
		{"unrestricted: leftmost start wins", "X_ABC-5", nil, "X_ABC-5"},
		{"restricted: case matters", "abc-1", []string{"ABC"}, ""},
		{"utf-8 before counts as a boundary", "éABC-1", nil, "ABC-1"},
		{"past the scanned prefix", strings.Repeat(" ", MaxJiraScan) + "ABC-1", nil, ""},
		{"key cut by the scanned prefix", strings.Repeat(" ", MaxJiraScan-5) + "ABC-12", nil, "ABC-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := JiraIssue(tc.in, tc.projects); got != tc.want {
				t.Errorf("JiraIssue(%q, %v) = %q, want %q", tc.in, tc.projects, got, tc.want)
			}
		})
	}
}

func TestJiraParams(t *testing.T) {
	t.Parallel()
	site := Jira{BaseURL: "https://acme.atlassian.net"}
	tests := []struct {
		name          string
		branch, title string
		jira          Jira
		issue, url    string
	}{
		{"branch", "feature/ABC-123-login", "Login", site, "ABC-123", "https://acme.atlassian.net/browse/ABC-123"},
		{"branch before title", "ABC-1-x", "OPS-2 y", site, "ABC-1", "https://acme.atlassian.net/browse/ABC-1"},
		{"title when the branch names none", "feature/login", "OPS-2 login", site, "OPS-2", "https://acme.atlassian.net/browse/OPS-2"},
		{"branch key of another project: the title's", "NOPE-1", "OPS-2 login",
			Jira{BaseURL: site.BaseURL, Projects: []string{"ABC", "OPS"}}, "OPS-2", "https://acme.atlassian.net/browse/OPS-2"},
		{"no key", "main", "Login", site, "", ""},
		{"no site: the key without a URL", "ABC-3", "", Jira{}, "ABC-3", ""},
		{"trailing slash of the site", "ABC-3", "", Jira{BaseURL: "https://jira.example.com/jira/"}, "ABC-3", "https://jira.example.com/jira/browse/ABC-3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := pr.PullRequest{HeadBranch: tc.branch, Title: tc.title}
			m := map[string]string{KeyName: "kept"}
			AddJira(m, p, tc.jira)
			want := map[string]string{KeyName: "kept", KeyJiraIssue: tc.issue, KeyJiraURL: tc.url}
			if len(m) != len(want) {
				t.Errorf("AddJira gave %v, want %v", m, want)
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %q, want %q", k, m[k], v)
				}
			}
		})
	}
}

func TestValidJiraProjectKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"ABC": true, "OPS": true, "A1": true, "MY_PROJ": true, strings.Repeat("A", MaxJiraProjectKey): true,
		"": false, "A": false, "abc": false, "1AB": false, "_AB": false, "AB-": false, "ÄB": false,
		strings.Repeat("A", MaxJiraProjectKey+1): false,
	} {
		if got := ValidJiraProjectKey(in); got != want {
			t.Errorf("ValidJiraProjectKey(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestJiraIssueLinear: the scan examines a bounded number of bytes per
// input byte, whatever the text (runs of key characters, word starts after
// '_', candidate keys the project list refuses), and reads no more than
// MaxJiraScan bytes of it. A backtracking or quadratic scan of the longest
// inputs here would examine millions.
func TestJiraIssueLinear(t *testing.T) {
	t.Parallel()
	const perByte = 2 * MaxJiraProjectKey
	for _, unit := range []string{"A", "_A", "A_", "AB-1 ", "_AB-1", "A-", "-1", "AB_-1_", "A_B_C_D-1 "} {
		for _, projects := range [][]string{nil, {"ZZ"}} {
			s := strings.Repeat(unit, 2*MaxJiraScan/len(unit))
			steps := 0
			jiraIssue(s, projects, &steps)
			if limit := perByte * MaxJiraScan; steps > limit {
				t.Errorf("unit %q, projects %v: %d bytes examined for %d scanned, want at most %d", unit, projects, steps, MaxJiraScan, limit)
			}
		}
	}
	long := strings.Repeat("A_", 40) + "A-1 "
	steps := 0
	if got := jiraIssue(strings.Repeat(long, 100), []string{"ZZ"}, &steps); got != "" || steps > perByte*len(long)*100 {
		t.Errorf("refused candidates: %q, %d bytes examined", got, steps)
	}
}

// FuzzJiraIssue: for any branch name or title, the key found is a key
// (project, '-', number), it occurs in the scanned text standing on its
// own, it belongs to the allowed projects, and the scan is deterministic.
func FuzzJiraIssue(f *testing.F) {
	f.Add("feature/ABC-123-login", "ABC")
	f.Add("X_ABC-5 OPS-1", "OPS")
	f.Add("[OPS-7] rotate", "")
	f.Add(strings.Repeat("_A", 100)+"-1", "A")
	f.Fuzz(func(t *testing.T, s, project string) {
		var projects []string
		if project != "" {
			projects = []string{project}
		}
		got := JiraIssue(s, projects)
		if got != JiraIssue(s, projects) {
			t.Fatal("JiraIssue is not deterministic")
		}
		if got == "" {
			return
		}
		key, num, ok := strings.Cut(got, "-")
		if !ok || !ValidJiraProjectKey(key) || num == "" || num[0] == '0' || len(num) > MaxJiraIssueDigits || strings.Trim(num, "0123456789") != "" {
			t.Fatalf("JiraIssue(%q) = %q is not a Jira issue key", s, got)
		}
		if projects != nil && key != project {
			t.Fatalf("JiraIssue(%q, %v) = %q: project not allowed", s, projects, got)
		}
		scanned := s[:min(len(s), MaxJiraScan)]
		found := false
		for i := strings.Index(scanned, got); i >= 0 && !found; {
			end := i + len(got)
			found = (i == 0 || !isAlnum(scanned[i-1])) && (end == len(scanned) || !isAlnum(scanned[end]))
			next := strings.Index(scanned[i+1:], got)
			if next < 0 {
				break
			}
			i += 1 + next
		}
		if !found {
			t.Fatalf("JiraIssue(%q) = %q does not stand on its own in the text", s, got)
		}
		p := JiraParams(pr.PullRequest{HeadBranch: s}, Jira{BaseURL: "https://jira.example.com", Projects: projects})
		if p[KeyJiraIssue] != got || p[KeyJiraURL] != "https://jira.example.com/browse/"+got {
			t.Fatalf("JiraParams = %v, want %s", p, got)
		}
	})
}
