package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestLifecycleInputs: sleepAfter and pinLabel reach the answer, and a bad
// value is a 400 naming the key.
func TestLifecycleInputs(t *testing.T) {
	t.Parallel()
	s, _ := newFileServer(t)
	ok := "Bearer " + testToken
	bad := []struct{ name, params, msg string }{
		{"sleepAfter not a duration", `{"repositories":["acme/backend"],"sleepAfter":"soon"}`, `input parameter "sleepAfter": "soon" is not a duration`},
		{"sleepAfter negative", `{"repositories":["acme/backend"],"sleepAfter":"-1h"}`, `input parameter "sleepAfter": "-1h" must not be negative`},
		{"sleepAfter wrong type", `{"repositories":["acme/backend"],"sleepAfter":2}`, `input parameter "sleepAfter": want a string, got a number`},
		{"pinLabel empty", `{"repositories":["acme/backend"],"pinLabel":" "}`, `input parameter "pinLabel": must not be empty`},
		{"pinLabel wrong type", `{"repositories":["acme/backend"],"pinLabel":true}`, `input parameter "pinLabel": want a string, got a boolean`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, s, http.MethodPost, RouteGetParams, ok, body(tc.params))
			var e ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != http.StatusBadRequest || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("= %d %s, want 400 with %q", rec.Code, rec.Body, tc.msg)
			}
		})
	}
	good := []struct {
		name, params          string
		state, replicas, when string
	}{
		{"sleep off by default", `{"repositories":["acme/backend"]}`, "awake", "1", ""},
		{"sleepAfter 0 is off", `{"repositories":["acme/backend"],"sleepAfter":"0"}`, "awake", "1", ""},
		// acme/backend#1's last activity is 09:00, the test clock 12:00.
		{"idle past sleepAfter sleeps", `{"repositories":["acme/backend"],"sleepAfter":"30m"}`, "sleeping", "0", "2026-11-20T09:30:00Z"},
		{"idle before sleepAfter is awake", `{"repositories":["acme/backend"],"sleepAfter":"4h"}`, "awake", "1", "2026-11-20T13:00:00Z"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, s, http.MethodPost, RouteGetParams, ok, body(tc.params))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var got decoded
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			p := got.Output.Parameters[0]
			if p["state"] != tc.state || p["replicas"] != tc.replicas || p["sleeps_at"] != tc.when || p["pinned"] != "false" {
				t.Errorf("state=%q replicas=%q sleeps_at=%q pinned=%q, want %q %q %q false", p["state"], p["replicas"], p["sleeps_at"], p["pinned"], tc.state, tc.replicas, tc.when)
			}
		})
	}
}
