// Package previewgenerator embeds the GitOps layout of this repository
// (kustomize/ and appsets/) so that the generator binary renders previews
// offline, exactly from the files it was built with.
package previewgenerator

import (
	"embed"
	"io/fs"
)

//go:embed kustomize appsets
var gitops embed.FS

// GitOps returns the repository's kustomize/ and appsets/ directories, with
// paths as in the repository (kustomize/base, appsets/backend.yaml, ...).
// internal/render renders Application sources from it.
func GitOps() fs.FS { return gitops }
