// Package dashboard is the page people read: the previews the generator
// lists for Argo CD (live and sleeping), the pull requests waiting for a
// slot, and the previews that recently left the answer, with their
// expiry, dependencies, cost and links, as server-rendered HTML (GET /)
// and JSON (GET /api/v1/previews). A sleeping preview has a wake button
// that posts a "/preview wake" comment on its pull request.
//
// The dashboard decides nothing: it reads the parameter maps of the
// answers the server gives Argo CD through Source, and remembers (in
// memory, bounded, for display only) the previews that left them. When
// the data cannot be read it says so; it never shows an empty list for an
// unknown one.
package dashboard

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Parameter keys the dashboard reads. The first group is
// internal/params'; the lifecycle, queue, cost and Jira keys may be
// absent from an answer (a generator without those features), and every
// reader here takes "" as "not known".
const (
	keyName           = "name"
	keyNamespace      = "namespace"
	keyRepository     = "repository"
	keyNumber         = "number"
	keyTitle          = "title"
	keyAuthor         = "author"
	keyURL            = "url"
	keyPRURL          = "pr_url"
	keyHeadShortSHA   = "head_short_sha"
	keyLastActivityAt = "last_activity_at"
	keyExpiresAt      = "expires_at"
	keyConfigError    = "config_error"
	keyImageStatus    = "image_status"
	keyDependencies   = "dependencies"

	keyState         = "state"
	keySleepsAt      = "sleeps_at"
	keyPinned        = "pinned"
	keyExtendedUntil = "extended_until"
	keyCostPerHour   = "cost_per_hour"
	keyCostCurrency  = "cost_currency"
	keyJiraIssue     = "jira_issue"
	keyJiraURL       = "jira_url"
)

// The states a preview is shown in.
const (
	// StateLive is a listed preview that is not asleep (the answer's
	// state is "awake", or absent).
	StateLive = "live"
	// StateSleeping is a listed preview scaled to zero (state "sleeping").
	StateSleeping = "sleeping"
	// StateQueued is a pull request waiting for a slot: not listed.
	StateQueued = "queued"
	// StateExpired is a preview that left the answer once its expiry had
	// passed.
	StateExpired = "expired"
	// StateRemoved is a preview that left the answer before its expiry:
	// its pull request was closed or unlabelled, or stopped qualifying.
	StateRemoved = "removed"
)

// Source gives the dashboard what the generator answers now.
type Source interface {
	// Previews returns the current snapshot. An error means nothing can be
	// read at all; a snapshot that knows only part says which part in
	// Unavailable.
	Previews(ctx context.Context) (Snapshot, error)
}

// Snapshot is what the generator answers now, over every ApplicationSet
// it has answered recently.
type Snapshot struct {
	// Answered names the ApplicationSets whose answer is in Previews,
	// complete. An ApplicationSet that is in neither Answered nor
	// Unavailable is not known at all (none asked since the process
	// started); with both empty, nothing is known.
	Answered []string
	// Unavailable names the ApplicationSets whose answer cannot be read
	// now, with the reason: their previews are missing from Previews.
	Unavailable []Unavailable
	// Previews are the listed (live and sleeping) and queued previews of
	// the Answered ApplicationSets.
	Previews []Preview
	// Stale are the repositories served from their last good listing
	// because GitHub refreshes fail; StaleAsOf is the oldest such listing.
	Stale     []string
	StaleAsOf time.Time
}

// Known reports whether the snapshot knows anything: some ApplicationSet
// answered or failed.
func (s Snapshot) Known() bool { return len(s.Answered) > 0 || len(s.Unavailable) > 0 }

// Complete reports whether every ApplicationSet the snapshot knows of
// answered: only then does an empty Previews mean "no previews".
func (s Snapshot) Complete() bool { return len(s.Answered) > 0 && len(s.Unavailable) == 0 }

// Unavailable is an ApplicationSet whose answer cannot be read now.
type Unavailable struct {
	ApplicationSet string `json:"application_set"`
	Reason         string `json:"reason"`
}

// Preview is one row of the dashboard. Strings the answer did not carry
// are empty, times zero.
type Preview struct {
	// ApplicationSet is the ApplicationSet whose answer lists it.
	ApplicationSet string
	Name           string
	Namespace      string
	Repository     string
	Number         int
	Title          string
	Author         string
	URL            string
	PRURL          string
	HeadShortSHA   string
	// State is one of the State constants.
	State string
	// CreatedAt is the pull request's creation (zero when unknown): the
	// age of the totals.
	CreatedAt      time.Time
	LastActivityAt time.Time
	ExpiresAt      time.Time
	SleepsAt       time.Time
	ExtendedUntil  time.Time
	Pinned         bool
	// CostPerHour is the estimate as the answer wrote it (a decimal
	// string), CostCurrency its currency; both empty when not estimated.
	CostPerHour  string
	CostCurrency string
	Dependencies []Dependency
	JiraIssue    string
	JiraURL      string
	ConfigError  string
	ImageStatus  string
	// Queue is set for a queued pull request.
	Queue *Queue
	// LeftAt is when a recently gone preview was first seen missing.
	LeftAt time.Time
}

// Queue is a queued pull request's place.
type Queue struct {
	Position int    `json:"position"`
	Of       int    `json:"of"`
	Reason   string `json:"reason"`
}

// Dependency is one dependency of a preview and where it points.
type Dependency struct {
	Name      string `json:"name"`
	Target    string `json:"target"`
	Requested string `json:"requested"`
	URL       string `json:"url"`
	PublicURL string `json:"public_url"`
	Reason    string `json:"reason"`
}

// FromParams reads one parameter map of an answer of applicationSet.
// Unknown or malformed values are left empty (zero); a malformed
// dependencies list becomes one entry that says so.
func FromParams(applicationSet string, m map[string]string) Preview {
	p := Preview{
		ApplicationSet: applicationSet,
		Name:           m[keyName],
		Namespace:      m[keyNamespace],
		Repository:     m[keyRepository],
		Title:          m[keyTitle],
		Author:         m[keyAuthor],
		URL:            m[keyURL],
		PRURL:          m[keyPRURL],
		HeadShortSHA:   m[keyHeadShortSHA],
		State:          StateLive,
		LastActivityAt: parseTime(m[keyLastActivityAt]),
		ExpiresAt:      parseTime(m[keyExpiresAt]),
		SleepsAt:       parseTime(m[keySleepsAt]),
		ExtendedUntil:  parseTime(m[keyExtendedUntil]),
		Pinned:         m[keyPinned] == "true",
		CostCurrency:   m[keyCostCurrency],
		JiraIssue:      m[keyJiraIssue],
		JiraURL:        m[keyJiraURL],
		ConfigError:    m[keyConfigError],
		ImageStatus:    m[keyImageStatus],
	}
	if n, err := strconv.Atoi(m[keyNumber]); err == nil && n > 0 {
		p.Number = n
	}
	if strings.EqualFold(m[keyState], "sleeping") {
		p.State = StateSleeping
	}
	if _, ok := parseCost(m[keyCostPerHour]); ok {
		p.CostPerHour = m[keyCostPerHour]
	}
	if raw := m[keyDependencies]; raw != "" && raw != "[]" {
		if err := json.Unmarshal([]byte(raw), &p.Dependencies); err != nil {
			p.Dependencies = []Dependency{{Name: "?", Reason: "the dependencies parameter cannot be read: " + err.Error()}}
		}
	}
	return p
}

// parseTime reads an RFC 3339 time; "" or a malformed one is zero.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// parseCost reads a non-negative, finite decimal cost.
func parseCost(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e12 || f != f {
		return 0, false
	}
	return f, true
}

// key identifies a preview across snapshots.
func (p Preview) key() string { return p.ApplicationSet + "\x00" + p.Name }
