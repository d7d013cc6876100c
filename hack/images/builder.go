package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/preview-generator/preview-generator/hack/images/imagebuild"
)

// builder holds what every target's build shares: the repository, the
// output and scratch directories and the Go toolchain's version.
type builder struct {
	ctx       context.Context
	repo      string // repository root
	out       string // where the tarballs go
	work      string // scratch directory, removed by close
	goVersion string
	layerN    int
}

func newBuilder(ctx context.Context, repo, out string) (*builder, error) {
	work, err := os.MkdirTemp(out, ".work-")
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	b := &builder{ctx: ctx, repo: repo, out: out, work: work}
	v, err := b.output(repo, nil, "go", "env", "GOVERSION")
	if err != nil {
		b.close()
		return nil, err
	}
	b.goVersion = strings.TrimSpace(v)
	return b, nil
}

func (b *builder) close() { os.RemoveAll(b.work) }

// output runs a command in dir and returns its stdout; stderr goes into
// the error.
func (b *builder) output(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(b.ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// goBuild builds the package pkg (relative to dir's module) as a static
// binary and returns its path.
func (b *builder) goBuild(dir, pkg, binName string, ldflags ...string) (string, error) {
	bin := filepath.Join(b.work, "bin", binName)
	ld := append([]string{"-s", "-w"}, ldflags...)
	_, err := b.output(dir, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false"},
		"go", "build", "-trimpath", "-ldflags", strings.Join(ld, " "), "-o", bin, pkg)
	if err != nil {
		return "", err
	}
	return bin, nil
}

// layer writes entries to a fresh layer file in the scratch directory.
func (b *builder) layer(entries []imagebuild.Entry) (v1.Layer, error) {
	b.layerN++
	return imagebuild.Layer(filepath.Join(b.work, fmt.Sprintf("layer-%d.tar", b.layerN)), entries)
}

// build builds target t unless its tarball is up to date, and returns a
// one-line summary.
func (b *builder) build(t *target, force bool) (string, error) {
	t0 := time.Now()
	h := newHasher()
	h.str("target", t.Name, t.Ref, b.goVersion)
	if err := b.selfInputs(h); err != nil {
		return "", err
	}
	if err := t.Inputs(b, h); err != nil {
		return "", fmt.Errorf("hashing inputs: %w", err)
	}
	key := h.sum()
	file := filepath.Join(b.out, t.Name+".tar")
	stamp := file + ".inputs"
	if !force {
		if old, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(old)) == key {
			if _, err := os.Stat(file); err == nil {
				return fmt.Sprintf("%-14s %s %s (unchanged, %.1fs)", t.Name, t.Ref, file, time.Since(t0).Seconds()), nil
			}
		}
	}
	os.Remove(stamp)
	img, err := t.Build(b)
	if err != nil {
		return "", err
	}
	if err := imagebuild.WriteArchive(file, t.Ref, img); err != nil {
		return "", err
	}
	if err := os.WriteFile(stamp, []byte(key+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", stamp, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("image digest: %w", err)
	}
	return fmt.Sprintf("%-14s %s %s (built %s, %.1fs)", t.Name, t.Ref, file, d.Hex[:12], time.Since(t0).Seconds()), nil
}

// selfInputs hashes this program's own sources: a change to how images are
// assembled rebuilds them all.
func (b *builder) selfInputs(h *hasher) error {
	dir := filepath.Join(b.repo, "hack", "images")
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		if strings.HasSuffix(p, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum" {
			return h.file(p)
		}
		return nil
	})
}

// goInputs hashes the main-module sources (Go and embedded files) that
// package pkg depends on, plus the module's go.mod and go.sum.
func (b *builder) goInputs(h *hasher, dir, pkg string) error {
	out, err := b.output(dir, []string{"GOFLAGS=-buildvcs=false"}, "go", "list", "-deps",
		"-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}{{end}}`, pkg)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			continue
		}
		for _, list := range parts[1:] {
			for _, f := range strings.Split(list, ",") {
				if f == "" {
					continue
				}
				if err := h.file(filepath.Join(parts[0], f)); err != nil {
					return err
				}
			}
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := h.file(filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	return nil
}

// hasher accumulates a target's inputs.
type hasher struct{ w hash.Hash }

func newHasher() *hasher { return &hasher{w: sha256.New()} }

func (h *hasher) str(ss ...string) {
	for _, s := range ss {
		fmt.Fprintf(h.w, "%d:%s\n", len(s), s)
	}
}

// file hashes a file's path, mode and content (symlinks followed).
func (h *hasher) file(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	h.str("file", p, info.Mode().String(), fmt.Sprint(info.Size()))
	if info.IsDir() {
		return nil
	}
	_, err = io.Copy(h.w, f)
	return err
}

// tree hashes every entry below dir (names, modes, symlink targets and
// contents), in a fixed order.
func (h *hasher) tree(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, p := range paths {
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.str("link", p, t)
		case info.IsDir():
			h.str("dir", p, info.Mode().String())
		default:
			if err := h.file(p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *hasher) sum() string {
	return hex.EncodeToString(h.w.Sum(nil))
}
