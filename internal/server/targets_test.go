package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/store"
)

// labelSource records each Get and answers one PR per repository; a label
// in fail makes Get fail.
type labelSource struct {
	mu    sync.Mutex
	calls []string // "label: repo,repo"
	gen   map[string]uint64
	fail  string
}

func (s *labelSource) Get(_ context.Context, repos []pr.Repo, label string) (store.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, len(repos))
	res := store.Result{Generation: s.gen[label], OldestSync: testNow.Add(-time.Duration(len(s.calls)+1) * time.Minute)}
	for i, r := range repos {
		names[i] = r.String()
		res.Lists = append(res.Lists, []pr.PullRequest{{Repo: r, Number: 1}})
	}
	s.calls = append(s.calls, label+": "+strings.Join(names, ","))
	if label == s.fail {
		return store.Result{}, fmt.Errorf("%w: listing failed", store.ErrUnavailable)
	}
	return res, nil
}

func (s *labelSource) Ready() bool { return true }

func TestTargetPRsOneReadPerLabel(t *testing.T) {
	t.Parallel()
	var (
		api   = pr.Repo{Owner: "acme", Name: "api"}
		be    = pr.Repo{Owner: "acme", Name: "backend"}
		pay   = pr.Repo{Owner: "acme", Name: "payments"}
		other = pr.Repo{Owner: "acme", Name: "unlisted"}
	)
	opts := func(label string) params.Options { return params.Options{Label: label} }
	tests := []struct {
		name    string
		repos   []pr.Repo
		targets map[string]params.Options
		fail    string
		calls   []string
		prs     []string
		gen     uint64
		err     string
	}{
		{"one label", []pr.Repo{api, be}, map[string]params.Options{api.Key(): opts("preview"), be.Key(): opts("preview")}, "",
			[]string{"preview: acme/api,acme/backend"}, []string{"acme/api", "acme/backend"}, 5, ""},
		{"each repository under its own label", []pr.Repo{api, be, pay},
			map[string]params.Options{api.Key(): opts("preview"), be.Key(): opts("deploy-preview"), pay.Key(): opts("preview")}, "",
			[]string{"deploy-preview: acme/backend", "preview: acme/api,acme/payments"}, []string{"acme/backend", "acme/api", "acme/payments"}, 3, ""},
		{"repository without options left out", []pr.Repo{be, other}, map[string]params.Options{be.Key(): opts("preview")}, "",
			[]string{"preview: acme/backend"}, []string{"acme/backend"}, 5, ""},
		{"a failed read fails all", []pr.Repo{api, be},
			map[string]params.Options{api.Key(): opts("preview"), be.Key(): opts("deploy-preview")}, "preview",
			[]string{"deploy-preview: acme/backend", "preview: acme/api"}, nil, 0, `label "preview": pull requests not available yet`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &labelSource{gen: map[string]uint64{"preview": 5, "deploy-preview": 3}, fail: tc.fail}
			res, err := TargetPRs(context.Background(), src, tc.repos, tc.targets)
			if !reflect.DeepEqual(src.calls, tc.calls) {
				t.Errorf("reads = %q, want %q", src.calls, tc.calls)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("err = %v, want %q wrapping ErrUnavailable", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range res.All() {
				got = append(got, p.Repo.String())
			}
			if !reflect.DeepEqual(got, tc.prs) {
				t.Errorf("PRs of %v, want %v", got, tc.prs)
			}
			if res.Generation != tc.gen {
				t.Errorf("Generation = %d, want the oldest read's %d", res.Generation, tc.gen)
			}
			if want := testNow.Add(-time.Duration(len(tc.calls)) * time.Minute); !res.OldestSync.Equal(want) {
				t.Errorf("OldestSync = %v, want %v", res.OldestSync, want)
			}
		})
	}
}

// getparams judges a dependency target under its repository's options in
// Compose.Targets, not under the server defaults.
func TestGetParamsTargetsUnderTheirRepositoryOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target func(*params.Options)
		want   map[string]string
	}{
		{"server defaults", nil, map[string]string{"dep_backend_target": "pr-1",
			"dep_backend_public_url": "https://backend-pr-1-58d661.preview.example.com"}},
		{"ttl 2h: expired an hour ago", func(o *params.Options) { o.TTL = 2 * time.Hour },
			map[string]string{"dep_backend_target": "staging", "dep_backend_reason": params.ReasonExpired}},
		{"label deploy-preview", func(o *params.Options) { o.Label = "deploy-preview" },
			map[string]string{"dep_backend_target": "staging"}},
		{"own domain", func(o *params.Options) { o.Domain = "pr.example.org" },
			map[string]string{"dep_backend_target": "pr-1", "dep_backend_public_url": "https://backend-pr-1-58d661.pr.example.org"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newDepsServer(t)
			if tc.target != nil {
				o := testDefaults().Options()
				tc.target(&o)
				s.cfg.Compose.Targets["acme/backend"] = o
			}
			rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/frontend"]}`))
			var d decoded
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != 200 || len(d.Output.Parameters) == 0 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			fe := d.Output.Parameters[0]
			for k, v := range tc.want {
				if fe[k] != v {
					t.Errorf("%s = %q, want %q", k, fe[k], v)
				}
			}
		})
	}
}
