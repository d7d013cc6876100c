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

// gates holds the rate limits known to be in force: GitHub's primary
// limits are budgets per resource (REST's "core", "graphql"), so running
// out of one leaves the other usable; a secondary limit applies to every
// request.
type gates struct {
	core, graphql, secondary *rateGate
}

func newGates(now func() time.Time) gates {
	return gates{core: &rateGate{now: now}, graphql: &rateGate{now: now}, secondary: &rateGate{now: now}}
}

// primary returns the gate of the budget endpoint spends.
func (g gates) primary(endpoint string) *rateGate {
	if endpoint == EndpointGraphQL {
		return g.graphql
	}
	return g.core
}

// check returns a *RateLimitError while a limit that applies to endpoint
// holds, nil otherwise.
func (g gates) check(endpoint string) *RateLimitError {
	if err := g.secondary.check(); err != nil {
		return err
	}
	return g.primary(endpoint).check()
}

// block records a limit met by a request of endpoint until t.
func (g gates) block(endpoint string, t time.Time, secondary bool) {
	if secondary {
		g.secondary.block(t, true)
		return
	}
	g.primary(endpoint).block(t, false)
}

// setNow replaces the clock of every gate (tests).
func (g gates) setNow(now func() time.Time) {
	g.core.now, g.graphql.now, g.secondary.now = now, now, now
}
