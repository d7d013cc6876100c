package server

import (
	"strconv"

	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/params"
)

// CostMetrics receives the summed cost estimate of each repository's live
// previews. A Metrics that implements it (*metrics.Metrics does) gets it
// when the server prices previews (Compose.Cost set).
type CostMetrics interface {
	CostPerHour(repo string, perHour float64)
}

// observeCost records, for every repository of live (each requested one,
// 0 previews included), the sum of its previews' cost_per_hour. A preview
// without an estimate adds nothing.
func (s *Server) observeCost(live map[string]int, ans compose.Answer) {
	cm, ok := s.cfg.Metrics.(CostMetrics)
	if !ok || s.cfg.Compose.Cost == nil {
		return
	}
	sum := make(map[string]float64, len(live))
	for _, m := range ans.Params {
		if v, err := strconv.ParseFloat(m[params.KeyCostPerHour], 64); err == nil {
			sum[m[params.KeyRepository]] += v
		}
	}
	for r := range live {
		cm.CostPerHour(r, sum[r])
	}
}
