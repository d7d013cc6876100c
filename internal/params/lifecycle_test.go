package params

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// lifecycleOptions: TTL 72h, maxTTL 168h, sleep after 2h; the PR's last
// activity (basePR) is t0-1h.
func lifecycleOptions() Options {
	o := baseOptions()
	o.Lifecycle = Lifecycle{MaxTTL: 168 * time.Hour, SleepAfter: 2 * time.Hour}
	return o
}

func ext(at time.Time, d time.Duration) *pr.Extension {
	return &pr.Extension{CommentID: 1, At: at, For: d, By: "alice"}
}

// TestLifecycleRules is the lifecycle table, rule by rule: expiry, pin,
// extension, the now+maxTTL cap, sleep and its parameters.
func TestLifecycleRules(t *testing.T) {
	t.Parallel()
	last := t0.Add(-time.Hour) // basePR's UpdatedAt
	tests := []struct {
		name   string
		mutate func(*pr.PullRequest, *Options)
		// want: expires_at, state, replicas, sleeps_at, pinned, extended_until
		expires, state, replicas, sleepsAt, pinned, extended string
		live                                                 bool
	}{
		{"plain: last activity + ttl, awake until sleepAfter", func(*pr.PullRequest, *Options) {},
			"2026-11-23T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "false", "", true},
		{"sleep off: no sleeps_at", func(_ *pr.PullRequest, o *Options) { o.Lifecycle.SleepAfter = 0 },
			"2026-11-23T09:00:00Z", "awake", "1", "", "false", "", true},
		{"asleep exactly at last activity + sleepAfter", func(_ *pr.PullRequest, o *Options) { o.Now = last.Add(2 * time.Hour) },
			"2026-11-23T09:00:00Z", "sleeping", "0", "2026-11-20T11:00:00Z", "false", "", true},
		{"awake one second before", func(_ *pr.PullRequest, o *Options) { o.Now = last.Add(2*time.Hour - time.Second) },
			"2026-11-23T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "false", "", true},
		{"activity wakes (a push, a label, a /preview wake comment)", func(p *pr.PullRequest, o *Options) {
			o.Now = t0.Add(10 * time.Hour)
			p.UpdatedAt = t0.Add(9 * time.Hour)
		}, "2026-11-23T19:00:00Z", "awake", "1", "2026-11-20T21:00:00Z", "false", "", true},
		{"sleepAfter beyond the ttl: never sleeps", func(_ *pr.PullRequest, o *Options) { o.Lifecycle.SleepAfter = 72 * time.Hour },
			"2026-11-23T09:00:00Z", "awake", "1", "", "false", "", true},
		{"expired: not listed", func(_ *pr.PullRequest, o *Options) { o.Now = last.Add(72 * time.Hour) },
			"2026-11-23T09:00:00Z", "sleeping", "0", "2026-11-20T11:00:00Z", "false", "", false},
		{"pinned: last activity + maxTTL", func(p *pr.PullRequest, o *Options) {
			p.Labels = append(p.Labels, "Preview:Pin")
			o.Now = last.Add(100 * time.Hour)
		}, "2026-11-27T09:00:00Z", "sleeping", "0", "2026-11-20T11:00:00Z", "true", "", true},
		{"pinned expires at last activity + maxTTL", func(p *pr.PullRequest, o *Options) {
			p.Labels = append(p.Labels, "preview:pin")
			o.Now = last.Add(168 * time.Hour)
		}, "2026-11-27T09:00:00Z", "sleeping", "0", "2026-11-20T11:00:00Z", "true", "", false},
		{"another pin label", func(p *pr.PullRequest, o *Options) {
			p.Labels = append(p.Labels, "preview:pin")
			o.Lifecycle.PinLabel = "keep"
		}, "2026-11-23T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "false", "", true},
		{"maxTTL below ttl counts as ttl", func(p *pr.PullRequest, o *Options) {
			p.Labels = append(p.Labels, "preview:pin")
			o.Lifecycle.MaxTTL = time.Hour
		}, "2026-11-23T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "true", "", true},
		{"extension: comment time + d", func(p *pr.PullRequest, o *Options) {
			p.Extension = ext(last, 120*time.Hour)
		}, "2026-11-25T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "false", "2026-11-25T09:00:00Z", true},
		{"extension capped by maxTTL", func(p *pr.PullRequest, o *Options) {
			p.Extension = ext(last, 1000*time.Hour)
		}, "2026-11-27T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "false", "2026-11-27T09:00:00Z", true},
		{"extension shorter than the ttl changes nothing", func(p *pr.PullRequest, o *Options) {
			p.Extension = ext(last, 24*time.Hour)
		}, "2026-11-23T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "false", "2026-11-21T09:00:00Z", true},
		{"old extension, later activity: the later of both", func(p *pr.PullRequest, o *Options) {
			p.Extension = ext(last.Add(-100*time.Hour), 168*time.Hour)
		}, "2026-11-23T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "false", "2026-11-23T05:00:00Z", true},
		{"extension from a clock ahead of ours counts from now", func(p *pr.PullRequest, o *Options) {
			p.Extension = ext(t0.Add(1000*time.Hour), 168*time.Hour)
		}, "2026-11-27T10:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "false", "2026-11-27T10:00:00Z", true},
		{"extension and pin: still ≤ last activity + maxTTL when the comment is the activity", func(p *pr.PullRequest, o *Options) {
			p.Labels = append(p.Labels, "preview:pin")
			p.Extension = ext(last, 168*time.Hour)
		}, "2026-11-27T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "true", "2026-11-27T09:00:00Z", true},
		{"comments unknown: kept as long as an extension could keep it", func(p *pr.PullRequest, o *Options) {
			p.ExtensionUnknown = true
			o.Now = last.Add(100 * time.Hour)
		}, "2026-11-27T09:00:00Z", "sleeping", "0", "2026-11-20T11:00:00Z", "false", "", true},
		{"comments not read yet, ttl not passed: last activity + ttl", func(p *pr.PullRequest, o *Options) {
			p.ExtensionUnchecked = true
			o.Now = last.Add(71 * time.Hour)
		}, "2026-11-23T09:00:00Z", "sleeping", "0", "2026-11-20T11:00:00Z", "false", "", true},
		{"comments not read yet, ttl passed: kept until they are", func(p *pr.PullRequest, o *Options) {
			p.ExtensionUnchecked = true
			o.Now = last.Add(100 * time.Hour)
		}, "2026-11-27T09:00:00Z", "sleeping", "0", "2026-11-20T11:00:00Z", "false", "", true},
		{"no maxTTL given: pin is the ttl", func(p *pr.PullRequest, o *Options) {
			p.Labels = append(p.Labels, "preview:pin")
			o.Lifecycle.MaxTTL = 0
		}, "2026-11-23T09:00:00Z", "awake", "1", "2026-11-20T11:00:00Z", "true", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, o := basePR(), lifecycleOptions()
			tc.mutate(&p, &o)
			m, err := For(p, o)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{m[KeyExpiresAt], m[KeyState], m[KeyReplicas], m[KeySleepsAt], m[KeyPinned], m[KeyExtendedUntil]}
			want := []string{tc.expires, tc.state, tc.replicas, tc.sleepsAt, tc.pinned, tc.extended}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("expires_at state replicas sleeps_at pinned extended_until =\n %q\nwant\n %q", got, want)
			}
			if live, why := Decide(p, o); live != tc.live {
				t.Errorf("Decide = %t (%s), want %t", live, why, tc.live)
			}
		})
	}
}

func TestNextChange(t *testing.T) {
	t.Parallel()
	p, o := basePR(), lifecycleOptions()
	if got, want := NextChange(p, o), t0.Add(time.Hour); !got.Equal(want) {
		t.Errorf("awake: NextChange = %v, want the sleep at %v", got, want)
	}
	o.Now = t0.Add(5 * time.Hour)
	if got, want := NextChange(p, o), t0.Add(71*time.Hour); !got.Equal(want) {
		t.Errorf("asleep: NextChange = %v, want the expiry at %v", got, want)
	}
	o.Lifecycle.SleepAfter = 0
	o.Now = t0
	if got, want := NextChange(p, o), t0.Add(71*time.Hour); !got.Equal(want) {
		t.Errorf("no sleep: NextChange = %v, want the expiry at %v", got, want)
	}
}

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    Command
		wantErr string // "" for success; "none" for ErrNoCommand
	}{
		{"extend hours", "/preview extend 24h", Command{VerbExtend, 24 * time.Hour}, ""},
		{"extend days", "/preview extend 3d", Command{VerbExtend, 72 * time.Hour}, ""},
		{"extend compound", "/preview extend 1h30m", Command{VerbExtend, 90 * time.Minute}, ""},
		{"case and spaces", "  /Preview   EXTEND   2h  ", Command{VerbExtend, 2 * time.Hour}, ""},
		{"after prose, CRLF", "Thanks!\r\n/preview extend 48h\r\nmore", Command{VerbExtend, 48 * time.Hour}, ""},
		{"first command wins", "/preview wake\n/preview extend 48h", Command{VerbWake, 0}, ""},
		{"wake", "/preview wake", Command{VerbWake, 0}, ""},
		{"quoted is no command", "> /preview extend 24h", Command{}, "none"},
		{"inline is no command", "please /preview extend 24h", Command{}, "none"},
		{"fenced is no command", "```\n/preview extend 24h\n```", Command{}, "none"},
		{"after a fence", "```\n/preview extend 24h\n```\n/preview extend 1h", Command{VerbExtend, time.Hour}, ""},
		{"prefix of another word", "/previewer extend 24h", Command{}, "none"},
		{"empty", "", Command{}, "none"},
		{"no verb", "/preview", Command{}, "needs a command"},
		{"unknown verb", "/preview destroy", Command{}, "unknown command"},
		{"no duration", "/preview extend", Command{}, "takes one duration"},
		{"two durations", "/preview extend 1h 2h", Command{}, "takes one duration"},
		{"bad duration", "/preview extend forever", Command{}, "not a duration"},
		{"zero", "/preview extend 0h", Command{}, "must be positive"},
		{"negative", "/preview extend -5h", Command{}, "must be positive"},
		{"zero days", "/preview extend 0d", Command{}, "must be positive"},
		{"too many days", "/preview extend 99999999999999999999d", Command{}, "longer than"},
		{"too long", "/preview extend 100000h", Command{}, "longer than"},
		{"wake with argument", "/preview wake now", Command{}, "takes no argument"},
		{"days with sign", "/preview extend +3d", Command{}, "not a duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCommand(tc.body)
			switch {
			case tc.wantErr == "none":
				if !errors.Is(err, ErrNoCommand) {
					t.Fatalf("ParseCommand(%q) = %+v, %v; want ErrNoCommand", tc.body, got, err)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseCommand(%q) = %+v, %v; want an error containing %q", tc.body, got, err, tc.wantErr)
				}
			default:
				if err != nil || got != tc.want {
					t.Fatalf("ParseCommand(%q) = %+v, %v; want %+v", tc.body, got, err, tc.want)
				}
			}
		})
	}
}

func TestCanExtend(t *testing.T) {
	t.Parallel()
	for perm, want := range map[string]bool{"admin": true, "maintain": true, "write": true, "Write": true,
		"triage": false, "read": false, "none": false, "": false} {
		if got := CanExtend(perm); got != want {
			t.Errorf("CanExtend(%q) = %t, want %t", perm, got, want)
		}
	}
}

// FuzzParseCommand: any comment text parses without panicking, and a
// parsed extension is positive and bounded.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/preview extend 24h", "/preview extend 3d", "/preview wake", "```\n/preview wake",
		"/preview extend 9223372036854775807ns", "/preview extend 1d2h", "/preview"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		c, err := ParseCommand(body)
		if err != nil {
			if c != (Command{}) {
				t.Fatalf("error %v with a command %+v", err, c)
			}
			return
		}
		switch c.Verb {
		case VerbWake:
			if c.Duration != 0 {
				t.Fatalf("wake with a duration: %+v", c)
			}
		case VerbExtend:
			if c.Duration <= 0 || c.Duration > MaxExtension {
				t.Fatalf("extension %v out of (0, %v]", c.Duration, MaxExtension)
			}
		default:
			t.Fatalf("verb %q", c.Verb)
		}
	})
}

// FuzzLifecycleTimes checks the invariants of the derived times for any
// activity, extension, pin, TTLs and instant: the expiry is never after
// now + maxTTL; a preview never sleeps at or after its expiry; more
// activity never brings the expiry or the sleep earlier; and the state
// and replicas agree.
func FuzzLifecycleTimes(f *testing.F) {
	f.Add(int64(0), int64(0), int64(72), int64(168), int64(2), int64(0), int64(24), false, false)
	f.Add(int64(4070908800), int64(3600), int64(1), int64(1), int64(0), int64(4070908800), int64(10000), true, true)
	f.Add(int64(-62135596800), int64(-5), int64(168), int64(72), int64(200), int64(-1), int64(-3), true, false)
	f.Fuzz(func(t *testing.T, updated, more, ttlH, maxH, sleepH, extAt, extH int64, pinned, unknown bool) {
		const year = 24 * 365
		if ttlH < 0 || ttlH > year || maxH < 0 || maxH > year || sleepH < 0 || sleepH > year || extH < -year || extH > 10*year {
			return
		}
		p := basePR()
		p.UpdatedAt = time.Unix(updated, 0).UTC()
		if pinned {
			p.Labels = append(p.Labels, DefaultPinLabel)
		}
		p.ExtensionUnknown = unknown
		if extAt != 0 {
			p.Extension = ext(time.Unix(extAt, 0).UTC(), time.Duration(extH)*time.Hour)
		}
		o := baseOptions()
		o.TTL = time.Duration(ttlH) * time.Hour
		o.Lifecycle = Lifecycle{MaxTTL: time.Duration(maxH) * time.Hour, SleepAfter: time.Duration(sleepH) * time.Hour}
		exp := ExpiresAt(p, o)
		if limit := t0.Add(MaxLife(o)); exp.After(limit) {
			t.Fatalf("ExpiresAt = %v, after now + maxTTL = %v", exp, limit)
		}
		if base := LastActivity(p, o).Add(o.TTL); exp.Before(base) {
			t.Fatalf("ExpiresAt = %v, before last activity + ttl = %v", exp, base)
		}
		s := SleepsAt(p, o)
		if !s.IsZero() && !s.Before(exp) {
			t.Fatalf("SleepsAt = %v, not before ExpiresAt = %v", s, exp)
		}
		m, err := For(p, o)
		if err != nil {
			t.Fatal(err)
		}
		if (m[KeyState] == StateSleeping) != (m[KeyReplicas] == "0") || (m[KeyState] == StateSleeping) != Asleep(p, o) {
			t.Fatalf("state %q, replicas %q, Asleep %t", m[KeyState], m[KeyReplicas], Asleep(p, o))
		}
		if nc := NextChange(p, o); nc.After(exp) {
			t.Fatalf("NextChange = %v, after ExpiresAt = %v", nc, exp)
		}
		// Monotonic in activity: later activity never expires or sleeps
		// earlier, and never puts an awake preview to sleep.
		if p.UpdatedAt.IsZero() {
			return // the creation time stands in: not comparable
		}
		if more < 0 {
			more = -more
		}
		q := p
		q.UpdatedAt = p.UpdatedAt.Add(time.Duration(more%(1<<40)) * time.Second)
		if e2 := ExpiresAt(q, o); e2.Before(exp) {
			t.Fatalf("more activity: ExpiresAt %v, before %v", e2, exp)
		}
		if s2 := SleepsAt(q, o); !s.IsZero() && !s2.IsZero() && s2.Before(s) {
			t.Fatalf("more activity: SleepsAt %v, before %v", s2, s)
		}
		if Asleep(q, o) && !Asleep(p, o) {
			t.Fatalf("more activity put the preview to sleep")
		}
	})
}
