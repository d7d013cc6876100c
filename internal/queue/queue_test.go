package queue

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

var (
	backend  = pr.Repo{Owner: "acme", Name: "backend"}
	payments = pr.Repo{Owner: "acme", Name: "payments"}
	t0       = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
)

// e is an entry of repo's PR n with activity at t0 + min minutes and the
// namespace "<repo>-<n>".
func e(repo pr.Repo, n, min int) Entry {
	return Entry{Repo: repo, Number: n, Namespace: fmt.Sprintf("%s-%d", repo.Name, n), Activity: t0.Add(time.Duration(min) * time.Minute)}
}

// summary writes a result as "admitted: a, b* | queued: c 1/2 repo, ..."
// (* live; the queue named by repo or global).
func summary(r Result) string {
	var a, q []string
	for _, x := range r.Admitted {
		s := x.Key()
		if x.Live {
			s += "*"
		}
		a = append(a, s)
	}
	for _, w := range r.Queued {
		where := w.Repo.Key()
		if w.Global {
			where = "global"
		}
		q = append(q, fmt.Sprintf("%s %d/%d %s", w.Key(), w.Position, w.Of, where))
	}
	return "admitted: " + strings.Join(a, ", ") + " | queued: " + strings.Join(q, ", ")
}

func TestAdmit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []Entry
		live    []string
		policy  Policy
		want    string
	}{
		{
			name:    "no cap admits everything, oldest activity first",
			entries: []Entry{e(backend, 2, 5), e(backend, 1, 10), e(payments, 3, 0)},
			want:    "admitted: acme/payments#3, acme/backend#2, acme/backend#1 | queued: ",
		},
		{
			name:    "repository cap: the oldest activity gets the slot",
			entries: []Entry{e(backend, 1, 10), e(backend, 2, 5), e(backend, 3, 7)},
			policy:  Policy{RepoMax: map[string]int{"acme/backend": 1}},
			want:    "admitted: acme/backend#2 | queued: acme/backend#3 1/2 acme/backend, acme/backend#1 2/2 acme/backend",
		},
		{
			name:    "a live preview is kept although a waiting PR is older",
			entries: []Entry{e(backend, 1, 10), e(backend, 2, 5)},
			live:    []string{"backend-1"},
			policy:  Policy{RepoMax: map[string]int{"acme/backend": 1}},
			want:    "admitted: acme/backend#1* | queued: acme/backend#2 1/1 acme/backend",
		},
		{
			name:    "lowering a cap below the live count evicts nothing and admits nothing",
			entries: []Entry{e(backend, 1, 1), e(backend, 2, 2), e(backend, 3, 3), e(backend, 4, 0)},
			live:    []string{"backend-1", "backend-2", "backend-3"},
			policy:  Policy{RepoMax: map[string]int{"acme/backend": 1}},
			want:    "admitted: acme/backend#1*, acme/backend#2*, acme/backend#3* | queued: acme/backend#4 1/1 acme/backend",
		},
		{
			name:    "a freed slot goes to the oldest waiting PR",
			entries: []Entry{e(backend, 2, 5), e(backend, 3, 1)},
			live:    []string{"backend-1"}, // #1 closed: no entry; its namespace does not hold a slot
			policy:  Policy{RepoMax: map[string]int{"acme/backend": 1}},
			want:    "admitted: acme/backend#3 | queued: acme/backend#2 1/1 acme/backend",
		},
		{
			name:    "global cap over repositories, oldest activity first",
			entries: []Entry{e(backend, 1, 3), e(payments, 7, 1), e(backend, 2, 2), e(payments, 8, 4)},
			policy:  Policy{Max: 2},
			want:    "admitted: acme/payments#7, acme/backend#2 | queued: acme/backend#1 1/2 global, acme/payments#8 2/2 global",
		},
		{
			name:    "global cap counts the live previews of every repository",
			entries: []Entry{e(backend, 1, 3), e(payments, 7, 9), e(backend, 2, 2)},
			live:    []string{"payments-7"},
			policy:  Policy{Max: 2},
			want:    "admitted: acme/backend#2, acme/payments#7* | queued: acme/backend#1 1/1 global",
		},
		{
			name:    "a PR held by its repository's cap leaves the global slot to another repository",
			entries: []Entry{e(backend, 1, 1), e(backend, 2, 2), e(payments, 7, 3), e(payments, 8, 4)},
			policy:  Policy{Max: 2, RepoMax: map[string]int{"acme/backend": 1}},
			want:    "admitted: acme/backend#1, acme/payments#7 | queued: acme/backend#2 1/1 acme/backend, acme/payments#8 1/1 global",
		},
		{
			name:    "ties in activity go by repository, then number",
			entries: []Entry{e(payments, 1, 0), e(backend, 9, 0), e(backend, 3, 0)},
			policy:  Policy{Max: 1},
			want:    "admitted: acme/backend#3 | queued: acme/backend#9 1/2 global, acme/payments#1 2/2 global",
		},
		{
			name:    "a repeated entry counts once",
			entries: []Entry{e(backend, 1, 0), e(backend, 1, 0), e(backend, 2, 1)},
			policy:  Policy{Max: 2},
			want:    "admitted: acme/backend#1, acme/backend#2 | queued: ",
		},
		{
			name:    "a namespace that lives but is no entry does not count",
			entries: []Entry{e(backend, 1, 0)},
			live:    []string{"backend-99", "other"},
			policy:  Policy{Max: 1},
			want:    "admitted: acme/backend#1 | queued: ",
		},
		{
			name:    "repository keys are case-insensitive",
			entries: []Entry{e(pr.Repo{Owner: "Acme", Name: "Backend"}, 1, 0), e(backend, 2, 1)},
			policy:  Policy{RepoMax: map[string]int{"acme/backend": 1}},
			want:    "admitted: acme/backend#1 | queued: acme/backend#2 1/1 acme/backend",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Admit(tc.entries, NewSet(tc.live...), tc.policy)
			if s := summary(got); s != tc.want {
				t.Errorf("got  %s\nwant %s", s, tc.want)
			}
		})
	}
}

func TestReasons(t *testing.T) {
	t.Parallel()
	r := Admit([]Entry{e(backend, 1, 0), e(backend, 2, 1), e(payments, 3, 2)}, nil, Policy{Max: 1, RepoMax: map[string]int{"acme/backend": 1}})
	want := []string{
		"the previews of acme/backend are at its cap of 1 (maxPreviews)",
		"the previews of all repositories are at the cap of 1 (--max-previews)",
	}
	var got []string
	for _, w := range r.Queued {
		got = append(got, w.Reason)
	}
	if !slices.Equal(got, want) {
		t.Errorf("reasons %q, want %q", got, want)
	}
	if !r.IsAdmitted(pr.Repo{Owner: "ACME", Name: "backend"}, 1) || r.IsAdmitted(backend, 2) {
		t.Errorf("IsAdmitted wrong: %s", summary(r))
	}
	if got := r.QueuedByRepo(backend, payments, pr.Repo{Owner: "acme", Name: "idle"}); got["acme/backend"] != 1 || got["acme/payments"] != 1 || got["acme/idle"] != 0 || len(got) != 3 {
		t.Errorf("QueuedByRepo = %v", got)
	}
}

func TestCapped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    Policy
		want bool
	}{
		{Policy{}, false},
		{Policy{RepoMax: map[string]int{"a/b": 0}}, false},
		{Policy{RepoMax: map[string]int{"a/b": 2}}, true},
		{Policy{Max: 1}, true},
	} {
		if got := tc.p.Capped(); got != tc.want {
			t.Errorf("%+v.Capped() = %t, want %t", tc.p, got, tc.want)
		}
	}
}

// TestSlotFreesAcrossPolls replays a queue over polls: each admitted PR's
// namespace appears before the next poll, and closing one admits the next
// at once, never more than the cap, never dropping a live one.
func TestSlotFreesAcrossPolls(t *testing.T) {
	t.Parallel()
	open := []Entry{e(backend, 1, 0), e(backend, 2, 1), e(backend, 3, 2)}
	live := NewSet()
	p := Policy{RepoMax: map[string]int{"acme/backend": 1}}
	poll := func() Result {
		r := Admit(open, live, p)
		for _, a := range r.Admitted {
			live[a.Namespace] = struct{}{} // Argo CD creates it
		}
		return r
	}
	steps := []string{
		"admitted: acme/backend#1 | queued: acme/backend#2 1/2 acme/backend, acme/backend#3 2/2 acme/backend",
		"admitted: acme/backend#1* | queued: acme/backend#2 1/2 acme/backend, acme/backend#3 2/2 acme/backend",
	}
	for i, want := range steps {
		if s := summary(poll()); s != want {
			t.Fatalf("poll %d: %s\nwant %s", i, s, want)
		}
	}
	open = open[1:] // #1 closes; its namespace is still being pruned
	if s := summary(poll()); s != "admitted: acme/backend#2 | queued: acme/backend#3 1/1 acme/backend" {
		t.Fatalf("after close: %s", s)
	}
	// A push to the waiting #3 does not take the slot of #2, now live.
	open[1].Activity = t0.Add(-time.Hour)
	if s := summary(poll()); s != "admitted: acme/backend#2* | queued: acme/backend#3 1/1 acme/backend" {
		t.Fatalf("after the push: %s", s)
	}
}

// check asserts Admit's invariants for one input.
func check(t *testing.T, entries []Entry, live Set, p Policy) {
	t.Helper()
	r := Admit(entries, live, p)
	keys := map[string]Entry{}
	for _, x := range entries {
		if _, ok := keys[x.Key()]; !ok {
			keys[x.Key()] = x
		}
	}
	// Every entry is admitted or queued, never both.
	if len(r.Admitted)+len(r.Queued) != len(keys) {
		t.Fatalf("%d admitted + %d queued != %d entries", len(r.Admitted), len(r.Queued), len(keys))
	}
	perRepo, liveRepo, total, liveTotal := map[string]int{}, map[string]int{}, 0, 0
	for _, a := range r.Admitted {
		if !r.IsAdmitted(a.Repo, a.Number) {
			t.Fatalf("%s admitted but not IsAdmitted", a.Key())
		}
		perRepo[a.Repo.Key()]++
		total++
		if a.Live != live.Has(a.Namespace) {
			t.Fatalf("%s Live=%t", a.Key(), a.Live)
		}
		if a.Live {
			liveRepo[a.Repo.Key()]++
			liveTotal++
		}
	}
	// A live one is never queued.
	for _, w := range r.Queued {
		if live.Has(w.Namespace) {
			t.Fatalf("live %s queued", w.Key())
		}
		if r.IsAdmitted(w.Repo, w.Number) {
			t.Fatalf("%s both admitted and queued", w.Key())
		}
	}
	// No more admitted than the cap, unless they already live.
	if p.Max > 0 && total > max(p.Max, liveTotal) {
		t.Fatalf("%d admitted, cap %d, %d live", total, p.Max, liveTotal)
	}
	for repo, n := range perRepo {
		if c := p.RepoMax[repo]; c > 0 && n > max(c, liveRepo[repo]) {
			t.Fatalf("%s: %d admitted, cap %d, %d live", repo, n, c, liveRepo[repo])
		}
	}
	// Work-conserving: a queued PR is held by a full cap.
	for _, w := range r.Queued {
		c := p.RepoMax[w.Repo.Key()]
		repoFull := c > 0 && perRepo[w.Repo.Key()] >= c
		if w.Global == repoFull || (w.Global && total < p.Max) {
			t.Fatalf("%s queued (global %t) with repo %d/%d, total %d/%d", w.Key(), w.Global, perRepo[w.Repo.Key()], c, total, p.Max)
		}
	}
	// Order: queued in queue order; no admitted non-live PR is behind a
	// queued PR of the same queue; positions count 1..Of per queue.
	for i := 1; i < len(r.Queued); i++ {
		if before(r.Queued[i-1].Entry, r.Queued[i].Entry) >= 0 {
			t.Fatalf("queue out of order at %d", i)
		}
	}
	for _, a := range r.Admitted {
		if a.Live {
			continue
		}
		for _, w := range r.Queued {
			same := w.Global || w.Repo.Key() == a.Repo.Key()
			if same && before(w.Entry, a.Entry) < 0 {
				t.Fatalf("%s admitted behind queued %s", a.Key(), w.Key())
			}
		}
	}
	pos := map[string]int{}
	for _, w := range r.Queued {
		pos[scope(w)]++
		if w.Position != pos[scope(w)] {
			t.Fatalf("%s position %d, want %d", w.Key(), w.Position, pos[scope(w)])
		}
	}
	for _, w := range r.Queued {
		if w.Of != pos[scope(w)] {
			t.Fatalf("%s of %d, want %d", w.Key(), w.Of, pos[scope(w)])
		}
	}
	// Deterministic: another order of the same entries, the same result.
	shuffled := slices.Clone(entries)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if a, b := summary(r), summary(Admit(shuffled, live, p)); a != b && !hasDuplicates(entries) {
		t.Fatalf("order-dependent:\n%s\n%s", a, b)
	}
}

// hasDuplicates reports whether two entries share a key with different
// contents (the first one in input order wins, so order matters then).
func hasDuplicates(entries []Entry) bool {
	seen := map[string]Entry{}
	for _, x := range entries {
		if y, ok := seen[x.Key()]; ok && y != x {
			return true
		}
		seen[x.Key()] = x
	}
	return false
}

// FuzzAdmit decodes entries, a live set and caps from bytes and checks
// every invariant of Admit.
func FuzzAdmit(f *testing.F) {
	f.Add([]byte{3, 1, 2, 0, 1, 5, 1, 2, 7, 0, 3, 3})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 2, 9, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3})
	repos := []pr.Repo{backend, payments, {Owner: "acme", Name: "frontend"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return int(b)
		}
		p := Policy{Max: next() % 6, RepoMax: map[string]int{}}
		for _, r := range repos {
			p.RepoMax[r.Key()] = next() % 4
		}
		var entries []Entry
		live := NewSet()
		for len(data) > 0 && len(entries) < 64 {
			x := e(repos[next()%len(repos)], next()%12, next()%8)
			entries = append(entries, x)
			if next()%3 == 0 {
				live[x.Namespace] = struct{}{}
			}
		}
		check(t, entries, live, p)
	})
}
