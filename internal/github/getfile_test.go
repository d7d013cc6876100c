package github

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// TestGetFile reads one path at one commit twice. A file, a missing path and
// a path that is no file (a directory, a submodule, a symlink that leads
// nowhere, a file too large) are facts about the commit: cached, the second
// call makes no request. A failure to read (5xx, truncated JSON, timeout) is
// not: the second call asks again, and gets the file.
func TestGetFile(t *testing.T) {
	t.Parallel()
	const (
		path = ".preview.yaml"
		sha  = "0123456789abcdef0123456789abcdef01234567"
	)
	yaml := []byte("# preview overlay\ndatabase: true\nseedVersion: v2\n" + strings.Repeat("padding line to exceed sixty base64 characters\n", 3))
	binary := append([]byte{0, 1, 2, 0xff, 0xfe, '\n', 0x80, 0}, bytes.Repeat([]byte{0xc3, 0x28}, 40)...)
	file := func(content []byte) func(*githubtest.Server) {
		return func(s *githubtest.Server) { s.AddFile("acme/backend", path, sha, content) }
	}
	failOnce := func(f githubtest.Failure) func(*githubtest.Server) {
		return func(s *githubtest.Server) {
			s.AddFile("acme/backend", path, sha, yaml)
			f.Route, f.Times = githubtest.RouteContentsGet, 1
			s.Fail(f)
		}
	}
	tests := []struct {
		name     string
		setup    func(*githubtest.Server)
		maxBytes int
		timeout  time.Duration
		// Exactly one of these describes the first answer.
		want        []byte
		wantMissing bool
		wantInvalid string // a word of InvalidFileError.Reason
		wantFailure bool   // not cached: the second call gets yaml
	}{
		{name: "file", setup: file(yaml), want: yaml},
		{name: "binary content is no config file", setup: file(binary), wantInvalid: "binary"},
		{name: "empty file", setup: file(nil), want: []byte{}},
		{name: "exactly maxBytes", setup: file(bytes.Repeat([]byte("x"), 100)), maxBytes: 100, want: bytes.Repeat([]byte("x"), 100)},
		{name: "over maxBytes", setup: file(bytes.Repeat([]byte("x"), 101)), maxBytes: 100, wantInvalid: "limit"},
		{
			name: "over 1 MiB: served with encoding none", setup: file(bytes.Repeat([]byte("x"), 1<<20+1)),
			maxBytes: 4 << 20, wantInvalid: "bytes",
		},
		{
			name: "directory", wantInvalid: "directory",
			setup: func(s *githubtest.Server) { s.AddDir("acme/backend", path, sha, "a.yaml", "sub/") },
		},
		{
			name: "submodule", wantInvalid: "submodule",
			setup: func(s *githubtest.Server) {
				s.AddSubmodule("acme/backend", path, sha, "https://github.com/acme/config.git")
			},
		},
		{
			name: "symlink to nothing", wantInvalid: "symlink",
			setup: func(s *githubtest.Server) { s.AddSymlink("acme/backend", path, sha, "missing.yaml") },
		},
		{
			name: "symlink out of the repository", wantInvalid: "symlink",
			setup: func(s *githubtest.Server) {
				s.AddFile("acme/backend", "real.yaml", sha, yaml)
				s.AddSymlink("acme/backend", path, sha, "../real.yaml")
			},
		},
		{
			name: "symlink to a file", want: yaml,
			setup: func(s *githubtest.Server) {
				s.AddFile("acme/backend", "config/real.yaml", sha, yaml)
				s.AddSymlink("acme/backend", path, sha, "config/real.yaml")
			},
		},
		{name: "missing", setup: func(s *githubtest.Server) { s.AddRepo("acme/backend") }, wantMissing: true},
		{
			name: "missing at this commit only", wantMissing: true,
			setup: func(s *githubtest.Server) { s.AddFile("acme/backend", path, strings.Repeat("f", 40), yaml) },
		},
		{name: "server error", setup: failOnce(githubtest.Failure{Kind: githubtest.ServerError}), wantFailure: true},
		{name: "error status 500", setup: failOnce(githubtest.Failure{Kind: githubtest.ErrorStatus, Status: 500}), wantFailure: true},
		{name: "truncated JSON", setup: failOnce(githubtest.Failure{Kind: githubtest.TruncatedJSON}), wantFailure: true},
		{
			name: "timeout", timeout: 3 * time.Second, wantFailure: true,
			setup: failOnce(githubtest.Failure{Kind: githubtest.Hang, Delay: githubtest.MaxHang}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			tc.setup(srv)
			c, m := newTestClient(t, srv, func(cfg *Config) {
				if tc.timeout > 0 {
					cfg.Timeout = tc.timeout
				}
			})
			if tc.maxBytes == 0 {
				tc.maxBytes = 64 << 10
			}
			ctx := context.Background()
			for call := range 2 {
				got, err := c.GetFile(ctx, backend, path, sha, tc.maxBytes)
				var inv *InvalidFileError
				switch {
				case tc.wantFailure && call == 0:
					if err == nil || errors.Is(err, ErrNotFound) || errors.As(err, &inv) {
						t.Fatalf("call %d: %d bytes, error %v; want a failure to read", call, len(got), err)
					}
					if !strings.Contains(err.Error(), path) {
						t.Errorf("error %q does not name the file", err)
					}
				case tc.wantFailure:
					if err != nil || !bytes.Equal(got, yaml) {
						t.Fatalf("call %d after the failure: %q, %v; want the file", call, got, err)
					}
				case tc.wantMissing:
					if !errors.Is(err, ErrNotFound) || got != nil {
						t.Fatalf("call %d: %d bytes, error %v; want ErrNotFound", call, len(got), err)
					}
					if !strings.Contains(err.Error(), path) {
						t.Errorf("error %q does not name the file", err)
					}
				case tc.wantInvalid != "":
					if !errors.As(err, &inv) || got != nil {
						t.Fatalf("call %d: %d bytes, error %v; want an *InvalidFileError", call, len(got), err)
					}
					if inv.Path != path || !strings.Contains(inv.Reason, tc.wantInvalid) {
						t.Errorf("call %d: InvalidFileError{%q, %q}, want path %q and a reason with %q", call, inv.Path, inv.Reason, path, tc.wantInvalid)
					}
					if errors.Is(err, ErrNotFound) {
						t.Errorf("call %d: an invalid file is not ErrNotFound", call)
					}
				default:
					if err != nil || got == nil || !bytes.Equal(got, tc.want) {
						t.Fatalf("call %d: %d bytes (%v), want %d bytes", call, len(got), err, len(tc.want))
					}
					if len(got) > 0 {
						got[0] ^= 0xff // the cache must hand out copies
					}
				}
			}
			wantRequests := 1
			if tc.wantFailure {
				wantRequests = 2
			}
			if n := srv.Count(githubtest.RouteContentsGet, 0); n != wantRequests {
				t.Errorf("%d contents requests for two calls, want %d", n, wantRequests)
			}
			if n := m.count("contents.get ok") + m.count("contents.get not_found") + m.count("contents.get error"); n != wantRequests {
				t.Errorf("metrics contents.get = %d, want %d", n, wantRequests)
			}
		})
	}
}

// TestGetFileCacheKey checks that the cache tells commits, paths and
// repositories apart.
func TestGetFileCacheKey(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	sha1, sha2 := strings.Repeat("1", 40), strings.Repeat("2", 40)
	srv.AddFile("acme/backend", ".preview.yaml", sha1, []byte("one"))
	srv.AddFile("acme/backend", ".preview.yaml", sha2, []byte("two"))
	srv.AddFile("acme/backend", "other.yaml", sha1, []byte("other"))
	srv.AddFile("acme/frontend", ".preview.yaml", sha1, []byte("frontend"))
	c, _ := newTestClient(t, srv)
	ctx := context.Background()
	frontend := backend
	frontend.Name = "frontend"
	for range 2 {
		for _, tc := range []struct {
			repo      string
			path, sha string
			want      string
		}{
			{"backend", ".preview.yaml", sha1, "one"},
			{"backend", ".preview.yaml", sha2, "two"},
			{"backend", "other.yaml", sha1, "other"},
			{"frontend", ".preview.yaml", sha1, "frontend"},
		} {
			repo := backend
			if tc.repo == "frontend" {
				repo = frontend
			}
			got, err := c.GetFile(ctx, repo, tc.path, tc.sha, 1<<10)
			if err != nil || string(got) != tc.want {
				t.Errorf("%s %s@%s: %q, %v; want %q", tc.repo, tc.path, tc.sha[:4], got, err, tc.want)
			}
		}
	}
	if n := srv.Count("", 0); n != 4 {
		t.Errorf("%d requests for 4 files read twice, want 4", n)
	}
}
