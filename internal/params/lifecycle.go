package params

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// The lifecycle parameter keys: part of every answer. See the README's
// lifecycle section for the policy they carry.
const (
	// KeyState is "awake" or "sleeping".
	KeyState = "state"
	// KeyReplicas is the replica count of the app's Deployments: "1"
	// awake, "0" asleep. The ApplicationSets template it into
	// spec.source.kustomize.replicas.
	KeyReplicas = "replicas"
	// KeySleepsAt is when the preview falls asleep without further
	// activity (RFC 3339), or "" when it never will before it expires.
	KeySleepsAt = "sleeps_at"
	// KeyPinned is "true" when the PR carries the pin label.
	KeyPinned = "pinned"
	// KeyExtendedUntil is the expiry a "/preview extend" comment asked
	// for, as capped (RFC 3339), or "" without one.
	KeyExtendedUntil = "extended_until"
	// KeyExtensionNote says why the newest "/preview extend" comment was
	// refused or capped (pr.PullRequest.CommandNote), for people; "".
	KeyExtensionNote = "extension_note"
)

// Values of state.
const (
	StateAwake    = "awake"
	StateSleeping = "sleeping"
)

// DefaultPinLabel is the label that pins a preview when the input
// parameter pinLabel does not name another.
const DefaultPinLabel = "preview:pin"

// Lifecycle holds the lifecycle knobs of Options beyond the TTL.
type Lifecycle struct {
	// MaxTTL caps a pinned or extended preview's life after its last
	// activity, and every expiry after now. Below TTL (or 0) it counts as
	// TTL.
	MaxTTL time.Duration
	// SleepAfter is the idle time after which a preview sleeps (its app
	// scaled to zero); 0 never.
	SleepAfter time.Duration
	// PinLabel pins a preview; empty means DefaultPinLabel.
	PinLabel string
}

// MaxLife is the longest life after the last activity o allows: the
// larger of TTL and MaxTTL.
func MaxLife(o Options) time.Duration {
	return max(o.TTL, o.Lifecycle.MaxTTL)
}

// PinLabel is the label that pins a preview under o.
func PinLabel(o Options) string {
	if o.Lifecycle.PinLabel == "" {
		return DefaultPinLabel
	}
	return o.Lifecycle.PinLabel
}

// Pinned reports whether p carries o's pin label.
func Pinned(p pr.PullRequest, o Options) bool {
	return p.HasLabel(PinLabel(o))
}

// ExtendedUntil is the expiry p's extension asks for, capped: the
// comment's creation time (no later than o.Now) plus the duration asked
// for, at most MaxLife. Zero without an extension.
func ExtendedUntil(p pr.PullRequest, o Options) time.Time {
	e := p.Extension
	if e == nil || e.For <= 0 || e.At.IsZero() {
		return time.Time{}
	}
	at := e.At.UTC()
	if !o.Now.IsZero() && at.After(o.Now) {
		at = o.Now.UTC()
	}
	return at.Add(min(e.For, MaxLife(o)))
}

// ExpiresAt is when p's preview expires under o:
//
//   - LastActivity + TTL;
//   - pinned (or its comments unknown, see pr.PullRequest.ExtensionUnknown,
//     or not read yet when LastActivity + TTL has passed, see
//     pr.PullRequest.ExtensionUnchecked): LastActivity + MaxLife;
//   - extended: the later of that and ExtendedUntil;
//   - never after o.Now + MaxLife.
func ExpiresAt(p pr.PullRequest, o Options) time.Time {
	last := LastActivity(p, o)
	exp := last.Add(o.TTL)
	unread := p.ExtensionUnchecked && !o.Now.IsZero() && !o.Now.Before(exp)
	if Pinned(p, o) || p.ExtensionUnknown || unread {
		exp = last.Add(MaxLife(o))
	}
	if eu := ExtendedUntil(p, o); eu.After(exp) {
		exp = eu
	}
	if !o.Now.IsZero() {
		if limit := o.Now.UTC().Add(MaxLife(o)); exp.After(limit) {
			exp = limit
		}
	}
	return exp
}

// SleepsAt is when p's preview falls asleep without further activity:
// LastActivity + SleepAfter. Zero when sleep is off, or when that is not
// before the expiry (a preview never sleeps into its expiry).
func SleepsAt(p pr.PullRequest, o Options) time.Time {
	if o.Lifecycle.SleepAfter <= 0 {
		return time.Time{}
	}
	s := LastActivity(p, o).Add(o.Lifecycle.SleepAfter)
	if !s.Before(ExpiresAt(p, o)) {
		return time.Time{}
	}
	return s
}

// Asleep reports whether p's preview sleeps at o.Now: o.Now ≥ SleepsAt.
// (An expired preview is not listed at all; see Decide.)
func Asleep(p pr.PullRequest, o Options) bool {
	s := SleepsAt(p, o)
	return !s.IsZero() && !o.Now.Before(s)
}

// NextChange is the earliest instant after o.Now at which p's answer
// changes by the clock alone: it falls asleep or expires.
func NextChange(p pr.PullRequest, o Options) time.Time {
	exp := ExpiresAt(p, o)
	if s := SleepsAt(p, o); !s.IsZero() && s.After(o.Now) && s.Before(exp) {
		return s
	}
	return exp
}

// addLifecycle sets the lifecycle keys of p's map m.
func addLifecycle(m map[string]string, p pr.PullRequest, o Options) {
	state, replicas := StateAwake, "1"
	if Asleep(p, o) {
		state, replicas = StateSleeping, "0"
	}
	m[KeyState] = state
	m[KeyReplicas] = replicas
	m[KeySleepsAt] = formatTime(SleepsAt(p, o))
	m[KeyPinned] = strconv.FormatBool(Pinned(p, o))
	m[KeyExtendedUntil] = formatTime(ExtendedUntil(p, o))
	m[KeyExtensionNote] = p.CommandNote
}

// formatTime is RFC 3339 in UTC, or "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// CommandPrefix starts every lifecycle command in a PR comment.
const CommandPrefix = "/preview"

// The verbs of lifecycle commands.
const (
	// VerbExtend: "/preview extend <duration>" moves the expiry.
	VerbExtend = "extend"
	// VerbWake: "/preview wake" wakes a sleeping preview (as any comment
	// does: it is activity); the dashboard's wake button posts it.
	VerbWake = "wake"
)

// MaxExtension bounds the duration a command may name before MaxLife
// caps it: larger numbers are refused as nonsense, not capped.
const MaxExtension = 10 * 365 * 24 * time.Hour

// Command is a lifecycle command read from a PR comment.
type Command struct {
	// Verb is VerbExtend or VerbWake.
	Verb string
	// Duration is what "/preview extend" asks for.
	Duration time.Duration
}

// ErrNoCommand means a comment holds no "/preview" command.
var ErrNoCommand = errors.New("no /preview command")

// maxCommandScan bounds the bytes of a comment searched for a command.
const maxCommandScan = 64 << 10

// ParseCommand reads the lifecycle command of a PR comment: the first
// line, outside fenced code blocks and quotes, whose first word is
// "/preview". It returns ErrNoCommand when there is none, and an error
// saying what is wrong (for people: it ends up on a commit status) when
// that line is no valid command. Anyone can write a comment: the parser
// bounds what it reads and never panics.
func ParseCommand(body string) (Command, error) {
	if len(body) > maxCommandScan {
		body = body[:maxCommandScan]
	}
	fenced := false
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "```") || strings.HasPrefix(line, "~~~") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 || !strings.EqualFold(f[0], CommandPrefix) {
			continue
		}
		return parseCommandFields(f[1:])
	}
	return Command{}, ErrNoCommand
}

func parseCommandFields(f []string) (Command, error) {
	if len(f) == 0 {
		return Command{}, fmt.Errorf("%s needs a command: %s <duration> or %s", CommandPrefix, VerbExtend, VerbWake)
	}
	verb := strings.ToLower(f[0])
	switch verb {
	case VerbWake:
		if len(f) > 1 {
			return Command{}, fmt.Errorf("%s %s takes no argument", CommandPrefix, VerbWake)
		}
		return Command{Verb: VerbWake}, nil
	case VerbExtend:
		if len(f) != 2 {
			return Command{}, fmt.Errorf("%s %s takes one duration, like 24h or 3d", CommandPrefix, VerbExtend)
		}
		d, err := ParseExtension(f[1])
		if err != nil {
			return Command{}, err
		}
		return Command{Verb: VerbExtend, Duration: d}, nil
	}
	return Command{}, fmt.Errorf("%s %s: unknown command (known: %s <duration>, %s)", CommandPrefix, clip(f[0], 32), VerbExtend, VerbWake)
}

// ParseExtension parses the duration of "/preview extend": a Go duration
// (24h, 90m, 1h30m) or a number of days (3d). It must be positive and at
// most MaxExtension.
func ParseExtension(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration like 24h, 90m or 3d", clip(s, 32))
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		days, err := strconv.Atoi(n)
		if err != nil || days > int(MaxExtension/(24*time.Hour)) {
			return 0, fmt.Errorf("%q is longer than %s", clip(s, 32), FormatDuration(MaxExtension))
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	switch {
	case d <= 0:
		return 0, fmt.Errorf("%q must be positive", clip(s, 32))
	case d > MaxExtension:
		return 0, fmt.Errorf("%q is longer than %s", clip(s, 32), FormatDuration(MaxExtension))
	}
	return d, nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// CanExtend reports whether a GitHub repository permission allows
// "/preview extend": write, maintain or admin. permission is the
// collaborator permission endpoint's role_name or permission.
func CanExtend(permission string) bool {
	switch strings.ToLower(permission) {
	case "write", "maintain", "admin":
		return true
	}
	return false
}
