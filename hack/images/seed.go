package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/preview-generator/preview-generator/hack/images/imagebuild"
)

// The seed PostgreSQL image, built from the machine's Debian PostgreSQL
// packages instead of a Docker Hub base. Its paths, user and entrypoint
// are those of seed-images/postgres/Dockerfile (see its README.md).
const (
	// SeedVersion is the seed directory baked in (seed-images/postgres/v1).
	SeedVersion = "v1"
	// SeedRef is the seed image's name; its tag is the seed version.
	SeedRef = "preview-generator.local/seed-postgres:" + SeedVersion

	pgMajor   = "15"
	pgBinDir  = "/usr/lib/postgresql/" + pgMajor + "/bin"
	pgLibDir  = "/usr/lib/postgresql/" + pgMajor + "/lib"
	pgShare   = "/usr/share/postgresql/" + pgMajor
	zoneinfo  = "/usr/share/zoneinfo" // Debian builds PostgreSQL --with-system-tzdata
	busybox   = "/bin/busybox"        // Debian's busybox-static
	cLocale   = "/usr/lib/locale/C.utf8"
	seedData  = "/seed/data"
	seedPGDir = "/var/lib/postgresql"
)

func seedDir(b *builder) string { return filepath.Join(b.repo, "seed-images", "postgres") }

func seedInputs(b *builder, h *hasher) error {
	h.str("seed", SeedVersion)
	for _, d := range []string{seedDir(b), pgBinDir, pgLibDir, pgShare} {
		if err := h.tree(d); err != nil {
			return err
		}
	}
	if err := h.tree(cLocale); err != nil {
		return err
	}
	return h.file(busybox)
}

func buildSeed(b *builder) (v1.Image, error) {
	for _, p := range []string{pgBinDir + "/postgres", pgBinDir + "/psql", busybox} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w (the seed image needs Debian's postgresql-%s and busybox-static)", err, pgMajor)
		}
	}
	data, cleanup, err := bakeSeed(b)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	// Layer 1: a minimal root filesystem with a shell, the shared
	// libraries PostgreSQL links against, and the time zones.
	base := baseEntries()
	bb, err := busyboxEntries()
	if err != nil {
		return nil, err
	}
	base = append(base, bb...)
	tz, err := imagebuild.HostTree(zoneinfo, zoneinfo, 0, 0)
	if err != nil {
		return nil, err
	}
	base = append(base, tz...)
	// initdb --locale=C.UTF-8 (build-datadir.sh): glibc does not build that
	// locale in; Debian's libc-bin ships it here.
	loc, err := imagebuild.HostTree(cLocale, cLocale, 0, 0)
	if err != nil {
		return nil, err
	}
	base = append(base, loc...)
	base = append(base,
		imagebuild.Dir(seedPGDir, 0o755, postgresID, postgresID),
		// Empty, as in the Dockerfile's base image: the default PGDATA.
		imagebuild.Dir(seedPGDir+"/data", 0o700, postgresID, postgresID),
		imagebuild.Dir("/var/run/postgresql", fs.ModeSetgid|0o775, postgresID, postgresID),
	)

	// Layer 2: PostgreSQL itself (without the LLVM JIT, which would pull
	// in libLLVM; PostgreSQL runs without JIT when the provider is absent).
	var pg []imagebuild.Entry
	var elfs []string
	for _, d := range []string{pgBinDir, pgLibDir, pgShare} {
		es, err := imagebuild.HostTree(d, d, 0, 0)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if strings.Contains(e.Path, "llvmjit") || strings.HasPrefix(e.Path, pgLibDir+"/bitcode") ||
				strings.HasPrefix(e.Path, pgShare+"/man") {
				continue
			}
			pg = append(pg, e)
			if e.Source != "" && (strings.HasPrefix(e.Path, pgBinDir) || strings.HasSuffix(e.Path, ".so")) {
				elfs = append(elfs, e.Source)
			}
		}
	}
	libs, err := sharedLibraries(b, elfs)
	if err != nil {
		return nil, err
	}
	base = append(base, libs...)

	// Layer 3: the scripts and sample migrations, where the Dockerfile
	// puts them.
	sd := seedDir(b)
	scripts := []imagebuild.Entry{
		imagebuild.HostFile("/usr/local/bin/seed-entrypoint.sh", 0o755, filepath.Join(sd, "entrypoint.sh")),
		imagebuild.HostFile("/usr/local/bin/seed-migrate.sh", 0o755, filepath.Join(sd, "migrate.sh")),
		imagebuild.HostFile("/usr/local/bin/build-datadir.sh", 0o755, filepath.Join(sd, "build-datadir.sh")),
	}
	migs, err := filepath.Glob(filepath.Join(sd, "migrations", "*.sql"))
	if err != nil {
		return nil, err
	}
	for _, m := range migs {
		scripts = append(scripts, imagebuild.HostFile("/opt/seed/migrations/"+filepath.Base(m), 0o644, m))
	}

	// Layer 4: the baked data directory, owned by the image's postgres.
	seed, err := imagebuild.HostTree(data, seedData, postgresID, postgresID)
	if err != nil {
		return nil, err
	}
	seed = append(seed, imagebuild.Dir("/seed", 0o755, 0, 0))

	var layers []v1.Layer
	for _, entries := range [][]imagebuild.Entry{base, pg, scripts, seed} {
		l, err := b.layer(entries)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return imagebuild.Image(layers, imagebuild.Config{
		Entrypoint: []string{"/usr/local/bin/seed-entrypoint.sh"},
		Cmd:        []string{},
		Env: []string{
			"PATH=/usr/local/bin:" + pgBinDir + ":/usr/bin:/bin",
			"PGDATA=" + seedPGDir + "/data",
			"SEED_DATA=" + seedData,
			"SEED_VERSION=" + SeedVersion,
		},
		User:         fmt.Sprintf("%d:%d", postgresID, postgresID),
		ExposedPorts: []string{"5432/tcp"},
		StopSignal:   "SIGINT",
		Labels: map[string]string{
			"org.opencontainers.image.title":       "seed-postgres",
			"org.opencontainers.image.description": "PostgreSQL " + pgMajor + " (Debian packages) with seed " + SeedVersion + " baked into " + seedData + " (database app)",
			"org.opencontainers.image.version":     SeedVersion,
		},
	})
}

// bakeSeed runs seed-images/postgres/build-datadir.sh, the Dockerfile's
// build step, on the seed SQL and returns the data directory. As root it
// runs as the OS user postgres, as PostgreSQL requires.
func bakeSeed(b *builder) (string, func(), error) {
	dir, err := os.MkdirTemp("", "seed-build-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	sd := seedDir(b)
	// A private copy of the script and SQL, readable by postgres even when
	// the checkout is not.
	if err := os.CopyFS(filepath.Join(dir, "src"), os.DirFS(sd)); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("staging %s: %w", sd, err)
	}
	cmd := exec.CommandContext(b.ctx, "sh", filepath.Join(dir, "src", "build-datadir.sh"),
		filepath.Join(dir, "src", SeedVersion), filepath.Join(dir, "data"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+pgBinDir+":"+os.Getenv("PATH"))
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("building the seed as root needs the OS user postgres: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		}); err != nil {
			cleanup()
			return "", nil, err
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = append(cmd.Env, "HOME="+dir, "USER=postgres")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build-datadir.sh: %w\n%s", err, out)
	}
	return filepath.Join(dir, "data"), cleanup, nil
}

// sharedLibraries returns, at the paths ldd reports, every shared library
// (and the dynamic loader) that the given ELF files load.
func sharedLibraries(b *builder, elfs []string) ([]imagebuild.Entry, error) {
	seen := map[string]bool{}
	for _, f := range elfs {
		out, err := exec.CommandContext(b.ctx, "ldd", f).Output()
		if err != nil {
			// ldd fails on files that are not dynamic executables or
			// libraries (scripts, static binaries): nothing to add.
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			line = strings.TrimSpace(line)
			var p string
			if _, after, ok := strings.Cut(line, "=> "); ok {
				p, _, _ = strings.Cut(after, " (")
			} else if strings.HasPrefix(line, "/") {
				p, _, _ = strings.Cut(line, " (")
			}
			if p == "" || p == "not found" {
				if strings.Contains(line, "not found") {
					return nil, fmt.Errorf("ldd %s: %s", f, line)
				}
				continue
			}
			seen[p] = true
		}
	}
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []imagebuild.Entry
	for _, p := range paths {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", p, err)
		}
		out = append(out, imagebuild.HostFile(p, 0o755, real))
	}
	return out, nil
}

// busyboxEntries installs busybox at /bin/busybox with a symlink for each
// applet in /bin (sh, cp, sed, find, ...).
func busyboxEntries() ([]imagebuild.Entry, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	es := []imagebuild.Entry{imagebuild.HostFile("/bin/busybox", 0o755, busybox)}
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		es = append(es, imagebuild.Symlink("/bin/"+a, "busybox"))
	}
	return es, nil
}
