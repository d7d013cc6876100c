package dashboard

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRecentlyGone(t *testing.T) {
	t.Parallel()
	a := FromParams("backend", liveParams())     // expires 17:12
	b := FromParams("backend", sleepingParams()) // expires two days later
	c := FromParams("payments", oldParams())
	answered := func(names ...string) []string { return names }
	type step struct {
		at   time.Duration // after testNow
		snap Snapshot
		want string // gone, newest first: "name:state"
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a preview that leaves before its expiry is removed", []step{
			{0, Snapshot{Answered: answered("backend"), Previews: []Preview{a, b}}, ""},
			{time.Minute, Snapshot{Answered: answered("backend"), Previews: []Preview{a}}, "backend-pr-12-58d661:removed"},
		}},
		{"one that leaves past its expiry expired", []step{
			{0, Snapshot{Answered: answered("backend"), Previews: []Preview{a, b}}, ""},
			{6 * time.Hour, Snapshot{Answered: answered("backend"), Previews: []Preview{b}}, "backend-pr-1-58d661:expired"},
		}},
		{"an unavailable ApplicationSet loses nothing", []step{
			{0, Snapshot{Answered: answered("backend", "payments"), Previews: []Preview{a, c}}, ""},
			{time.Minute, Snapshot{Answered: answered("backend"), Unavailable: []Unavailable{{"payments", "cold"}}, Previews: []Preview{a}}, ""},
			{2 * time.Minute, Snapshot{Answered: answered("backend", "payments"), Previews: []Preview{a, c}}, ""},
		}},
		{"nothing known loses nothing", []step{
			{0, Snapshot{Answered: answered("backend"), Previews: []Preview{a}}, ""},
			{time.Minute, Snapshot{}, ""},
		}},
		{"a preview that comes back is no longer gone", []step{
			{0, Snapshot{Answered: answered("backend"), Previews: []Preview{a, b}}, ""},
			{time.Minute, Snapshot{Answered: answered("backend"), Previews: []Preview{a}}, "backend-pr-12-58d661:removed"},
			{2 * time.Minute, Snapshot{Answered: answered("backend"), Previews: []Preview{a, b}}, ""},
		}},
		{"queued rows never go", []step{
			{0, Snapshot{Answered: answered("payments"), Previews: []Preview{queued()}}, ""},
			{time.Minute, Snapshot{Answered: answered("payments")}, ""},
		}},
		{"gone is forgotten after a day", []step{
			{0, Snapshot{Answered: answered("backend"), Previews: []Preview{a, b}}, ""},
			{time.Minute, Snapshot{Answered: answered("backend"), Previews: []Preview{a}}, "backend-pr-12-58d661:removed"},
			{25 * time.Hour, Snapshot{Answered: answered("backend"), Previews: []Preview{}}, "backend-pr-1-58d661:expired"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newMemory(DefaultMaxGone, DefaultKeepGone)
			for i, s := range tc.steps {
				var got []string
				for _, p := range m.observe(s.snap, testNow.Add(s.at)) {
					got = append(got, p.Name+":"+p.State)
				}
				if strings.Join(got, ",") != s.want {
					t.Fatalf("step %d: gone %v, want %q", i, got, s.want)
				}
			}
		})
	}
}

func TestRecentlyGoneIsBounded(t *testing.T) {
	t.Parallel()
	m := newMemory(3, time.Hour)
	var all []Preview
	for i := range 10 {
		p := FromParams("backend", oldParams())
		p.Name = "p" + strconv.Itoa(i)
		all = append(all, p)
	}
	m.observe(Snapshot{Answered: []string{"backend"}, Previews: all}, testNow)
	for i := range all {
		m.observe(Snapshot{Answered: []string{"backend"}, Previews: all[i+1:]}, testNow.Add(time.Duration(i+1)*time.Second))
	}
	gone := m.observe(Snapshot{Answered: []string{"backend"}}, testNow.Add(time.Minute))
	if len(gone) != 3 || gone[0].Name != "p9" || gone[2].Name != "p7" {
		t.Fatalf("gone %v: want the newest 3", gone)
	}
	if len(m.seen) != 0 {
		t.Errorf("seen %d", len(m.seen))
	}
}
