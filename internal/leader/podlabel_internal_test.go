package leader

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

func TestRolePatch(t *testing.T) {
	t.Parallel()
	leaderValue := RoleLeader
	tests := []struct {
		name  string
		value *string
		want  string
	}{
		{"set", &leaderValue, `{"metadata":{"labels":{"preview-generator.io/role":"leader"}}}`},
		{"remove", nil, `{"metadata":{"labels":{"preview-generator.io/role":null}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := string(rolePatch(tc.value)); got != tc.want {
				t.Errorf("rolePatch = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLeaderSelector(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{DefaultPodSelector, "app.kubernetes.io/name=preview-generator,preview-generator.io/role=leader"},
		{"a=b,c in (d)", "a=b,c in (d),preview-generator.io/role=leader"},
	}
	for _, tc := range tests {
		if got := leaderSelector(tc.in); got != tc.want {
			t.Errorf("leaderSelector(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewPodLabelerChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  PodLabelerConfig
		want string // "" for success
	}{
		{"no namespace", PodLabelerConfig{Pod: "p"}, "namespace and name are required"},
		{"no pod", PodLabelerConfig{Namespace: "n"}, "namespace and name are required"},
		{"bad selector", PodLabelerConfig{Namespace: "n", Pod: "p", Selector: "a in ("}, "selector"},
		{"fine", PodLabelerConfig{Namespace: "n", Pod: "p", REST: &rest.Config{Host: "https://127.0.0.1:1"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := NewPodLabeler(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.want == "" && l.selector != DefaultPodSelector:
				t.Errorf("selector = %q, want the default", l.selector)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
