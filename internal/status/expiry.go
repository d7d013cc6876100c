package status

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// ExpiryContext is the commit status context of the TTL warning.
const ExpiryContext = "preview/expiry"

// DefaultTTLWarning is how long before its expiry a preview is warned
// about (--ttl-warning).
const DefaultTTLWarning = 6 * time.Hour

// expiryTick is how often Run looks for previews to warn about.
const expiryTick = time.Minute

// Expiry posts the commit status "preview/expiry" on the head of each live
// preview:
//
//   - pending "expires at … — comment /preview extend 24h to keep it" once
//     now ≥ expires_at - warn;
//   - failure with the note when the newest "/preview extend" comment was
//     refused or capped (the extension_note parameter);
//   - success "extended until …" or "pinned: expires at …" when an
//     extension or the pin label keeps it, and "expires at …" on a head
//     it warned about before (the warning cleared by activity).
//
// A commit status does not move the pull request's activity, so the
// warning never keeps a preview alive by itself. Each status is posted
// once per head commit and description; what was posted is remembered in
// memory only, so a restarted leader posts the current one again (once).
// Only the leader should Run it. It is safe for concurrent use.
type Expiry struct {
	set  Setter
	log  *slog.Logger
	warn time.Duration
	now  func() time.Time

	mu       sync.Mutex
	previews map[string]map[string]expiryPreview // repo key → "number" → preview
	posted   map[string]string                   // repo@sha → state + description
}

type expiryPreview struct {
	repo                pr.Repo
	sha                 string
	expires, extended   time.Time
	pinned              bool
	note, url, prNumber string
}

// NewExpiry returns an Expiry posting through set, warning warn before
// expiry (DefaultTTLWarning when 0). now may be nil (time.Now).
func NewExpiry(set Setter, warn time.Duration, log *slog.Logger, now func() time.Time) *Expiry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if warn <= 0 {
		warn = DefaultTTLWarning
	}
	if now == nil {
		now = time.Now
	}
	return &Expiry{set: set, log: log, warn: warn, now: now,
		previews: map[string]map[string]expiryPreview{}, posted: map[string]string{}}
}

// Observe records the live previews of an answer for repos: it replaces
// what was known of those repositories (a preview no longer listed is
// forgotten). ps are getparams parameter maps; it does not keep them.
func (e *Expiry) Observe(repos []pr.Repo, ps []map[string]string) {
	fresh := map[string]map[string]expiryPreview{}
	for _, r := range repos {
		fresh[r.Key()] = map[string]expiryPreview{}
	}
	for _, m := range ps {
		r, err := pr.ParseRepo(m[params.KeyRepository])
		if err != nil {
			continue
		}
		exp, err := time.Parse(time.RFC3339, m[params.KeyExpiresAt])
		if err != nil {
			continue
		}
		p := expiryPreview{repo: r, sha: m[params.KeyHeadSHA], expires: exp, pinned: m[params.KeyPinned] == "true",
			note: m[params.KeyExtensionNote], url: m[params.KeyURL], prNumber: m[params.KeyNumber]}
		if head := m[params.KeyPendingSHA]; head != "" {
			p.sha = head // the PR's head, where people look
		}
		if t, err := time.Parse(time.RFC3339, m[params.KeyExtendedUntil]); err == nil {
			p.extended = t
		}
		if fresh[r.Key()] == nil {
			fresh[r.Key()] = map[string]expiryPreview{}
		}
		fresh[r.Key()][p.prNumber] = p
	}
	e.mu.Lock()
	for k, v := range fresh {
		e.previews[k] = v
	}
	e.mu.Unlock()
}

// status is what the preview's head should show at now, if anything.
func (e *Expiry) status(p expiryPreview, now time.Time) (state, desc string, ok bool) {
	at := p.expires.UTC().Format("2006-01-02 15:04 UTC")
	warned := e.postedState(p) == "pending" || e.postedState(p) == "failure"
	switch {
	case !now.Before(p.expires):
		return "", "", false // expired: no longer listed
	case p.note != "":
		return "failure", fmt.Sprintf("%s; expires at %s", p.note, at), true
	case !now.Before(p.expires.Add(-e.warn)):
		return "pending", fmt.Sprintf("expires at %s — comment /preview extend 24h to keep it", at), true
	case !p.extended.IsZero() && !p.extended.Before(p.expires):
		return "success", fmt.Sprintf("extended until %s", at), true
	case p.pinned:
		return "success", fmt.Sprintf("pinned: expires at %s", at), true
	case warned:
		return "success", fmt.Sprintf("expires at %s", at), true
	}
	return "", "", false
}

func (e *Expiry) postedState(p expiryPreview) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.posted[p.repo.Key()+"@"+p.sha]
	state, _, _ := strings.Cut(v, "\x00")
	return state
}

// Tick posts every status due at the current time, in a fixed order, and
// returns how many it posted. A failed post is logged and tried again at
// the next tick.
func (e *Expiry) Tick(ctx context.Context) int {
	now := e.now()
	e.mu.Lock()
	var list []expiryPreview
	for _, byNumber := range e.previews {
		for _, p := range byNumber {
			list = append(list, p)
		}
	}
	e.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		if a, b := list[i].repo.Key(), list[j].repo.Key(); a != b {
			return a < b
		}
		return list[i].prNumber < list[j].prNumber
	})
	n := 0
	for _, p := range list {
		state, desc, ok := e.status(p, now)
		if !ok || p.sha == "" {
			continue
		}
		key, value := p.repo.Key()+"@"+p.sha, state+"\x00"+desc
		e.mu.Lock()
		same := e.posted[key] == value
		e.mu.Unlock()
		if same {
			continue
		}
		if err := e.set.SetCommitStatus(ctx, p.repo, p.sha, state, ExpiryContext, desc, p.url); err != nil {
			e.log.Warn("posting the expiry status failed", "repo", p.repo.String(), "number", p.prNumber, "sha", p.sha, "error", err)
			continue
		}
		n++
		e.mu.Lock()
		if len(e.posted) >= maxPosted {
			clear(e.posted)
		}
		e.posted[key] = value
		e.mu.Unlock()
	}
	return n
}

// Run calls Tick every minute until ctx ends.
func (e *Expiry) Run(ctx context.Context) {
	t := time.NewTicker(expiryTick)
	defer t.Stop()
	for {
		e.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
