package githubtest

import (
	"net/http"
	"path"
	"slices"
	"strings"
)

// The contents API's documented limits.
const (
	// maxInlineContent is the largest file "Get repository content" serves
	// inline; a larger one comes with encoding "none" and no content.
	maxInlineContent = 1 << 20
	// maxDirEntries is how many entries of a directory it lists at most.
	maxDirEntries = 1000
)

type entryKind int

const (
	entryFile entryKind = iota
	entryDir
	entrySubmodule
	entrySymlink
)

// entry is what a path holds at a ref.
type entry struct {
	kind     entryKind
	data     []byte   // a file's content
	children []string // a directory's entries; a trailing "/" marks a directory
	target   string   // a symlink's target, a submodule's URL
}

func (s *Server) putEntry(repo, p, ref string, e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, true)
	r.files[fileKey{path: strings.Trim(p, "/"), ref: ref}] = e
}

// AddFile stores content at path for the commit ref (a SHA) and serves it
// from the contents API, replacing whatever the path held. The commit itself
// need not exist. Content over 1 MiB is served as GitHub serves a 1–100 MB
// file: "encoding": "none", "content": "" and the real size.
func (s *Server) AddFile(repo, path, ref string, content []byte) {
	s.putEntry(repo, path, ref, &entry{kind: entryFile, data: slices.Clone(content)})
}

// AddDir makes path a directory at ref: the contents API answers a JSON
// array with one object per entry, as GitHub does. An entry is a name in the
// directory; a trailing "/" makes it a directory, and otherwise its type
// (and a file's size and sha) comes from what AddFile, AddDir, AddSubmodule
// or AddSymlink stored at that path, "file" by default. As on GitHub, a
// submodule is listed with type "file", and at most 1,000 entries are
// listed. The entries need not exist themselves.
func (s *Server) AddDir(repo, path, ref string, entries ...string) {
	s.putEntry(repo, path, ref, &entry{kind: entryDir, children: slices.Clone(entries)})
}

// AddSubmodule makes path a submodule at ref, pointing at the git URL url:
// the contents API answers an object of type "submodule" with
// "submodule_git_url".
func (s *Server) AddSubmodule(repo, path, ref, url string) {
	s.putEntry(repo, path, ref, &entry{kind: entrySubmodule, target: url})
}

// AddSymlink makes path a symbolic link to target at ref. As on GitHub, the
// contents API answers the target file's content when target (relative to
// the link's directory) is a file stored at the same ref, and otherwise an
// object of type "symlink" with "target".
func (s *Server) AddSymlink(repo, path, ref, target string) {
	s.putEntry(repo, path, ref, &entry{kind: entrySymlink, target: target})
}

// RemoveFile removes whatever path holds at ref (file, directory, submodule
// or symlink); the contents API then answers 404 for it.
func (s *Server) RemoveFile(repo, path, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repoLocked(repo, false); r != nil {
		delete(r.files, fileKey{path: strings.Trim(path, "/"), ref: ref})
	}
}

// getContents answers "Get repository content" for a file, a directory, a
// submodule or a symlink.
func (s *Server) getContents(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	p := strings.Trim(r.PathValue("path"), "/")
	ref := r.URL.Query().Get("ref")
	e, ok := repo.files[fileKey{path: p, ref: ref}]
	if !ok {
		return errorBody(http.StatusNotFound, "Not Found", "https://docs.github.com/rest/repos/contents#get-repository-content")
	}
	full := repo.owner + "/" + repo.name
	switch e.kind {
	case entryDir:
		children := e.children[:min(len(e.children), maxDirEntries)]
		out := make([]any, 0, len(children))
		for _, c := range children {
			name := strings.Trim(c, "/")
			cp := path.Join(p, name)
			kind, child := entryFile, repo.files[fileKey{path: cp, ref: ref}]
			switch {
			case strings.HasSuffix(c, "/"):
				kind = entryDir
			case child != nil:
				kind = child.kind
			}
			out = append(out, rd.dirItem(full, cp, ref, kind, child))
		}
		return result{status: http.StatusOK, body: out}
	case entrySubmodule:
		return result{status: http.StatusOK, body: rd.submodule(full, p, ref, e.target)}
	case entrySymlink:
		if t := path.Join(path.Dir(p), e.target); !path.IsAbs(e.target) && t != ".." && !strings.HasPrefix(t, "../") {
			if f, ok := repo.files[fileKey{path: t, ref: ref}]; ok && f.kind == entryFile {
				return result{status: http.StatusOK, body: rd.content(full, t, ref, f.data)}
			}
		}
		return result{status: http.StatusOK, body: rd.symlink(full, p, ref, e.target)}
	default:
		return result{status: http.StatusOK, body: rd.content(full, p, ref, e.data)}
	}
}

// objectSHA derives a stable git-like object id for what the fake does not
// hash for real (trees, submodule commits).
func objectSHA(kind, p, ref string) string { return blobSHA([]byte(kind + " " + p + "@" + ref)) }

// contentItem is the shape shared by every object of the contents API.
// tree selects the git tree and html tree URLs of a directory rather than a
// blob's; download says whether download_url is set.
func (rd renderer) contentItem(full, p, ref, typ string, size int, sha string, tree, download bool) object {
	self := rd.api + "/repos/" + full + "/contents/" + p + "?ref=" + ref
	git := rd.api + "/repos/" + full + "/git/blobs/" + sha
	html := "https://github.com/" + full + "/blob/" + ref + "/" + p
	if tree {
		git = rd.api + "/repos/" + full + "/git/trees/" + sha
		html = "https://github.com/" + full + "/tree/" + ref + "/" + p
	}
	var dl any
	if download {
		dl = "https://raw.githubusercontent.com/" + full + "/" + ref + "/" + p
	}
	return object{
		"type": typ, "size": size, "name": path.Base(p), "path": p, "sha": sha,
		"url": self, "git_url": git, "html_url": html, "download_url": dl,
		"_links": object{"self": self, "git": git, "html": html},
	}
}

// dirItem is one entry of a directory listing; e is what the fake stores at
// that path, if anything.
func (rd renderer) dirItem(full, p, ref string, kind entryKind, e *entry) object {
	switch kind {
	case entryDir:
		return rd.contentItem(full, p, ref, "dir", 0, objectSHA("tree", p, ref), true, false)
	case entrySubmodule:
		// GitHub lists a submodule as a "file", for backwards compatibility.
		return rd.contentItem(full, p, ref, "file", 0, objectSHA("commit", p, ref), true, false)
	case entrySymlink:
		return rd.contentItem(full, p, ref, "symlink", len(e.target), blobSHA([]byte(e.target)), false, true)
	}
	if e != nil && e.kind == entryFile {
		return rd.contentItem(full, p, ref, "file", len(e.data), blobSHA(e.data), false, true)
	}
	return rd.contentItem(full, p, ref, "file", 0, objectSHA("blob", p, ref), false, true)
}

func (rd renderer) submodule(full, p, ref, url string) object {
	sha := objectSHA("commit", p, ref)
	o := rd.contentItem(full, p, ref, "submodule", 0, sha, true, false)
	o["submodule_git_url"] = url
	// The tree and page of the submodule's own repository, when on GitHub.
	if sub, ok := strings.CutPrefix(strings.TrimSuffix(url, ".git"), "https://github.com/"); ok {
		o["git_url"] = rd.api + "/repos/" + sub + "/git/trees/" + sha
		o["html_url"] = "https://github.com/" + sub + "/tree/" + sha
		o["_links"] = object{"self": o["url"], "git": o["git_url"], "html": o["html_url"]}
	}
	return o
}

func (rd renderer) symlink(full, p, ref, target string) object {
	o := rd.contentItem(full, p, ref, "symlink", len(target), blobSHA([]byte(target)), false, true)
	o["target"] = target
	return o
}

// content is a file as "Get repository content" serves it: base64 up to
// 1 MiB, encoding "none" with empty content above.
func (rd renderer) content(full, filePath, ref string, b []byte) object {
	o := fixture("content-file")
	for k, v := range rd.contentItem(full, filePath, ref, "file", len(b), blobSHA(b), false, true) {
		o[k] = v
	}
	if len(b) > maxInlineContent {
		o["encoding"] = "none"
		o["content"] = ""
	} else {
		o["encoding"] = "base64"
		o["content"] = wrapBase64(b)
	}
	return o
}
