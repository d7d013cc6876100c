package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// PreviewStates counts the live previews of each repository by lifecycle
// state (preview_generator_previews{repository, state}: awake, sleeping)
// and the pinned and extended ones among them, from each new answer.
type PreviewStates struct {
	states *prometheus.GaugeVec
	held   *prometheus.GaugeVec
}

// NewPreviewStates creates the gauges and registers them on reg.
func NewPreviewStates(reg prometheus.Registerer) *PreviewStates {
	p := &PreviewStates{
		states: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "previews",
			Help: "Live previews in the last answer for each repository, by state (awake, sleeping).",
		}, []string{"repository", "state"}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "previews_kept",
			Help: "Live previews kept past their TTL's reach, by reason: pinned (the pin label) or extended (a /preview extend comment).",
		}, []string{"repository", "reason"}),
	}
	reg.MustRegister(p.states, p.held)
	return p
}

// Observe implements server.LifecycleObserver.
func (p *PreviewStates) Observe(repos []pr.Repo, ps []map[string]string) {
	type counts struct{ awake, sleeping, pinned, extended int }
	by := map[string]*counts{}
	for _, r := range repos {
		by[r.String()] = &counts{}
	}
	for _, m := range ps {
		c := by[m[params.KeyRepository]]
		if c == nil {
			c = &counts{}
			by[m[params.KeyRepository]] = c
		}
		if m[params.KeyState] == params.StateSleeping {
			c.sleeping++
		} else {
			c.awake++
		}
		if m[params.KeyPinned] == "true" {
			c.pinned++
		}
		if m[params.KeyExtendedUntil] != "" {
			c.extended++
		}
	}
	for r, c := range by {
		p.states.WithLabelValues(r, params.StateAwake).Set(float64(c.awake))
		p.states.WithLabelValues(r, params.StateSleeping).Set(float64(c.sleeping))
		p.held.WithLabelValues(r, "pinned").Set(float64(c.pinned))
		p.held.WithLabelValues(r, "extended").Set(float64(c.extended))
	}
}
