package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/webhook"
)

var _ webhook.Metrics = (*metrics.Metrics)(nil)

func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	deliveries := []struct{ event, outcome string }{
		{"pull_request", webhook.OutcomeAccepted},
		{"pull_request", webhook.OutcomeAccepted},
		{"push", webhook.OutcomeReplayed},
		{"other", webhook.OutcomeBadSignature},
	}
	for _, d := range deliveries {
		m.WebhookDelivery(d.event, d.outcome)
	}
	want := `
# HELP preview_generator_webhook_deliveries_total GitHub webhook deliveries, by event (ping, pull_request, push, issue_comment, status, check_run, check_suite, other) and outcome (accepted, ignored, replayed, bad_signature, unsigned, too_large, bad_request).
# TYPE preview_generator_webhook_deliveries_total counter
preview_generator_webhook_deliveries_total{event="other",outcome="bad_signature"} 1
preview_generator_webhook_deliveries_total{event="pull_request",outcome="accepted"} 2
preview_generator_webhook_deliveries_total{event="push",outcome="replayed"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "preview_generator_webhook_deliveries_total"); err != nil {
		t.Error(err)
	}
}
