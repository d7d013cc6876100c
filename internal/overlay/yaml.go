package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem in a YAML file, located by line and field path.
type FieldError struct {
	// File names the file, e.g. ".preview.yaml" or the --config path.
	File string
	// Line is 1-based; 0 when unknown.
	Line int
	// Path is the dotted field path, e.g. "dependencies.payments"; empty
	// for the file as a whole.
	Path string
	Msg  string
}

// Error returns "<file>: line <n>: <path>: <msg>", leaving out what is
// unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(": line ")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Where returns the location part of the error, "<file>: line <n>: <path>".
func (e *FieldError) Where() string {
	s := e.Error()
	return strings.TrimSuffix(s, ": "+e.Msg)
}

// MaxErrors bounds the problems reported for one file; the rest are
// counted in a last error.
const MaxErrors = 20

// decoder walks a yaml.v3 node tree strictly, collecting FieldErrors.
type decoder struct {
	file string
	errs []*FieldError
}

func (d *decoder) fail(n *yaml.Node, path, format string, a ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, a...)})
}

// err returns the collected errors sorted by line, joined; nil when none.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
	list := d.errs
	if len(list) > MaxErrors {
		list = append(list[:MaxErrors:MaxErrors], &FieldError{File: d.file, Msg: fmt.Sprintf("%d more problems not shown", len(d.errs)-MaxErrors)})
	}
	errs := make([]error, len(list))
	for i, e := range list {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// document decodes data as exactly one YAML document and returns its root
// node, or nil for an empty document (only comments, or null).
func (d *decoder) document(data []byte, maxBytes int) *yaml.Node {
	if len(data) > maxBytes {
		d.fail(nil, "", "the file is %d bytes; the limit is %d", len(data), maxBytes)
		return nil
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := safeDecode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		d.fail(nil, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	var extra yaml.Node
	if err := safeDecode(dec, &extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Msg: "more than one YAML document; keep a single one"})
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil
	}
	return root
}

// safeDecode turns a panic inside the YAML library into an error.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	return dec.Decode(n)
}

// kind names what n is, for "want X, got Y" messages.
func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	case "!!null":
		return "null"
	case "!!timestamp":
		return "the timestamp " + n.Value
	default:
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
}

// join makes a dotted field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// pair is one key/value of a mapping.
type pair struct {
	key  string
	k, v *yaml.Node
	path string
}

// mapping returns the pairs of the mapping n at path, rejecting aliases,
// non-string keys and duplicate keys. ok is false if n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, path string) (pairs []pair, ok bool) {
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, "aliases (*%s) are not supported; write the value out", n.Value)
		return nil, false
	}
	if n.Kind != yaml.MappingNode || (n.Tag != "" && n.ShortTag() != "!!map") {
		d.fail(n, path, "want a mapping, got %s", kind(n))
		return nil, false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				d.fail(k, path, "merge keys (<<) are not supported; write the fields out")
			} else {
				d.fail(k, path, "keys must be strings, got %s", kind(k))
			}
			continue
		}
		p := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(k, p, "duplicate key (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		pairs = append(pairs, pair{key: k.Value, k: k, v: v, path: p})
	}
	return pairs, true
}

// fields decodes a mapping with a fixed set of fields: each known key's
// function is called with its value; an unknown key is an error naming the
// known ones.
func (d *decoder) fields(n *yaml.Node, path string, known map[string]func(p pair)) {
	pairs, ok := d.mapping(n, path)
	if !ok {
		return
	}
	for _, p := range pairs {
		f, ok := known[p.key]
		if !ok {
			names := make([]string, 0, len(known))
			for k := range known {
				names = append(names, k)
			}
			sort.Strings(names)
			d.fail(p.k, p.path, "unknown field (known: %s)", strings.Join(names, ", "))
			continue
		}
		f(p)
	}
}

// scalar checks that n is a scalar of one of tags and returns its text.
func (d *decoder) scalar(n *yaml.Node, path, want string, tags ...string) (string, bool) {
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, "aliases (*%s) are not supported; write the value out", n.Value)
		return "", false
	}
	if n.Kind == yaml.ScalarNode {
		for _, t := range tags {
			if n.ShortTag() == t {
				return n.Value, true
			}
		}
	}
	d.fail(n, path, "want %s, got %s", want, kind(n))
	return "", false
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	return d.scalar(n, path, "a string", "!!str")
}

func (d *decoder) boolean(n *yaml.Node, path string) (*bool, bool) {
	s, ok := d.scalar(n, path, "true or false", "!!bool")
	if !ok {
		return nil, false
	}
	var b bool
	switch s {
	case "true", "True", "TRUE":
		b = true
	case "false", "False", "FALSE":
		b = false
	default:
		d.fail(n, path, "want true or false, got %q", s)
		return nil, false
	}
	return &b, true
}

func (d *decoder) integer(n *yaml.Node, path string) (int, bool) {
	s, ok := d.scalar(n, path, "a whole number", "!!int")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		d.fail(n, path, "want a whole number, got %s", s)
		return 0, false
	}
	return i, true
}

// duration decodes a Go duration string such as 72h or 90m; it must be
// positive.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := d.scalar(n, path, "a duration like 24h or 90m", "!!str")
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.fail(n, path, "%q is not a duration like 24h or 90m", s)
		return 0, false
	}
	if v <= 0 {
		d.fail(n, path, "%q must be positive", s)
		return 0, false
	}
	return v, true
}
