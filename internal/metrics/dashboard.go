package metrics

import "github.com/prometheus/client_golang/prometheus"

// registerDashboard creates and registers the dashboard's collectors. Its
// page and JSON requests are counted by http_requests_total (routes "/"
// and "/api/v1/previews").
func (m *Metrics) registerDashboard() {
	m.dashboardWakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "dashboard_wakes_total",
		Help: "Wake requests from the dashboard, by outcome: posted (a /preview wake comment), denied, cross_origin, bad_request, not_sleeping, rate_limited, unavailable, error.",
	}, []string{"outcome"})
	m.Registry.MustRegister(m.dashboardWakes)
}

// DashboardWake counts one wake request by outcome.
func (m *Metrics) DashboardWake(outcome string) { m.dashboardWakes.WithLabelValues(outcome).Inc() }
