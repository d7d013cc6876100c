// Package params turns open pull requests into the flat parameter maps that
// Argo CD's plugin generator hands to an ApplicationSet template. It is pure:
// no I/O, no clock of its own (the caller passes Now), so the same inputs give
// the same answer on every replica and every poll.
package params

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Parameter keys. Every value is a string so templates work with and without
// goTemplate. docs/contract.md and the README document each key.
const (
	KeyName           = "name"
	KeyNamespace      = "namespace"
	KeyRepository     = "repository"
	KeyOwner          = "owner"
	KeyRepo           = "repo"
	KeyNumber         = "number"
	KeyBranch         = "branch"
	KeyBranchSlug     = "branch_slug"
	KeyTargetBranch   = "target_branch"
	KeyHeadSHA        = "head_sha"
	KeyHeadShortSHA   = "head_short_sha"
	KeyAuthor         = "author"
	KeyTitle          = "title"
	KeyLabels         = "labels"
	KeyImage          = "image"
	KeyHost           = "host"
	KeyURL            = "url"
	KeyPRURL          = "pr_url"
	KeyTTL            = "ttl"
	KeyLastActivityAt = "last_activity_at"
	KeyExpiresAt      = "expires_at"
	KeyDBEnabled      = "db_enabled"
	// KeyDBPersistentEnabled switches kustomize/components/persistent-db:
	// the database on a PersistentVolumeClaim instead of an emptyDir.
	KeyDBPersistentEnabled = "db_persistent_enabled"
	KeyBasicAuthEnabled    = "basic_auth_enabled"
	KeyRedisEnabled        = "redis_enabled"
	KeyMongoDBEnabled      = "mongodb_enabled"
	KeySeedVersion         = "seed_version"
	KeyMigrateCommand      = "migrate_command"
	KeySizeProfile         = "size_profile"
	KeyPendingSHA          = "pending_sha"
	KeyImageStatus         = "image_status"
	KeyImageDetail         = "image_detail"

	// Keys the overlay config brings; see Extend and deps.go.
	// They are not part of For's map: Extend adds them.
	KeyConfigError     = "config_error"
	KeyEnv             = "env"
	KeyDependencies    = "dependencies"
	KeyDependencyNames = "dependency_names"
)

// ShortSHALen is the length of head_short_sha, as git's default abbreviation.
const ShortSHALen = 7

// Options are the knobs of one parameter computation: the ApplicationSet's
// input parameters merged over the server's defaults.
type Options struct {
	// Label selects the PRs that get a preview (case-insensitive).
	Label string
	// TTL is how long a preview lives after its last activity.
	TTL time.Duration
	// Domain is the DNS zone under which each preview gets a host.
	Domain string
	// Registry and ImageTemplate make the image reference; see ExpandImage.
	Registry      string
	ImageTemplate string
	// IncludeDrafts, IncludeForks and ExcludeBots are the policy switches.
	IncludeDrafts bool
	IncludeForks  bool
	ExcludeBots   bool
	// Switches and values passed through for the GitOps layout.
	Database bool
	// PersistentDatabase keeps the database on a claim across pods.
	PersistentDatabase bool
	BasicAuth          bool
	Redis              bool
	MongoDB            bool
	SeedVersion        string
	MigrateCommand     string
	SizeProfile        string
	// SchedulingProfile names a SchedulingProfile of the server config
	// ("" for none); see AddScheduling. For does not use it.
	SchedulingProfile string
	// Dependencies are the services this preview talks to and the preview
	// (or staging) each should point at, sorted by Name; see
	// ResolveDependencies. For does not use them; Extend does.
	Dependencies []DependencyRef
	// Env holds extra, non-secret environment variables for the app (from
	// .preview.yaml). For does not use them; Extend does.
	Env map[string]string
	// MaxPreviews caps the live previews of each repository (input
	// maxPreviews; 0: no cap). The fair queue (internal/queue) applies
	// it; For and Extend do not use it.
	MaxPreviews int
	// Now is the instant the answer is computed for.
	Now time.Time
	// Lifecycle holds pin, extension and sleep; see lifecycle.go.
	Lifecycle Lifecycle
}

// Exclusion says why a PR has no preview.
type Exclusion string

// The reasons a PR can be left out.
const (
	ExcludedNoLabel Exclusion = "no-label"
	ExcludedDraft   Exclusion = "draft"
	ExcludedFork    Exclusion = "fork"
	ExcludedBot     Exclusion = "bot"
	ExcludedExpired Exclusion = "expired"
)

// Decide reports whether p gets a preview under o, and if not, why. The
// checks run in a fixed order so the reason is deterministic.
func Decide(p pr.PullRequest, o Options) (bool, Exclusion) {
	switch {
	case !p.HasLabel(o.Label):
		return false, ExcludedNoLabel
	case p.Draft && !o.IncludeDrafts:
		return false, ExcludedDraft
	case p.IsFork() && !o.IncludeForks:
		return false, ExcludedFork
	case p.AuthorIsBot && o.ExcludeBots:
		return false, ExcludedBot
	case !o.Now.Before(ExpiresAt(p, o)):
		return false, ExcludedExpired
	}
	return true, ""
}

// LastActivity is the PR's last activity as GitHub's clock saw it: its
// UpdatedAt, which a push, a label applied, a comment, a review or an edit
// moves (a label applied is always at or before it, so it needs no
// separate read). Nothing the PR's author writes into a commit counts: a
// committer date may be anything. If UpdatedAt is unknown (zero) the PR's
// creation time stands in, so a preview never expires at the epoch. A time
// after o.Now (a clock ahead of ours) counts as o.Now, so
// ExpiresAt ≤ Now + TTL for every input.
func LastActivity(p pr.PullRequest, o Options) time.Time {
	t := p.UpdatedAt
	if t.IsZero() {
		t = p.CreatedAt
	}
	if !o.Now.IsZero() && t.After(o.Now) {
		t = o.Now
	}
	return t.UTC()
}

// For returns the parameter map of one PR, without applying the policy.
func For(p pr.PullRequest, o Options) (map[string]string, error) {
	name := PreviewName(p.Repo.Owner, p.Repo.Name, p.Number)
	short := p.HeadSHA
	if len(short) > ShortSHALen {
		short = short[:ShortSHALen]
	}
	number := strconv.Itoa(p.Number)
	vars := map[string]string{
		"owner":          strings.ToLower(p.Repo.Owner),
		"repo":           strings.ToLower(p.Repo.Name),
		"number":         number,
		"head_sha":       p.HeadSHA,
		"head_short_sha": short,
		"branch_slug":    BranchSlug(p.HeadBranch),
		"name":           name,
	}
	vars["registry"] = expand(o.Registry, vars)
	image, err := ExpandImage(o.ImageTemplate, vars)
	if err != nil {
		return nil, err
	}
	host := name
	if o.Domain != "" {
		host = name + "." + o.Domain
	}
	labels := append([]string(nil), p.Labels...)
	sort.Strings(labels)
	last := LastActivity(p, o)
	prURL := p.HTMLURL
	if prURL == "" {
		prURL = fmt.Sprintf("https://github.com/%s/pull/%d", p.Repo, p.Number)
	}
	m := map[string]string{
		KeyName:                name,
		KeyNamespace:           name,
		KeyRepository:          p.Repo.String(),
		KeyOwner:               p.Repo.Owner,
		KeyRepo:                p.Repo.Name,
		KeyNumber:              number,
		KeyBranch:              p.HeadBranch,
		KeyBranchSlug:          vars["branch_slug"],
		KeyTargetBranch:        p.BaseBranch,
		KeyHeadSHA:             p.HeadSHA,
		KeyHeadShortSHA:        short,
		KeyAuthor:              p.Author,
		KeyTitle:               p.Title,
		KeyLabels:              strings.Join(labels, ","),
		KeyImage:               image,
		KeyHost:                host,
		KeyURL:                 "https://" + host,
		KeyPRURL:               prURL,
		KeyTTL:                 FormatDuration(o.TTL),
		KeyLastActivityAt:      last.Format(time.RFC3339),
		KeyExpiresAt:           ExpiresAt(p, o).Format(time.RFC3339),
		KeyDBEnabled:           strconv.FormatBool(o.Database),
		KeyDBPersistentEnabled: strconv.FormatBool(o.PersistentDatabase),
		KeyBasicAuthEnabled:    strconv.FormatBool(o.BasicAuth),
		KeyRedisEnabled:        strconv.FormatBool(o.Redis),
		KeyMongoDBEnabled:      strconv.FormatBool(o.MongoDB),
		KeySeedVersion:         o.SeedVersion,
		KeyMigrateCommand:      o.MigrateCommand,
		KeySizeProfile:         o.SizeProfile,
		KeyPendingSHA:          p.PendingSHA,
		KeyImageStatus:         imageStatus(p),
		KeyImageDetail:         p.ImageDetail,
	}
	addLifecycle(m, p, o)
	return m, nil
}

// Values of image_status.
const (
	// ImageUngated: the repository has no image gate; head_sha is the head.
	ImageUngated = "ungated"
	// ImageReady: the head's image is ready; head_sha is the head.
	ImageReady = "ready"
	// ImagePending: the head's image is being built; head_sha is the
	// newest earlier commit whose image is ready, pending_sha the head.
	ImagePending = "pending"
	// ImageFailed: the head's image check failed; head_sha as for pending.
	ImageFailed = "failed"
)

// imageStatus is p's image_status: ungated when the source says nothing.
func imageStatus(p pr.PullRequest) string {
	if p.ImageStatus == "" {
		return ImageUngated
	}
	return p.ImageStatus
}

// ImageVars are the placeholders an image template may use.
var ImageVars = []string{"registry", "owner", "repo", "number", "head_sha", "head_short_sha", "branch_slug", "name"}

// ExpandImage substitutes {placeholder}s in tmpl from vars. An unknown or
// unclosed placeholder is an error naming it, so a typo in an ApplicationSet
// is reported instead of deploying a wrong image.
func ExpandImage(tmpl string, vars map[string]string) (string, error) {
	if err := CheckTemplate(tmpl); err != nil {
		return "", err
	}
	return expand(tmpl, vars), nil
}

// CheckTemplate validates the placeholders of an image or registry template.
func CheckTemplate(tmpl string) error {
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			if strings.IndexByte(rest, '}') >= 0 {
				return fmt.Errorf("template %q: unmatched '}'", tmpl)
			}
			return nil
		}
		if strings.IndexByte(rest[:i], '}') >= 0 {
			return fmt.Errorf("template %q: unmatched '}'", tmpl)
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("template %q: unclosed '{'", tmpl)
		}
		key := rest[i+1 : i+j]
		if !known(key) {
			return fmt.Errorf("template %q: unknown placeholder {%s} (known: %s)", tmpl, key, strings.Join(ImageVars, ", "))
		}
		rest = rest[i+j+1:]
	}
}

func known(key string) bool {
	for _, k := range ImageVars {
		if k == key {
			return true
		}
	}
	return false
}

// expand replaces every {key} of vars in s; it assumes s passed CheckTemplate.
func expand(s string, vars map[string]string) string {
	if strings.IndexByte(s, '{') < 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(vars[s[i+1:i+j]])
		s = s[i+j+1:]
	}
}

// FormatDuration prints d compactly: 72h, 90m, 1h30m, 45s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
