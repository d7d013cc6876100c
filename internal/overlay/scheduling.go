package overlay

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/preview-generator/preview-generator/internal/cost"
	"github.com/preview-generator/preview-generator/internal/params"
)

// Bounds of a scheduling profile and of the price table.
const (
	MaxSchedulingProfiles = 32
	MaxNodeSelector       = 16
	MaxTolerations        = 16
	// MaxPriceFactor bounds priceFactor (a profile may cost more than the
	// table, e.g. dedicated nodes, but not absurdly so).
	MaxPriceFactor = 100
	// MaxTolerationSeconds is a day; NoExecute evictions are for minutes.
	MaxTolerationSeconds = 86400
)

var (
	// currencyCode is an ISO 4217 alphabetic code.
	currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)
	// tolerationOperators and tolerationEffects are Kubernetes' values.
	tolerationOperators = []string{"Equal", "Exists"}
	tolerationEffects   = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
)

// schedulingProfiles decodes schedulingProfiles: a mapping of profile name
// to {nodeSelector, tolerations, priorityClassName, priceFactor}.
func (d *decoder) schedulingProfiles(p pair) params.SchedulingProfiles {
	out := params.SchedulingProfiles{}
	pairs, ok := d.mapping(p.v, p.path)
	if !ok {
		return out
	}
	if len(pairs) > MaxSchedulingProfiles {
		d.fail(p.v, p.path, "%d profiles; at most %d", len(pairs), MaxSchedulingProfiles)
		return out
	}
	for _, q := range pairs {
		if !profileName.MatchString(q.key) {
			d.fail(q.k, q.path, "%q is not a profile name (1 to 32 of a-z, 0-9 and '-', starting and ending with a letter or digit)", q.key)
			continue
		}
		var sp params.SchedulingProfile
		d.fields(q.v, q.path, map[string]func(pair){
			"nodeSelector":      func(r pair) { sp.NodeSelector = d.nodeSelector(r) },
			"tolerations":       func(r pair) { sp.Tolerations = d.tolerations(r) },
			"priorityClassName": func(r pair) { sp.PriorityClassName = d.priorityClassName(r) },
			"priceFactor": func(r pair) {
				if f, ok := d.number(r.v, r.path); ok {
					if f <= 0 || f > MaxPriceFactor {
						d.fail(r.v, r.path, "%s is out of range: more than 0, at most %d (1 is the price table; spot nodes are about 0.3)", r.v.Value, MaxPriceFactor)
						return
					}
					sp.PriceFactor = f
				}
			},
		})
		out[q.key] = sp
	}
	return out
}

// nodeSelector decodes a mapping of label keys to label values.
func (d *decoder) nodeSelector(p pair) map[string]string {
	pairs, ok := d.mapping(p.v, p.path)
	if !ok {
		return nil
	}
	if len(pairs) > MaxNodeSelector {
		d.fail(p.v, p.path, "%d labels; at most %d", len(pairs), MaxNodeSelector)
		return nil
	}
	out := make(map[string]string, len(pairs))
	for _, q := range pairs {
		if errs := validation.IsQualifiedName(q.key); len(errs) > 0 {
			d.fail(q.k, q.path, "%q is not a label key: %s", q.key, strings.Join(errs, "; "))
			continue
		}
		// A bare true or 1 is a label value too: node labels are strings.
		v, ok := d.scalar(q.v, q.path, "a label value (quote it)", "!!str", "!!bool", "!!int")
		if !ok {
			continue
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			d.fail(q.v, q.path, "%q is not a label value: %s", v, strings.Join(errs, "; "))
			continue
		}
		out[q.key] = v
	}
	return out
}

// tolerations decodes a list of Kubernetes tolerations, checked as the API
// server checks them (a pod with a bad one would never be created).
func (d *decoder) tolerations(p pair) []params.Toleration {
	if p.v.Kind != yaml.SequenceNode {
		d.fail(p.v, p.path, "want a list of tolerations, got %s", kind(p.v))
		return nil
	}
	if len(p.v.Content) > MaxTolerations {
		d.fail(p.v, p.path, "%d tolerations; at most %d", len(p.v.Content), MaxTolerations)
		return nil
	}
	var out []params.Toleration
	for i, n := range p.v.Content {
		at := fmt.Sprintf("%s[%d]", p.path, i)
		var t params.Toleration
		line := map[string]*yaml.Node{}
		bad := false
		text := func(r pair, dst *string, tags ...string) {
			line[r.key] = r.v
			if s, ok := d.scalar(r.v, r.path, "a string", tags...); ok {
				*dst = s
			} else {
				bad = true
			}
		}
		d.fields(n, at, map[string]func(pair){
			"key":      func(r pair) { text(r, &t.Key, "!!str") },
			"operator": func(r pair) { text(r, &t.Operator, "!!str") },
			"value":    func(r pair) { text(r, &t.Value, "!!str", "!!bool", "!!int") },
			"effect":   func(r pair) { text(r, &t.Effect, "!!str") },
			"tolerationSeconds": func(r pair) {
				line[r.key] = r.v
				if s, ok := d.integer(r.v, r.path); ok {
					if s < 0 || s > MaxTolerationSeconds {
						d.fail(r.v, r.path, "%d is out of range 0..%d", s, MaxTolerationSeconds)
						bad = true
						return
					}
					v := int64(s)
					t.TolerationSeconds = &v
				} else {
					bad = true
				}
			},
		})
		if n.Kind != yaml.MappingNode || bad {
			continue
		}
		fail := func(field, format string, a ...any) {
			node := n
			if l, ok := line[field]; ok {
				node = l
			}
			d.fail(node, join(at, field), format, a...)
			bad = true
		}
		if t.Operator != "" && !slices.Contains(tolerationOperators, t.Operator) {
			fail("operator", "%q is not an operator (%s)", t.Operator, strings.Join(tolerationOperators, " or "))
		}
		if t.Effect != "" && !slices.Contains(tolerationEffects, t.Effect) {
			fail("effect", "%q is not an effect (%s; leave it out for all)", t.Effect, strings.Join(tolerationEffects, ", "))
		}
		if t.Key != "" {
			if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
				fail("key", "%q is not a taint key: %s", t.Key, strings.Join(errs, "; "))
			}
		} else if t.Operator != "Exists" {
			fail("key", "required unless operator is Exists")
		}
		if t.Operator == "Exists" && t.Value != "" {
			fail("value", "must be empty when operator is Exists")
		}
		if t.Value != "" {
			if errs := validation.IsValidLabelValue(t.Value); len(errs) > 0 {
				fail("value", "%q is not a taint value: %s", t.Value, strings.Join(errs, "; "))
			}
		}
		if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
			fail("tolerationSeconds", "only with effect NoExecute")
		}
		if !bad {
			out = append(out, t)
		}
	}
	return out
}

// priorityClassName decodes a PriorityClass name (a DNS-1123 subdomain).
// The system- classes are refused: they are for the cluster's own pods.
func (d *decoder) priorityClassName(p pair) string {
	s, ok := d.str(p.v, p.path)
	if !ok {
		return ""
	}
	if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
		d.fail(p.v, p.path, "%q is not a PriorityClass name (DNS-1123 subdomain): %s", s, strings.Join(errs, "; "))
		return ""
	}
	if strings.HasPrefix(s, "system-") {
		d.fail(p.v, p.path, "%q is reserved for the cluster's own pods", s)
		return ""
	}
	return s
}

// number decodes a finite decimal number (an integer is one too).
func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	s, ok := d.scalar(n, path, "a number", "!!int", "!!float")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.fail(n, path, "want a finite number, got %s", s)
		return 0, false
	}
	return f, true
}

// pricing decodes the price table: currency, cpuHour, memoryGiBHour and
// storageGiBHour, all required.
func (d *decoder) pricing(p pair) *cost.Pricing {
	var pr cost.Pricing
	set := map[string]bool{}
	price := func(dst *float64) func(pair) {
		return func(r pair) {
			set[r.key] = true
			if f, ok := d.number(r.v, r.path); ok {
				if f < 0 || f > 1000 {
					d.fail(r.v, r.path, "%s is out of range 0..1000 (a price per unit and hour)", r.v.Value)
					return
				}
				*dst = f
			}
		}
	}
	d.fields(p.v, p.path, map[string]func(pair){
		"currency": func(r pair) {
			set[r.key] = true
			if s, ok := d.str(r.v, r.path); ok {
				if !currencyCode.MatchString(s) {
					d.fail(r.v, r.path, "%q is not a currency code (three capital letters, e.g. USD)", s)
					return
				}
				pr.Currency = s
			}
		},
		"cpuHour":        price(&pr.CPUHour),
		"memoryGiBHour":  price(&pr.MemoryGiBHour),
		"storageGiBHour": price(&pr.StorageGiBHour),
	})
	if p.v.Kind != yaml.MappingNode {
		return nil
	}
	for _, k := range []string{"currency", "cpuHour", "memoryGiBHour", "storageGiBHour"} {
		if !set[k] {
			d.fail(p.v, join(p.path, k), "required")
		}
	}
	return &pr
}

// profileNames decodes a list of scheduling profile names (the allow-list
// of .preview.yaml); each must be defined in known, checked by the caller
// once the whole file is read.
func (d *decoder) profileNames(p pair) ([]string, map[string]*yaml.Node) {
	if p.v.Kind != yaml.SequenceNode {
		d.fail(p.v, p.path, "want a list of scheduling profile names, got %s", kind(p.v))
		return nil, nil
	}
	out, nodes := []string{}, map[string]*yaml.Node{}
	for i, n := range p.v.Content {
		at := fmt.Sprintf("%s[%d]", p.path, i)
		s, ok := d.str(n, at)
		if !ok {
			continue
		}
		if slices.Contains(out, s) {
			d.fail(n, at, "%q is listed twice", s)
			continue
		}
		out = append(out, s)
		nodes[s] = n
	}
	return out, nodes
}

// checkSchedulingNames reports every name of a config that must be a
// profile of schedulingProfiles and is not.
func (d *decoder) checkSchedulingNames(c *Config, def *yaml.Node, allowed map[string]*yaml.Node) {
	known := c.SchedulingProfiles.Names()
	missing := func(n *yaml.Node, path, name string) {
		if len(known) == 0 {
			d.fail(n, path, "%q is not defined: the config has no schedulingProfiles", name)
			return
		}
		d.fail(n, path, "%q is not one of schedulingProfiles (%s)", name, strings.Join(known, ", "))
	}
	if s := c.Defaults.SchedulingProfile; s != "" && def != nil {
		if _, ok := c.SchedulingProfiles[s]; !ok {
			missing(def, "defaults.schedulingProfile", s)
		}
	}
	for i, s := range c.Overlay.AllowedSchedulingProfiles {
		if _, ok := c.SchedulingProfiles[s]; !ok {
			missing(allowed[s], fmt.Sprintf("overlay.allowedSchedulingProfiles[%d]", i), s)
		}
	}
}

// SchedulingProfileNames returns the profiles an ApplicationSet may choose
// (schedulingProfile input parameter), sorted.
func (c *Config) SchedulingProfileNames() []string { return c.SchedulingProfiles.Names() }

// fileSchedulingProfile decodes a .preview.yaml's schedulingProfile.
func (d *decoder) fileSchedulingProfile(p pair, f *File) {
	s, ok := d.str(p.v, p.path)
	if !ok {
		return
	}
	if !profileName.MatchString(s) {
		d.fail(p.v, p.path, "%q is not a scheduling profile name (lower-case letters, digits and '-')", s)
		return
	}
	f.SchedulingProfile = s
	f.lines[p.path] = p.v.Line
}

// checkSchedulingProfile says why f may not choose its scheduling profile
// under lim ("" when it may, or chooses none).
func checkSchedulingProfile(f *File, lim Limits) string {
	s := f.SchedulingProfile
	switch {
	case s == "" || slices.Contains(lim.SchedulingProfiles, s):
		return ""
	case len(lim.SchedulingProfiles) == 0:
		return fmt.Sprintf("%q is refused: this server lets no .preview.yaml choose a scheduling profile (overlay.allowedSchedulingProfiles)", s)
	default:
		return fmt.Sprintf("%q is not a scheduling profile a .preview.yaml may choose on this server (allowed: %s)", s, strings.Join(lim.SchedulingProfiles, ", "))
	}
}
