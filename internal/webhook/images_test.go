package webhook_test

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/webhook"
)

// newGatedRig is newRig with acme/backend gated on gate; acme/frontend is
// watched but not gated.
func newGatedRig(t *testing.T, gate webhook.ImageGate) *rig {
	t.Helper()
	r := &rig{sink: &recSink{}, metrics: &recMetrics{counts: map[string]int{}}}
	watched := map[string]bool{"acme/backend": true, "acme/frontend": true}
	h, err := webhook.New(webhook.Config{
		Secret: secret, Sink: r.sink, Metrics: r.metrics,
		Watched: func(repo pr.Repo) bool { return watched[repo.Key()] },
		ImageGate: func(repo pr.Repo) (webhook.ImageGate, bool) {
			return gate, repo.Key() == backend.Key()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	srv := httptest.NewServer(server.New(server.Config{Webhook: h}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + server.RouteWebhook
	return r
}

func TestImageGateDeliveries(t *testing.T) {
	t.Parallel()
	status := fixture(t, "status.json")
	run := fixture(t, "check_run_completed.json")
	suite := fixture(t, "check_suite_completed.json")
	frontend := func(b []byte) []byte {
		b = replace(t, b, `"full_name": "acme/backend"`, `"full_name": "acme/frontend"`)
		return b
	}
	byCheck := webhook.ImageGate{CheckRun: "build-image"}
	byStatus := webhook.ImageGate{Status: "ci/image"}
	all := []call{{backend, 0}}
	tests := []struct {
		name     string
		gate     webhook.ImageGate
		event    string
		body     []byte
		wantCode int
		wantMsg  string
		want     []call
		outcome  string
	}{
		{"status of the gate", byStatus, "status", status, 202,
			`accepted: status "ci/image" success on acme/backend@6dcb09b`, all, "status/accepted"},
		{"status of another context", byStatus, "status", replace(t, status, `"context": "ci/image"`, `"context": "ci/test"`), 200,
			`ignored: status "ci/test" is not the image gate of acme/backend`, nil, "status/ignored"},
		{"status of an ungated repository", byStatus, "status", frontend(status), 200,
			`ignored: acme/frontend has no image gate`, nil, "status/ignored"},
		{"status of a repository gated on a check run", byCheck, "status", status, 200,
			`ignored: status "ci/image" is not the image gate of acme/backend`, nil, "status/ignored"},
		{"check run of the gate", byCheck, "check_run", run, 202,
			`accepted: check run "build-image" completed on acme/backend@6dcb09b`, all, "check_run/accepted"},
		{"check run created", byCheck, "check_run", replace(t, run, `"action": "completed"`, `"action": "created"`), 202,
			`accepted: check run "build-image" created on acme/backend@6dcb09b`, all, "check_run/accepted"},
		{"check run requested_action", byCheck, "check_run", replace(t, run, `"action": "completed"`, `"action": "requested_action"`), 200,
			`ignored: check_run action "requested_action" changes no image state`, nil, "check_run/ignored"},
		{"another check run", byCheck, "check_run", replace(t, run, `"name": "build-image"`, `"name": "test"`), 200,
			`ignored: check run "test" is not the image gate of acme/backend`, nil, "check_run/ignored"},
		{"check suite completed", byCheck, "check_suite", suite, 202,
			`accepted: check suite completed on acme/backend@6dcb09b`, all, "check_suite/accepted"},
		{"check suite requested", byCheck, "check_suite", replace(t, suite, `"action": "completed"`, `"action": "requested"`), 200,
			`ignored: check_suite action "requested" changes no image state`, nil, "check_suite/ignored"},
		{"check suite of a status gate", byStatus, "check_suite", suite, 200,
			`ignored: acme/backend is gated on a status, not a check run`, nil, "check_suite/ignored"},
		{"status of an unwatched repository", byStatus, "status", replace(t, status, `"full_name": "acme/backend"`, `"full_name": "acme/other"`), 200,
			`ignored: repository not watched: acme/other`, nil, "status/ignored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newGatedRig(t, tc.gate)
			got := r.send(t, signed(tc.event, "d-1", tc.body))
			if got.code != tc.wantCode || got.message != tc.wantMsg {
				t.Errorf("answer %d %q, want %d %q", got.code, got.message, tc.wantCode, tc.wantMsg)
			}
			if calls := r.sink.got(); !reflect.DeepEqual(calls, tc.want) {
				t.Errorf("sink told %v, want %v", calls, tc.want)
			}
			if m := r.metrics.get(); m[tc.outcome] != 1 {
				t.Errorf("metrics %v, want %s once", m, tc.outcome)
			}
		})
	}
}
