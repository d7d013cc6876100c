package params

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"backend", "backend"},
		{"My_App.v2", "my-app-v2"},
		{"feature/Login--Page", "feature-login-page"},
		{"--lead-and-trail--", "lead-and-trail"},
		{"Café-Crème", "cafe-creme"},
		{"日本語", ""},
		{"fix/日本-bug", "fix-bug"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := Slug(tc.in); got != tc.want {
			t.Errorf("Slug(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPreviewName(t *testing.T) {
	t.Parallel()
	// The hash is sha256("acme/backend")[:6], computed outside Go with
	// `printf %s acme/backend | sha256sum`.
	if got := PreviewName("acme", "backend", 12); got != "backend-pr-12-58d661" {
		t.Fatalf("PreviewName(acme/backend#12) = %q, want backend-pr-12-58d661", got)
	}
	tests := []struct {
		name        string
		owner, repo string
		number      int
		wantPrefix  string
	}{
		{"plain", "acme", "frontend", 7, "frontend-pr-7-"},
		{"case folds to one name", "ACME", "Frontend", 7, "frontend-pr-7-"},
		{"punctuation", "acme", "my_app.web", 1, "my-app-web-pr-1-"},
		{"unicode only repo", "acme", "日本", 3, "pr-3-"},
		{"long repo is cut", "acme", strings.Repeat("very-long-name-", 10), 123456, "very-long-name-very-long-name-very-long-name-v-pr-123456-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PreviewName(tc.owner, tc.repo, tc.number)
			if !strings.HasPrefix(got, tc.wantPrefix) {
				t.Errorf("PreviewName = %q, want prefix %q", got, tc.wantPrefix)
			}
			if len(got) > MaxDNSLabel || !dns1123Label.MatchString(got) {
				t.Errorf("PreviewName = %q (%d chars) is not a DNS-1123 label", got, len(got))
			}
		})
	}
	// GitHub names are case-insensitive: one repo, one name.
	if a, b := PreviewName("ACME", "Frontend", 7), PreviewName("acme", "frontend", 7); a != b {
		t.Errorf("case variants differ: %q vs %q", a, b)
	}
}

func TestPreviewNameCollisions(t *testing.T) {
	t.Parallel()
	pairs := [][2][3]any{
		{{"acme", "api", 1}, {"other", "api", 1}},                                                // same repo name, other owner
		{{"acme", "my_app", 1}, {"acme", "my-app", 1}},                                           // slug alike
		{{"a-b", "c", 1}, {"a", "b-c", 1}},                                                       // owner/repo boundary
		{{"acme", "api", 1}, {"acme", "api", 11}},                                                // numbers
		{{"acme", strings.Repeat("x", 80) + "1", 5}, {"acme", strings.Repeat("x", 80) + "2", 5}}, // cut alike
	}
	for _, p := range pairs {
		a := PreviewName(p[0][0].(string), p[0][1].(string), p[0][2].(int))
		b := PreviewName(p[1][0].(string), p[1][1].(string), p[1][2].(int))
		if a == b {
			t.Errorf("%v and %v both named %q", p[0], p[1], a)
		}
	}
}

func TestBranchSlug(t *testing.T) {
	t.Parallel()
	long := "feature/" + strings.Repeat("abcdefghij", 8)
	tests := []struct {
		in, want string
	}{
		{"main", "main"},
		{"feature/Login", "feature-login"},
		{long, "feature-abcdefghijabcdefghijabcdefghijabcde-2658f1"},
		{"日本", "b-" + shortHash("日本", 6)},
	}
	for _, tc := range tests {
		got := BranchSlug(tc.in)
		if got != tc.want {
			t.Errorf("BranchSlug(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(got) > MaxBranchSlug || !dns1123Label.MatchString(got) {
			t.Errorf("BranchSlug(%q) = %q is not a DNS label of <= %d", tc.in, got, MaxBranchSlug)
		}
	}
	if BranchSlug(long+"x") == BranchSlug(long+"y") {
		t.Error("two long branches that differ at the end share a slug")
	}
}

func FuzzNames(f *testing.F) {
	f.Add("acme", "backend", 1, "acme", "backend", 2, "feature/x")
	f.Add("ACME", "my_app", 7, "acme", "my-app", 7, "日本語/ブランチ")
	f.Add("a-b", "c", 1, "a", "b-c", 1, strings.Repeat("ü", 100))
	f.Fuzz(func(t *testing.T, o1, r1 string, n1 int, o2, r2 string, n2 int, branch string) {
		if n1 < 0 {
			n1 = -n1
		}
		if n2 < 0 {
			n2 = -n2
		}
		if n1 < 0 || n2 < 0 { // math.MinInt
			t.Skip()
		}
		a := PreviewName(o1, r1, n1)
		if len(a) > MaxDNSLabel || !dns1123Label.MatchString(a) {
			t.Fatalf("PreviewName(%q, %q, %d) = %q is not a DNS-1123 label <= 63", o1, r1, n1, a)
		}
		if a != PreviewName(o1, r1, n1) {
			t.Fatal("PreviewName is not deterministic")
		}
		b := PreviewName(o2, r2, n2)
		same := strings.EqualFold(o1+"/"+r1, o2+"/"+r2) && n1 == n2
		if (a == b) != same {
			// Distinct repositories may only share a name through a
			// sha256 prefix collision, which the fuzzer will not find.
			t.Fatalf("PreviewName(%q/%q#%d) = %q, PreviewName(%q/%q#%d) = %q, same repo and PR: %v", o1, r1, n1, a, o2, r2, n2, b, same)
		}
		s := BranchSlug(branch)
		if len(s) > MaxBranchSlug || !dns1123Label.MatchString(s) || !utf8.ValidString(s) {
			t.Fatalf("BranchSlug(%q) = %q is not a DNS-1123 label <= %d", branch, s, MaxBranchSlug)
		}
	})
}
