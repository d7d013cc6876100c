package overlay

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/preview-generator/preview-generator/internal/params"
)

// jira decodes the server config's jira section:
//
//	jira:
//	  baseURL: https://acme.atlassian.net   # jira_url = <baseURL>/browse/<key>
//	  projects: [ABC, OPS]                  # only these project keys count
//
// Both fields are optional. baseURL is an absolute http(s) URL without
// credentials, query or fragment; a trailing '/' is dropped.
func (d *decoder) jira(p pair) params.Jira {
	var j params.Jira
	d.fields(p.v, p.path, map[string]func(pair){
		"baseURL": func(q pair) {
			s, ok := d.str(q.v, q.path)
			if !ok {
				return
			}
			u, err := url.Parse(s)
			switch {
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "":
				d.fail(q.v, q.path, "%q is not an absolute http(s) URL", s)
			case u.User != nil:
				d.fail(q.v, q.path, "%q carries credentials; this file is not secret", s)
			case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#"):
				d.fail(q.v, q.path, "%q has a query or fragment; give the site's base URL (https://<site>.atlassian.net)", s)
			case strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '|' }):
				// '|' separates title and URL in Argo CD's link annotations.
				d.fail(q.v, q.path, "%q contains spaces, control characters or '|'", s)
			default:
				j.BaseURL = strings.TrimRight(s, "/")
			}
		},
		"projects": func(q pair) { j.Projects = d.jiraProjects(q) },
	})
	return j
}

// jiraProjects decodes a non-empty list of distinct Jira project keys.
func (d *decoder) jiraProjects(p pair) []string {
	if p.v.Kind != yaml.SequenceNode {
		d.fail(p.v, p.path, "want a list of Jira project keys, got %s", kind(p.v))
		return nil
	}
	if len(p.v.Content) == 0 {
		d.fail(p.v, p.path, "must list at least one project key (leave it out to accept any)")
		return nil
	}
	var out []string
	for i, n := range p.v.Content {
		at := fmt.Sprintf("%s[%d]", p.path, i)
		s, ok := d.str(n, at)
		if !ok {
			continue
		}
		if !params.ValidJiraProjectKey(s) {
			d.fail(n, at, "%q is not a Jira project key (an upper-case letter, then 1 to %d upper-case letters, digits or '_')", s, params.MaxJiraProjectKey-1)
			continue
		}
		if slices.Contains(out, s) {
			d.fail(n, at, "%q is listed twice", s)
			continue
		}
		out = append(out, s)
	}
	return out
}
