package dashboard

import (
	"strings"
	"testing"
	"time"
)

func TestFromParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		m     map[string]string
		check func(t *testing.T, p Preview)
	}{
		{"full answer", liveParams(), func(t *testing.T, p Preview) {
			if p.Name != "backend-pr-1-58d661" || p.Number != 1 || p.State != StateLive || p.CostPerHour != "0.0412" ||
				p.CostCurrency != "USD" || p.JiraIssue != "ABC-123" || p.Pinned || !p.ExtendedUntil.IsZero() ||
				!p.ExpiresAt.Equal(time.Date(2026, 11, 20, 17, 12, 0, 0, time.UTC)) ||
				!p.SleepsAt.Equal(time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC)) || len(p.Dependencies) != 0 {
				t.Errorf("%+v", p)
			}
		}},
		{"sleeping, pinned, a dependency", sleepingParams(), func(t *testing.T, p Preview) {
			if p.State != StateSleeping || !p.Pinned || len(p.Dependencies) != 1 || p.Dependencies[0].Name != "payments" ||
				p.Dependencies[0].Target != "pr-42" || !strings.HasPrefix(p.Dependencies[0].URL, "http://app.payments-pr-42-") {
				t.Errorf("%+v", p)
			}
		}},
		{"without lifecycle keys", oldParams(), func(t *testing.T, p Preview) {
			if p.State != StateLive || p.CostPerHour != "" || !p.SleepsAt.IsZero() || p.JiraIssue != "" || p.Pinned {
				t.Errorf("%+v", p)
			}
		}},
		{"empty map", map[string]string{}, func(t *testing.T, p Preview) {
			if p.State != StateLive || p.Number != 0 || !p.ExpiresAt.IsZero() || p.Dependencies != nil {
				t.Errorf("%+v", p)
			}
		}},
		{"malformed values", map[string]string{
			"number": "x", "expires_at": "tomorrow", "sleeps_at": "2026-13-01T00:00:00Z", "state": "SLEEPING",
			"cost_per_hour": "-1", "pinned": "yes", "dependencies": "{not json",
		}, func(t *testing.T, p Preview) {
			if p.Number != 0 || !p.ExpiresAt.IsZero() || !p.SleepsAt.IsZero() || p.State != StateSleeping ||
				p.CostPerHour != "" || p.Pinned || len(p.Dependencies) != 1 || !strings.Contains(p.Dependencies[0].Reason, "cannot be read") {
				t.Errorf("%+v", p)
			}
		}},
		{"unknown state is live", map[string]string{"state": "hibernating"}, func(t *testing.T, p Preview) {
			if p.State != StateLive {
				t.Errorf("state %q", p.State)
			}
		}},
		{"costs: NaN, Inf and huge are no estimate", map[string]string{"cost_per_hour": "NaN"}, func(t *testing.T, p Preview) {
			for _, c := range []string{"NaN", "Inf", "1e300"} {
				if _, ok := parseCost(c); ok {
					t.Errorf("parseCost(%q) accepted", c)
				}
			}
			if p.CostPerHour != "" {
				t.Errorf("cost %q", p.CostPerHour)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, FromParams("backend", tc.m))
		})
	}
}

func TestRelative(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "<1m ago"},
		{1, "in <1m"},
		{59 * time.Second, "in <1m"},
		{-59 * time.Second, "<1m ago"},
		{time.Minute, "in 1m"},
		{5*time.Hour + 12*time.Minute + 59*time.Second, "in 5h12m"},
		{-(5*time.Hour + 12*time.Minute), "5h12m ago"},
		{3 * time.Hour, "in 3h"},
		{24 * time.Hour, "in 1d"},
		{46*time.Hour + 59*time.Minute, "in 1d22h"},
		{-(71 * time.Hour), "2d23h ago"},
		{time.Duration(1<<63 - 1), "in 106751d23h"},
		{time.Duration(-1 << 63), "106751d23h ago"},
	}
	for _, tc := range tests {
		if got := Relative(tc.d); got != tc.want {
			t.Errorf("Relative(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// FuzzRelative: every duration reads as "in X" or "X ago", X made of
// whole units in decreasing order, and the sign is right.
func FuzzRelative(f *testing.F) {
	for _, d := range []int64{0, 59e9, -59e9, 60e9, 3600e9, 86400e9, 1<<63 - 1, -1 << 63} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		s := Relative(d)
		body, future := strings.CutPrefix(s, "in ")
		if !future {
			var ok bool
			if body, ok = strings.CutSuffix(s, " ago"); !ok {
				t.Fatalf("Relative(%v) = %q", d, s)
			}
		}
		if future != (d > 0) {
			t.Fatalf("Relative(%v) = %q: wrong direction", d, s)
		}
		if body == "<1m" {
			if d >= time.Minute || d <= -time.Minute {
				t.Fatalf("Relative(%v) = %q", d, s)
			}
			return
		}
		units := "dhm"
		rest := body
		for rest != "" {
			i := strings.IndexAny(rest, units)
			if i <= 0 || strings.ContainsAny(rest[:i], "-+ ") {
				t.Fatalf("Relative(%v) = %q", d, s)
			}
			units = units[strings.IndexByte(units, rest[i])+1:]
			rest = rest[i+1:]
		}
	})
}

func TestTotals(t *testing.T) {
	t.Parallel()
	at := func(ago time.Duration) time.Time { return testNow.Add(-ago) }
	tests := []struct {
		name string
		ps   []Preview
		want Totals
	}{
		{"none", nil, Totals{CostPerDay: []Money{}, ByAge: []Bucket{{"< 1 day", 0}, {"1–3 days", 0}, {"3–7 days", 0}, {"1–4 weeks", 0}, {"≥ 4 weeks", 0}}}},
		{"states, currencies, ages", []Preview{
			{State: StateLive, CostPerHour: "0.5", CostCurrency: "EUR", CreatedAt: at(time.Hour)},
			{State: StateLive, CostPerHour: "0.25", CostCurrency: "USD", CreatedAt: at(24 * time.Hour)},
			{State: StateSleeping, CostPerHour: "0.01", CostCurrency: "USD", CreatedAt: at(40 * 24 * time.Hour)},
			{State: StateLive, CreatedAt: testNow.Add(time.Hour)}, // created "in the future": age 0
			{State: StateQueued, CostPerHour: "9"},
			{State: StateQueued},
		}, Totals{Live: 3, Sleeping: 1, QueueLength: 2, Unestimated: 1,
			CostPerDay: []Money{{"EUR", "12.00"}, {"USD", "6.24"}},
			ByAge:      []Bucket{{"< 1 day", 2}, {"1–3 days", 1}, {"3–7 days", 0}, {"1–4 weeks", 0}, {"≥ 4 weeks", 1}}}},
		{"no currency named", []Preview{{State: StateLive, CostPerHour: "1"}}, Totals{Live: 1, CostPerDay: []Money{{"", "24.00"}},
			ByAge: []Bucket{{"< 1 day", 0}, {"1–3 days", 0}, {"3–7 days", 0}, {"1–4 weeks", 0}, {"≥ 4 weeks", 0}, {"unknown", 1}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := total(tc.ps, 0, testNow)
			if !equalJSON(t, got, tc.want) {
				t.Errorf("total = %+v\nwant    %+v", got, tc.want)
			}
		})
	}
}

func TestLinks(t *testing.T) {
	t.Parallel()
	p := Preview{Name: "backend-pr-1-58d661", Namespace: "backend-pr-1-58d661"}
	if l := links(p, "", "argocd"); l != (Links{}) {
		t.Errorf("no Argo CD URL: %+v", l)
	}
	if l := links(Preview{}, "https://a.example.com", "argocd"); l != (Links{}) {
		t.Errorf("queued (no name): %+v", l)
	}
	l := links(p, "https://a.example.com/argo", "apps")
	if l.ArgoCD != "https://a.example.com/argo/applications/apps/backend-pr-1-58d661" ||
		l.Logs != l.ArgoCD+"?node=apps%2FDeployment%2Fbackend-pr-1-58d661%2Fapp%2F0&tab=logs" {
		t.Errorf("%+v", l)
	}
}

// FuzzFromParams: any parameter values read as a preview without
// panicking, with a known state, a non-negative number, and a cost that
// is either absent or a valid estimate.
func FuzzFromParams(f *testing.F) {
	f.Add("1", "2026-11-20T17:12:00Z", "sleeping", "0.0412", `[{"name":"payments","target":"pr-42"}]`)
	f.Add("x", "tomorrow", "", "-1", "{")
	f.Add("-5", "2026-02-30T00:00:00Z", "SLEEPING", "NaN", "null")
	f.Fuzz(func(t *testing.T, number, expires, state, cost, deps string) {
		p := FromParams("a", map[string]string{
			"number": number, "expires_at": expires, "sleeps_at": expires, "state": state,
			"cost_per_hour": cost, "dependencies": deps,
		})
		if p.State != StateLive && p.State != StateSleeping {
			t.Fatalf("state %q", p.State)
		}
		if p.Number < 0 {
			t.Fatalf("number %d", p.Number)
		}
		if p.CostPerHour != "" {
			if c, ok := parseCost(p.CostPerHour); !ok || c < 0 {
				t.Fatalf("cost %q", p.CostPerHour)
			}
		}
		if !p.ExpiresAt.IsZero() && p.ExpiresAt.Location() != time.UTC {
			t.Fatalf("expiry not in UTC: %v", p.ExpiresAt)
		}
		_ = total([]Preview{p}, 0, testNow)
		_ = Relative(p.ExpiresAt.Sub(testNow))
	})
}
