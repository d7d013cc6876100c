package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/preview-generator/preview-generator/internal/dashboard"
)

var _ dashboard.Metrics = (*Metrics)(nil)

func TestDashboardMetrics(t *testing.T) {
	t.Parallel()
	m := New()
	m.DashboardWake("posted")
	m.DashboardWake("posted")
	m.DashboardWake("rate_limited")
	want := `
# HELP preview_generator_dashboard_wakes_total Wake requests from the dashboard, by outcome: posted (a /preview wake comment), denied, cross_origin, bad_request, not_sleeping, rate_limited, unavailable, error.
# TYPE preview_generator_dashboard_wakes_total counter
preview_generator_dashboard_wakes_total{outcome="posted"} 2
preview_generator_dashboard_wakes_total{outcome="rate_limited"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "preview_generator_dashboard_wakes_total"); err != nil {
		t.Fatal(err)
	}
}
