package compose

import (
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

const schedulingConfig = `schedulingProfiles:
  spot:
    nodeSelector: {pool: spot}
    tolerations:
      - {key: spot, operator: Exists, effect: NoSchedule}
    priorityClassName: preview-low
    priceFactor: 0.35
  standard: {}
  dedicated:
    nodeSelector: {pool: dedicated}
overlay:
  allowedSchedulingProfiles: [spot, standard]
`

// fixedCost is a Coster that prices by what the map says, to show what
// compose hands it.
type fixedCost struct{}

func (fixedCost) AddCost(m map[string]string) {
	m[params.KeyCostPerHour], m[params.KeyCostCurrency] = "profile="+m[params.KeySchedulingProfile], "EUR"
}

func TestSchedulingAndCostParameters(t *testing.T) {
	t.Parallel()
	oc, err := overlay.ParseConfig("config.yaml", []byte(schedulingConfig))
	if err != nil {
		t.Fatal(err)
	}
	o := params.Options{Label: "preview", TTL: 72 * time.Hour, BasicAuth: true, SizeProfile: "small", SchedulingProfile: "standard"}
	tests := []struct {
		name, file, appsetProfile string
		cost                      Coster
		wantProfile, wantJSON     string
		wantErr                   string
		wantCost, wantCurrency    string
	}{
		{name: "the ApplicationSet's profile", appsetProfile: "standard", wantProfile: "standard", wantJSON: "{}"},
		{name: "no profile", appsetProfile: "", wantProfile: "", wantJSON: ""},
		{
			name: "an allowed profile from .preview.yaml", file: "schedulingProfile: spot", appsetProfile: "standard",
			wantProfile: "spot",
			wantJSON:    `{"nodeSelector":{"pool":"spot"},"tolerations":[{"key":"spot","operator":"Exists","effect":"NoSchedule"}],"priorityClassName":"preview-low"}`,
		},
		{
			name: "a profile outside the allow-list: config_error, the ApplicationSet's profile stays",
			file: "ttl: 24h\nschedulingProfile: dedicated", appsetProfile: "standard",
			wantProfile: "standard", wantJSON: "{}",
			wantErr: `.preview.yaml: line 2: schedulingProfile: "dedicated" is not a scheduling profile a .preview.yaml may choose on this server (allowed: spot, standard) (using the defaults)`,
		},
		{
			name: "the cost is added last, after the scheduling keys", file: "schedulingProfile: spot", appsetProfile: "standard",
			cost: fixedCost{}, wantProfile: "spot",
			wantJSON: `{"nodeSelector":{"pool":"spot"},"tolerations":[{"key":"spot","operator":"Exists","effect":"NoSchedule"}],"priorityClassName":"preview-low"}`,
			wantCost: "profile=spot", wantCurrency: "EUR",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Overlay: oc, Limits: oc.Limits(168*time.Hour, nil), Cost: tc.cost}
			opts := o
			opts.SchedulingProfile = tc.appsetProfile
			p := mkPR(backend, 1, "aaaaaaa1", tc.file)
			m := only(t)(Compose([]pr.PullRequest{p}, nil, opts, cfg, NewCache(), now))
			for k, want := range map[string]string{
				params.KeySchedulingProfile: tc.wantProfile, params.KeyScheduling: tc.wantJSON,
				params.KeyConfigError: tc.wantErr, params.KeyCostPerHour: tc.wantCost, params.KeyCostCurrency: tc.wantCurrency,
			} {
				if got, ok := m[k]; !ok || got != want {
					t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
				}
			}
			if tc.wantErr == "" && m["ttl"] != "72h" {
				t.Errorf("ttl %s", m["ttl"])
			}
			if tc.wantErr != "" && !strings.Contains(m[params.KeyConfigError], "schedulingProfile") {
				t.Errorf("config_error %q does not name the field", m[params.KeyConfigError])
			}
		})
	}
}
