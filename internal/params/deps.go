package params

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Dependencies: a preview may point each service it talks to at staging
// (the default) or at the live preview of one of that service's pull
// requests. Resolution is pure: the caller passes the pull requests it knows
// and the instant; the next poll with other inputs gives the other answer,
// so a dependency flips back to staging by itself when its target preview
// dies, and follows it again when it comes back.

// ClusterDomain is the cluster DNS suffix of in-cluster URLs.
const ClusterDomain = "cluster.local"

// TargetStaging is the target that means "the service's staging".
const TargetStaging = "staging"

// Fallback reasons: why a dependency that asked for a preview points at
// staging. An error (unknown service, malformed target) is its own reason.
const (
	ReasonNotFound   = "target PR closed or not found"
	ReasonNoLabel    = "target not labelled"
	ReasonDraft      = "target is a draft"
	ReasonFork       = "target is from a fork"
	ReasonBot        = "target author is a bot"
	ReasonExpired    = "target expired"
	ReasonNotAllowed = "target not allowed"
	// ReasonQueued: the target waits in the fair queue (internal/queue),
	// so it has no Application.
	ReasonQueued = "target waits in the preview queue"
)

// Fields of a dependency: the flat key dep_<key>_<field> and the member of
// each object of the dependencies JSON list.
const (
	DepTarget    = "target"
	DepRequested = "requested"
	DepURL       = "url"
	DepPublicURL = "public_url"
	DepNamespace = "namespace"
	DepReason    = "reason"
	DepPorts     = "ports"
)

// DefaultTargetPort is the container port of a preview's app when the
// catalog names none: the port of kustomize/base's app container.
const DefaultTargetPort = 8080

// MaxConfigError bounds the config_error value (bytes).
const MaxConfigError = 2048

// serviceName is the alphabet of service names in the catalog: lower-case
// letters, digits and hyphens, starting with a letter, ending alphanumeric.
var serviceName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$`)

// ValidServiceName reports whether name may name a service in the catalog:
// 1 to 32 characters of [a-z0-9-], starting with a letter and ending with a
// letter or digit. Such a name maps one to one onto a parameter key (see
// DepKey) and an environment variable prefix (see DepEnvName).
func ValidServiceName(name string) bool { return serviceName.MatchString(name) }

// DepKey returns the key part of a service name: hyphens become
// underscores, so "payments-api" gives dep_payments_api_url. Catalog names
// never contain an underscore, so distinct names give distinct keys.
func DepKey(name string) string { return strings.ReplaceAll(name, "-", "_") }

// DepParam returns the flat parameter key dep_<DepKey(name)>_<field>.
func DepParam(name, field string) string { return "dep_" + DepKey(name) + "_" + field }

// DepEnvName returns the environment variable prefix of a service: the key
// in upper case ("payments-api" → "PAYMENTS_API"); the app reads
// PAYMENTS_API_URL.
func DepEnvName(name string) string { return strings.ToUpper(DepKey(name)) }

// Service is one entry of the service catalog: a service other previews
// may depend on, where its previews come from and where its staging is.
type Service struct {
	// Name is the dependency name used in .preview.yaml (ValidServiceName).
	Name string
	// Repo is the repository whose pull requests preview the service.
	Repo pr.Repo
	// ServiceName and Port are the Kubernetes Service of the app in a
	// preview namespace; TargetPort is the port its pods listen on (the
	// Service's targetPort), which a NetworkPolicy sees. Zero means
	// DefaultTargetPort.
	ServiceName string
	Port        int
	TargetPort  int
	// StagingURL is what the app uses to reach staging (ideally in-cluster);
	// StagingPublicURL is staging's public URL (StagingURL when empty).
	StagingURL       string
	StagingPublicURL string
	// StagingNamespace is where staging runs (for NetworkPolicy egress).
	StagingNamespace string
	// StagingPorts are the ports staging's pods listen on: the only ports
	// a preview's egress to StagingNamespace opens. Empty means the port
	// of StagingURL (explicit, else 80 for http and 443 for https); see
	// StagingPortList.
	StagingPorts []int
}

// PreviewPort returns the port a preview's app pods listen on.
func (s Service) PreviewPort() int {
	if s.TargetPort == 0 {
		return DefaultTargetPort
	}
	return s.TargetPort
}

// StagingPortList returns the ports to open towards staging: StagingPorts,
// or else the port of StagingURL; nil when neither gives one.
func (s Service) StagingPortList() []int {
	if len(s.StagingPorts) > 0 {
		return slices.Clone(s.StagingPorts)
	}
	if p := URLPort(s.StagingURL); p != 0 {
		return []int{p}
	}
	return nil
}

// URLPort returns the port an http or https URL connects to: its explicit
// port, else 80 or 443 by scheme; 0 when raw is not such a URL.
func URLPort(raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		return 0
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return 0
		}
		return n
	}
	switch u.Scheme {
	case "http":
		return 80
	case "https":
		return 443
	}
	return 0
}

// Catalog maps a service name to its Service.
type Catalog map[string]Service

// Names returns the service names, sorted.
func (c Catalog) Names() []string {
	out := make([]string, 0, len(c))
	for n := range c {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DependencyRef is one requested dependency, as written.
type DependencyRef struct {
	// Name is the service name, looked up in the Catalog.
	Name string
	// Target is "staging", "pr-<n>" or "<owner>/<repo>#<n>".
	Target string
	// Where locates the request for error messages, e.g.
	// `.preview.yaml: line 4: dependencies.payments`. Empty means
	// "dependencies.<name>".
	Where string
}

func (r DependencyRef) where() string {
	if r.Where != "" {
		return r.Where
	}
	return "dependencies." + r.Name
}

// Target is a parsed dependency target.
type Target struct {
	// Staging is true for "staging"; Repo and Number are then zero.
	Staging bool
	// Repo is the repository of "<owner>/<repo>#<n>"; zero for "pr-<n>",
	// which means a pull request of the service's own catalog repository.
	Repo   pr.Repo
	Number int
}

// String returns the target as written canonically.
func (t Target) String() string {
	switch {
	case t.Staging:
		return TargetStaging
	case t.Repo == (pr.Repo{}):
		return "pr-" + strconv.Itoa(t.Number)
	default:
		return t.Repo.String() + "#" + strconv.Itoa(t.Number)
	}
}

var (
	targetShort = regexp.MustCompile(`^pr-([1-9][0-9]{0,9})$`)
	targetFull  = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})#([1-9][0-9]{0,9})$`)
)

// ErrMalformedTarget is wrapped by ParseTarget's errors.
var ErrMalformedTarget = errors.New("is not staging, pr-<n> or <owner>/<repo>#<n>")

// ParseTarget parses "staging", "pr-<n>" or "<owner>/<repo>#<n>" (n a
// positive number without leading zeros). Nothing else is accepted: no
// surrounding space, no upper-case "Staging".
func ParseTarget(s string) (Target, error) {
	if s == TargetStaging {
		return Target{Staging: true}, nil
	}
	var num string
	var t Target
	if m := targetShort.FindStringSubmatch(s); m != nil {
		num = m[1]
	} else if m := targetFull.FindStringSubmatch(s); m != nil && m[2] != "." && m[2] != ".." {
		t.Repo, num = pr.Repo{Owner: m[1], Name: m[2]}, m[3]
	} else {
		return Target{}, fmt.Errorf("%q %w", s, ErrMalformedTarget)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n > 1<<31-1 {
		return Target{}, fmt.Errorf("%q: pull request number out of range: %w", s, ErrMalformedTarget)
	}
	t.Number = n
	return t, nil
}

// Candidate is a pull request a dependency may point at, with the options
// its own preview is decided under (its ApplicationSet's label, TTL and
// policy, and its domain). Its preview is live when Decide accepts it.
type Candidate struct {
	PR      pr.PullRequest
	Options Options
	// Queued marks a PR the fair queue keeps waiting: eligible, but not
	// listed, so never a live target.
	Queued bool
}

// Candidates pairs every PR of prs with o.
func Candidates(prs []pr.PullRequest, o Options) []Candidate {
	out := make([]Candidate, len(prs))
	for i, p := range prs {
		out[i] = Candidate{PR: p, Options: o}
	}
	return out
}

// Previews indexes candidates by repository and number. Build it once per
// answer with NewPreviews; it is read-only afterwards.
type Previews struct {
	by map[string][]Candidate
}

func prKey(r pr.Repo, n int) string { return r.Key() + "#" + strconv.Itoa(n) }

// NewPreviews indexes cands. A PR may appear more than once (for example
// under two ApplicationSets); it is live if any of its candidates is.
func NewPreviews(cands []Candidate) *Previews {
	p := &Previews{by: make(map[string][]Candidate, len(cands))}
	for _, c := range cands {
		k := prKey(c.PR.Repo, c.PR.Number)
		p.by[k] = append(p.by[k], c)
	}
	return p
}

// lookup returns the live candidate for repo#n, or the reason there is none.
func (p *Previews) lookup(repo pr.Repo, n int, now time.Time) (Candidate, string) {
	if p == nil {
		return Candidate{}, ReasonNotFound
	}
	cands := p.by[prKey(repo, n)]
	if len(cands) == 0 {
		return Candidate{}, ReasonNotFound
	}
	var why Exclusion
	for i, c := range cands {
		o := c.Options
		o.Now = now
		ok, ex := Decide(c.PR, o)
		if ok && !c.Queued {
			return c, ""
		}
		if ok {
			ex = excludedQueued
		}
		if i == 0 {
			why = ex
		}
	}
	return Candidate{}, reason(why)
}

// excludedQueued is why a queued candidate is no target; Decide never
// returns it.
const excludedQueued Exclusion = "queued"

func reason(e Exclusion) string {
	switch e {
	case ExcludedNoLabel:
		return ReasonNoLabel
	case ExcludedDraft:
		return ReasonDraft
	case ExcludedFork:
		return ReasonFork
	case ExcludedBot:
		return ReasonBot
	case ExcludedExpired:
		return ReasonExpired
	case excludedQueued:
		return ReasonQueued
	default:
		return ReasonNotAllowed
	}
}

// Dependency is one resolved dependency.
type Dependency struct {
	// Name is the service name as requested.
	Name string
	// Known is false when Name is not in the catalog: such a dependency has
	// no URLs and no parameters, only Err.
	Known bool
	// Requested is the target as written; Target is the effective one:
	// "staging" or "pr-<n>" (a PR of the service's catalog repository).
	Requested string
	Target    string
	// TargetRepo and TargetNumber name the target PR when Target is not
	// staging.
	TargetRepo   pr.Repo
	TargetNumber int
	// URL is what the app should use: the in-cluster URL of the target
	// preview's Service, or the staging URL. PublicURL is the target
	// preview's https URL, or staging's public URL. Namespace is the target
	// preview's namespace, or staging's.
	URL       string
	PublicURL string
	Namespace string
	// Ports are the ports the app's pods connect to in Namespace: the
	// target preview's app container port, or staging's ports. A
	// preview's egress to Namespace opens these and no other.
	Ports []int
	// Reason says why a dependency that asked for a preview points at
	// staging; empty when it got what it asked for.
	Reason string
	// ExpiresAt is when the target preview expires (zero for staging):
	// until then, and as long as the PRs do not change, the resolution
	// holds. See NextDependencyExpiry.
	ExpiresAt time.Time
	// Err is the configuration error of this dependency (unknown service,
	// malformed target, target outside the service's repository), naming
	// where it was requested; nil otherwise. Extend adds it to config_error.
	Err error
}

// ResolveDependencies resolves each of refs against the catalog and the
// live previews at now. The result is sorted by name. A bad ref (unknown
// service, malformed target, a target in another repository than the
// service's) only affects itself: it falls back to staging (or, for an
// unknown service, to nothing) with Err set, and the rest still resolves.
//
// "pr-<n>" names PR n of the service's catalog repository;
// "<owner>/<repo>#<n>" must name that same repository (case-insensitive):
// the catalog's Service name and port describe the app that repository
// deploys, so a PR of any other repository could not be reached at them.
func ResolveDependencies(refs []DependencyRef, cat Catalog, live *Previews, now time.Time) []Dependency {
	out := make([]Dependency, 0, len(refs))
	for _, ref := range refs {
		out = append(out, resolve(ref, cat, live, now))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func resolve(ref DependencyRef, cat Catalog, live *Previews, now time.Time) Dependency {
	d := Dependency{Name: ref.Name, Requested: ref.Target, Target: TargetStaging}
	svc, ok := cat[ref.Name]
	if !ok {
		d.Reason = "unknown service"
		d.Err = fmt.Errorf("%s: unknown service %q (known: %s)", ref.where(), ref.Name, strings.Join(cat.Names(), ", "))
		return d
	}
	d.Known = true
	d.URL, d.PublicURL, d.Namespace = svc.StagingURL, svc.StagingPublicURL, svc.StagingNamespace
	d.Ports = svc.StagingPortList()
	if d.PublicURL == "" {
		d.PublicURL = svc.StagingURL
	}
	t, err := ParseTarget(ref.Target)
	if err != nil {
		d.Err = fmt.Errorf("%s: %w", ref.where(), err)
		d.Reason = err.Error()
		return d
	}
	if t.Staging {
		return d
	}
	if t.Repo != (pr.Repo{}) && t.Repo.Key() != svc.Repo.Key() {
		err := fmt.Errorf("%s is not a pull request of %s, the repository of service %s", t, svc.Repo, svc.Name)
		d.Err = fmt.Errorf("%s: %w", ref.where(), err)
		d.Reason = err.Error()
		return d
	}
	c, why := live.lookup(svc.Repo, t.Number, now)
	if why != "" {
		d.Reason = why
		return d
	}
	ns := PreviewName(c.PR.Repo.Owner, c.PR.Repo.Name, c.PR.Number)
	host := ns
	if c.Options.Domain != "" {
		host = ns + "." + c.Options.Domain
	}
	d.Target = "pr-" + strconv.Itoa(t.Number)
	d.TargetRepo, d.TargetNumber = c.PR.Repo, c.PR.Number
	d.URL = fmt.Sprintf("http://%s.%s.svc.%s:%d", svc.ServiceName, ns, ClusterDomain, svc.Port)
	d.PublicURL = "https://" + host
	d.Namespace = ns
	d.Ports = []int{svc.PreviewPort()}
	d.ExpiresAt = ExpiresAt(c.PR, c.Options)
	return d
}

// NextDependencyExpiry returns the earliest ExpiresAt among deps, or zero.
// An answer built from deps stays right until then (or until the PRs
// change): a cache keyed on the store generation must also expire then.
func NextDependencyExpiry(deps []Dependency) time.Time {
	var next time.Time
	for _, d := range deps {
		if !d.ExpiresAt.IsZero() && (next.IsZero() || d.ExpiresAt.Before(next)) {
			next = d.ExpiresAt
		}
	}
	return next
}

// DependencyErrors joins the Err of every dependency (nil when none).
func DependencyErrors(deps []Dependency) error {
	var errs []error
	for _, d := range deps {
		if d.Err != nil {
			errs = append(errs, d.Err)
		}
	}
	return errors.Join(errs...)
}

// depJSON is one object of the dependencies parameter.
type depJSON struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Env       string `json:"env"`
	Target    string `json:"target"`
	Requested string `json:"requested"`
	URL       string `json:"url"`
	PublicURL string `json:"public_url"`
	Namespace string `json:"namespace"`
	Ports     []int  `json:"ports"`
	Reason    string `json:"reason"`
}

// Extend adds to m the keys the overlay config brings, all strings:
//
//   - config_error: configErr and every dependency's Err, one line, "; "
//     between them, at most MaxConfigError bytes; empty when all is well;
//   - env: o.Env as a JSON object ("{}" when none);
//   - dependencies: a JSON array with one object per known dependency,
//     sorted by name: {"name", "key", "env", "target", "requested", "url",
//     "public_url", "namespace", "ports", "reason"} ("[]" when none;
//     ports is a list of numbers, never null), for
//     `range (fromJson .dependencies)` in a goTemplate ApplicationSet;
//   - dependency_names: the known dependencies' names, comma-joined;
//   - dep_<key>_<field> for each known dependency and each field of
//     target, requested, url, public_url, namespace, ports (comma-joined)
//     and reason.
//
// A dependency on an unknown service only contributes to config_error.
func Extend(m map[string]string, o Options, deps []Dependency, configErr error) {
	list := make([]depJSON, 0, len(deps))
	var names []string
	for _, d := range deps {
		if !d.Known {
			continue
		}
		j := depJSON{
			Name: d.Name, Key: DepKey(d.Name), Env: DepEnvName(d.Name),
			Target: d.Target, Requested: d.Requested, URL: d.URL, PublicURL: d.PublicURL,
			Namespace: d.Namespace, Ports: d.Ports, Reason: d.Reason,
		}
		if j.Ports == nil {
			j.Ports = []int{}
		}
		list = append(list, j)
		names = append(names, d.Name)
		m[DepParam(d.Name, DepTarget)] = j.Target
		m[DepParam(d.Name, DepRequested)] = j.Requested
		m[DepParam(d.Name, DepURL)] = j.URL
		m[DepParam(d.Name, DepPublicURL)] = j.PublicURL
		m[DepParam(d.Name, DepNamespace)] = j.Namespace
		m[DepParam(d.Name, DepReason)] = j.Reason
		ports := make([]string, len(j.Ports))
		for i, p := range j.Ports {
			ports[i] = strconv.Itoa(p)
		}
		m[DepParam(d.Name, DepPorts)] = strings.Join(ports, ",")
	}
	b, _ := json.Marshal(list) // strings only: cannot fail
	m[KeyDependencies] = string(b)
	m[KeyDependencyNames] = strings.Join(names, ",")
	env := o.Env
	if env == nil {
		env = map[string]string{}
	}
	b, _ = json.Marshal(env) // keys sorted
	m[KeyEnv] = string(b)
	m[KeyConfigError] = FormatConfigError(configErr, DependencyErrors(deps))
}

// FormatConfigError flattens errs (and the errors joined inside them) into
// one line, "; " between them, cut to MaxConfigError bytes. Nil errors are
// skipped; no error gives "".
func FormatConfigError(errs ...error) string {
	var parts []string
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		parts = append(parts, strings.Join(strings.Fields(err.Error()), " "))
	}
	for _, err := range errs {
		walk(err)
	}
	s := strings.Join(parts, "; ")
	if len(s) > MaxConfigError {
		const more = " …"
		cut := MaxConfigError - len(more)
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + more
	}
	return s
}

// utf8Start reports whether b starts a UTF-8 sequence.
func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
