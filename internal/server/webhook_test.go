package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/preview-generator/preview-generator/internal/metrics"
)

// TestWebhookRouteOnlyWhenConfigured checks that the webhook route exists
// only with Config.Webhook, takes no bearer token (the handler
// authenticates deliveries itself), and is observed like every route.
func TestWebhookRouteOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	reached := 0
	stub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"message":"accepted: stub"}`))
	})
	tests := []struct {
		name     string
		webhook  http.Handler
		method   string
		wantCode int
		wantMsg  string
		reached  int
	}{
		{"off: no route", nil, http.MethodPost, http.StatusNotFound, "no route POST " + RouteWebhook, 0},
		{"on: POST reaches the handler without a bearer token", stub, http.MethodPost, http.StatusAccepted, "accepted: stub", 1},
		{"on: GET is a wrong method", stub, http.MethodGet, http.StatusMethodNotAllowed, "method GET not allowed", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reached = 0
			m := metrics.New()
			s := New(Config{Token: []byte(testToken), Defaults: testDefaults(), Metrics: m, Webhook: tc.webhook})
			rec := do(t, s, tc.method, RouteWebhook, "", "{}")
			var got ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", rec.Body, err)
			}
			if rec.Code != tc.wantCode || !strings.Contains(got.Message, tc.wantMsg) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, RouteWebhook, rec.Code, got.Message, tc.wantCode, tc.wantMsg)
			}
			if reached != tc.reached {
				t.Errorf("handler reached %d times, want %d", reached, tc.reached)
			}
			if tc.wantCode == http.StatusAccepted {
				want := `preview_generator_http_requests_total{code="202",route="` + RouteWebhook + `"} 1`
				if out := scrape(t, m); !strings.Contains(out, want) {
					t.Errorf("the observe middleware did not count the delivery: metrics lack %s", want)
				}
			}
		})
	}
}
