package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/preview-generator/preview-generator/internal/seedtest"
)

func TestRun(t *testing.T) {
	t.Parallel()
	var want bytes.Buffer
	if err := seedtest.Generate(&want, seedtest.GenConfig{Seed: 9, Customers: 4}); err != nil {
		t.Fatal(err)
	}

	t.Run("stdout", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		if err := run([]string{"-seed", "9", "-customers", "4"}, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != want.String() {
			t.Errorf("stdout differs from seedtest.Generate")
		}
	})
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "seed.sql")
		if err := run([]string{"-seed=9", "-customers=4", "-o", path}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want.String() {
			t.Errorf("%s differs from seedtest.Generate", path)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no customers", []string{"-customers", "0"}, "want at least 1"},
		{"unwritable output", []string{"-customers", "1", "-o", "/nonexistent/dir/seed.sql"}, "creating /nonexistent/dir/seed.sql"},
		{"unknown flag", []string{"-size", "1"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(tc.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}
