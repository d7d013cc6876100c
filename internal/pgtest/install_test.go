package pgtest

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestFindHonoursBinDirEnv checks $PG_BINDIR: a directory with every binary
// is used as is; one missing a binary is ErrNotInstalled.
func TestFindHonoursBinDirEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   []string
		wantErr error
	}{
		{"complete", binaries, nil},
		{"no pg_isready", []string{"initdb", "pg_ctl", "postgres", "psql", "pg_dump"}, ErrNotInstalled},
		{"empty", nil, ErrNotInstalled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv(BinDirEnv, dir)
			in, err := Find()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Find() error = %v, want %v", err, tc.wantErr)
			}
			if err == nil && in.BinDir != dir {
				t.Errorf("BinDir = %q, want %q", in.BinDir, dir)
			}
		})
	}
}

func TestFindRejectsNonExecutable(t *testing.T) {
	dir := t.TempDir()
	for _, name := range binaries {
		mode := os.FileMode(0o755)
		if name == "postgres" {
			mode = 0o644
		}
		if err := os.WriteFile(filepath.Join(dir, name), nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(BinDirEnv, dir)
	if _, err := Find(); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Find() error = %v, want ErrNotInstalled", err)
	}
}

func TestMajorOrder(t *testing.T) {
	t.Parallel()
	dirs := []string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/13/bin", "/usr/lib/postgresql/16/bin"}
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	want := []string{"/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/13/bin", "/usr/lib/postgresql/9.6/bin"}
	for i := range want {
		if dirs[i] != want[i] {
			t.Fatalf("order = %v, want %v", dirs, want)
		}
	}
}

func TestLocalAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ user, want string }{
		{"postgres", "peer"},
		{"alice", "trust"},
	} {
		if got := (&Install{User: tc.user}).LocalAuth(); got != tc.want {
			t.Errorf("LocalAuth() as %s = %q, want %q", tc.user, got, tc.want)
		}
	}
}
