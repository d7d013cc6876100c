package cost

import (
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/preview-generator/preview-generator/internal/params"
)

// Renderer renders the manifests of the preview a parameter map describes
// (what Argo CD would deploy for it: internal/render.Preview, wired in
// cmd/generator, so that this package stays free of kustomize and Argo CD).
type Renderer func(m map[string]string) ([]*unstructured.Unstructured, error)

// RenderKeys are the parameters a preview's rendered requests depend on:
// the component switches, the size profile and the replica count (a
// sleeping preview's app at 0). Everything else in a parameter map (names,
// host, image, env, dependencies, scheduling) changes what the manifests
// say but not what they request. TestRenderKeysDecideUsage holds this
// against the real kustomize tree.
var RenderKeys = []string{
	params.KeyDBEnabled, params.KeyDBPersistentEnabled, params.KeyRedisEnabled, params.KeyMongoDBEnabled,
	params.KeyBasicAuthEnabled, params.KeySizeProfile, keyReplicas,
}

// The lifecycle parameters the estimate reads: state "sleeping" prices
// storage only; replicas is part of what the templates render.
const (
	keyState      = params.KeyState
	stateSleeping = params.StateSleeping
	keyReplicas   = params.KeyReplicas
)

// Estimator adds cost_per_hour and cost_currency to parameter maps. It
// renders one preview per distinct RenderKeys combination, once, and keeps
// its Usage (or its error): the price is then arithmetic. What it renders
// is the canonical map of the key (see Canonical), so the estimate of a
// map is a function of its key alone, whichever map of that key came
// first: the cache cannot change an answer. It is safe for concurrent use;
// concurrent first calls of one key render once.
type Estimator struct {
	render   Renderer
	pricing  *Pricing
	profiles params.SchedulingProfiles
	logger   *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	once  sync.Once
	usage Usage
	err   error
}

// maxEntries bounds the cache: RenderKeys take a few dozen combinations;
// past it (a flood of unknown size profiles), the cache is cleared.
const maxEntries = 4096

// NewEstimator returns an Estimator rendering with render and pricing with
// pricing (nil: no estimate, cost_per_hour is "") and the price factors of
// profiles. logger (may be nil) hears of a combination that cannot be
// measured, once per combination.
func NewEstimator(render Renderer, pricing *Pricing, profiles params.SchedulingProfiles, logger *slog.Logger) *Estimator {
	return &Estimator{render: render, pricing: pricing, profiles: profiles, logger: logger, entries: map[string]*entry{}}
}

// Key is the cache key of m: its RenderKeys values.
func Key(m map[string]string) string {
	var b strings.Builder
	for _, k := range RenderKeys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	return b.String()
}

// Canonical returns the map rendered for m's key: m with what a pull
// request writes itself (env, dependencies and the config_error they may
// bring) emptied, and no cost parameters. Those vary from PR to PR and
// never change a request, so a PR whose env would break the template does
// not decide the estimate of the other PRs of its key. What remains is the
// key and values every preview of an ApplicationSet shares in form (names,
// host, image, seed version).
func Canonical(m map[string]string) map[string]string {
	c := maps.Clone(m)
	c[params.KeyEnv], c[params.KeyDependencies], c[params.KeyDependencyNames], c[params.KeyConfigError] = "{}", "[]", "", ""
	delete(c, params.KeyCostPerHour)
	delete(c, params.KeyCostCurrency)
	return c
}

// Usage returns what the preview of m's key requests, rendering the
// canonical map on the first call for the key.
func (e *Estimator) Usage(m map[string]string) (Usage, error) {
	key := Key(m)
	e.mu.Lock()
	en, ok := e.entries[key]
	if !ok {
		if len(e.entries) >= maxEntries {
			clear(e.entries)
		}
		en = &entry{}
		e.entries[key] = en
	}
	e.mu.Unlock()
	en.once.Do(func() {
		objs, err := e.render(Canonical(m))
		if err == nil {
			en.usage, err = Measure(objs)
		}
		if err != nil {
			en.err = fmt.Errorf("estimating the cost of %s: %w", strings.ReplaceAll(strings.TrimSuffix(key, "\x00"), "\x00", " "), err)
			if e.logger != nil {
				e.logger.Warn("cost estimate", "error", en.err)
			}
		}
	})
	return en.usage, en.err
}

// Estimate returns the hourly price of the preview of m, formatted, and
// the currency; both "" without pricing or when m cannot be measured.
func (e *Estimator) Estimate(m map[string]string) (perHour, currency string, err error) {
	if e == nil || e.pricing == nil {
		return "", "", nil
	}
	u, err := e.Usage(m)
	if err != nil {
		return "", "", err
	}
	factor := 1.0
	if p, ok := e.profiles[m[params.KeySchedulingProfile]]; ok && p.PriceFactor > 0 {
		factor = p.PriceFactor
	}
	return Format(PerHour(u, *e.pricing, factor, m[keyState] == stateSleeping)), e.pricing.Currency, nil
}

// AddCost sets cost_per_hour and cost_currency in m (see Estimate). m
// must already carry the scheduling and lifecycle parameters.
func (e *Estimator) AddCost(m map[string]string) {
	m[params.KeyCostPerHour], m[params.KeyCostCurrency], _ = e.Estimate(m)
}
