package overlay

import (
	"reflect"
	"strings"
	"testing"

	"github.com/preview-generator/preview-generator/internal/params"
)

func TestParseConfigJira(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want params.Jira
	}{
		{"absent", "version: 1", params.Jira{}},
		{"site and projects", "jira:\n  baseURL: https://acme.atlassian.net\n  projects: [ABC, OPS]",
			params.Jira{BaseURL: "https://acme.atlassian.net", Projects: []string{"ABC", "OPS"}}},
		{"trailing slash dropped, context path kept", "jira:\n  baseURL: http://jira.internal:8080/jira/",
			params.Jira{BaseURL: "http://jira.internal:8080/jira"}},
		{"projects only", "jira:\n  projects: [MY_PROJ2]", params.Jira{Projects: []string{"MY_PROJ2"}}},
		{"empty section", "jira: {}", params.Jira{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig("c.yaml", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Jira, tc.want) {
				t.Errorf("jira = %+v, want %+v", c.Jira, tc.want)
			}
		})
	}
}

func TestParseConfigJiraInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"unknown field", "jira:\n  url: https://acme.atlassian.net",
			`c.yaml: line 2: jira.url: unknown field (known: baseURL, projects)`},
		{"not a mapping", "jira: https://acme.atlassian.net",
			`c.yaml: line 1: jira:`},
		{"relative URL", "jira:\n  baseURL: acme.atlassian.net",
			`c.yaml: line 2: jira.baseURL: "acme.atlassian.net" is not an absolute http(s) URL`},
		{"other scheme", "jira:\n  baseURL: ftp://acme.atlassian.net",
			`c.yaml: line 2: jira.baseURL: "ftp://acme.atlassian.net" is not an absolute http(s) URL`},
		{"credentials", "version: 1\njira:\n  baseURL: https://me:token@acme.atlassian.net",
			`c.yaml: line 3: jira.baseURL: "https://me:token@acme.atlassian.net" carries credentials; this file is not secret`},
		{"query", "jira:\n  baseURL: https://acme.atlassian.net/?x=1",
			`c.yaml: line 2: jira.baseURL: "https://acme.atlassian.net/?x=1" has a query or fragment`},
		{"fragment", "jira:\n  baseURL: https://acme.atlassian.net#x",
			`c.yaml: line 2: jira.baseURL: "https://acme.atlassian.net#x" has a query or fragment`},
		{"space", "jira:\n  baseURL: \"https://acme.atlassian.net/a b\"",
			`c.yaml: line 2: jira.baseURL: "https://acme.atlassian.net/a b" contains spaces, control characters or '|'`},
		{"pipe", "jira:\n  baseURL: https://acme.atlassian.net/a|b",
			`c.yaml: line 2: jira.baseURL: "https://acme.atlassian.net/a|b" contains spaces, control characters or '|'`},
		{"not a string", "jira:\n  baseURL: [x]", `c.yaml: line 2: jira.baseURL:`},
		{"projects not a list", "jira:\n  projects: ABC",
			`c.yaml: line 2: jira.projects: want a list of Jira project keys, got`},
		{"projects empty", "jira:\n  projects: []",
			`c.yaml: line 2: jira.projects: must list at least one project key (leave it out to accept any)`},
		{"lower-case project", "jira:\n  projects:\n    - ABC\n    - ops",
			`c.yaml: line 4: jira.projects[1]: "ops" is not a Jira project key`},
		{"one-letter project", "jira:\n  projects: [A]",
			`c.yaml: line 2: jira.projects[0]: "A" is not a Jira project key`},
		{"project twice", "jira:\n  projects:\n    - ABC\n    - ABC",
			`c.yaml: line 4: jira.projects[1]: "ABC" is listed twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig("c.yaml", []byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to start with %q", err, tc.want)
			}
		})
	}
}
