package credentials

import (
	"slices"
	"sync"
	"time"
)

// Bounds of Answers.
const (
	// MaxAnswerAge is how long an ApplicationSet's last answer counts as
	// current. Argo CD asks every requeueAfterSeconds (30 s in appsets/),
	// and about 3 minutes after an error; an ApplicationSet that stopped
	// asking (deleted, renamed) stops naming namespaces after this.
	MaxAnswerAge = 10 * time.Minute
	// MaxAnswerSets bounds the ApplicationSets remembered; past it the one
	// answered longest ago is forgotten.
	MaxAnswerSets = 256
)

// Answers is the generator's current answer, as far as the namespaces go:
// the namespace parameter of every preview of the last answer served to
// each ApplicationSet within MaxAnswerAge. The HTTP server tells it each
// answer it serves (it implements server.AnswerObserver) and the
// Controller reads it (it implements Live). It is safe for concurrent
// use.
type Answers struct {
	mu      sync.Mutex
	sets    map[string]answered
	changed chan struct{}
	now     func() time.Time
}

type answered struct {
	namespaces []string // sorted
	at         time.Time
}

// NewAnswers returns an empty Answers. now is the clock; nil means
// time.Now.
func NewAnswers(now func() time.Time) *Answers {
	if now == nil {
		now = time.Now
	}
	return &Answers{sets: map[string]answered{}, changed: make(chan struct{}, 1), now: now}
}

// Served records the answer served to applicationSet: namespaces, sorted.
// When they differ from its previous answer, Changed fires. It never
// blocks.
func (a *Answers) Served(applicationSet string, namespaces []string) {
	now := a.now()
	a.mu.Lock()
	prev, ok := a.sets[applicationSet]
	same := ok && now.Sub(prev.at) < MaxAnswerAge && slices.Equal(prev.namespaces, namespaces)
	if same {
		prev.at = now
		a.sets[applicationSet] = prev
		a.mu.Unlock()
		return
	}
	if !ok && len(a.sets) >= MaxAnswerSets {
		oldest := ""
		for k, v := range a.sets {
			if oldest == "" || v.at.Before(a.sets[oldest].at) {
				oldest = k
			}
		}
		delete(a.sets, oldest)
	}
	a.sets[applicationSet] = answered{namespaces: slices.Clone(namespaces), at: now}
	a.mu.Unlock()
	select {
	case a.changed <- struct{}{}:
	default: // one pending signal is enough
	}
}

// Namespaces returns, sorted and without duplicates, the namespaces of
// every ApplicationSet's current answer.
func (a *Answers) Namespaces() []string {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for k, v := range a.sets {
		if now.Sub(v.at) >= MaxAnswerAge {
			delete(a.sets, k)
			continue
		}
		out = append(out, v.namespaces...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Changed receives a value after an answer changed the namespaces of its
// ApplicationSet. Signals coalesce: one pending value stands for any
// number of changes.
func (a *Answers) Changed() <-chan struct{} { return a.changed }
