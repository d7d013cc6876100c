package server

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"

	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// Defaults are the server-side values and limits an ApplicationSet's input
// parameters are merged over and checked against.
type Defaults struct {
	Label         string
	TTL           time.Duration
	MaxTTL        time.Duration
	Domain        string
	Registry      string
	ImageTemplate string
	SeedVersion   string
	SizeProfile   string
	// SizeProfiles are the profiles an input may choose.
	SizeProfiles []string
	// AllowForks permits includeForks: true.
	AllowForks bool
	// AllowedRepos is the allow-list; keys are pr.Repo.Key().
	AllowedRepos map[string]pr.Repo
	// Catalog is the service catalog dependencies are checked against.
	Catalog params.Catalog
	// SchedulingProfile is the default scheduling profile ("" for none);
	// SchedulingProfiles are those an input may choose.
	SchedulingProfile  string
	SchedulingProfiles []string
	// SleepAfter is the default idle time before a preview sleeps (server
	// config defaults.sleepAfter); 0 never. PinLabel is the default pin
	// label; empty means params.DefaultPinLabel.
	SleepAfter time.Duration
	PinLabel   string
}

// Options returns the parameter options of d alone, with no input: what a
// dependency's target preview is judged under.
func (d Defaults) Options() params.Options {
	return params.Options{
		Label: d.Label, TTL: d.TTL, Domain: d.Domain, Registry: d.Registry, ImageTemplate: d.ImageTemplate,
		BasicAuth: true, SeedVersion: d.SeedVersion, SizeProfile: d.SizeProfile,
		SchedulingProfile: d.SchedulingProfile,
		Lifecycle:         params.Lifecycle{MaxTTL: d.MaxTTL, SleepAfter: d.SleepAfter, PinLabel: d.PinLabel},
	}
}

// Input is a parsed, validated getparams request.
type Input struct {
	Repos   []pr.Repo
	Options params.Options // Now is left zero
}

// The input parameter keys (ApplicationSet spec.generators[].plugin.input.parameters).
const (
	InRepositories  = "repositories"
	InLabel         = "label"
	InTTL           = "ttl"
	InDomain        = "domain"
	InImage         = "image"
	InRegistry      = "registry"
	InIncludeDrafts = "includeDrafts"
	InIncludeForks  = "includeForks"
	InExcludeBots   = "excludeBots"
	InDatabase      = "database"
	InBasicAuth     = "basicAuth"
	InRedis         = "redis"
	InMongoDB       = "mongodb"
	// InPersistentDatabase keeps the database on a claim (persistent-db).
	InPersistentDatabase = "persistentDatabase"
	InSeedVersion        = "seedVersion"
	InMigrateCommand     = "migrateCommand"
	InSizeProfile        = "sizeProfile"
	InDependencies       = overlay.InputDependencies
	// InSchedulingProfile names a scheduling profile of the server config.
	InSchedulingProfile = "schedulingProfile"
	// InSleepAfter and InPinLabel are the lifecycle inputs: idle time
	// before sleep ("0" or "" off), and the label that pins a preview.
	InSleepAfter = "sleepAfter"
	InPinLabel   = "pinLabel"
)

var inputKeys = []string{
	InRepositories, InLabel, InTTL, InDomain, InImage, InRegistry, InIncludeDrafts, InIncludeForks,
	InExcludeBots, InDatabase, InBasicAuth, InRedis, InMongoDB, InPersistentDatabase, InSeedVersion, InMigrateCommand, InSizeProfile, InDependencies,
	InMaxPreviews,
	InSchedulingProfile,
	InSleepAfter, InPinLabel,
}

// InputError names the input parameter that was wrong.
type InputError struct {
	Key string
	Msg string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("input parameter %q: %s", e.Key, e.Msg)
}

var (
	dnsName  = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$`)
	seedTag  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	maxInput = 4096 // longest accepted string value
)

// ParseInput validates the input parameters of one request against d. The
// first problem found is returned as an *InputError; keys are checked in
// sorted order so the answer is deterministic.
func ParseInput(in v1alpha1.PluginParameters, d Defaults) (Input, error) {
	o := d.Options()
	var out Input
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(inputKeys, k) {
			return Input{}, &InputError{k, "unknown key (known: " + strings.Join(inputKeys, ", ") + ")"}
		}
	}
	if _, ok := in[InRepositories]; !ok {
		return Input{}, &InputError{InRepositories, "required: a list of owner/repo"}
	}
	for _, k := range keys {
		raw := in[k].Raw
		var err error
		switch k {
		case InRepositories:
			out.Repos, err = parseRepos(raw, d.AllowedRepos)
		case InLabel:
			err = str(raw, &o.Label, func(s string) error {
				if strings.TrimSpace(s) == "" {
					return fmt.Errorf("must not be empty")
				}
				return nil
			})
		case InTTL:
			var s string
			if err = str(raw, &s, nil); err == nil {
				o.TTL, err = parseTTL(s, d.MaxTTL)
			}
		case InDomain:
			err = str(raw, &o.Domain, func(s string) error {
				if !dnsName.MatchString(s) || len(s) > 253-params.MaxDNSLabel-1 {
					return fmt.Errorf("%q is not a lower-case DNS name short enough to prefix with a 63-character label", s)
				}
				return nil
			})
		case InImage:
			err = str(raw, &o.ImageTemplate, params.CheckTemplate)
		case InRegistry:
			err = str(raw, &o.Registry, params.CheckTemplate)
		case InIncludeDrafts:
			err = boolean(raw, &o.IncludeDrafts)
		case InIncludeForks:
			if err = boolean(raw, &o.IncludeForks); err == nil && o.IncludeForks && !d.AllowForks {
				err = fmt.Errorf("true is refused: the server does not allow previews of forks (--allow-forks)")
			}
		case InExcludeBots:
			err = boolean(raw, &o.ExcludeBots)
		case InDatabase:
			err = boolean(raw, &o.Database)
		case InBasicAuth:
			err = boolean(raw, &o.BasicAuth)
		case InRedis:
			err = boolean(raw, &o.Redis)
		case InMongoDB:
			err = boolean(raw, &o.MongoDB)
		case InPersistentDatabase:
			err = boolean(raw, &o.PersistentDatabase)
		case InSeedVersion:
			err = str(raw, &o.SeedVersion, func(s string) error {
				if !seedTag.MatchString(s) {
					return fmt.Errorf("%q is not a valid image tag", s)
				}
				return nil
			})
		case InMigrateCommand:
			err = str(raw, &o.MigrateCommand, nil)
		case InDependencies:
			if o.Dependencies, err = overlay.ParseDependenciesInput(raw); err == nil {
				err = overlay.CheckDependencies(o.Dependencies, d.Catalog)
			}
		case InMaxPreviews:
			o.MaxPreviews, err = parseMaxPreviews(raw)
		case InSleepAfter:
			var s string
			if err = str(raw, &s, nil); err == nil {
				o.Lifecycle.SleepAfter, err = parseSleepAfter(s)
			}
		case InPinLabel:
			err = str(raw, &o.Lifecycle.PinLabel, func(s string) error {
				if strings.TrimSpace(s) == "" {
					return fmt.Errorf("must not be empty")
				}
				return nil
			})
		case InSizeProfile:
			err = str(raw, &o.SizeProfile, func(s string) error {
				if !slices.Contains(d.SizeProfiles, s) {
					return fmt.Errorf("%q is not a size profile (known: %s)", s, strings.Join(d.SizeProfiles, ", "))
				}
				return nil
			})
		case InSchedulingProfile:
			err = str(raw, &o.SchedulingProfile, func(s string) error { return checkSchedulingProfile(s, d.SchedulingProfiles) })
		}
		if err != nil {
			return Input{}, &InputError{k, err.Error()}
		}
	}
	out.Options = o
	return out, nil
}

func parseRepos(raw []byte, allowed map[string]pr.Repo) ([]pr.Repo, error) {
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("want a list of owner/repo strings, got %s", jsonKind(raw))
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("must list at least one owner/repo")
	}
	seen := map[string]bool{}
	var out []pr.Repo
	for _, s := range list {
		r, err := pr.ParseRepo(s)
		if err != nil {
			return nil, err
		}
		a, ok := allowed[r.Key()]
		if !ok {
			return nil, fmt.Errorf("%s is not in the server's allow-list (--repos)", r)
		}
		if !seen[r.Key()] {
			seen[r.Key()] = true
			out = append(out, a)
		}
	}
	return out, nil
}

func parseTTL(s string, limit time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 72h or 90m", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	if limit > 0 && d > limit {
		return 0, fmt.Errorf("%q exceeds the server's maximum of %s (--max-ttl)", s, params.FormatDuration(limit))
	}
	return d, nil
}

// parseSleepAfter reads sleepAfter: a non-negative duration; "" and "0"
// turn sleep off.
func parseSleepAfter(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 2h or 30m (0 turns sleep off)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q must not be negative (0 turns sleep off)", s)
	}
	return d, nil
}

func str(raw []byte, dst *string, check func(string) error) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("want a string, got %s", jsonKind(raw))
	}
	if len(s) > maxInput {
		return fmt.Errorf("longer than %d bytes", maxInput)
	}
	if check != nil {
		if err := check(s); err != nil {
			return err
		}
	}
	*dst = s
	return nil
}

func boolean(raw []byte, dst *bool) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("want true or false, got %s", jsonKind(raw))
	}
	return nil
}

// jsonKind names the JSON type of raw for error messages.
func jsonKind(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "":
		return "nothing"
	case s == "null":
		return "null"
	case s == "true" || s == "false":
		return "a boolean"
	case s[0] == '"':
		return "a string"
	case s[0] == '[':
		return "a list"
	case s[0] == '{':
		return "an object"
	default:
		return "a number"
	}
}

// InputKeys returns the accepted input parameter keys.
func InputKeys() []string { return slices.Clone(inputKeys) }
