package github

import (
	"sync"
	"time"
)

// rateGate remembers until when GitHub must not be called. It only ever
// extends the block: a later answer cannot shorten a known limit.
type rateGate struct {
	mu        sync.Mutex
	now       func() time.Time
	until     time.Time
	secondary bool
}

// check returns a *RateLimitError while the gate is closed, nil otherwise.
func (g *rateGate) check() *RateLimitError {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.now().Before(g.until) {
		return &RateLimitError{Reset: g.until, Secondary: g.secondary}
	}
	return nil
}

// block closes the gate until t.
func (g *rateGate) block(t time.Time, secondary bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.until) {
		g.until, g.secondary = t, secondary
	}
}
