package cost

import (
	"testing"
)

// BenchmarkEstimateCached is the cost of cost_per_hour on the answer's
// path: a cache hit and the arithmetic.
func BenchmarkEstimateCached(b *testing.B) {
	e := NewEstimator(backendRenderer(b), testPricing, nil, nil)
	m := combo{db: true, redis: true, mongodb: true, auth: true}.params("small")
	e.AddCost(m) // the one render
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.AddCost(m)
	}
}

// BenchmarkEstimateRender is what the cache saves: one render and measure
// of the preview (what every answer would pay without it).
func BenchmarkEstimateRender(b *testing.B) {
	r := backendRenderer(b)
	m := combo{db: true, redis: true, mongodb: true, auth: true}.params("small")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		objs, err := r(m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Measure(objs); err != nil {
			b.Fatal(err)
		}
	}
}
