// Package imagebuild assembles container images from local files, without a
// registry or a Docker daemon, and writes them as docker-archive tarballs
// that `ctr images import` (containerd) and `docker load` accept.
//
// A layer is a list of Entries (files, directories, symlinks) with explicit
// owners and modes. Layers are written deterministically: entries sorted by
// path, parent directories added, every timestamp fixed. The same inputs
// therefore always give the same layer digests and the same image ID.
package imagebuild

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Epoch is the modification time of every entry and the image's creation
// time, so that builds are reproducible.
var Epoch = time.Unix(0, 0).UTC()

// Entry is one file, directory or symlink in a layer.
type Entry struct {
	// Path is the absolute path in the image, e.g. "/etc/passwd".
	Path string
	// Mode holds the permission bits plus fs.ModeDir or fs.ModeSymlink for
	// a directory or symlink; a regular file has neither.
	Mode fs.FileMode
	// UID and GID own the entry.
	UID, GID int
	// Data is a regular file's content when Source is empty.
	Data []byte
	// Source is a host file whose content a regular file gets.
	Source string
	// Target is a symlink's target.
	Target string
}

// File returns a regular file owned by root with the given content.
func File(p string, mode fs.FileMode, data []byte) Entry {
	return Entry{Path: p, Mode: mode.Perm(), Data: data}
}

// HostFile returns a regular file owned by root whose content is read from
// the host file src (symlinks followed) when the layer is written.
func HostFile(p string, mode fs.FileMode, src string) Entry {
	return Entry{Path: p, Mode: mode.Perm(), Source: src}
}

// Dir returns a directory owned by uid:gid.
func Dir(p string, mode fs.FileMode, uid, gid int) Entry {
	return Entry{Path: p, Mode: fs.ModeDir | mode&(fs.ModePerm|fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid), UID: uid, GID: gid}
}

// Symlink returns a symlink p -> target.
func Symlink(p, target string) Entry {
	return Entry{Path: p, Mode: fs.ModeSymlink | 0o777, Target: target}
}

// HostTree returns entries for the host directory src and everything below
// it, placed at dst in the image. Symlinks are kept as symlinks; owners are
// set to uid:gid, modes are kept.
func HostTree(src, dst string, uid, gid int) ([]Entry, error) {
	var out []Entry
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		ip := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out = append(out, Entry{Path: ip, Mode: fs.ModeDir | info.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetgid), UID: uid, GID: gid})
		case info.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, Entry{Path: ip, Mode: fs.ModeSymlink | 0o777, UID: uid, GID: gid, Target: t})
		case info.Mode().IsRegular():
			out = append(out, Entry{Path: ip, Mode: info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid), UID: uid, GID: gid, Source: p})
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, info.Mode().Type())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", src, err)
	}
	return out, nil
}

// clean validates and normalises an image path to its tar form (no leading
// slash).
func clean(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("image path %q is not absolute", p)
	}
	c := strings.TrimPrefix(path.Clean(p), "/")
	if c == "" {
		return "", errors.New("the image root cannot be an entry")
	}
	return c, nil
}

// WriteTar writes entries as a deterministic tar stream to w: sorted by
// path, missing parent directories added as root-owned 0755, later entries
// for the same path replacing earlier ones.
func WriteTar(w io.Writer, entries []Entry) error {
	byPath := make(map[string]Entry, len(entries))
	for _, e := range entries {
		c, err := clean(e.Path)
		if err != nil {
			return err
		}
		byPath[c] = e
		for dir := path.Dir(c); dir != "."; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = Entry{Path: "/" + dir, Mode: fs.ModeDir | 0o755}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	tw := tar.NewWriter(w)
	for _, p := range paths {
		e := byPath[p]
		hdr := &tar.Header{
			Name:    p,
			Mode:    tarMode(e.Mode),
			Uid:     e.UID,
			Gid:     e.GID,
			ModTime: Epoch,
			Format:  tar.FormatPAX,
		}
		switch {
		case e.Mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("writing %s: %w", p, err)
			}
		case e.Mode&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.Target
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("writing %s: %w", p, err)
			}
		case e.Mode.Type() == 0:
			if err := writeRegular(tw, hdr, e); err != nil {
				return fmt.Errorf("writing %s: %w", p, err)
			}
		default:
			return fmt.Errorf("%s: unsupported mode %s", e.Path, e.Mode)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("closing tar: %w", err)
	}
	return nil
}

// tarMode converts an fs.FileMode to the tar header's mode bits.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

func writeRegular(tw *tar.Writer, hdr *tar.Header, e Entry) error {
	hdr.Typeflag = tar.TypeReg
	if e.Source == "" {
		hdr.Size = int64(len(e.Data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(e.Data)
		return err
	}
	f, err := os.Open(e.Source)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("source %s is not a regular file", e.Source)
	}
	hdr.Size = info.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err != nil {
		return err
	}
	if n != hdr.Size {
		return fmt.Errorf("source %s changed size while being read", e.Source)
	}
	return nil
}

// Layer writes entries as an uncompressed tar file at tarPath and returns
// it as a layer, gzip-compressed on the fly at the fastest level (the
// compressed bytes are deterministic for a given Go version).
func Layer(tarPath string, entries []Entry) (v1.Layer, error) {
	f, err := os.Create(tarPath)
	if err != nil {
		return nil, fmt.Errorf("creating layer %s: %w", tarPath, err)
	}
	if err := WriteTar(f, entries); err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: %w", tarPath, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("closing layer %s: %w", tarPath, err)
	}
	l, err := tarball.LayerFromFile(tarPath, tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", tarPath, err)
	}
	return l, nil
}

// Config is the part of an image's runtime configuration this package sets.
type Config struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string
	User         string // numeric "uid:gid", so that runAsNonRoot can be checked
	WorkingDir   string
	ExposedPorts []string // e.g. "8080/tcp"
	Labels       map[string]string
	StopSignal   string
	Volumes      []string
}

// Image assembles a linux/amd64 image from layers (bottom first) and cfg.
func Image(layers []v1.Layer, cfg Config) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, fmt.Errorf("appending layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = "amd64"
	cf.OS = "linux"
	cf.Created = v1.Time{Time: Epoch}
	c := v1.Config{
		Entrypoint: cfg.Entrypoint,
		Cmd:        cfg.Cmd,
		Env:        cfg.Env,
		User:       cfg.User,
		WorkingDir: cfg.WorkingDir,
		Labels:     cfg.Labels,
		StopSignal: cfg.StopSignal,
	}
	if len(cfg.ExposedPorts) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for _, p := range cfg.ExposedPorts {
			c.ExposedPorts[p] = struct{}{}
		}
	}
	if len(cfg.Volumes) > 0 {
		c.Volumes = map[string]struct{}{}
		for _, v := range cfg.Volumes {
			c.Volumes[v] = struct{}{}
		}
	}
	cf.Config = c
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting config: %w", err)
	}
	return img, nil
}

// WriteArchive writes img as a docker-archive tarball tagged ref (for
// example "registry.k8s.io/pause:3.6") to file, atomically (a temporary
// file renamed into place).
func WriteArchive(file, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	tmp := file + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

// ReadArchive reads back the image tagged ref from a docker-archive file,
// with go-containerregistry's reader, and checks that every layer's
// content matches its digest and diff ID.
func ReadArchive(file, ref string) (v1.Image, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", ref, err)
	}
	img, err := tarball.ImageFromPath(file, &tag)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("%s: layers: %w", file, err)
	}
	for i, l := range layers {
		if err := verifyLayer(l); err != nil {
			return nil, fmt.Errorf("%s: layer %d: %w", file, i, err)
		}
	}
	return img, nil
}

func verifyLayer(l v1.Layer) error {
	want, err := l.Digest()
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	got, _, err := v1.SHA256(rc)
	rc.Close()
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("compressed content is %s, manifest says %s", got, want)
	}
	wantDiff, err := l.DiffID()
	if err != nil {
		return err
	}
	rc, err = l.Uncompressed()
	if err != nil {
		return err
	}
	gotDiff, _, err := v1.SHA256(rc)
	rc.Close()
	if err != nil {
		return err
	}
	if gotDiff != wantDiff {
		return fmt.Errorf("uncompressed content is %s, config says %s", gotDiff, wantDiff)
	}
	return nil
}

// Files lists the regular files, directories and symlinks of img's
// flattened filesystem with their headers, for tests and inspection.
func Files(img v1.Image) (map[string]*tar.Header, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading image filesystem: %w", err)
		}
		out["/"+strings.TrimSuffix(h.Name, "/")] = h
	}
}

// Passwd returns /etc/passwd and /etc/group entries for root, nobody and
// the given extra users (name -> uid, each in a group of the same id).
func Passwd(users map[string]int) []Entry {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n"
	group := "root:x:0:\n"
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return users[names[i]] < users[names[j]] })
	for _, n := range names {
		id := users[n]
		home := "/home/" + n
		if n == "postgres" {
			home = "/var/lib/postgresql"
		}
		passwd += fmt.Sprintf("%s:x:%d:%d:%s:%s:/sbin/nologin\n", n, id, id, n, home)
		group += fmt.Sprintf("%s:x:%d:\n", n, id)
	}
	passwd += "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	group += "nogroup:x:65534:\n"
	return []Entry{
		File("/etc/passwd", 0o644, []byte(passwd)),
		File("/etc/group", 0o644, []byte(group)),
	}
}
