package dashboard

import (
	"slices"
	"sync"
	"time"
)

// memory remembers the previews of the last snapshot, to show those that
// left the answer since: recently gone. It is display only and bounded:
// at most maxGone entries, none older than keepGone. A process restart
// forgets it; another replica has its own.
type memory struct {
	maxGone  int
	keepGone time.Duration

	mu   sync.Mutex
	seen map[string]Preview // listed previews of the last snapshot, by key
	gone []Preview          // newest first
}

func newMemory(maxGone int, keepGone time.Duration) *memory {
	return &memory{maxGone: maxGone, keepGone: keepGone, seen: map[string]Preview{}}
}

// observe takes a snapshot at now and returns the recently gone previews,
// newest first. A preview is gone when its ApplicationSet answered the
// previous snapshot with it and this one, completely, without it. An
// ApplicationSet that cannot be read now says nothing: its previews are
// neither gone nor forgotten.
func (m *memory) observe(s Snapshot, now time.Time) []Preview {
	answered := map[string]bool{}
	for _, a := range s.Answered {
		answered[a] = true
	}
	known := map[string]bool{}
	for _, u := range s.Unavailable {
		known[u.ApplicationSet] = true
	}
	current := map[string]Preview{}
	for _, p := range s.Previews {
		if p.State == StateLive || p.State == StateSleeping {
			current[p.key()] = p
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	for k, p := range m.seen {
		switch {
		case answered[p.ApplicationSet]:
			if _, ok := current[k]; ok {
				continue
			}
			p.LeftAt, p.State = now, StateRemoved
			if !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt) {
				p.State = StateExpired
			}
			m.gone = slices.Insert(m.gone, 0, p)
			delete(m.seen, k)
		case !known[p.ApplicationSet]:
			delete(m.seen, k) // an ApplicationSet no longer asked about
		}
	}
	for k, p := range current {
		m.seen[k] = p
	}
	m.gone = slices.DeleteFunc(m.gone, func(p Preview) bool {
		_, back := current[p.key()]
		return back || now.Sub(p.LeftAt) > m.keepGone
	})
	slices.SortStableFunc(m.gone, func(a, b Preview) int { return b.LeftAt.Compare(a.LeftAt) })
	if len(m.gone) > m.maxGone {
		m.gone = m.gone[:m.maxGone]
	}
	return slices.Clone(m.gone)
}
