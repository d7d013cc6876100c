package githubtest

import (
	"crypto/sha1" //nolint:gosec // git blob ids are SHA-1 by definition.
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The responses are built from the documented examples of GitHub's REST API
// (testdata/*.json), with the fields the fake models overwritten. They are
// never produced by marshalling go-github's own structs, so a test that reads
// them through go-github checks go-github's decoding as well as ours.
//
//go:embed testdata/*.json
var fixtures embed.FS

type object = map[string]any

var decoded sync.Map // fixture name -> object, never mutated

// fixture returns a fresh deep copy of the decoded testdata/name.json.
func fixture(name string) object {
	if o, ok := decoded.Load(name); ok {
		return deepCopy(o).(object)
	}
	b, err := fixtures.ReadFile("testdata/" + name + ".json")
	if err != nil {
		panic(fmt.Sprintf("githubtest: fixture %s: %v", name, err))
	}
	var o object
	if err := json.Unmarshal(b, &o); err != nil {
		panic(fmt.Sprintf("githubtest: fixture %s: %v", name, err))
	}
	decoded.Store(name, o)
	return deepCopy(o).(object)
}

// deepCopy copies a decoded JSON value.
func deepCopy(v any) any {
	switch v := v.(type) {
	case object:
		o := make(object, len(v))
		for k, e := range v {
			o[k] = deepCopy(e)
		}
		return o
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = deepCopy(e)
		}
		return a
	default:
		return v
	}
}

func timestamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// renderer knows the public base URL of the fake ("http://host/api/v3").
// Users and repositories, which never change, are encoded once and kept in
// cache (owned by the Server, used under its lock): a page of 100 pull
// requests embeds 300 users and 200 repositories.
type renderer struct {
	api   string
	cache map[string]json.RawMessage
}

func (rd renderer) cached(key string, build func() object) json.RawMessage {
	key = rd.api + " " + key
	if b, ok := rd.cache[key]; ok {
		return b
	}
	b, err := json.Marshal(build())
	if err != nil {
		panic(fmt.Sprintf("githubtest: encoding %s: %v", key, err))
	}
	if rd.cache != nil {
		rd.cache[key] = b
	}
	return b
}

func (rd renderer) user(login string) json.RawMessage {
	return rd.cached("user "+login, func() object { return rd.buildUser(login) })
}

func (rd renderer) buildUser(login string) object {
	u := fixture("simple-user")
	bot := strings.HasSuffix(login, "[bot]")
	u["login"] = login
	u["id"] = idOf(login)
	u["url"] = rd.api + "/users/" + login
	u["html_url"] = "https://github.com/" + login
	if bot {
		u["type"] = "Bot"
		u["html_url"] = "https://github.com/apps/" + strings.TrimSuffix(login, "[bot]")
	}
	return u
}

// idOf derives a stable positive id from a name.
func idOf(s string) int64 {
	h := sha1.Sum([]byte(s)) //nolint:gosec // not a security use.
	var v int64
	for _, b := range h[:6] {
		v = v<<8 | int64(b)
	}
	return v
}

func (rd renderer) repository(id int64, owner, name string, fork bool) json.RawMessage {
	return rd.cached(fmt.Sprintf("repo %d %s/%s %v", id, owner, name, fork), func() object {
		return rd.buildRepository(id, owner, name, fork)
	})
}

func (rd renderer) buildRepository(id int64, owner, name string, fork bool) object {
	r := fixture("repository")
	full := owner + "/" + name
	r["id"] = id
	r["name"] = name
	r["full_name"] = full
	r["owner"] = rd.user(owner)
	r["fork"] = fork
	r["html_url"] = "https://github.com/" + full
	r["url"] = rd.api + "/repos/" + full
	r["pulls_url"] = rd.api + "/repos/" + full + "/pulls{/number}"
	r["default_branch"] = "main"
	return r
}

func (rd renderer) label(repoFull, name string) object {
	l := fixture("label")
	l["id"] = idOf(repoFull + "#" + name)
	l["name"] = name
	l["url"] = rd.api + "/repos/" + repoFull + "/labels/" + name
	l["default"] = false
	return l
}

func (rd renderer) pull(r *repoState, p *pull) object {
	o := fixture("pull-request-simple")
	full := r.owner + "/" + r.name
	n := p.spec.Number
	apiPull := fmt.Sprintf("%s/repos/%s/pulls/%d", rd.api, full, n)
	apiIssue := fmt.Sprintf("%s/repos/%s/issues/%d", rd.api, full, n)
	html := fmt.Sprintf("https://github.com/%s/pull/%d", full, n)
	o["url"] = apiPull
	o["id"] = p.id
	o["node_id"] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("PullRequest%d", p.id)))
	o["html_url"] = html
	o["diff_url"] = html + ".diff"
	o["patch_url"] = html + ".patch"
	o["issue_url"] = apiIssue
	o["commits_url"] = apiPull + "/commits"
	o["review_comments_url"] = apiPull + "/comments"
	o["comments_url"] = apiIssue + "/comments"
	o["statuses_url"] = rd.api + "/repos/" + full + "/statuses/" + p.spec.HeadSHA
	o["number"] = n
	o["state"] = p.state
	o["locked"] = false
	o["active_lock_reason"] = nil
	o["title"] = p.spec.Title
	o["user"] = rd.user(p.authorLogin)
	labels := make([]any, 0, len(p.labels))
	for _, l := range p.labels {
		labels = append(labels, rd.label(full, l))
	}
	o["labels"] = labels
	o["created_at"] = timestamp(p.spec.CreatedAt)
	o["updated_at"] = timestamp(p.updatedAt)
	o["closed_at"] = timestamp(p.closedAt)
	o["merged_at"] = nil
	o["merge_commit_sha"] = nil
	o["draft"] = p.spec.Draft
	o["author_association"] = "CONTRIBUTOR"

	head := o["head"].(object)
	headOwner, headName := p.headOwner, p.headName
	if p.headSelf { // follows a rename of the repository
		headOwner, headName = r.owner, r.name
	}
	head["label"] = headOwner + ":" + p.spec.HeadBranch
	head["ref"] = p.spec.HeadBranch
	head["sha"] = p.spec.HeadSHA
	head["user"] = rd.user(headOwner)
	switch {
	case p.spec.DeletedFork:
		head["repo"] = nil
	case !p.headSelf:
		head["repo"] = rd.repository(idOf(headOwner+"/"+headName), headOwner, headName, true)
	default:
		head["repo"] = rd.repository(r.id, r.owner, r.name, false)
	}
	base := o["base"].(object)
	base["label"] = r.owner + ":" + p.spec.BaseBranch
	base["ref"] = p.spec.BaseBranch
	base["sha"] = fmt.Sprintf("%040x", r.id)
	base["user"] = rd.user(r.owner)
	base["repo"] = rd.repository(r.id, r.owner, r.name, false)

	links := o["_links"].(object)
	for k, v := range map[string]string{
		"self": apiPull, "html": html, "issue": apiIssue, "comments": apiIssue + "/comments",
		"review_comments": apiPull + "/comments", "commits": apiPull + "/commits",
		"statuses": rd.api + "/repos/" + full + "/statuses/" + p.spec.HeadSHA,
	} {
		links[k] = object{"href": v}
	}
	return o
}

// pullFull is a pull request as "Get a pull request" answers: the list's
// shape plus the fields only that route carries.
func (rd renderer) pullFull(r *repoState, p *pull) object {
	o := rd.pull(r, p)
	o["merged"] = false
	o["mergeable"] = nil
	o["rebaseable"] = nil
	o["mergeable_state"] = "unknown"
	o["merged_by"] = nil
	o["comments"] = p.comments
	o["review_comments"] = 0
	o["maintainer_can_modify"] = false
	o["commits"] = len(p.commits)
	o["additions"] = 0
	o["deletions"] = 0
	o["changed_files"] = 0
	return o
}

func (rd renderer) event(full string, e event) object {
	var o object
	if e.kind == "labeled" || e.kind == "unlabeled" {
		o = fixture("issue-event-labeled")
		o["label"] = object{"name": e.label, "color": "f29513"}
	} else {
		o = fixture("issue-event")
	}
	o["id"] = e.id
	o["node_id"] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("IssueEvent%d", e.id)))
	o["url"] = fmt.Sprintf("%s/repos/%s/issues/events/%d", rd.api, full, e.id)
	o["actor"] = rd.user(e.actor)
	o["event"] = e.kind
	o["created_at"] = timestamp(e.at)
	return o
}

func (rd renderer) commit(full string, c commit) object {
	o := fixture("commit")
	o["url"] = rd.api + "/repos/" + full + "/commits/" + c.sha
	o["sha"] = c.sha
	o["html_url"] = "https://github.com/" + full + "/commit/" + c.sha
	o["comments_url"] = rd.api + "/repos/" + full + "/commits/" + c.sha + "/comments"
	inner := o["commit"].(object)
	inner["url"] = rd.api + "/repos/" + full + "/git/commits/" + c.sha
	// The author date precedes the committer date, as after a rebase: a
	// client must read the committer's.
	inner["author"].(object)["date"] = timestamp(c.committedAt.Add(-time.Hour))
	inner["committer"].(object)["date"] = timestamp(c.committedAt)
	inner["author"].(object)["name"] = c.author
	o["author"] = rd.user(c.author)
	o["committer"] = rd.user("web-flow")
	return o
}

// pullCommit is one item of "List commits on a pull request": a commit
// without the stats and files that only "Get a commit" carries, whose parent
// is the previous commit of the pull request.
func (rd renderer) pullCommit(full string, c commit, parent string) object {
	o := rd.commit(full, c)
	delete(o, "stats")
	delete(o, "files")
	o["parents"] = []any{object{
		"sha":      parent,
		"url":      rd.api + "/repos/" + full + "/commits/" + parent,
		"html_url": "https://github.com/" + full + "/commit/" + parent,
	}}
	return o
}

// blobSHA is git's object id of a blob holding b.
func blobSHA(b []byte) string {
	h := sha1.New()                              //nolint:gosec // git object ids are SHA-1.
	_, _ = fmt.Fprintf(h, "blob %d\x00", len(b)) // a hash never fails to write
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// wrapBase64 encodes b as GitHub does in the contents API: standard base64
// broken into lines of 60 characters, each ending in a newline.
func wrapBase64(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(enc) > 60 {
		sb.WriteString(enc[:60])
		sb.WriteByte('\n')
		enc = enc[60:]
	}
	sb.WriteString(enc)
	sb.WriteByte('\n')
	return sb.String()
}
