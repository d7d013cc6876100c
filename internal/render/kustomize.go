// Package render builds the manifests of a preview the way Argo CD does,
// offline: Kustomize renders an Application's Kustomize source exactly as
// Argo CD v2.14's repo-server would, and ApplicationSet renders an
// ApplicationSet's template for one parameter map with Argo CD's own template
// code. It is the one place that turns a kustomize/ directory plus an
// Application's kustomize options into manifests; `generator render`, the
// tests and the e2e suite all go through it.
package render

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/gitops-engine/pkg/utils/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/ifc"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/pkg/util"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizationNames are the file names Argo CD (util/kustomize
// KustomizationNames) and kustomize recognise, in Argo CD's lookup order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Options are the inputs of one render besides the files.
type Options struct {
	// Kustomize is the Application's spec.source.kustomize; nil renders the
	// kustomization as it is in the files.
	Kustomize *v1alpha1.ApplicationSourceKustomize
	// Env is the build environment Argo CD substitutes into images and
	// common labels (ARGOCD_APP_NAME, ARGOCD_APP_REVISION, ...). Nil is an
	// empty environment: $VARS expand to "".
	Env v1alpha1.Env
}

// Result is a rendered kustomization.
type Result struct {
	// YAML is the multi-document output of the build, as `kustomize build`
	// prints it.
	YAML []byte
	// Objects are the documents of YAML as Argo CD splits them.
	Objects []*unstructured.Unstructured
	// Commands lists, in order, the kustomize commands Argo CD would have run
	// for the same options (paths relative to the source directory).
	Commands []string
	// Kustomization is the kustomization file of the source directory after
	// Argo CD's edits, before the build.
	Kustomization []byte
}

// Kustomize renders the kustomization in directory srcPath of fsys with the
// Application's kustomize options, mirroring Argo CD v2.14
// util/kustomize.Build: it applies the same edits in the same order
// (namePrefix, nameSuffix, images, replicas, commonLabels, commonAnnotations,
// namespace, patches, components) with the semantics of `kustomize edit`,
// then builds with krusty using the options of `kustomize build` with no
// flags. The files are copied into an in-memory filesystem; fsys is not
// modified. Remote bases and kustomize build options are not supported.
func Kustomize(fsys fs.FS, srcPath string, opts Options) (*Result, error) {
	dir, err := cleanSourcePath(srcPath)
	if err != nil {
		return nil, err
	}
	mem, err := copyToMemory(fsys)
	if err != nil {
		return nil, err
	}
	if !mem.IsDir(dir) {
		return nil, fmt.Errorf("source path %q: not a directory", srcPath)
	}
	e := &editor{fs: mem, dir: dir, validator: provider.NewDefaultDepProvider().GetFieldValidator()}
	if err := e.apply(opts); err != nil {
		return nil, fmt.Errorf("editing kustomization in %q: %w", srcPath, err)
	}

	kOpts := krusty.MakeDefaultOptions()
	// `kustomize build` without --reorder leaves the order to the
	// kustomization's sortOptions (legacy order when absent).
	kOpts.Reorder = krusty.ReorderOptionUnspecified
	kOpts.PluginConfig.HelmConfig.Command = "helm"
	resMap, err := krusty.MakeKustomizer(kOpts).Run(mem, dir)
	if err != nil {
		return nil, fmt.Errorf("building %q: %w", srcPath, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("printing %q: %w", srcPath, err)
	}
	objs, err := kube.SplitYAML(out)
	if err != nil {
		return nil, fmt.Errorf("splitting output of %q: %w", srcPath, err)
	}
	kust, err := mem.ReadFile(e.file)
	if err != nil {
		return nil, fmt.Errorf("reading edited kustomization of %q: %w", srcPath, err)
	}
	cmds := append([]string{}, e.commands...)
	cmds = append(cmds, "kustomize build .")
	return &Result{YAML: out, Objects: objs, Commands: cmds, Kustomization: kust}, nil
}

// cleanSourcePath turns an Application source path into an absolute path of
// the in-memory filesystem, refusing paths that leave the repository.
func cleanSourcePath(p string) (string, error) {
	if path.IsAbs(p) {
		return "", fmt.Errorf("source path %q: must be relative to the repository root", p)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("source path %q: leaves the repository root", p)
	}
	if c == "." {
		return "/", nil
	}
	return "/" + c, nil
}

// copyToMemory copies every regular file of fsys into a new in-memory
// filesystem rooted at "/".
func copyToMemory(fsys fs.FS) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == "." {
				return nil
			}
			return mem.MkdirAll("/" + p)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+p, b)
	})
	if err != nil {
		return nil, fmt.Errorf("copying files into memory: %w", err)
	}
	return mem, nil
}

// editor applies the `kustomize edit` commands Argo CD runs to the
// kustomization file in dir.
type editor struct {
	fs        filesys.FileSystem
	dir       string
	file      string
	validator ifc.Validator
	commands  []string
}

func (e *editor) apply(opts Options) error {
	file, err := e.findFile()
	if err != nil {
		// Argo CD runs the edits first and lets them fail; with no edit to
		// run, the build reports the missing kustomization itself.
		if opts.Kustomize == nil {
			e.file = path.Join(e.dir, kustomizationNames[0])
			return nil
		}
		return err
	}
	e.file = file
	k := opts.Kustomize
	if k == nil {
		return nil
	}
	env := opts.Env
	if k.NamePrefix != "" {
		e.log("kustomize edit set nameprefix -- " + k.NamePrefix)
		if err := e.edit(func(m *types.Kustomization) error { m.NamePrefix = k.NamePrefix; return nil }); err != nil {
			return fmt.Errorf("setting namePrefix: %w", err)
		}
	}
	if k.NameSuffix != "" {
		e.log("kustomize edit set namesuffix -- " + k.NameSuffix)
		if err := e.edit(func(m *types.Kustomization) error { m.NameSuffix = k.NameSuffix; return nil }); err != nil {
			return fmt.Errorf("setting nameSuffix: %w", err)
		}
	}
	if len(k.Images) > 0 {
		args := make([]string, 0, len(k.Images))
		for _, img := range k.Images {
			args = append(args, env.Envsubst(string(img)))
		}
		e.log("kustomize edit set image " + strings.Join(args, " "))
		if err := e.setImages(args); err != nil {
			return fmt.Errorf("setting images: %w", err)
		}
	}
	if len(k.Replicas) > 0 {
		args := make([]string, 0, len(k.Replicas))
		for _, r := range k.Replicas {
			n, err := r.GetIntCount()
			if err != nil {
				return fmt.Errorf("replicas of %q: %w", r.Name, err)
			}
			args = append(args, fmt.Sprintf("%s=%d", r.Name, n))
		}
		e.log("kustomize edit set replicas " + strings.Join(args, " "))
		if err := e.setReplicas(args); err != nil {
			return fmt.Errorf("setting replicas: %w", err)
		}
	}
	if len(k.CommonLabels) > 0 {
		labels := make(map[string]string, len(k.CommonLabels))
		for name, value := range k.CommonLabels {
			labels[name] = env.Envsubst(value)
		}
		flags := ""
		if k.ForceCommonLabels {
			flags += " --force"
		}
		if k.LabelWithoutSelector {
			flags += " --without-selector"
		}
		args := editAddArgs(labels)
		e.log("kustomize edit add label" + flags + " " + strings.Join(args, " "))
		if err := e.addMetadata(args, true, k.ForceCommonLabels, k.LabelWithoutSelector); err != nil {
			return fmt.Errorf("adding commonLabels: %w", err)
		}
	}
	if len(k.CommonAnnotations) > 0 {
		annotations := k.CommonAnnotations
		if k.CommonAnnotationsEnvsubst {
			annotations = make(map[string]string, len(k.CommonAnnotations))
			for name, value := range k.CommonAnnotations {
				annotations[name] = env.Envsubst(value)
			}
		}
		flags := ""
		if k.ForceCommonAnnotations {
			flags += " --force"
		}
		args := editAddArgs(annotations)
		e.log("kustomize edit add annotation" + flags + " " + strings.Join(args, " "))
		if err := e.addMetadata(args, false, k.ForceCommonAnnotations, false); err != nil {
			return fmt.Errorf("adding commonAnnotations: %w", err)
		}
	}
	if k.Namespace != "" {
		e.log("kustomize edit set namespace -- " + k.Namespace)
		if errs := e.validator.ValidateNamespace(k.Namespace); len(errs) != 0 {
			return fmt.Errorf("%q is not a valid namespace name: %s", k.Namespace, strings.Join(errs, ";"))
		}
		if err := e.edit(func(m *types.Kustomization) error { m.Namespace = k.Namespace; return nil }); err != nil {
			return fmt.Errorf("setting namespace: %w", err)
		}
	}
	if len(k.Patches) > 0 {
		e.log("# kustomization.yaml updated with patches")
		if err := e.appendPatches(k.Patches); err != nil {
			return fmt.Errorf("adding patches: %w", err)
		}
	}
	if len(k.Components) > 0 {
		e.log("kustomize edit add component " + strings.Join(k.Components, " "))
		if err := e.addComponents(k.Components); err != nil {
			return fmt.Errorf("adding components: %w", err)
		}
	}
	return nil
}

func (e *editor) log(cmd string) { e.commands = append(e.commands, cmd) }

// findFile returns the one kustomization file of e.dir, failing like
// `kustomize edit` when there is none or more than one.
func (e *editor) findFile() (string, error) {
	var found []string
	for _, name := range kustomizationNames {
		p := path.Join(e.dir, name)
		if e.fs.Exists(p) && !e.fs.IsDir(p) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("missing kustomization file %q in %s", kustomizationNames[0], e.dir)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("found multiple kustomization files in %s: %v", e.dir, found)
	}
}

// edit reads the kustomization like `kustomize edit` (strict unmarshal,
// deprecated fields moved), lets fn change it and writes it back.
func (e *editor) edit(fn func(*types.Kustomization) error) error {
	data, err := e.fs.ReadFile(e.file)
	if err != nil {
		return fmt.Errorf("reading %s: %w", e.file, err)
	}
	var m types.Kustomization
	if err := m.Unmarshal(data); err != nil {
		return fmt.Errorf("reading %s: %w", e.file, err)
	}
	m.FixKustomization()
	if err := fn(&m); err != nil {
		return err
	}
	out, err := yaml.Marshal(&m)
	if err != nil {
		return fmt.Errorf("writing %s: %w", e.file, err)
	}
	return e.fs.WriteFile(e.file, out)
}

// errImageArg is `kustomize edit set image`'s complaint about a malformed
// argument.
var errImageArg = errors.New("invalid format of image, use <image>=<newimage>:<newtag>, <image>=<newimage>@<digest>, <image>:<newtag> or <image>@<digest>")

// setImages follows `kustomize edit set image`: each argument replaces the
// entry of the same name, "*" keeps that part of the existing entry, and
// the list is sorted by name.
func (e *editor) setImages(args []string) error {
	byName := make(map[string]types.Image, len(args))
	for _, arg := range args {
		img, err := parseImageArg(arg)
		if err != nil {
			return fmt.Errorf("image %q: %w", arg, err)
		}
		byName[img.Name] = img
	}
	return e.edit(func(m *types.Kustomization) error {
		for _, old := range m.Images {
			img, ok := byName[old.Name]
			if !ok {
				byName[old.Name] = old
				continue
			}
			if img.NewName == "*" {
				img.NewName = old.NewName
			}
			if img.NewTag == "*" {
				img.NewTag = old.NewTag
			}
			if img.Digest == "*" {
				img.Digest = old.Digest
			}
			byName[old.Name] = img
		}
		images := make([]types.Image, 0, len(byName))
		for _, img := range byName {
			if img.NewName == "*" {
				img.NewName = ""
			}
			if img.NewTag == "*" {
				img.NewTag = ""
			}
			if img.Digest == "*" {
				img.Digest = ""
			}
			images = append(images, img)
		}
		sort.Slice(images, func(i, j int) bool { return images[i].Name < images[j].Name })
		m.Images = images
		return nil
	})
}

// parseImageArg parses one `kustomize edit set image` argument:
// [<name>=]<image>[:<tag>][@<digest>].
func parseImageArg(arg string) (types.Image, error) {
	key, value, hasKey := strings.Cut(arg, "=")
	if !hasKey {
		value = arg
	}
	name, tag, digest := util.SplitImageName(value)
	if name == arg {
		return types.Image{}, errImageArg
	}
	img := types.Image{NewTag: tag, Digest: digest}
	if hasKey {
		img.Name = key
		img.NewName = name
	} else {
		img.Name = name
	}
	return img, nil
}

// setReplicas follows `kustomize edit set replicas`.
func (e *editor) setReplicas(args []string) error {
	byName := make(map[string]types.Replica, len(args))
	for _, arg := range args {
		parts := strings.Split(arg, "=")
		if len(parts) != 2 {
			return fmt.Errorf("replica %q: want <name>=<count>", arg)
		}
		n, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return fmt.Errorf("replica %q: want <name>=<count>", arg)
		}
		byName[parts[0]] = types.Replica{Name: parts[0], Count: n}
	}
	return e.edit(func(m *types.Kustomization) error {
		for _, old := range m.Replicas {
			if _, ok := byName[old.Name]; !ok {
				byName[old.Name] = old
			}
		}
		replicas := make([]types.Replica, 0, len(byName))
		for _, r := range byName {
			replicas = append(replicas, r)
		}
		sort.Slice(replicas, func(i, j int) bool { return replicas[i].Name < replicas[j].Name })
		m.Replicas = replicas
		return nil
	})
}

// editAddArgs formats a map as Argo CD passes it to `kustomize edit add`:
// one "key:value" argument per entry (sorted here; the result does not
// depend on the order).
func editAddArgs(m map[string]string) []string {
	args := make([]string, 0, len(m))
	for k, v := range m {
		args = append(args, k+":"+v)
	}
	sort.Strings(args)
	return args
}

// parseEditAddArgs parses "key:value" arguments like kustomize's
// ConvertSliceToMap: split at the first ':', a value wrapped in double
// quotes loses them, a bare key has the empty value.
func parseEditAddArgs(args []string, kind string) (map[string]string, error) {
	out := make(map[string]string, len(args))
	for _, arg := range args {
		c := strings.Index(arg, ":")
		switch {
		case c == 0:
			return nil, fmt.Errorf("invalid %s: %q (need k:v pair where v may be quoted)", kind, arg)
		case c < 0:
			out[arg] = ""
		default:
			v := arg[c+1:]
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			out[arg[:c]] = v
		}
	}
	return out, nil
}

// addMetadata follows `kustomize edit add label|annotation`: existing keys
// are an error unless force; labels without selector go to a `labels` entry
// with includeSelectors false (merged into an existing one of the same
// settings), other labels to commonLabels.
func (e *editor) addMetadata(args []string, isLabel, force, withoutSelector bool) error {
	kind := "annotation"
	validate := e.validator.MakeAnnotationValidator()
	if isLabel {
		kind = "label"
		validate = e.validator.MakeLabelValidator()
	}
	values, err := parseEditAddArgs(args, kind)
	if err != nil {
		return err
	}
	if err := validate(values); err != nil {
		return err
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	put := func(m map[string]string, k string) error {
		if _, ok := m[k]; ok && !force {
			return fmt.Errorf("%s %s already in kustomization file. Use --force to override", kind, k)
		}
		m[k] = values[k]
		return nil
	}
	return e.edit(func(m *types.Kustomization) error {
		switch {
		case !isLabel:
			if m.CommonAnnotations == nil {
				m.CommonAnnotations = map[string]string{}
			}
			for _, k := range keys {
				if err := put(m.CommonAnnotations, k); err != nil {
					return err
				}
			}
		case !withoutSelector:
			if m.CommonLabels == nil {
				m.CommonLabels = map[string]string{}
			}
			for _, k := range keys {
				if err := put(m.CommonLabels, k); err != nil {
					return err
				}
			}
		default:
			idx := slices.IndexFunc(m.Labels, func(l types.Label) bool {
				return !l.IncludeSelectors && !l.IncludeTemplates
			})
			if idx < 0 {
				m.Labels = append(m.Labels, types.Label{Pairs: map[string]string{}})
				idx = len(m.Labels) - 1
			}
			if m.Labels[idx].Pairs == nil {
				m.Labels[idx].Pairs = map[string]string{}
			}
			for _, k := range keys {
				if err := put(m.Labels[idx].Pairs, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// appendPatches follows Argo CD: the kustomization is read as plain YAML,
// the Application's patches are appended to `patches` (or become it), and
// the file is written back. No `kustomize edit` command exists for this.
func (e *editor) appendPatches(patches v1alpha1.KustomizePatches) error {
	data, err := e.fs.ReadFile(e.file)
	if err != nil {
		return fmt.Errorf("reading %s: %w", e.file, err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("unmarshalling %s: %w", e.file, err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: expected a map, got %T", e.file, doc)
	}
	if existing, ok := m["patches"]; ok {
		list, ok := existing.([]any)
		if !ok {
			return fmt.Errorf("%s: expected 'patches' to be a list, got %T", e.file, existing)
		}
		for _, p := range patches {
			list = append(list, p)
		}
		m["patches"] = list
	} else {
		m["patches"] = patches
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshalling %s with patches: %w", e.file, err)
	}
	return e.fs.WriteFile(e.file, out)
}

// addComponents follows `kustomize edit add component`: each argument is a
// glob relative to the kustomization directory and must match; matches are
// appended unless already listed.
func (e *editor) addComponents(args []string) error {
	var components []string
	for _, pattern := range args {
		matches, err := globDisk(e.fs, path.Join(e.dir, pattern))
		if err != nil {
			return fmt.Errorf("component %q: %w", pattern, err)
		}
		if len(matches) == 0 {
			return fmt.Errorf("component %q has no match in %s (remote components are not rendered offline)", pattern, e.dir)
		}
		for _, match := range matches {
			rel, err := filepath.Rel(e.dir, match)
			if err != nil {
				return fmt.Errorf("component %q: %w", pattern, err)
			}
			components = append(components, filepath.ToSlash(rel))
		}
	}
	return e.edit(func(m *types.Kustomization) error {
		for _, c := range components {
			if path.Join(e.dir, c) == e.file || slices.Contains(m.Components, c) {
				continue
			}
			m.Components = append(m.Components, c)
		}
		return nil
	})
}

// globDisk matches pattern like kustomize's on-disk filesystem
// (filepath.Glob, directories included, hidden paths dropped unless the
// pattern is hidden). The in-memory filesystem's own Glob matches files
// only, which would reject every component directory.
func globDisk(fsys filesys.FileSystem, pattern string) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	var all []string
	if !strings.ContainsAny(pattern, `*?[\`) {
		if fsys.Exists(pattern) {
			all = []string{pattern}
		}
	} else {
		err := fsys.Walk("/", func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if ok, _ := filepath.Match(pattern, p); ok {
				all = append(all, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(all)
	}
	if filesys.IsHiddenFilePath(pattern) {
		return all, nil
	}
	return filesys.RemoveHiddenFiles(all), nil
}
