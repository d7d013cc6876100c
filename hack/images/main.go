// Command images builds the container images of the real-pod end-to-end
// suite as docker-archive tarballs, without a registry or Docker:
//
//	go -C hack/images run . -out DIR all
//	go -C hack/images run . -out DIR pause generator
//
// Each image is written to DIR/<target>.tar, tagged with its name, ready for
// `ctr -n k8s.io images import DIR/<target>.tar`. A target whose inputs (its
// sources, the Go version, the host files it copies, this program's own
// sources) hash the same as at its last build is not rebuilt.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	out := flag.String("out", "", "directory for the image tarballs (created; required)")
	repo := flag.String("repo", "", "repository root (default: found from the working directory)")
	force := flag.Bool("force", false, "rebuild even when the inputs are unchanged")
	list := flag.Bool("list", false, "print the targets and their image names, then exit")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: images -out DIR [-force] all|TARGET...\n\ntargets:\n")
		for _, t := range targets {
			fmt.Fprintf(flag.CommandLine.Output(), "  %-14s %s\n", t.Name, t.Ref)
		}
		flag.PrintDefaults()
	}
	flag.Parse()
	if *list {
		for _, t := range targets {
			fmt.Printf("%s %s\n", t.Name, t.Ref)
		}
		return
	}
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *out, *repo, *force, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, repo string, force bool, names []string) error {
	sel, err := selectTargets(names)
	if err != nil {
		return err
	}
	if repo == "" {
		repo, err = findRepo()
		if err != nil {
			return err
		}
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	b, err := newBuilder(ctx, repo, out)
	if err != nil {
		return err
	}
	defer b.close()
	t0 := time.Now()
	for _, t := range sel {
		res, err := b.build(t, force)
		if err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
		fmt.Println(res)
	}
	fmt.Printf("images: %d image(s) in %s (%.1fs)\n", len(sel), out, time.Since(t0).Seconds())
	return nil
}

// selectTargets maps command-line names ("all" or target names) to targets.
func selectTargets(names []string) ([]*target, error) {
	var sel []*target
	seen := map[string]bool{}
	for _, n := range names {
		if n == "all" {
			for _, t := range targets {
				if !seen[t.Name] {
					seen[t.Name] = true
					sel = append(sel, t)
				}
			}
			continue
		}
		t := findTarget(n)
		if t == nil {
			return nil, fmt.Errorf("unknown target %q (want all or one of %s)", n, strings.Join(targetNames(), ", "))
		}
		if !seen[t.Name] {
			seen[t.Name] = true
			sel = append(sel, t)
		}
	}
	return sel, nil
}

// findRepo walks up from the working directory to the repository's go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/preview-generator/preview-generator\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no preview-generator go.mod above the working directory; pass -repo")
		}
		dir = parent
	}
}
