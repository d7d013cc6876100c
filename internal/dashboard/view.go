package dashboard

import (
	"cmp"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Relative writes the instant now+d as people read it: "in 5h12m",
// "3d4h ago", "in <1m", "<1m ago" (now itself is past). Minutes are the
// smallest unit; from a day on, hours are.
func Relative(d time.Duration) string {
	past := d <= 0
	if past {
		if d == time.Duration(-1<<63) {
			d = 1<<63 - 1
		} else {
			d = -d
		}
	}
	s := span(d)
	if past {
		return s + " ago"
	}
	return "in " + s
}

// span writes a non-negative duration in days, hours and minutes.
func span(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d < day:
		h, m := d/time.Hour, (d%time.Hour)/time.Minute
		if m == 0 {
			return strconv.FormatInt(int64(h), 10) + "h"
		}
		return strconv.FormatInt(int64(h), 10) + "h" + strconv.FormatInt(int64(m), 10) + "m"
	default:
		days, h := d/day, (d%day)/time.Hour
		if h == 0 {
			return strconv.FormatInt(int64(days), 10) + "d"
		}
		return strconv.FormatInt(int64(days), 10) + "d" + strconv.FormatInt(int64(h), 10) + "h"
	}
}

// AgeBuckets are the bounds of the totals' age buckets: a pull request
// created d ago falls in the first bucket whose bound exceeds d.
var AgeBuckets = []struct {
	Label string
	Below time.Duration
}{
	{"< 1 day", 24 * time.Hour},
	{"1–3 days", 3 * 24 * time.Hour},
	{"3–7 days", 7 * 24 * time.Hour},
	{"1–4 weeks", 28 * 24 * time.Hour},
	{"≥ 4 weeks", 1<<63 - 1},
}

// ageUnknown labels previews whose pull request's creation is unknown.
const ageUnknown = "unknown"

// Totals sums up the listed previews.
type Totals struct {
	Live     int `json:"live"`
	Sleeping int `json:"sleeping"`
	// QueueLength is how many pull requests wait for a slot.
	QueueLength  int `json:"queue_length"`
	RecentlyGone int `json:"recently_gone"`
	// CostPerDay is the sum of the listed previews' cost per hour times
	// 24, one entry per currency.
	CostPerDay []Money `json:"cost_per_day"`
	// Unestimated counts the listed previews without a cost estimate.
	Unestimated int `json:"unestimated"`
	// ByAge counts the listed previews by the age of their pull request.
	ByAge []Bucket `json:"by_age"`
}

// Money is an amount in a currency ("" when the answer named none).
type Money struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

// Bucket is one age bucket.
type Bucket struct {
	Label string `json:"label"`
	Count int    `json:"count"`
}

// total sums up listed (live and sleeping) and queued previews at now.
func total(listed []Preview, gone int, now time.Time) Totals {
	t := Totals{RecentlyGone: gone, CostPerDay: []Money{}}
	cost := map[string]float64{}
	ages := make([]int, len(AgeBuckets))
	unknownAge := 0
	for _, p := range listed {
		switch p.State {
		case StateQueued:
			t.QueueLength++
			continue
		case StateSleeping:
			t.Sleeping++
		default:
			t.Live++
		}
		if c, ok := parseCost(p.CostPerHour); ok {
			cost[p.CostCurrency] += c * 24
		} else {
			t.Unestimated++
		}
		if p.CreatedAt.IsZero() {
			unknownAge++
			continue
		}
		age := max(now.Sub(p.CreatedAt), 0)
		for i, b := range AgeBuckets {
			if age < b.Below {
				ages[i]++
				break
			}
		}
	}
	for _, cur := range slices.Sorted(maps.Keys(cost)) {
		t.CostPerDay = append(t.CostPerDay, Money{Currency: cur, Amount: strconv.FormatFloat(cost[cur], 'f', 2, 64)})
	}
	for i, b := range AgeBuckets {
		t.ByAge = append(t.ByAge, Bucket{Label: b.Label, Count: ages[i]})
	}
	if unknownAge > 0 {
		t.ByAge = append(t.ByAge, Bucket{Label: ageUnknown, Count: unknownAge})
	}
	return t
}

// Links are where a preview's row points.
type Links struct {
	// ArgoCD is the Application in Argo CD's UI, Logs its app
	// Deployment's logs there; empty without an Argo CD URL.
	ArgoCD string
	Logs   string
}

// links returns the Argo CD links of p under base (Argo CD's UI root, no
// trailing slash) and the Applications' namespace.
func links(p Preview, base, appNamespace string) Links {
	if base == "" || p.Name == "" {
		return Links{}
	}
	app := base + "/applications/" + url.PathEscape(appNamespace) + "/" + url.PathEscape(p.Name)
	l := Links{ArgoCD: app}
	if p.Namespace != "" {
		// Argo CD's UI selects a resource by "group/Kind/namespace/name/
		// container" in the node query parameter: the app Deployment's
		// logs, all its pods.
		l.Logs = app + "?" + url.Values{"node": {"apps/Deployment/" + p.Namespace + "/app/0"}, "tab": {"logs"}}.Encode()
	}
	return l
}

// sortPreviews orders rows: by state (live, sleeping, queued), then
// repository and number.
func sortPreviews(ps []Preview) {
	rank := func(s string) int {
		switch s {
		case StateLive:
			return 0
		case StateSleeping:
			return 1
		case StateQueued:
			return 2
		}
		return 3
	}
	slices.SortStableFunc(ps, func(a, b Preview) int {
		return cmp.Or(cmp.Compare(rank(a.State), rank(b.State)),
			cmp.Compare(strings.ToLower(a.Repository), strings.ToLower(b.Repository)),
			cmp.Compare(a.Number, b.Number), cmp.Compare(a.ApplicationSet, b.ApplicationSet))
	})
}
