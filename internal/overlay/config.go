package overlay

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/preview-generator/preview-generator/internal/cost"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// MaxConfigBytes bounds the server config file.
const MaxConfigBytes = 1 << 20

// DefaultMaxEnv is the default number of extra env variables per preview.
const DefaultMaxEnv = 32

// Config is the server's configuration file (--config). Zero values mean
// "not set in the file": the matching command-line flag stands. When both
// are given, the file wins.
type Config struct {
	// Version is the schema version (1).
	Version int
	Overlay OverlayConfig
	// Defaults are the server-wide defaults an ApplicationSet starts from.
	Defaults Defaults
	// SizeProfiles are the size profiles an ApplicationSet or a PR may
	// choose; each names kustomize/components/size-<name>. nil: not set.
	SizeProfiles []string
	// Services is the service catalog: what a dependency name means.
	Services params.Catalog
	// ServiceInputs holds, for every service of Services (same keys), the
	// ApplicationSet input the service's repository is deployed with
	// (services.<name>.input); see ServiceInput.
	ServiceInputs map[string]ServiceInput
	// ImageReady gates repositories on their images, by lower-case
	// owner/repo: a pull request's commit is previewed only once its image
	// is ready (services.<name>.imageReady for a catalog service's
	// repository, imageReady.<owner/repo> for any other). A repository
	// absent here is not gated.
	ImageReady map[string]ImageReady
	// Jira is the jira section: the site jira_url links to and the
	// project keys jira_issue may name (see params.JiraIssue).
	Jira params.Jira
	// SchedulingProfiles are the named scheduling profiles (node selector,
	// tolerations, priority class, price factor) an ApplicationSet or an
	// allowed .preview.yaml may choose; nil: none. See scheduling.go.
	SchedulingProfiles params.SchedulingProfiles
	// Pricing is the price table of the cost estimate; nil: no estimate.
	Pricing *cost.Pricing
}

// ImageReady says what tells that a commit's image is built: the check run
// named CheckRun succeeded on it, or the commit status of context Status.
// Exactly one is set.
type ImageReady struct {
	CheckRun string
	Status   string
}

// ServiceInput is the `input:` of one catalog service: the plugin input
// parameters of the ApplicationSet that deploys the service's repository,
// less repositories (the service's repository). It is the single source of
// truth for how that repository's previews live (label, ttl, policy,
// domain): they are judged under it as dependency targets, and getparams
// refuses an ApplicationSet of that repository that asks for other values.
//
// Keys and value types are checked here; values are checked at start-up by
// the same code that checks a getparams request (server.ParseInput).
type ServiceInput struct {
	// Params maps each given parameter to its value as JSON, as Argo CD
	// would send it. nil when the service has no input: (server defaults).
	Params map[string]json.RawMessage
	// File is the config file's name, Path "services.<name>.input".
	File, Path string
	// Line is the line of input: (of the service when there is none);
	// Lines has the line of each parameter.
	Line  int
	Lines map[string]int
}

// FieldError locates a problem with parameter key of the input (the input
// as a whole when key is empty).
func (in ServiceInput) FieldError(key, msg string) *FieldError {
	e := &FieldError{File: in.File, Line: in.Line, Path: in.Path, Msg: msg}
	if key != "" {
		e.Path = join(in.Path, key)
		if l, ok := in.Lines[key]; ok {
			e.Line = l
		}
	}
	return e
}

// The value types of the ApplicationSet input parameters a catalog
// service's input may set: the same keys and JSON types as a getparams
// request, less repositories.
var (
	serviceInputStrings = []string{"label", "ttl", "domain", "image", "registry", "seedVersion", "migrateCommand", "sizeProfile", "schedulingProfile", "sleepAfter", "pinLabel"}
	serviceInputBools   = []string{"includeDrafts", "includeForks", "excludeBots", "database", "persistentDatabase", "basicAuth", "redis", "mongodb"}
	// serviceInputInts are whole numbers (the fair queue's maxPreviews).
	serviceInputInts = []string{"maxPreviews"}
)

// ServiceInputKeys returns the parameter keys a catalog service's input
// accepts, sorted.
func ServiceInputKeys() []string {
	out := slices.Concat(serviceInputStrings, serviceInputBools, serviceInputInts, []string{InputDependencies})
	slices.Sort(out)
	return out
}

// OverlayConfig says whether and how .preview.yaml is read.
type OverlayConfig struct {
	// Enabled turns reading the per-PR file on (default true).
	Enabled bool
	// Path is the file's path in the PR's repository (default .preview.yaml).
	Path string
	// AllowDisablingBasicAuth lets a PR turn basic auth off (default false).
	AllowDisablingBasicAuth bool
	// MaxEnv bounds the number of extra env variables (default 32).
	MaxEnv int
	// AllowedSchedulingProfiles are the scheduling profiles a .preview.yaml
	// may choose (default none).
	AllowedSchedulingProfiles []string
}

// Defaults are server-wide defaults and limits. Zero: not set.
type Defaults struct {
	TTL         time.Duration
	MaxTTL      time.Duration
	SizeProfile string
	SeedVersion string
	// SchedulingProfile is the profile of an ApplicationSet that names none.
	SchedulingProfile string
	// SleepAfter is the idle time before a preview sleeps, unless an
	// ApplicationSet's sleepAfter says otherwise; 0 never.
	SleepAfter time.Duration
}

// DefaultConfig is the configuration without a --config file.
func DefaultConfig() *Config {
	return &Config{
		Version:  Version,
		Overlay:  OverlayConfig{Enabled: true, Path: DefaultPath, MaxEnv: DefaultMaxEnv},
		Services: params.Catalog{}, ServiceInputs: map[string]ServiceInput{},
		ImageReady: map[string]ImageReady{},
	}
}

var (
	// dns1035 is a Kubernetes Service name.
	dns1035 = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// dns1123 is a Kubernetes namespace name.
	dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// ghOwner and ghRepo are GitHub's alphabets for owners and repositories.
	ghOwner = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	ghRepo  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// ParseConfig reads the server config strictly and validates it. name is
// used in errors (the --config path). An empty file gives DefaultConfig.
// The error, if any, joins one *FieldError per problem, in line order.
func ParseConfig(name string, data []byte) (*Config, error) {
	d := &decoder{file: name}
	c := DefaultConfig()
	root := d.document(data, MaxConfigBytes)
	if root != nil {
		var lines = map[string]int{}
		var schedDefault *yaml.Node
		var schedAllowed map[string]*yaml.Node
		d.fields(root, "", map[string]func(pair){
			"version": func(p pair) {
				if v, ok := d.integer(p.v, p.path); ok && v != Version {
					d.fail(p.v, p.path, "%d is not supported (this server reads version %d)", v, Version)
				}
			},
			"overlay": func(p pair) { d.overlayConfig(p, &c.Overlay, &schedAllowed) },
			"defaults": func(p pair) {
				d.fields(p.v, p.path, map[string]func(pair){
					"ttl": func(q pair) {
						c.Defaults.TTL, _ = d.duration(q.v, q.path)
						lines[q.path] = q.v.Line
					},
					"maxTTL": func(q pair) {
						c.Defaults.MaxTTL, _ = d.duration(q.v, q.path)
					},
					"sleepAfter": func(q pair) {
						c.Defaults.SleepAfter, _ = d.sleepAfter(q.v, q.path)
					},
					"sizeProfile": func(q pair) {
						if s, ok := d.str(q.v, q.path); ok {
							c.Defaults.SizeProfile = s
							lines[q.path] = q.v.Line
						}
					},
					"schedulingProfile": func(q pair) {
						if s, ok := d.str(q.v, q.path); ok {
							c.Defaults.SchedulingProfile, schedDefault = s, q.v
						}
					},
					"seedVersion": func(q pair) {
						if s, ok := d.scalar(q.v, q.path, "an image tag such as v1", "!!str", "!!int"); ok {
							if !seedTag.MatchString(s) {
								d.fail(q.v, q.path, "%q is not an image tag", s)
								return
							}
							c.Defaults.SeedVersion = s
						}
					},
				})
			},
			"sizeProfiles": func(p pair) { c.SizeProfiles = d.profiles(p) },
			"services":     func(p pair) { c.Services, c.ServiceInputs = d.services(p, c.ImageReady) },
			"imageReady":   func(p pair) { d.imageReadyRepos(p, c.ImageReady) },
			"jira":         func(p pair) { c.Jira = d.jira(p) },

			// Scheduling profiles and the price table (scheduling.go).
			"schedulingProfiles": func(p pair) { c.SchedulingProfiles = d.schedulingProfiles(p) },
			"pricing":            func(p pair) { c.Pricing = d.pricing(p) },
		})
		d.checkSchedulingNames(c, schedDefault, schedAllowed)
		if c.Defaults.TTL > 0 && c.Defaults.MaxTTL > 0 && c.Defaults.TTL > c.Defaults.MaxTTL {
			d.errs = append(d.errs, &FieldError{File: name, Line: lines["defaults.ttl"], Path: "defaults.ttl",
				Msg: fmt.Sprintf("%s exceeds defaults.maxTTL %s", params.FormatDuration(c.Defaults.TTL), params.FormatDuration(c.Defaults.MaxTTL))})
		}
		if s := c.Defaults.SizeProfile; s != "" && c.SizeProfiles != nil && !slices.Contains(c.SizeProfiles, s) {
			d.errs = append(d.errs, &FieldError{File: name, Line: lines["defaults.sizeProfile"], Path: "defaults.sizeProfile",
				Msg: fmt.Sprintf("%q is not one of sizeProfiles (%s)", s, strings.Join(c.SizeProfiles, ", "))})
		}
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func (d *decoder) overlayConfig(p pair, o *OverlayConfig, schedAllowed *map[string]*yaml.Node) {
	d.fields(p.v, p.path, map[string]func(pair){
		"enabled": func(q pair) {
			if b, ok := d.boolean(q.v, q.path); ok {
				o.Enabled = *b
			}
		},
		"path": func(q pair) {
			s, ok := d.str(q.v, q.path)
			if !ok {
				return
			}
			clean := path.Clean(s)
			if s == "" || strings.HasPrefix(s, "/") || clean != s || clean == "." || strings.HasPrefix(clean, "../") || clean == ".." || strings.ContainsAny(s, "\\\x00") {
				d.fail(q.v, q.path, "%q is not a clean path relative to the repository root", s)
				return
			}
			o.Path = s
		},
		"allowDisablingBasicAuth": func(q pair) {
			if b, ok := d.boolean(q.v, q.path); ok {
				o.AllowDisablingBasicAuth = *b
			}
		},
		"maxEnv": func(q pair) {
			if n, ok := d.integer(q.v, q.path); ok {
				if n < 0 || n > MaxEnvVars {
					d.fail(q.v, q.path, "%d is out of range 0..%d", n, MaxEnvVars)
					return
				}
				o.MaxEnv = n
			}
		},
		"allowedSchedulingProfiles": func(q pair) { o.AllowedSchedulingProfiles, *schedAllowed = d.profileNames(q) },
	})
}

// port decodes one port number (1..65535).
func (d *decoder) port(p pair) (int, bool) {
	n, ok := d.integer(p.v, p.path)
	if !ok {
		return 0, false
	}
	if n < 1 || n > 65535 {
		d.fail(p.v, p.path, "%d is not a port (1..65535)", n)
		return 0, false
	}
	return n, true
}

// ports decodes a non-empty list of distinct port numbers.
func (d *decoder) ports(p pair) []int {
	if p.v.Kind != yaml.SequenceNode {
		d.fail(p.v, p.path, "want a list of port numbers, got %s", kind(p.v))
		return nil
	}
	if len(p.v.Content) == 0 {
		d.fail(p.v, p.path, "must list at least one port (leave it out to use the port of staging.url)")
		return nil
	}
	var out []int
	for i, n := range p.v.Content {
		at := fmt.Sprintf("%s[%d]", p.path, i)
		v, ok := d.port(pair{k: n, v: n, path: at})
		if !ok {
			continue
		}
		if slices.Contains(out, v) {
			d.fail(n, at, "%d is listed twice", v)
			continue
		}
		out = append(out, v)
	}
	return out
}

func (d *decoder) profiles(p pair) []string {
	if p.v.Kind != yaml.SequenceNode {
		d.fail(p.v, p.path, "want a list of profile names, got %s", kind(p.v))
		return nil
	}
	if len(p.v.Content) == 0 {
		d.fail(p.v, p.path, "must list at least one profile")
		return nil
	}
	out := []string{}
	for i, n := range p.v.Content {
		at := fmt.Sprintf("%s[%d]", p.path, i)
		s, ok := d.str(n, at)
		if !ok {
			continue
		}
		if !profileName.MatchString(s) {
			d.fail(n, at, "%q is not a profile name (lower-case letters, digits and '-'; it names kustomize/components/size-<name>)", s)
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

func (d *decoder) services(p pair, gates map[string]ImageReady) (params.Catalog, map[string]ServiceInput) {
	cat, inputs := params.Catalog{}, map[string]ServiceInput{}
	pairs, ok := d.mapping(p.v, p.path)
	if !ok {
		return cat, inputs
	}
	for _, q := range pairs {
		if !params.ValidServiceName(q.key) {
			d.fail(q.k, q.path, "%q is not a service name (1 to 32 of a-z, 0-9 and '-', starting with a letter, ending with a letter or digit)", q.key)
			continue
		}
		s := params.Service{Name: q.key}
		in := ServiceInput{File: d.file, Path: join(q.path, "input"), Line: q.k.Line}
		var set = map[string]bool{}
		var gate *pair
		d.fields(q.v, q.path, map[string]func(pair){
			"input":      func(r pair) { in = d.serviceInput(r) },
			"imageReady": func(r pair) { gate = &r },
			"repository": func(r pair) {
				set[r.key] = true
				v, ok := d.str(r.v, r.path)
				if !ok {
					return
				}
				repo, err := pr.ParseRepo(v)
				if err != nil || v != strings.TrimSpace(v) || !ghOwner.MatchString(repo.Owner) || !ghRepo.MatchString(repo.Name) || repo.Name == "." || repo.Name == ".." {
					d.fail(r.v, r.path, "%q is not a GitHub owner/repo", v)
					return
				}
				s.Repo = repo
			},
			"service": func(r pair) {
				set[r.key] = true
				if v, ok := d.str(r.v, r.path); ok {
					if !dns1035.MatchString(v) {
						d.fail(r.v, r.path, "%q is not a Kubernetes Service name (DNS-1035 label)", v)
						return
					}
					s.ServiceName = v
				}
			},
			"port": func(r pair) {
				set[r.key] = true
				if n, ok := d.integer(r.v, r.path); ok {
					if n < 1 || n > 65535 {
						d.fail(r.v, r.path, "%d is not a port (1..65535)", n)
						return
					}
					s.Port = n
				}
			},
			"targetPort": func(r pair) {
				if n, ok := d.port(r); ok {
					s.TargetPort = n
				}
			},
			"staging": func(r pair) {
				set[r.key] = true
				var sset = map[string]bool{}
				d.fields(r.v, r.path, map[string]func(pair){
					"url": func(u pair) {
						sset[u.key] = true
						if v, ok := d.url(u); ok {
							s.StagingURL = v
						}
					},
					"publicURL": func(u pair) {
						if v, ok := d.url(u); ok {
							s.StagingPublicURL = v
						}
					},
					"ports": func(u pair) { s.StagingPorts = d.ports(u) },
					"namespace": func(u pair) {
						sset[u.key] = true
						if v, ok := d.str(u.v, u.path); ok {
							if !dns1123.MatchString(v) {
								d.fail(u.v, u.path, "%q is not a namespace name (DNS-1123 label)", v)
								return
							}
							s.StagingNamespace = v
						}
					},
				})
				if r.v.Kind == yaml.MappingNode {
					for _, k := range []string{"url", "namespace"} {
						if !sset[k] {
							d.fail(r.v, join(r.path, k), "required")
						}
					}
				}
			},
		})
		if q.v.Kind == yaml.MappingNode {
			for _, k := range []string{"repository", "service", "port", "staging"} {
				if !set[k] {
					d.fail(q.v, join(q.path, k), "required")
				}
			}
		}
		if gate != nil && s.Repo.Name != "" {
			d.addImageReady(*gate, s.Repo, gates)
		}
		cat[q.key] = s
		inputs[q.key] = in
	}
	return cat, inputs
}

// imageReadyRepos decodes imageReady: a mapping of owner/repo to a gate.
func (d *decoder) imageReadyRepos(p pair, gates map[string]ImageReady) {
	pairs, ok := d.mapping(p.v, p.path)
	if !ok {
		return
	}
	for _, q := range pairs {
		repo, err := pr.ParseRepo(q.key)
		if err != nil || !ghOwner.MatchString(repo.Owner) || !ghRepo.MatchString(repo.Name) {
			d.fail(q.k, q.path, "%q is not a GitHub owner/repo", q.key)
			continue
		}
		d.addImageReady(q, repo, gates)
	}
}

// maxCheckName bounds a check run name or status context.
const maxCheckName = 255

// addImageReady decodes one gate, {checkRun: name} or {status: context},
// for repo.
func (d *decoder) addImageReady(p pair, repo pr.Repo, gates map[string]ImageReady) {
	var g ImageReady
	bad := false
	name := func(r pair, dst *string) {
		v, ok := d.str(r.v, r.path)
		if !ok {
			bad = true
			return
		}
		if v == "" || len(v) > maxCheckName || v != strings.TrimSpace(v) || strings.ContainsFunc(v, func(c rune) bool { return c < ' ' || c == 0x7f }) {
			d.fail(r.v, r.path, "%q is not a check run name or status context (1 to %d printable characters, no surrounding spaces)", v, maxCheckName)
			bad = true
			return
		}
		*dst = v
	}
	d.fields(p.v, p.path, map[string]func(pair){
		"checkRun": func(r pair) { name(r, &g.CheckRun) },
		"status":   func(r pair) { name(r, &g.Status) },
	})
	if p.v.Kind != yaml.MappingNode || bad {
		return
	}
	switch {
	case g.CheckRun != "" && g.Status != "":
		d.fail(p.v, p.path, "give checkRun or status, not both")
		return
	case g.CheckRun == "" && g.Status == "":
		d.fail(p.v, p.path, "give checkRun (a check run's name) or status (a commit status context)")
		return
	}
	if have, dup := gates[repo.Key()]; dup && have != g {
		d.fail(p.v, p.path, "%s is gated twice, differently", repo)
		return
	}
	gates[repo.Key()] = g
}

// serviceInput decodes services.<name>.input strictly: known keys, each
// with the JSON type a getparams request must give it.
func (d *decoder) serviceInput(p pair) ServiceInput {
	in := ServiceInput{File: d.file, Path: p.path, Line: p.k.Line, Params: map[string]json.RawMessage{}, Lines: map[string]int{}}
	set := func(q pair, v any) {
		b, _ := json.Marshal(v) // strings, booleans and string maps: cannot fail
		in.Params[q.key] = b
		in.Lines[q.key] = q.k.Line
	}
	known := map[string]func(pair){
		InputDependencies: func(q pair) {
			pairs, ok := d.mapping(q.v, q.path)
			if !ok {
				return
			}
			m := map[string]string{}
			for _, t := range pairs {
				if v, ok := d.str(t.v, t.path); ok {
					m[t.key] = v
				}
			}
			set(q, m)
		},
	}
	for _, k := range serviceInputStrings {
		known[k] = func(q pair) {
			if v, ok := d.str(q.v, q.path); ok {
				set(q, v)
			}
		}
	}
	for _, k := range serviceInputBools {
		known[k] = func(q pair) {
			if v, ok := d.boolean(q.v, q.path); ok {
				set(q, *v)
			}
		}
	}
	for _, k := range serviceInputInts {
		known[k] = func(q pair) {
			if v, ok := d.integer(q.v, q.path); ok {
				set(q, v)
			}
		}
	}
	pairs, ok := d.mapping(p.v, p.path)
	if !ok {
		return in
	}
	for _, q := range pairs {
		f, ok := known[q.key]
		switch {
		case ok:
			f(q)
		case q.key == "repositories":
			d.fail(q.k, q.path, "not allowed here: the ApplicationSet's repositories is the service's repository")
		default:
			d.fail(q.k, q.path, "unknown input parameter (known: %s)", strings.Join(ServiceInputKeys(), ", "))
		}
	}
	return in
}

// url decodes an absolute http(s) URL without credentials.
func (d *decoder) url(p pair) (string, bool) {
	s, ok := d.str(p.v, p.path)
	if !ok {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		d.fail(p.v, p.path, "%q is not an absolute http(s) URL", s)
		return "", false
	}
	if u.User != nil {
		d.fail(p.v, p.path, "%q carries credentials; this file is not secret", s)
		return "", false
	}
	return s, true
}

// Limits are what a .preview.yaml is checked and capped against.
type Limits struct {
	// MaxTTL caps ttl (0: no cap).
	MaxTTL time.Duration
	// SizeProfiles are the allowed size profiles (nil: any name).
	SizeProfiles []string
	// AllowDisablingBasicAuth lets basicAuth.enabled be false.
	AllowDisablingBasicAuth bool
	// MaxEnv bounds the number of env variables.
	MaxEnv int
	// SchedulingProfiles are the scheduling profiles a .preview.yaml may
	// choose (overlay.allowedSchedulingProfiles; nil: none).
	SchedulingProfiles []string
}

// Limits returns the limits of c, taking maxTTL and sizeProfiles (the
// command-line flags) where the file does not set them.
func (c *Config) Limits(maxTTL time.Duration, sizeProfiles []string) Limits {
	l := Limits{
		MaxTTL:                  maxTTL,
		SizeProfiles:            sizeProfiles,
		AllowDisablingBasicAuth: c.Overlay.AllowDisablingBasicAuth,
		MaxEnv:                  c.Overlay.MaxEnv,
		SchedulingProfiles:      c.Overlay.AllowedSchedulingProfiles,
	}
	if c.Defaults.MaxTTL > 0 {
		l.MaxTTL = c.Defaults.MaxTTL
	}
	if c.SizeProfiles != nil {
		l.SizeProfiles = c.SizeProfiles
	}
	return l
}
