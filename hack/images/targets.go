package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/preview-generator/preview-generator/hack/images/imagebuild"
)

// Image names. The e2e manifests and the node's containerd rely on them.
const (
	// PauseRef is the sandbox image containerd 1.6 uses by default.
	PauseRef = "registry.k8s.io/pause:3.6"
	// GeneratorRef is the generator built from ./cmd/generator.
	GeneratorRef = "preview-generator.local/generator:dev"
	// SampleAppRef is examples/sample-app with a busybox shell.
	SampleAppRef = "preview-generator.local/sample-app:dev"
	// EdgeRef is oauth2-proxy, built from the Go module proxy.
	EdgeRef = "preview-generator.local/edge:v7.15.6"
	// CurlRef is Debian's curl with busybox: the image of the db
	// component's db-credentials Job (docker.io/curlimages/curl upstream).
	CurlRef = "preview-generator.local/curl:dev"
	// EdgeModule and EdgeVersion pin the oauth2-proxy build.
	EdgeModule  = "github.com/oauth2-proxy/oauth2-proxy/v7"
	EdgeVersion = "v7.15.6"
)

// Well-known numeric ids. Kubernetes can only check runAsNonRoot against a
// numeric USER.
const (
	nonrootID  = 65532 // distroless's "nonroot": generator, edge, sample app
	pauseID    = 65535 // the upstream pause image's user
	postgresID = 999   // the postgres user of the official postgres images
)

// caCerts is the host's CA bundle (Debian's ca-certificates), copied into
// images that make outgoing TLS connections.
const caCerts = "/etc/ssl/certs/ca-certificates.crt"

// target is one image.
type target struct {
	Name string // file name and command-line name
	Ref  string // image name and tag
	// Inputs hashes everything the image is built from.
	Inputs func(b *builder, h *hasher) error
	// Build assembles the image.
	Build func(b *builder) (v1.Image, error)
}

var targets = []*target{
	{
		Name: "pause", Ref: PauseRef,
		Inputs: func(b *builder, h *hasher) error { return nil }, // its sources are this program's
		Build:  buildPause,
	},
	{
		Name: "generator", Ref: GeneratorRef,
		Inputs: func(b *builder, h *hasher) error {
			if err := b.goInputs(h, b.repo, "./cmd/generator"); err != nil {
				return err
			}
			return h.file(caCerts)
		},
		Build: buildGenerator,
	},
	{
		Name: "sample-app", Ref: SampleAppRef,
		Inputs: func(b *builder, h *hasher) error {
			if err := b.goInputs(h, b.repo, "./examples/sample-app"); err != nil {
				return err
			}
			if err := h.file(busybox); err != nil {
				return err
			}
			return h.file(caCerts)
		},
		Build: buildSampleApp,
	},
	{
		Name: "edge", Ref: EdgeRef,
		Inputs: func(b *builder, h *hasher) error {
			h.str(EdgeModule, EdgeVersion)
			return h.file(caCerts)
		},
		Build: buildEdge,
	},
	{Name: "seed-postgres", Ref: SeedRef, Inputs: seedInputs, Build: buildSeed},
	{
		Name: "curl", Ref: CurlRef,
		Inputs: func(b *builder, h *hasher) error {
			for _, f := range []string{hostCurl, busybox, caCerts} {
				if err := h.file(f); err != nil {
					return err
				}
			}
			return nil
		},
		Build: buildCurl,
	},
}

// hostCurl is Debian's curl (package curl).
const hostCurl = "/usr/bin/curl"

// buildCurl is Debian's curl, the shared libraries it loads and busybox
// (the db-credentials Job's script runs under /bin/sh with head, od, tr).
func buildCurl(b *builder) (v1.Image, error) {
	if _, err := os.Stat(hostCurl); err != nil {
		return nil, fmt.Errorf("%w (the curl image needs Debian's curl)", err)
	}
	entries := baseEntries()
	bb, err := busyboxEntries()
	if err != nil {
		return nil, err
	}
	entries = append(entries, bb...)
	libs, err := sharedLibraries(b, []string{hostCurl})
	if err != nil {
		return nil, err
	}
	entries = append(entries, libs...)
	entries = append(entries, imagebuild.HostFile("/usr/bin/curl", 0o755, hostCurl))
	l, err := b.layer(entries)
	if err != nil {
		return nil, err
	}
	return imagebuild.Image([]v1.Layer{l}, imagebuild.Config{
		Entrypoint: []string{"/usr/bin/curl"},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		User:       fmt.Sprintf("%d:%d", nonrootID, nonrootID),
	})
}

func findTarget(name string) *target {
	for _, t := range targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func targetNames() []string {
	var n []string
	for _, t := range targets {
		n = append(n, t.Name)
	}
	return n
}

// baseEntries is the minimal root filesystem every non-pause image gets:
// users, groups, CA certificates and a world-writable /tmp.
func baseEntries() []imagebuild.Entry {
	e := imagebuild.Passwd(map[string]int{"nonroot": nonrootID, "postgres": postgresID})
	return append(e,
		imagebuild.HostFile("/etc/ssl/certs/ca-certificates.crt", 0o644, caCerts),
		imagebuild.Dir("/tmp", fs.ModeSticky|0o777, 0, 0),
		imagebuild.Dir("/home/nonroot", 0o755, nonrootID, nonrootID),
	)
}

func buildPause(b *builder) (v1.Image, error) {
	bin, err := b.goBuild(filepath.Join(b.repo, "hack", "images"), "./pause", "pause")
	if err != nil {
		return nil, err
	}
	l, err := b.layer([]imagebuild.Entry{imagebuild.HostFile("/pause", 0o755, bin)})
	if err != nil {
		return nil, err
	}
	return imagebuild.Image([]v1.Layer{l}, imagebuild.Config{
		Entrypoint: []string{"/pause"},
		User:       fmt.Sprintf("%d:%d", pauseID, pauseID),
	})
}

func buildGenerator(b *builder) (v1.Image, error) {
	bin, err := b.goBuild(b.repo, "./cmd/generator", "generator", "-X main.version=dev")
	if err != nil {
		return nil, err
	}
	return singleBinary(b, bin, "/generator", imagebuild.Config{
		Entrypoint:   []string{"/generator"},
		Cmd:          []string{"serve"},
		ExposedPorts: []string{"8080/tcp"},
	})
}

// buildSampleApp is the sample app plus busybox: the preview manifests run
// its migrate command through `sh -c`.
func buildSampleApp(b *builder) (v1.Image, error) {
	bin, err := b.goBuild(b.repo, "./examples/sample-app", "sample-app")
	if err != nil {
		return nil, err
	}
	base := baseEntries()
	bb, err := busyboxEntries()
	if err != nil {
		return nil, err
	}
	l1, err := b.layer(append(base, bb...))
	if err != nil {
		return nil, err
	}
	l2, err := b.layer([]imagebuild.Entry{imagebuild.HostFile("/usr/local/bin/sample-app", 0o755, bin)})
	if err != nil {
		return nil, err
	}
	return imagebuild.Image([]v1.Layer{l1, l2}, imagebuild.Config{
		Entrypoint:   []string{"/usr/local/bin/sample-app"},
		Cmd:          []string{"serve"},
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "PORT=8080"},
		User:         fmt.Sprintf("%d:%d", nonrootID, nonrootID),
		ExposedPorts: []string{"8080/tcp"},
	})
}

func buildEdge(b *builder) (v1.Image, error) {
	gobin := filepath.Join(b.work, "edge-bin")
	_, err := b.output(b.work, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false", "GOBIN=" + gobin},
		"go", "install", "-trimpath",
		"-ldflags", "-s -w -X "+EdgeModule+"/pkg/version.VERSION="+EdgeVersion,
		EdgeModule+"@"+EdgeVersion)
	if err != nil {
		return nil, fmt.Errorf("building oauth2-proxy %s from the module proxy: %w", EdgeVersion, err)
	}
	return singleBinary(b, filepath.Join(gobin, "oauth2-proxy"), "/bin/oauth2-proxy", imagebuild.Config{
		Entrypoint:   []string{"/bin/oauth2-proxy"},
		ExposedPorts: []string{"4180/tcp"},
	})
}

// singleBinary is the base layer plus one static binary at dst, run as
// nonroot.
func singleBinary(b *builder, bin, dst string, cfg imagebuild.Config) (v1.Image, error) {
	base, err := b.layer(baseEntries())
	if err != nil {
		return nil, err
	}
	app, err := b.layer([]imagebuild.Entry{imagebuild.HostFile(dst, 0o755, bin)})
	if err != nil {
		return nil, err
	}
	cfg.User = fmt.Sprintf("%d:%d", nonrootID, nonrootID)
	cfg.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}, cfg.Env...)
	return imagebuild.Image([]v1.Layer{base, app}, cfg)
}
