package params

import (
	"strings"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Jira parameter keys. Every answer carries both; they are "" when the pull
// request names no issue (jira_url also when no Jira.BaseURL is set).
const (
	// KeyJiraIssue is the Jira issue key the PR names, e.g. "ABC-123".
	KeyJiraIssue = "jira_issue"
	// KeyJiraURL is <Jira.BaseURL>/browse/<jira_issue>.
	KeyJiraURL = "jira_url"
)

// Bounds of a Jira issue key. Jira itself limits project keys to 10
// characters by default (Jira Data Center lets an administrator raise it);
// MaxJiraProjectKey leaves room for that. Issue numbers are positive.
const (
	// MaxJiraProjectKey is the longest project key recognised.
	MaxJiraProjectKey = 64
	// MaxJiraIssueDigits is the longest issue number recognised.
	MaxJiraIssueDigits = 12
	// MaxJiraScan is how many bytes of a branch name or title are searched:
	// both are author-controlled text, and GitHub caps a PR title at 256
	// characters and git's refs are rarely longer.
	MaxJiraScan = 4096
)

// Jira is the server config's jira section.
type Jira struct {
	// BaseURL is the Jira site, e.g. https://acme.atlassian.net, without a
	// trailing slash; "" leaves jira_url empty.
	BaseURL string
	// Projects restricts the recognised keys to these project keys; nil or
	// empty: any project key.
	Projects []string
}

// JiraParams returns the Jira parameters of p under j: the issue key from
// the head branch's name or, when it names none, from the PR's title (see
// JiraIssue), and its browse URL.
func JiraParams(p pr.PullRequest, j Jira) map[string]string {
	key := JiraIssue(p.HeadBranch, j.Projects)
	if key == "" {
		key = JiraIssue(p.Title, j.Projects)
	}
	return map[string]string{KeyJiraIssue: key, KeyJiraURL: JiraURL(j.BaseURL, key)}
}

// AddJira sets jira_issue and jira_url of p under j in m.
func AddJira(m map[string]string, p pr.PullRequest, j Jira) {
	for k, v := range JiraParams(p, j) {
		m[k] = v
	}
}

// JiraURL is base + "/browse/" + key, or "" when either is empty.
func JiraURL(base, key string) string {
	if base == "" || key == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/browse/" + key
}

// ValidJiraProjectKey reports whether s is a Jira project key as JiraIssue
// recognises it: an upper-case letter, then 1 to MaxJiraProjectKey-1
// upper-case letters, digits or '_'.
func ValidJiraProjectKey(s string) bool {
	if len(s) < 2 || len(s) > MaxJiraProjectKey || !isUpper(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isKeyChar(s[i]) {
			return false
		}
	}
	return true
}

// JiraIssue returns the first Jira issue key in s, "" if none. A key is a
// project key (ValidJiraProjectKey; in projects, when projects is not
// empty), '-', and an issue number without a leading zero, standing on its
// own: neither preceded nor followed by an ASCII letter or digit. So
// "feature/ABC-123-login" and "ABC-123: fix login" name ABC-123, while
// "abc-123", "xABC-123", "ABC-0123" and "ABC-123x" name none. Only the first
// MaxJiraScan bytes are read, and the scan is linear in them: no
// backtracking, whatever the text.
func JiraIssue(s string, projects []string) string {
	return jiraIssue(s, projects, nil)
}

// jiraIssue is JiraIssue; it adds the bytes it examines to *steps when
// steps is not nil, for the test that the scan is linear.
func jiraIssue(s string, projects []string, steps *int) string {
	step := func(n int) {
		if steps != nil {
			*steps += n
		}
	}
	if len(s) > MaxJiraScan {
		s = s[:MaxJiraScan]
	}
	for i := 0; i < len(s); {
		step(1)
		// A run of key characters that starts a word.
		if !isUpper(s[i]) || (i > 0 && isAlnum(s[i-1])) {
			i++
			continue
		}
		end := i + 1
		for end < len(s) && isKeyChar(s[end]) {
			end++
		}
		step(end - i)
		if num, ok := issueNumber(s, end); ok {
			step(len(num) + 1)
			// Candidate project keys are the suffixes of s[i:end] that
			// start with an upper-case letter at a word start; the
			// leftmost one allowed wins. Only the last MaxJiraProjectKey
			// bytes can start one, which keeps the scan linear.
			from := max(i, end-MaxJiraProjectKey)
			for k := from; k < end-1; k++ {
				if k != i && (!isUpper(s[k]) || isAlnum(s[k-1])) {
					continue
				}
				step(end - k)
				if project := s[k:end]; allowed(project, projects) {
					return project + "-" + num
				}
			}
		}
		i = end
	}
	return ""
}

// issueNumber reads "-<digits>" at s[at:], digits without a leading zero,
// at most MaxJiraIssueDigits of them, not followed by a letter or digit.
func issueNumber(s string, at int) (string, bool) {
	if at >= len(s) || s[at] != '-' {
		return "", false
	}
	start := at + 1
	end := start
	for end < len(s) && isDigit(s[end]) {
		end++
	}
	if end == start || s[start] == '0' || end-start > MaxJiraIssueDigits || (end < len(s) && isAlnum(s[end])) {
		return "", false
	}
	return s[start:end], true
}

func allowed(project string, projects []string) bool {
	if !ValidJiraProjectKey(project) {
		return false
	}
	if len(projects) == 0 {
		return true
	}
	for _, p := range projects {
		if p == project {
			return true
		}
	}
	return false
}

func isUpper(c byte) bool   { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool   { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool   { return isUpper(c) || isDigit(c) || ('a' <= c && c <= 'z') }
func isKeyChar(c byte) bool { return isUpper(c) || isDigit(c) || c == '_' }
