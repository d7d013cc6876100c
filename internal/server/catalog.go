package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// lifecycleKeys are the input parameters that decide which previews of a
// repository Argo CD lists and where they live: a dependency target is
// judged under them, so the catalog's services.<name>.input and the
// ApplicationSet that deploys the repository must agree on them.
var lifecycleKeys = []string{InLabel, InTTL, InDomain, InIncludeDrafts, InIncludeForks, InExcludeBots, InMaxPreviews, InPinLabel}

// optionDiff is one lifecycle option on which two sets of options differ.
type optionDiff struct {
	key, a, b string
}

// lifecycleDiff lists the lifecycle options in which b differs from a, in
// lifecycleKeys order. Labels compare case-insensitively, as PRs' labels do.
func lifecycleDiff(a, b params.Options) []optionDiff {
	var out []optionDiff
	add := func(key string, equal bool, av, bv string) {
		if !equal {
			out = append(out, optionDiff{key, av, bv})
		}
	}
	add(InLabel, strings.EqualFold(a.Label, b.Label), strconv.Quote(a.Label), strconv.Quote(b.Label))
	add(InTTL, a.TTL == b.TTL, params.FormatDuration(a.TTL), params.FormatDuration(b.TTL))
	add(InDomain, a.Domain == b.Domain, strconv.Quote(a.Domain), strconv.Quote(b.Domain))
	add(InIncludeDrafts, a.IncludeDrafts == b.IncludeDrafts, strconv.FormatBool(a.IncludeDrafts), strconv.FormatBool(b.IncludeDrafts))
	add(InIncludeForks, a.IncludeForks == b.IncludeForks, strconv.FormatBool(a.IncludeForks), strconv.FormatBool(b.IncludeForks))
	add(InExcludeBots, a.ExcludeBots == b.ExcludeBots, strconv.FormatBool(a.ExcludeBots), strconv.FormatBool(b.ExcludeBots))
	add(InMaxPreviews, a.MaxPreviews == b.MaxPreviews, strconv.Itoa(a.MaxPreviews), strconv.Itoa(b.MaxPreviews))
	add(InPinLabel, strings.EqualFold(params.PinLabel(a), params.PinLabel(b)), strconv.Quote(params.PinLabel(a)), strconv.Quote(params.PinLabel(b)))
	return out
}

// ServiceParameters returns a catalog service's input as getparams input
// parameters: its parameters, and repositories set to the service's
// repository.
func ServiceParameters(svc params.Service, in overlay.ServiceInput) v1alpha1.PluginParameters {
	out := v1alpha1.PluginParameters{}
	for k, v := range in.Params {
		out[k] = apiextensionsv1.JSON{Raw: v}
	}
	repos, _ := json.Marshal([]string{svc.Repo.String()}) // a string list: cannot fail
	out[InRepositories] = apiextensionsv1.JSON{Raw: repos}
	return out
}

// CatalogTargets turns the input of every service of cfg's catalog
// (services.<name>.input) into the options the PRs of the service's
// repository are judged under as dependency targets, keyed by
// pr.Repo.Key(). It uses the code that checks a getparams request:
// ParseInput over d, with repositories set to the service's repository
// and dependencies checked against cfg's catalog, so
// a service without input gets d's options. Services of one repository
// must declare the same lifecycle options (label, ttl, domain,
// includeDrafts, includeForks, excludeBots); the first by name gives the
// repository's options.
//
// Each problem is an *overlay.FieldError naming the service and the key,
// e.g. services.backend.input.ttl; they are joined.
func CatalogTargets(cfg *overlay.Config, d Defaults) (map[string]params.Options, error) {
	out := map[string]params.Options{}
	first := map[string]string{} // repository key → the service that gave its options
	var errs []error
	for _, name := range cfg.Services.Names() {
		svc := cfg.Services[name]
		in := cfg.ServiceInputs[name]
		if in.Path == "" {
			in.Path = "services." + name + ".input"
		}
		dd := d
		dd.AllowedRepos = map[string]pr.Repo{svc.Repo.Key(): svc.Repo}
		dd.Catalog = cfg.Services
		parsed, err := ParseInput(ServiceParameters(svc, in), dd)
		if err != nil {
			var ie *InputError
			if errors.As(err, &ie) {
				errs = append(errs, in.FieldError(ie.Key, ie.Msg))
			} else {
				errs = append(errs, in.FieldError("", err.Error()))
			}
			continue
		}
		key := svc.Repo.Key()
		prev, ok := out[key]
		if !ok {
			out[key], first[key] = parsed.Options, name
			continue
		}
		for _, df := range lifecycleDiff(prev, parsed.Options) {
			errs = append(errs, in.FieldError(df.key, fmt.Sprintf(
				"%s, but services.%s.input gives %s: services of one repository (%s) must declare the same %s",
				df.b, first[key], df.a, svc.Repo, strings.Join(lifecycleKeys, ", "))))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// CheckCatalog refuses an ApplicationSet whose input disagrees with the
// service catalog: for every repository of in that is a catalog
// repository, the lifecycle options in asks for (label, ttl, domain,
// includeDrafts, includeForks, excludeBots, after the defaults) must equal
// the ones targets holds for it (CatalogTargets), or that repository's
// previews would be judged as dependency targets under other rules than
// the ones Argo CD lists them by. The error names each repository, each
// differing key with both values, and the services.<name>.input to agree
// with; nil when all agree.
func CheckCatalog(in Input, targets map[string]params.Options, cat params.Catalog) error {
	var errs []error
	for _, r := range in.Repos {
		want, ok := targets[r.Key()]
		if !ok {
			continue
		}
		diffs := lifecycleDiff(want, in.Options)
		if len(diffs) == 0 {
			continue
		}
		var names []string
		for _, n := range cat.Names() {
			if cat[n].Repo.Key() == r.Key() {
				names = append(names, "services."+n+".input")
			}
		}
		where := strings.Join(names, " and ")
		if where == "" {
			where = "services.<name>.input"
		}
		parts := make([]string, len(diffs))
		for i, df := range diffs {
			parts[i] = fmt.Sprintf("%s: ApplicationSet %s, catalog %s", df.key, df.b, df.a)
		}
		errs = append(errs, fmt.Errorf(
			"%s is in the service catalog, whose %s declares other lifecycle options than this ApplicationSet asks for (%s). "+
				"Make the ApplicationSet input and the catalog's %s agree: the catalog's values decide when %s's previews are dependency targets "+
				"(a key left out takes the server default)",
			r, where, strings.Join(parts, "; "), where, r))
	}
	return errors.Join(errs...)
}
