package overlay

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/preview-generator/preview-generator/internal/params"
)

// Check validates f against the server's limits: the size profile must be
// one of lim.SizeProfiles, env must have at most lim.MaxEnv variables, and
// basicAuth may be turned off only when lim.AllowDisablingBasicAuth. A
// file that fails Check is invalid as a whole, like one that fails Parse
// (the caller keeps the PR's last good file). A ttl above lim.MaxTTL is
// not an error here: Apply caps it.
func Check(f *File, lim Limits) error {
	if f == nil {
		return nil
	}
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, &FieldError{File: f.Name, Line: f.Line(path), Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	if f.Size != "" && lim.SizeProfiles != nil && !slices.Contains(lim.SizeProfiles, f.Size) {
		bad("size", "%q is not a size profile of this server (known: %s)", f.Size, strings.Join(lim.SizeProfiles, ", "))
	}
	if f.BasicAuth.Enabled != nil && !*f.BasicAuth.Enabled && !lim.AllowDisablingBasicAuth {
		bad("basicAuth.enabled", "false is refused: this server keeps basic auth on every preview (overlay.allowDisablingBasicAuth)")
	}
	if len(f.Env) > lim.MaxEnv {
		bad("env", "%d variables; this server allows at most %d (overlay.maxEnv)", len(f.Env), lim.MaxEnv)
	}
	if msg := checkSchedulingProfile(f, lim); msg != "" {
		bad("schedulingProfile", "%s", msg)
	}
	return errors.Join(errs...)
}

// Load parses data as a .preview.yaml named name and checks it against
// lim: the file to apply, or the error that makes it invalid as a whole.
// nil data (the file does not exist) gives an empty File.
func Load(name string, data []byte, lim Limits) (*File, error) {
	f, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	if err := Check(f, lim); err != nil {
		return nil, err
	}
	return f, nil
}

// Apply returns o with the settings of f applied over it, within lim:
// effective = server defaults ← ApplicationSet input (both already in o,
// see server.ParseInput) ← f. A nil f returns o unchanged.
//
// Dependencies are merged by name (f's target wins) and sorted; env
// variables are merged by name. o is not modified.
//
// The error lists adjustments the developer should hear about but that do
// not make the file invalid: a ttl above lim.MaxTTL is capped to it. It
// is also defensive: a value Check would refuse is ignored and reported.
// Add it to config_error.
func Apply(o params.Options, f *File, lim Limits) (params.Options, error) {
	o.Dependencies = slices.Clone(o.Dependencies)
	o.Env = maps.Clone(o.Env)
	if f == nil {
		return o, nil
	}
	var notes []error
	note := func(path, format string, a ...any) {
		notes = append(notes, &FieldError{File: f.Name, Line: f.Line(path), Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	if f.TTL > 0 {
		o.TTL = f.TTL
		if lim.MaxTTL > 0 && f.TTL > lim.MaxTTL {
			o.TTL = lim.MaxTTL
			note("ttl", "%s exceeds this server's maximum; capped to %s", params.FormatDuration(f.TTL), params.FormatDuration(lim.MaxTTL))
		}
	}
	if f.Size != "" {
		if lim.SizeProfiles == nil || slices.Contains(lim.SizeProfiles, f.Size) {
			o.SizeProfile = f.Size
		} else {
			note("size", "%q is not a size profile of this server; ignored", f.Size)
		}
	}
	if v := f.Database.Enabled; v != nil {
		o.Database = *v
	}
	if v := f.Database.Persistent; v != nil {
		o.PersistentDatabase = *v
	}
	if f.Database.SeedVersion != "" {
		o.SeedVersion = f.Database.SeedVersion
	}
	if c := f.Database.MigrateCommand; c != nil {
		o.MigrateCommand = *c
	}
	if v := f.BasicAuth.Enabled; v != nil {
		if *v || lim.AllowDisablingBasicAuth {
			o.BasicAuth = *v
		} else {
			note("basicAuth.enabled", "false is refused by this server; basic auth stays on")
		}
	}
	if v := f.Redis.Enabled; v != nil {
		o.Redis = *v
	}
	if f.SchedulingProfile != "" {
		if msg := checkSchedulingProfile(f, lim); msg == "" {
			o.SchedulingProfile = f.SchedulingProfile
		} else {
			note("schedulingProfile", "%s; ignored", msg)
		}
	}
	if v := f.MongoDB.Enabled; v != nil {
		o.MongoDB = *v
	}
	if len(f.Dependencies) > 0 {
		byName := make(map[string]params.DependencyRef, len(o.Dependencies)+len(f.Dependencies))
		for _, r := range o.Dependencies {
			byName[r.Name] = r
		}
		for _, r := range f.Dependencies {
			byName[r.Name] = r
		}
		o.Dependencies = make([]params.DependencyRef, 0, len(byName))
		for _, r := range byName {
			o.Dependencies = append(o.Dependencies, r)
		}
		sort.Slice(o.Dependencies, func(i, j int) bool { return o.Dependencies[i].Name < o.Dependencies[j].Name })
	}
	if len(f.Env) > 0 {
		if len(f.Env) > lim.MaxEnv {
			note("env", "%d variables; this server allows at most %d; ignored", len(f.Env), lim.MaxEnv)
		} else {
			if o.Env == nil {
				o.Env = make(map[string]string, len(f.Env))
			}
			maps.Copy(o.Env, f.Env)
		}
	}
	return o, errors.Join(notes...)
}

// InputDependencies is the ApplicationSet input parameter that sets a
// preview's default dependencies: {"payments": "staging", ...}.
const InputDependencies = "dependencies"

// ParseDependenciesInput decodes the raw JSON of the dependencies input
// parameter: an object mapping a service name to a target. Targets and
// names are not checked here (see CheckDependencies): like in a
// .preview.yaml, a bad one only affects its own dependency.
func ParseDependenciesInput(raw []byte) ([]params.DependencyRef, error) {
	var m map[string]*string
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf(`want an object mapping service names to targets, e.g. {"payments": "staging"}`)
	}
	if len(m) > MaxDependencies {
		return nil, fmt.Errorf("%d dependencies; at most %d", len(m), MaxDependencies)
	}
	out := make([]params.DependencyRef, 0, len(m))
	for name, p := range m {
		if p == nil {
			return nil, fmt.Errorf("%s: want a target string, got null", name)
		}
		target := *p
		if len(target) > MaxTargetBytes {
			return nil, fmt.Errorf("%s: target longer than %d bytes", name, MaxTargetBytes)
		}
		out = append(out, params.DependencyRef{
			Name: name, Target: target,
			Where: fmt.Sprintf("input parameter %q: %s", InputDependencies, name),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CheckDependencies reports the first ref whose service is not in cat or
// whose target is malformed or outside the service's repository, for
// callers that prefer to refuse such input outright (an ApplicationSet's
// parameters are the operator's, not a developer's).
func CheckDependencies(refs []params.DependencyRef, cat params.Catalog) error {
	for _, r := range refs {
		svc, ok := cat[r.Name]
		if !ok {
			return fmt.Errorf("%s: unknown service %q (known: %s)", r.Name, r.Name, strings.Join(cat.Names(), ", "))
		}
		t, err := params.ParseTarget(r.Target)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		if t.Repo != (params.Target{}).Repo && t.Repo.Key() != svc.Repo.Key() {
			return fmt.Errorf("%s: %s is not a pull request of %s", r.Name, t, svc.Repo)
		}
	}
	return nil
}
