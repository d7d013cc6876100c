package params

import (
	"slices"
	"testing"
)

func TestAddScheduling(t *testing.T) {
	t.Parallel()
	ten := int64(10)
	profiles := SchedulingProfiles{
		"spot": {
			NodeSelector: map[string]string{"pool": "spot", "cloud.google.com/gke-spot": "true"},
			Tolerations: []Toleration{
				{Key: "spot", Operator: "Exists", Effect: "NoSchedule"},
				{Key: "gone", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &ten},
			},
			PriorityClassName: "preview-low", PriceFactor: 0.35,
		},
		"cheap":    {PriceFactor: 0.5},
		"selector": {NodeSelector: map[string]string{"pool": "a"}},
	}
	tests := []struct {
		name, profile, wantName, wantJSON string
	}{
		{"none", "", "", ""},
		{"unknown: none", "gone", "", ""},
		{"every field, map keys sorted, no price factor", "spot", "spot",
			`{"nodeSelector":{"cloud.google.com/gke-spot":"true","pool":"spot"},"tolerations":[{"key":"spot","operator":"Exists","effect":"NoSchedule"},{"key":"gone","operator":"Exists","effect":"NoExecute","tolerationSeconds":10}],"priorityClassName":"preview-low"}`},
		{"only a price factor: an empty object", "cheap", "cheap", `{}`},
		{"a node selector alone", "selector", "selector", `{"nodeSelector":{"pool":"a"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := map[string]string{}
			AddScheduling(m, tc.profile, profiles)
			if m[KeySchedulingProfile] != tc.wantName || m[KeyScheduling] != tc.wantJSON || len(m) != 2 {
				t.Errorf("got %q %q (%d keys), want %q %q", m[KeySchedulingProfile], m[KeyScheduling], len(m), tc.wantName, tc.wantJSON)
			}
		})
	}
	if got := profiles.Names(); !slices.Equal(got, []string{"cheap", "selector", "spot"}) {
		t.Errorf("Names = %v", got)
	}
	m := map[string]string{}
	AddScheduling(m, "spot", nil)
	if m[KeySchedulingProfile] != "" || m[KeyScheduling] != "" {
		t.Errorf("no profiles: %v", m)
	}
}
