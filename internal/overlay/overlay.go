// Package overlay reads the two configuration files of preview-generator:
// the per-pull-request file a developer commits (.preview.yaml, type File)
// and the server's own file given with --config (type Config, which holds
// the defaults, the limits and the service catalog). Both are parsed
// strictly: an unknown field, a wrong type or a bad value is an error that
// names the file, the line and the field path. Apply merges a File over the
// options an ApplicationSet asked for, within the server's Limits.
//
// The package is pure: bytes in, values or errors out; no I/O, no clock.
package overlay

import (
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
)

// DefaultPath is where the per-PR file is read from, relative to the
// repository root at the PR's head commit.
const DefaultPath = ".preview.yaml"

// Version is the schema version this package reads (the version field).
const Version = 1

// Bounds of a .preview.yaml, whatever the server allows.
const (
	MaxFileBytes       = 64 << 10
	MaxDependencies    = 32
	MaxEnvVars         = 100 // hard cap; Limits.MaxEnv is usually lower
	MaxEnvNameBytes    = 128
	MaxEnvValueBytes   = 4096
	MaxEnvTotalBytes   = 32 << 10
	MaxMigrateCmdBytes = 4096
	MaxTargetBytes     = 200
)

// File is a parsed .preview.yaml. Every field is optional: an unset field
// leaves the ApplicationSet's (or the server's) value alone.
type File struct {
	// Name is the file name errors are reported under.
	Name string
	// Version is the schema version (1; an absent version means 1).
	Version int
	// TTL is how long the preview lives after its last activity; 0: unset.
	TTL time.Duration
	// Size is a size profile name; empty: unset.
	Size      string
	Database  Database
	BasicAuth Toggle
	Redis     Toggle
	MongoDB   Toggle
	// Dependencies, sorted by name. Targets are kept as written: a
	// malformed target or an unknown service is an error of that
	// dependency only, reported when it is resolved
	// (params.ResolveDependencies), with Where naming file, line and field.
	Dependencies []params.DependencyRef
	// Env holds extra environment variables (not secret); nil: unset.
	Env map[string]string
	// SchedulingProfile names a scheduling profile of the server config;
	// empty: unset. Check allows only overlay.allowedSchedulingProfiles.
	SchedulingProfile string

	// lines maps a field path to the line it was set on.
	lines map[string]int
}

// Toggle switches an optional component.
type Toggle struct {
	// Enabled is nil when unset.
	Enabled *bool
}

// Database configures the seeded PostgreSQL of a preview.
type Database struct {
	// Enabled is nil when unset.
	Enabled *bool
	// SeedVersion is the tag of the seed image; empty: unset.
	SeedVersion string
	// Persistent keeps the database on a claim; nil when unset.
	Persistent *bool
	// MigrateCommand is the migration command; nil: unset,
	// pointing at "": no migration.
	MigrateCommand *string
}

var (
	// seedTag is an image tag (the OCI distribution grammar).
	seedTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// profileName is a size profile: it names kustomize/components/size-<name>.
	profileName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$`)
)

// Parse reads a .preview.yaml strictly. name is used in errors (usually
// the path it was read from). Empty content, or a file of only comments,
// is a valid file that sets nothing. The error, if any, joins one
// *FieldError per problem, in line order.
func Parse(name string, data []byte) (*File, error) {
	d := &decoder{file: name}
	f := &File{Name: name, Version: Version, lines: map[string]int{}}
	root := d.document(data, MaxFileBytes)
	if root != nil {
		d.fields(root, "", map[string]func(pair){
			"version": func(p pair) {
				if v, ok := d.integer(p.v, p.path); ok {
					if v != Version {
						d.fail(p.v, p.path, "%d is not supported (this server reads version %d)", v, Version)
					}
				}
			},
			"ttl": func(p pair) {
				if v, ok := d.duration(p.v, p.path); ok {
					f.TTL = v
					f.lines[p.path] = p.v.Line
				}
			},
			"size": func(p pair) {
				if s, ok := d.str(p.v, p.path); ok {
					if !profileName.MatchString(s) {
						d.fail(p.v, p.path, "%q is not a size profile name (lower-case letters, digits and '-')", s)
						return
					}
					f.Size = s
					f.lines[p.path] = p.v.Line
				}
			},
			"database": func(p pair) { d.database(p, f) },
			"basicAuth": func(p pair) {
				f.BasicAuth = d.toggle(p, f)
			},
			"redis":        func(p pair) { f.Redis = d.toggle(p, f) },
			"mongodb":      func(p pair) { f.MongoDB = d.toggle(p, f) },
			"dependencies": func(p pair) { d.dependencies(p, f) },
			"env":          func(p pair) { d.env(p, f) },

			"schedulingProfile": func(p pair) { d.fileSchedulingProfile(p, f) },
		})
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *decoder) toggle(p pair, f *File) Toggle {
	var t Toggle
	d.fields(p.v, p.path, map[string]func(pair){
		"enabled": func(q pair) {
			if b, ok := d.boolean(q.v, q.path); ok {
				t.Enabled = b
				f.lines[q.path] = q.v.Line
			}
		},
	})
	return t
}

func (d *decoder) database(p pair, f *File) {
	d.fields(p.v, p.path, map[string]func(pair){
		"enabled": func(q pair) {
			if b, ok := d.boolean(q.v, q.path); ok {
				f.Database.Enabled = b
			}
		},
		"persistent": func(q pair) {
			if b, ok := d.boolean(q.v, q.path); ok {
				f.Database.Persistent = b
			}
		},
		"seedVersion": func(q pair) {
			// A bare number (seedVersion: 3) is a tag too.
			s, ok := d.scalar(q.v, q.path, "an image tag such as v3", "!!str", "!!int")
			if !ok {
				return
			}
			if !seedTag.MatchString(s) {
				d.fail(q.v, q.path, "%q is not an image tag (letters, digits, '_', '.', '-'; at most 128)", s)
				return
			}
			f.Database.SeedVersion = s
		},
		"migrateCommand": func(q pair) {
			s, ok := d.str(q.v, q.path)
			if !ok {
				return
			}
			if err := checkCommand(s); err != nil {
				d.fail(q.v, q.path, "%v", err)
				return
			}
			f.Database.MigrateCommand = &s
		},
	})
}

func (d *decoder) dependencies(p pair, f *File) {
	pairs, ok := d.mapping(p.v, p.path)
	if !ok {
		return
	}
	if len(pairs) > MaxDependencies {
		d.fail(p.v, p.path, "%d dependencies; at most %d", len(pairs), MaxDependencies)
		return
	}
	for _, q := range pairs {
		// The target is checked when resolved, so that a bad one only
		// affects its own dependency; here it must merely be a short
		// scalar (a number, pr-4 mistyped as 4, is kept as "4").
		s, ok := d.scalar(q.v, q.path, "staging, pr-<n> or <owner>/<repo>#<n>", "!!str", "!!int")
		if !ok {
			continue
		}
		if len(s) > MaxTargetBytes {
			d.fail(q.v, q.path, "target longer than %d bytes", MaxTargetBytes)
			continue
		}
		where := (&FieldError{File: f.Name, Line: q.v.Line, Path: q.path}).Where()
		f.Dependencies = append(f.Dependencies, params.DependencyRef{Name: q.key, Target: s, Where: where})
	}
	sort.Slice(f.Dependencies, func(i, j int) bool { return f.Dependencies[i].Name < f.Dependencies[j].Name })
}

func (d *decoder) env(p pair, f *File) {
	pairs, ok := d.mapping(p.v, p.path)
	if !ok {
		return
	}
	f.lines[p.path] = p.k.Line
	if len(pairs) > MaxEnvVars {
		d.fail(p.v, p.path, "%d variables; at most %d", len(pairs), MaxEnvVars)
		return
	}
	env := make(map[string]string, len(pairs))
	total := 0
	for _, q := range pairs {
		if err := checkEnvName(q.key); err != nil {
			d.fail(q.k, q.path, "%v", err)
			continue
		}
		// Any scalar but null; its text is the value (DEBUG: true gives "true").
		s, ok := d.scalar(q.v, q.path, "a string (quote numbers and booleans if in doubt)", "!!str", "!!int", "!!float", "!!bool")
		if !ok {
			continue
		}
		if err := checkEnvValue(s); err != nil {
			d.fail(q.v, q.path, "%v", err)
			continue
		}
		total += len(q.key) + len(s)
		env[q.key] = s
	}
	if total > MaxEnvTotalBytes {
		d.fail(p.v, p.path, "names and values total %d bytes; at most %d", total, MaxEnvTotalBytes)
		return
	}
	f.Env = env
}

// Validate checks the invariants of a File without the server's limits
// (see Check for those). A File returned by Parse always validates; one
// built by hand may not.
func (f *File) Validate() error {
	if f.Version != Version {
		return fmt.Errorf("%s: version %d is not supported", f.Name, f.Version)
	}
	if f.TTL < 0 {
		return fmt.Errorf("%s: ttl %s is negative", f.Name, f.TTL)
	}
	if f.Size != "" && !profileName.MatchString(f.Size) {
		return fmt.Errorf("%s: size %q is not a profile name", f.Name, f.Size)
	}
	if s := f.SchedulingProfile; s != "" && !profileName.MatchString(s) {
		return fmt.Errorf("%s: schedulingProfile %q is not a profile name", f.Name, s)
	}
	if v := f.Database.SeedVersion; v != "" && !seedTag.MatchString(v) {
		return fmt.Errorf("%s: database.seedVersion %q is not an image tag", f.Name, v)
	}
	if c := f.Database.MigrateCommand; c != nil {
		if err := checkCommand(*c); err != nil {
			return fmt.Errorf("%s: database.migrateCommand: %w", f.Name, err)
		}
	}
	if len(f.Dependencies) > MaxDependencies {
		return fmt.Errorf("%s: %d dependencies", f.Name, len(f.Dependencies))
	}
	for i, r := range f.Dependencies {
		if i > 0 && f.Dependencies[i-1].Name >= r.Name {
			return fmt.Errorf("%s: dependencies not sorted or duplicated at %q", f.Name, r.Name)
		}
		if len(r.Target) > MaxTargetBytes {
			return fmt.Errorf("%s: dependencies.%s: target too long", f.Name, r.Name)
		}
	}
	if len(f.Env) > MaxEnvVars {
		return fmt.Errorf("%s: %d env variables", f.Name, len(f.Env))
	}
	total := 0
	for k, v := range f.Env {
		if err := checkEnvName(k); err != nil {
			return fmt.Errorf("%s: env.%s: %w", f.Name, k, err)
		}
		if err := checkEnvValue(v); err != nil {
			return fmt.Errorf("%s: env.%s: %w", f.Name, k, err)
		}
		total += len(k) + len(v)
	}
	if total > MaxEnvTotalBytes {
		return fmt.Errorf("%s: env totals %d bytes", f.Name, total)
	}
	return nil
}

// Line returns the line a field path was set on (0 if unknown), for
// messages about it.
func (f *File) Line(path string) int { return f.lines[path] }
