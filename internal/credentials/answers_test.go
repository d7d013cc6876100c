package credentials

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func changed(a *Answers) bool {
	select {
	case <-a.Changed():
		return true
	default:
		return false
	}
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)}
	a := NewAnswers(clk.Now)
	if got := a.Namespaces(); len(got) != 0 || changed(a) {
		t.Fatalf("empty: %v", got)
	}
	steps := []struct {
		name        string
		appset      string
		namespaces  []string
		advance     time.Duration
		wantChanged bool
		want        []string
	}{
		{"first answer", "backend", []string{"backend-pr-1-58d661", "backend-pr-12-58d661"}, 0, true, []string{"backend-pr-1-58d661", "backend-pr-12-58d661"}},
		{"same answer", "backend", []string{"backend-pr-1-58d661", "backend-pr-12-58d661"}, time.Minute, false, []string{"backend-pr-1-58d661", "backend-pr-12-58d661"}},
		{"another ApplicationSet, overlapping", "payments", []string{"backend-pr-1-58d661", "payments-pr-42-1a2b3c"}, 0, true,
			[]string{"backend-pr-1-58d661", "backend-pr-12-58d661", "payments-pr-42-1a2b3c"}},
		{"a preview leaves", "backend", []string{"backend-pr-12-58d661"}, 0, true, []string{"backend-pr-1-58d661", "backend-pr-12-58d661", "payments-pr-42-1a2b3c"}},
		{"empty answer", "payments", nil, 0, true, []string{"backend-pr-12-58d661"}},
		// backend was last asked 0 ago; 9m later it still counts.
		{"still current", "other", nil, 9 * time.Minute, true, []string{"backend-pr-12-58d661"}},
		// backend's answer is now 10m old: no longer current.
		{"outdated", "other", nil, time.Minute, false, nil},
		{"asked again after it was outdated", "backend", []string{"backend-pr-12-58d661"}, 0, true, []string{"backend-pr-12-58d661"}},
	}
	for _, s := range steps {
		clk.add(s.advance)
		a.Served(s.appset, s.namespaces)
		if got := changed(a); got != s.wantChanged {
			t.Errorf("%s: changed = %t, want %t", s.name, got, s.wantChanged)
		}
		if got := a.Namespaces(); !slices.Equal(got, s.want) {
			t.Errorf("%s: Namespaces() = %v, want %v", s.name, got, s.want)
		}
	}
}

func TestAnswersBounded(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)}
	a := NewAnswers(clk.Now)
	for i := range MaxAnswerSets + 10 {
		clk.add(time.Millisecond)
		a.Served(fmt.Sprintf("appset-%d", i), []string{fmt.Sprintf("ns-%04d", i)})
	}
	got := a.Namespaces()
	if len(got) != MaxAnswerSets || got[0] != "ns-0010" {
		t.Errorf("%d namespaces from %q, want the newest %d", len(got), got[0], MaxAnswerSets)
	}
}

func TestAnswersServedKeepsNoAlias(t *testing.T) {
	t.Parallel()
	a := NewAnswers(nil)
	in := []string{"backend-pr-1-58d661"}
	a.Served("backend", in)
	in[0] = "changed"
	if got := a.Namespaces(); !slices.Equal(got, []string{"backend-pr-1-58d661"}) {
		t.Errorf("Namespaces() = %v after the caller changed its slice", got)
	}
}
