package imagebuild

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestWriteTar(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("from the host"), 0o600); err != nil {
		t.Fatal(err)
	}
	entries := []Entry{
		File("/etc/motd", 0o644, []byte("first")),
		HostFile("/usr/local/bin/app", 0o755, src),
		Symlink("/bin/sh", "busybox"),
		Dir("/seed/data", 0o700, 999, 999),
		File("/etc/motd", 0o600, []byte("replaced")), // a later entry wins
		Dir("/tmp", fs.ModeSticky|0o777, 0, 0),
	}
	type want struct {
		typ  byte
		mode int64
		uid  int
		body string
		link string
	}
	wants := map[string]want{
		"bin/":              {typ: tar.TypeDir, mode: 0o755},
		"bin/sh":            {typ: tar.TypeSymlink, mode: 0o777, link: "busybox"},
		"etc/":              {typ: tar.TypeDir, mode: 0o755},
		"etc/motd":          {typ: tar.TypeReg, mode: 0o600, body: "replaced"},
		"seed/":             {typ: tar.TypeDir, mode: 0o755},
		"seed/data/":        {typ: tar.TypeDir, mode: 0o700, uid: 999},
		"tmp/":              {typ: tar.TypeDir, mode: 0o1777},
		"usr/":              {typ: tar.TypeDir, mode: 0o755},
		"usr/local/":        {typ: tar.TypeDir, mode: 0o755},
		"usr/local/bin/":    {typ: tar.TypeDir, mode: 0o755},
		"usr/local/bin/app": {typ: tar.TypeReg, mode: 0o755, body: "from the host"},
	}
	var first, second bytes.Buffer
	if err := WriteTar(&first, entries); err != nil {
		t.Fatal(err)
	}
	if err := WriteTar(&second, entries); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("two writes of the same entries differ")
	}
	tr := tar.NewReader(&first)
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, h.Name)
		w, ok := wants[h.Name]
		if !ok {
			t.Errorf("unexpected entry %q", h.Name)
			continue
		}
		delete(wants, h.Name)
		body, _ := io.ReadAll(tr)
		if h.Typeflag != w.typ || h.Mode != w.mode || h.Uid != w.uid || string(body) != w.body || h.Linkname != w.link {
			t.Errorf("%s: got type %c mode %o uid %d body %q link %q, want %+v", h.Name, h.Typeflag, h.Mode, h.Uid, body, h.Linkname, w)
		}
		if !h.ModTime.Equal(Epoch) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, Epoch)
		}
	}
	for n := range wants {
		t.Errorf("missing entry %q", n)
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Errorf("entries not sorted: %q before %q", order[i-1], order[i])
		}
	}
}

func TestWriteTarRejects(t *testing.T) {
	for name, e := range map[string]Entry{
		"relative path":  File("etc/passwd", 0o644, nil),
		"root":           Dir("/", 0o755, 0, 0),
		"missing source": HostFile("/x", 0o644, "/nonexistent/file"),
		"device":         {Path: "/dev/null", Mode: fs.ModeDevice | 0o666},
	} {
		t.Run(name, func(t *testing.T) {
			if err := WriteTar(io.Discard, []Entry{e}); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l1, err := Layer(filepath.Join(dir, "l1.tar"), Passwd(map[string]int{"nonroot": 65532, "postgres": 999}))
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Layer(filepath.Join(dir, "l2.tar"), []Entry{File("/app", 0o755, []byte("#!/bin/sh\n"))})
	if err != nil {
		t.Fatal(err)
	}
	img, err := Image([]v1.Layer{l1, l2}, Config{
		Entrypoint: []string{"/app"}, Cmd: []string{"serve"}, User: "65532:65532",
		ExposedPorts: []string{"8080/tcp"}, Env: []string{"A=b"}, StopSignal: "SIGINT",
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "img.tar")
	const ref = "preview-generator.local/test:v1"
	if err := WriteArchive(file, ref, img); err != nil {
		t.Fatal(err)
	}
	back, err := ReadArchive(file, ref)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := back.Digest()
	if d1 != d2 {
		t.Errorf("digest after reading back %s, written %s", d2, d1)
	}
	cf, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || cf.OS != "linux" || cf.Architecture != "amd64" ||
		len(cf.Config.Entrypoint) != 1 || cf.Config.StopSignal != "SIGINT" || len(cf.RootFS.DiffIDs) != 2 {
		t.Errorf("config read back: %+v", cf)
	}
	files, err := Files(back)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/passwd", "/etc/group", "/app"} {
		if _, ok := files[p]; !ok {
			t.Errorf("%s missing from the image", p)
		}
	}
	if _, err := ReadArchive(file, "preview-generator.local/other:v1"); err == nil {
		t.Error("reading a tag the archive does not hold: no error")
	}

	// The same inputs give the same image.
	l3, err := Layer(filepath.Join(dir, "l3.tar"), Passwd(map[string]int{"postgres": 999, "nonroot": 65532}))
	if err != nil {
		t.Fatal(err)
	}
	d3, _ := l3.Digest()
	d4, _ := l1.Digest()
	if d3 != d4 {
		t.Errorf("same entries, different layer digests %s and %s", d3, d4)
	}
}
