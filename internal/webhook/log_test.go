package webhook

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

func TestDeliveriesForgetTheLeastRecentlySeen(t *testing.T) {
	t.Parallel()
	d := newDeliveries(3)
	steps := []struct {
		id   string
		want bool // new
	}{
		{"a", true}, {"b", true}, {"c", true},
		{"a", false}, // seen: a is now the most recent
		{"d", true},  // evicts b, the least recently seen
		{"a", false}, {"c", false}, {"d", false},
		{"b", true}, // forgotten, so new again; evicts a
		{"a", true},
	}
	for i, s := range steps {
		if got := d.add(s.id); got != s.want {
			t.Fatalf("step %d: add(%q) = %t, want %t", i, s.id, got, s.want)
		}
	}
	if n := d.len(); n != 3 {
		t.Errorf("holds %d IDs, want the bound 3", n)
	}
}

func TestDeliveriesHoldTheirBound(t *testing.T) {
	t.Parallel()
	d := newDeliveries(DefaultMaxDeliveries)
	for i := range DefaultMaxDeliveries + 500 {
		d.add(fmt.Sprintf("%08d-%s", i, strings.Repeat("x", 100)))
	}
	if n := d.len(); n != DefaultMaxDeliveries {
		t.Errorf("holds %d IDs, want %d", n, DefaultMaxDeliveries)
	}
	if !d.add(fmt.Sprintf("%08d-%s", 0, strings.Repeat("x", 100))) {
		t.Error("the oldest ID was not forgotten")
	}
}

func TestCommentsHoldTheirBounds(t *testing.T) {
	t.Parallel()
	repo := pr.Repo{Owner: "acme", Name: "backend"}
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	c := func(id int64, number int, body string) Comment {
		return Comment{Repo: repo, PullRequest: number, ID: id, Body: body, CreatedAt: at.Add(time.Duration(id) * time.Minute), UpdatedAt: at}
	}
	ids := func(cs []Comment) []int64 {
		var out []int64
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	tests := []struct {
		name     string
		max      int
		maxBytes int
		put      []Comment
		want1    []int64 // comments of #1 afterwards
		want2    []int64 // of #2
	}{
		{"within bounds", 10, 100, []Comment{c(1, 1, "a"), c(2, 2, "b"), c(3, 1, "c")}, []int64{1, 3}, []int64{2}},
		{"by count: the least recently written go", 2, 100, []Comment{c(1, 1, "a"), c(2, 2, "b"), c(3, 1, "c")}, []int64{3}, []int64{2}},
		{"an edit makes a comment recent", 2, 100, []Comment{c(1, 1, "a"), c(2, 2, "b"), c(1, 1, "a2"), c(3, 1, "c")}, []int64{1, 3}, nil},
		{"by bytes", 10, 10, []Comment{c(1, 1, "aaaa"), c(2, 2, "bbbb"), c(3, 1, "cccc")}, []int64{3}, []int64{2}},
		{"a body over the byte bound is not kept", 10, 10, []Comment{c(1, 1, "aaaa"), c(2, 1, strings.Repeat("x", 11))}, []int64{1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newComments(tc.max, tc.maxBytes)
			for _, c := range tc.put {
				l.put(c)
			}
			if got := ids(l.of(repo, 1)); !slices.Equal(got, tc.want1) {
				t.Errorf("#1 holds %v, want %v", got, tc.want1)
			}
			if got := ids(l.of(repo, 2)); !slices.Equal(got, tc.want2) {
				t.Errorf("#2 holds %v, want %v", got, tc.want2)
			}
			total := 0
			for _, el := range l.byID {
				total += len(el.Value.(*Comment).Body)
			}
			if total != l.bytes || total > tc.maxBytes || len(l.byID) > tc.max || l.order.Len() != len(l.byID) {
				t.Errorf("accounting: %d bytes counted, %d held (bound %d); %d by ID, %d in order (bound %d)",
					l.bytes, total, tc.maxBytes, len(l.byID), l.order.Len(), tc.max)
			}
		})
	}
}
