package params

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func basePR() pr.PullRequest {
	return pr.PullRequest{
		Repo:       pr.Repo{Owner: "acme", Name: "backend"},
		Number:     12,
		Title:      "Add login",
		Author:     "octocat",
		Labels:     []string{"preview", "bug"},
		HeadBranch: "feature/Login",
		BaseBranch: "main",
		HeadSHA:    "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
		HeadRepo:   pr.Repo{Owner: "acme", Name: "backend"},
		HTMLURL:    "https://github.com/acme/backend/pull/12",
		CreatedAt:  t0.Add(-48 * time.Hour),
		UpdatedAt:  t0.Add(-1 * time.Hour),
	}
}

func baseOptions() Options {
	return Options{
		Label:         "preview",
		TTL:           72 * time.Hour,
		Domain:        "preview.example.com",
		Registry:      "ghcr.io/{owner}",
		ImageTemplate: "{registry}/{repo}:pr-{number}-{head_short_sha}",
		BasicAuth:     true,
		SeedVersion:   "v1",
		SizeProfile:   "small",
		Now:           t0,
	}
}

func TestForFullMap(t *testing.T) {
	t.Parallel()
	got, err := For(basePR(), baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"name":                  "backend-pr-12-58d661",
		"namespace":             "backend-pr-12-58d661",
		"repository":            "acme/backend",
		"owner":                 "acme",
		"repo":                  "backend",
		"number":                "12",
		"branch":                "feature/Login",
		"branch_slug":           "feature-login",
		"target_branch":         "main",
		"head_sha":              "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
		"head_short_sha":        "1a2b3c4",
		"author":                "octocat",
		"title":                 "Add login",
		"labels":                "bug,preview",
		"image":                 "ghcr.io/acme/backend:pr-12-1a2b3c4",
		"host":                  "backend-pr-12-58d661.preview.example.com",
		"url":                   "https://backend-pr-12-58d661.preview.example.com",
		"pr_url":                "https://github.com/acme/backend/pull/12",
		"ttl":                   "72h",
		"last_activity_at":      "2026-11-20T09:00:00Z",
		"expires_at":            "2026-11-23T09:00:00Z",
		"db_enabled":            "false",
		"db_persistent_enabled": "false",
		"basic_auth_enabled":    "true",
		"redis_enabled":         "false",
		"mongodb_enabled":       "false",
		"seed_version":          "v1",
		"migrate_command":       "",
		"size_profile":          "small",
		"pending_sha":           "",
		"image_status":          "ungated",
		"image_detail":          "",
		"state":                 "awake",
		"replicas":              "1",
		"sleeps_at":             "",
		"pinned":                "false",
		"extended_until":        "",
		"extension_note":        "",
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected key %q", k)
			}
		}
	}
}

func TestForImageGating(t *testing.T) {
	t.Parallel()
	const (
		ready = "0123456789abcdef0123456789abcdef01234567"
		head  = "fedcba9876543210fedcba9876543210fedcba98"
	)
	tests := []struct {
		name                            string
		headSHA, pending, status        string
		detail                          string
		wantImage, wantStatus, wantHead string
	}{
		{"ungated", head, "", "", "", "ghcr.io/acme/backend:pr-12-fedcba9", "ungated", head},
		{"head ready", head, "", "ready", "", "ghcr.io/acme/backend:pr-12-fedcba9", "ready", head},
		{"head pending, earlier commit served", ready, head, "pending", "check build-image is queued at fedcba9",
			"ghcr.io/acme/backend:pr-12-0123456", "pending", ready},
		{"head failed, earlier commit served", ready, head, "failed", "check build-image failed (failure) at fedcba9",
			"ghcr.io/acme/backend:pr-12-0123456", "failed", ready},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := basePR()
			p.HeadSHA, p.PendingSHA, p.ImageStatus, p.ImageDetail = tc.headSHA, tc.pending, tc.status, tc.detail
			got, err := For(p, baseOptions())
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{
				KeyHeadSHA: tc.wantHead, KeyHeadShortSHA: tc.wantHead[:7], KeyImage: tc.wantImage,
				KeyPendingSHA: tc.pending, KeyImageStatus: tc.wantStatus, KeyImageDetail: tc.detail,
			} {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

func TestLastActivityAndExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		updated             time.Time
		now                 time.Time
		ttl                 time.Duration
		wantLast, wantUntil string
	}{
		{"GitHub's updated_at", t0.Add(-time.Hour), t0, 72 * time.Hour, "2026-11-20T09:00:00Z", "2026-11-23T09:00:00Z"},
		{"unknown: creation time", time.Time{}, t0, 72 * time.Hour, "2026-11-18T10:00:00Z", "2026-11-21T10:00:00Z"},
		{"a clock ahead of ours counts as now", t0.Add(24 * time.Hour), t0, 72 * time.Hour, "2026-11-20T10:00:00Z", "2026-11-23T10:00:00Z"},
		{"far future (2099) is capped by now", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), t0, 168 * time.Hour, "2026-11-20T10:00:00Z", "2026-11-27T10:00:00Z"},
		{"no clock given: taken as is", t0.Add(24 * time.Hour), time.Time{}, 72 * time.Hour, "2026-11-21T10:00:00Z", "2026-11-24T10:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePR()
			p.UpdatedAt = tc.updated
			o := baseOptions()
			o.Now, o.TTL = tc.now, tc.ttl
			m, err := For(p, o)
			if err != nil {
				t.Fatal(err)
			}
			if m["last_activity_at"] != tc.wantLast || m["expires_at"] != tc.wantUntil {
				t.Errorf("last=%s expires=%s, want %s %s", m["last_activity_at"], m["expires_at"], tc.wantLast, tc.wantUntil)
			}
		})
	}
}

// FuzzExpiresAt checks, for any activity time and TTL, that the expiry is
// never more than the TTL after now: no date a PR carries can push a
// preview's life past the server's cap.
func FuzzExpiresAt(f *testing.F) {
	f.Add(int64(0), int64(0), int64(72))
	f.Add(int64(4070908800), int64(1), int64(168)) // 2099
	f.Add(int64(-62135596800), int64(5), int64(1))
	f.Fuzz(func(t *testing.T, updated, created, ttlHours int64) {
		if ttlHours < 0 || ttlHours > 24*365 {
			return
		}
		p := basePR()
		p.UpdatedAt = time.Unix(updated, 0).UTC()
		p.CreatedAt = time.Unix(created, 0).UTC()
		o := baseOptions()
		o.Now, o.TTL = t0, time.Duration(ttlHours)*time.Hour
		if got, limit := ExpiresAt(p, o), t0.Add(o.TTL); got.After(limit) {
			t.Fatalf("ExpiresAt = %v, after now + ttl = %v", got, limit)
		}
		if la := LastActivity(p, o); la.After(t0) {
			t.Fatalf("LastActivity = %v, after now %v", la, t0)
		}
	})
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*pr.PullRequest, *Options)
		want   Exclusion
	}{
		{"live", func(*pr.PullRequest, *Options) {}, ""},
		{"label is case-insensitive", func(p *pr.PullRequest, _ *Options) { p.Labels = []string{"Preview"} }, ""},
		{"no label", func(p *pr.PullRequest, _ *Options) { p.Labels = []string{"bug"} }, ExcludedNoLabel},
		{"other label chosen", func(_ *pr.PullRequest, o *Options) { o.Label = "deploy-me" }, ExcludedNoLabel},
		{"draft excluded by default", func(p *pr.PullRequest, _ *Options) { p.Draft = true }, ExcludedDraft},
		{"draft included", func(p *pr.PullRequest, o *Options) { p.Draft = true; o.IncludeDrafts = true }, ""},
		{"fork excluded by default", func(p *pr.PullRequest, _ *Options) { p.HeadRepo = pr.Repo{Owner: "mallory", Name: "backend"} }, ExcludedFork},
		{"deleted fork excluded", func(p *pr.PullRequest, _ *Options) { p.HeadRepo = pr.Repo{} }, ExcludedFork},
		{"fork included", func(p *pr.PullRequest, o *Options) {
			p.HeadRepo = pr.Repo{Owner: "mallory", Name: "backend"}
			o.IncludeForks = true
		}, ""},
		{"bot kept by default", func(p *pr.PullRequest, _ *Options) { p.AuthorIsBot = true }, ""},
		{"bot excluded", func(p *pr.PullRequest, o *Options) { p.AuthorIsBot = true; o.ExcludeBots = true }, ExcludedBot},
		{"expired exactly at expiry", func(_ *pr.PullRequest, o *Options) { o.Now = t0.Add(71 * time.Hour) }, ExcludedExpired},
		{"alive one second before", func(_ *pr.PullRequest, o *Options) { o.Now = t0.Add(71*time.Hour - time.Second) }, ""},
		{"activity (re-label, push, comment) revives", func(p *pr.PullRequest, o *Options) {
			o.Now = t0.Add(100 * time.Hour)
			p.UpdatedAt = t0.Add(99 * time.Hour)
		}, ""},
		{"short TTL", func(_ *pr.PullRequest, o *Options) { o.TTL = 30 * time.Minute }, ExcludedExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, o := basePR(), baseOptions()
			tc.mutate(&p, &o)
			ok, why := Decide(p, o)
			if why != tc.want || ok != (tc.want == "") {
				t.Errorf("Decide = %v, %q; want %q", ok, why, tc.want)
			}
		})
	}
}

func TestImageTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, registry, tmpl, want, wantErr string
	}{
		{"default", "ghcr.io/{owner}", "{registry}/{repo}:pr-{number}-{head_short_sha}", "ghcr.io/acme/backend:pr-12-1a2b3c4", ""},
		{"owner lowercased", "ghcr.io/{owner}", "{registry}/{repo}:{head_sha}", "ghcr.io/acme/backend:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", ""},
		{"branch tag", "registry.local:5000", "{registry}/{owner}-{repo}:{branch_slug}", "registry.local:5000/acme-backend:feature-login", ""},
		{"unknown placeholder", "r", "{registry}/{repository}:x", "", "unknown placeholder {repository}"},
		{"unclosed", "r", "{registry/x", "", "unclosed '{'"},
		{"stray close", "r", "registry}/x", "", "unmatched '}'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePR()
			p.Repo.Owner = "ACME"
			o := baseOptions()
			o.Registry, o.ImageTemplate = tc.registry, tc.tmpl
			m, err := For(p, o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m["image"] != tc.want {
				t.Errorf("image = %q, want %q", m["image"], tc.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		72 * time.Hour: "72h", 90 * time.Minute: "1h30m", 45 * time.Second: "45s", 30 * time.Minute: "30m", time.Hour + time.Second: "1h0m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
