package github

import "testing"

func TestLRU(t *testing.T) {
	t.Parallel()
	type op struct {
		add    string // key to add (value = its length in cost units)
		cost   int64
		get    string
		wantOK bool
	}
	tests := []struct {
		name       string
		maxEntries int
		maxCost    int64
		ops        []op
		wantLen    int
		wantCost   int64
	}{
		{
			name: "evicts least recently used by count", maxEntries: 2,
			ops: []op{
				{add: "a", cost: 1}, {add: "b", cost: 1}, {get: "a", wantOK: true},
				{add: "c", cost: 1}, {get: "b", wantOK: false}, {get: "a", wantOK: true}, {get: "c", wantOK: true},
			},
			wantLen: 2, wantCost: 2,
		},
		{
			name: "evicts by cost", maxEntries: 10, maxCost: 10,
			ops: []op{
				{add: "a", cost: 4}, {add: "b", cost: 4}, {add: "c", cost: 4},
				{get: "a", wantOK: false}, {get: "b", wantOK: true}, {get: "c", wantOK: true},
			},
			wantLen: 2, wantCost: 8,
		},
		{
			name: "refuses an entry larger than the bound", maxEntries: 10, maxCost: 10,
			ops:     []op{{add: "a", cost: 3}, {add: "big", cost: 11}, {get: "big", wantOK: false}, {get: "a", wantOK: true}},
			wantLen: 1, wantCost: 3,
		},
		{
			name: "replacing a key updates its cost", maxEntries: 10, maxCost: 10,
			ops:     []op{{add: "a", cost: 3}, {add: "a", cost: 5}, {get: "a", wantOK: true}},
			wantLen: 1, wantCost: 5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newLRU[string, int64](tc.maxEntries, tc.maxCost, func(v int64) int64 { return v })
			for i, o := range tc.ops {
				if o.add != "" {
					c.Add(o.add, o.cost)
					continue
				}
				if _, ok := c.Get(o.get); ok != o.wantOK {
					t.Errorf("op %d: Get(%q) ok = %v, want %v", i, o.get, ok, o.wantOK)
				}
			}
			if n, cost := c.Len(); n != tc.wantLen || cost != tc.wantCost {
				t.Errorf("Len = %d, %d; want %d, %d", n, cost, tc.wantLen, tc.wantCost)
			}
		})
	}
}
