package compose

import "github.com/preview-generator/preview-generator/internal/params"

// Coster adds the cost parameters (params.KeyCostPerHour,
// params.KeyCostCurrency) to the parameter map of a live preview, from what
// that preview renders; *cost.Estimator is one. It must not depend on
// anything but the map: an answer stays a function of its inputs.
type Coster interface {
	AddCost(m map[string]string)
}

// addCost sets the cost parameters of m with c, or to "" without one.
func addCost(c Coster, m map[string]string) {
	if c == nil {
		m[params.KeyCostPerHour], m[params.KeyCostCurrency] = "", ""
		return
	}
	c.AddCost(m)
}
