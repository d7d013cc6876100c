package githubtest

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestContentsShapes(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	const repo, ref = "acme/backend", "abc"
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	large := bytes.Repeat([]byte("x"), 1<<20+1)
	limit := bytes.Repeat([]byte("y"), 1<<20)
	s.AddFile(repo, "k8s/app.yaml", ref, []byte("kind: Deployment\n"))
	s.AddFile(repo, "logo.png", ref, binary)
	s.AddFile(repo, "big.json", ref, large)
	s.AddFile(repo, "limit.json", ref, limit)
	s.AddDir(repo, "k8s", ref, "app.yaml", "base/", "vendor", "current", "unknown.txt")
	s.AddDir(repo, "k8s/base", ref)
	s.AddSubmodule(repo, "k8s/vendor", ref, "https://github.com/acme/charts.git")
	s.AddSymlink(repo, "k8s/current", ref, "app.yaml")
	s.AddSymlink(repo, "k8s/outside", ref, "../../etc/passwd")
	s.AddSymlink(repo, "k8s/dangling", ref, "missing.yaml")
	s.AddFile(repo, "removed.yaml", ref, []byte("x"))
	s.RemoveFile(repo, "removed.yaml", ref)
	gh := ghClient(t, s, "")

	tests := []struct {
		path        string
		wantType    string // of the object; "" for a directory
		wantContent string // decoded by go-github; "error" when GetContent fails
		wantSize    int
		wantTarget  string
		wantSubURL  string
		wantPath    string // path of the object served, when not path
	}{
		{path: "k8s/app.yaml", wantType: "file", wantContent: "kind: Deployment\n", wantSize: 17},
		{path: "logo.png", wantType: "file", wantContent: string(binary), wantSize: 256},
		{path: "limit.json", wantType: "file", wantContent: string(limit), wantSize: 1 << 20},
		{path: "big.json", wantType: "file", wantContent: "error", wantSize: 1<<20 + 1},
		{path: "k8s/vendor", wantType: "submodule", wantSubURL: "https://github.com/acme/charts.git"},
		// A link to a file in the repository serves the file.
		{path: "k8s/current", wantType: "file", wantContent: "kind: Deployment\n", wantSize: 17, wantPath: "k8s/app.yaml"},
		{path: "k8s/outside", wantType: "symlink", wantTarget: "../../etc/passwd", wantSize: 16},
		{path: "k8s/dangling", wantType: "symlink", wantTarget: "missing.yaml", wantSize: 12},
		{path: "k8s", wantType: ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			f, dir, _, err := gh.Repositories.GetContents(ctx, "acme", "backend", tc.path, &githubRef)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantType == "" {
				if f != nil || len(dir) == 0 {
					t.Fatalf("want a directory, got file %v and %d entries", f, len(dir))
				}
				return
			}
			if f == nil {
				t.Fatalf("want a %s, got a directory", tc.wantType)
			}
			wantPath := tc.wantPath
			if wantPath == "" {
				wantPath = tc.path
			}
			if f.GetType() != tc.wantType || f.GetSize() != tc.wantSize || f.GetPath() != wantPath ||
				f.GetTarget() != tc.wantTarget || f.GetSubmoduleGitURL() != tc.wantSubURL {
				t.Errorf("type %s size %d path %s target %q submodule %q", f.GetType(), f.GetSize(), f.GetPath(), f.GetTarget(), f.GetSubmoduleGitURL())
			}
			if tc.wantType != "file" {
				return
			}
			got, err := f.GetContent()
			switch {
			case tc.wantContent == "error":
				if err == nil || f.GetEncoding() != "none" || got != "" {
					t.Errorf("large file: encoding %q content %d bytes, error %v; want none, empty, an error", f.GetEncoding(), len(got), err)
				}
			case err != nil || got != tc.wantContent || f.GetEncoding() != "base64":
				t.Errorf("content %d bytes (encoding %s), %v; want %d bytes", len(got), f.GetEncoding(), err, len(tc.wantContent))
			}
		})
	}

	// The raw shape of a large file.
	big := decode[map[string]any](t, get(t, s, "/api/v3/repos/acme/backend/contents/big.json?ref=abc").body)
	if big["encoding"] != "none" || big["content"] != "" || big["size"] != float64(1<<20+1) {
		t.Errorf("large file: encoding %v content %q size %v", big["encoding"], big["content"], big["size"])
	}

	// The directory listing, as GitHub shapes it.
	type item struct {
		Type        string  `json:"type"`
		Name        string  `json:"name"`
		Path        string  `json:"path"`
		Size        int     `json:"size"`
		DownloadURL *string `json:"download_url"`
		GitURL      string  `json:"git_url"`
	}
	items := decode[[]item](t, get(t, s, "/api/v3/repos/acme/backend/contents/k8s/?ref=abc").body)
	var got []string
	for _, it := range items {
		got = append(got, it.Type+" "+it.Path)
		if (it.DownloadURL == nil) != (it.Type == "dir" || it.Path == "k8s/vendor") {
			t.Errorf("%s: download_url %v", it.Path, it.DownloadURL)
		}
		if strings.Contains(it.GitURL, "/git/trees/") != (it.Type == "dir" || it.Path == "k8s/vendor") {
			t.Errorf("%s: git_url %s", it.Path, it.GitURL)
		}
	}
	// GitHub lists a submodule as a file.
	want := []string{"file k8s/app.yaml", "dir k8s/base", "file k8s/vendor", "symlink k8s/current", "file k8s/unknown.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("listing %q, want %q", got, want)
	}
	if items[0].Size != 17 || items[0].Name != "app.yaml" {
		t.Errorf("first entry %+v", items[0])
	}
	if a := get(t, s, "/api/v3/repos/acme/backend/contents/k8s/base?ref=abc"); a.status != http.StatusOK || strings.TrimSpace(string(a.body)) != "[]" {
		t.Errorf("empty directory: %d %s", a.status, a.body)
	}

	for _, p := range []string{"removed.yaml", "k8s/app.yaml?ref=other", "nope"} {
		q := "?ref=abc"
		if strings.Contains(p, "?") {
			q = ""
		}
		if a := get(t, s, "/api/v3/repos/acme/backend/contents/"+p+q); a.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, a.status)
		}
	}
}

func TestDirectoryListsAtMost1000(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	names := make([]string, 1200)
	for i := range names {
		names[i] = "f" + strings.Repeat("x", i%7)
	}
	s.AddDir("acme/backend", "", "abc", names...)
	items := decode[[]struct{}](t, get(t, s, "/api/v3/repos/acme/backend/contents/?ref=abc").body)
	if len(items) != 1000 {
		t.Errorf("%d entries, want 1000", len(items))
	}
}
