package webhook

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// deliveries is a bounded set of delivery IDs, least recently seen evicted
// first. IDs are kept as their SHA-256, so a long header costs no more
// memory than a GUID.
type deliveries struct {
	max int

	mu    sync.Mutex
	order *list.List // of [32]byte, most recent at the front
	seen  map[[32]byte]*list.Element
}

func newDeliveries(max int) *deliveries {
	return &deliveries{max: max, order: list.New(), seen: map[[32]byte]*list.Element{}}
}

// add records id and reports whether it is new. Seeing an ID again makes
// it the most recent.
func (d *deliveries) add(id string) bool {
	k := sha256.Sum256([]byte(id))
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.seen[k]; ok {
		d.order.MoveToFront(el)
		return false
	}
	d.seen[k] = d.order.PushFront(k)
	if d.order.Len() > d.max {
		oldest := d.order.Back()
		d.order.Remove(oldest)
		delete(d.seen, oldest.Value.([32]byte))
	}
	return true
}

// len returns how many IDs are held.
func (d *deliveries) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}
