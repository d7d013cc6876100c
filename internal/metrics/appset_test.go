package metrics

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestAppSetRefresh(t *testing.T) {
	t.Parallel()
	m := New()
	for _, c := range []struct{ appset, outcome string }{
		{"backend", "patched"}, {"backend", "patched"}, {"backend", "error"}, {"frontend", "not_found"},
	} {
		m.AppSetRefresh(c.appset, c.outcome)
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "preview_generator_appset_refreshes_total" {
			continue
		}
		if f.GetType() != dto.MetricType_COUNTER {
			t.Errorf("type = %v, want counter", f.GetType())
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["appset"]+"/"+labels["outcome"]] = s.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"backend/patched": 2, "backend/error": 1, "frontend/not_found": 1}
	if len(got) != len(want) {
		t.Fatalf("series = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
