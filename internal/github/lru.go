package github

import (
	"container/list"
	"sync"
)

// lru is a goroutine-safe least-recently-used cache bounded by a number of
// entries and by a total cost (bytes, say). An entry whose own cost exceeds
// the bound is not stored.
type lru[K comparable, V any] struct {
	mu         sync.Mutex
	maxEntries int
	maxCost    int64
	cost       func(V) int64
	order      *list.List // front = most recently used
	items      map[K]*list.Element
	total      int64
}

type lruEntry[K comparable, V any] struct {
	key  K
	val  V
	cost int64
}

// newLRU returns a cache of at most maxEntries entries and maxCost total
// cost; cost may be nil (every entry costs 0), maxCost 0 means no cost bound.
func newLRU[K comparable, V any](maxEntries int, maxCost int64, cost func(V) int64) *lru[K, V] {
	if cost == nil {
		cost = func(V) int64 { return 0 }
	}
	return &lru[K, V]{
		maxEntries: max(maxEntries, 1),
		maxCost:    maxCost,
		cost:       cost,
		order:      list.New(),
		items:      map[K]*list.Element{},
	}
}

// Get returns the value of key and marks it recently used.
func (c *lru[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry[K, V]).val, true
}

// Add stores val under key, evicting the least recently used entries to stay
// within bounds. It reports whether the value was stored.
func (c *lru[K, V]) Add(key K, val V) bool {
	cost := c.cost(val)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
	if c.maxCost > 0 && cost > c.maxCost {
		return false
	}
	c.items[key] = c.order.PushFront(&lruEntry[K, V]{key: key, val: val, cost: cost})
	c.total += cost
	for c.order.Len() > c.maxEntries || (c.maxCost > 0 && c.total > c.maxCost) {
		c.removeLocked(c.order.Back())
	}
	return true
}

// Remove deletes key.
func (c *lru[K, V]) Remove(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
}

func (c *lru[K, V]) removeLocked(el *list.Element) {
	e := c.order.Remove(el).(*lruEntry[K, V])
	delete(c.items, e.key)
	c.total -= e.cost
}

// Len returns the number of entries and their total cost.
func (c *lru[K, V]) Len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.total
}
