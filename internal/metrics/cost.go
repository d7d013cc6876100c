package metrics

import "github.com/prometheus/client_golang/prometheus"

// newCostPerHour is preview_generator_cost_per_hour: the estimated hourly
// cost of a repository's live previews. Per preview it would be a series
// for every PR ever previewed; the dashboard and the cost_per_hour
// parameter carry that.
func newCostPerHour() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Name: "cost_per_hour",
		Help: "Estimated cost per hour of the live previews answered for a repository (sum of their cost_per_hour; sleeping previews count their storage only), in the currency of the server config's pricing.",
	}, []string{"repository"})
}

// CostPerHour records the summed cost_per_hour of repo's live previews.
func (m *Metrics) CostPerHour(repo string, perHour float64) {
	m.costPerHour.WithLabelValues(repo).Set(perHour)
}
