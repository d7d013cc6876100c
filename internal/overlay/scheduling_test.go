package overlay

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/preview-generator/preview-generator/internal/cost"
	"github.com/preview-generator/preview-generator/internal/params"
)

const validScheduling = `schedulingProfiles:
  spot:
    nodeSelector:
      cloud.google.com/gke-spot: "true"
      pool: previews
    tolerations:
      - key: cloud.google.com/gke-spot
        operator: Equal
        value: "true"
        effect: NoSchedule
      - key: node.kubernetes.io/unreachable
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 60
    priorityClassName: preview-low
    priceFactor: 0.35
  standard: {}
  dedicated:
    nodeSelector: {team: payments}
    priceFactor: 2
defaults:
  schedulingProfile: spot
overlay:
  allowedSchedulingProfiles: [spot, standard]
pricing:
  currency: USD
  cpuHour: 0.0316
  memoryGiBHour: 0.0042
  storageGiBHour: 0.00014
`

func TestParseSchedulingAndPricing(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig("c.yaml", []byte(validScheduling))
	if err != nil {
		t.Fatal(err)
	}
	sixty := int64(60)
	want := params.SchedulingProfiles{
		"spot": {
			NodeSelector: map[string]string{"cloud.google.com/gke-spot": "true", "pool": "previews"},
			Tolerations: []params.Toleration{
				{Key: "cloud.google.com/gke-spot", Operator: "Equal", Value: "true", Effect: "NoSchedule"},
				{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &sixty},
			},
			PriorityClassName: "preview-low", PriceFactor: 0.35,
		},
		"standard":  {},
		"dedicated": {NodeSelector: map[string]string{"team": "payments"}, PriceFactor: 2},
	}
	if !reflect.DeepEqual(c.SchedulingProfiles, want) {
		t.Errorf("profiles = %+v\nwant %+v", c.SchedulingProfiles, want)
	}
	if c.Defaults.SchedulingProfile != "spot" {
		t.Errorf("default profile %q", c.Defaults.SchedulingProfile)
	}
	if !slices.Equal(c.Overlay.AllowedSchedulingProfiles, []string{"spot", "standard"}) {
		t.Errorf("allowed %v", c.Overlay.AllowedSchedulingProfiles)
	}
	if got := c.Limits(0, nil).SchedulingProfiles; !slices.Equal(got, []string{"spot", "standard"}) {
		t.Errorf("limits allow %v", got)
	}
	if want := (cost.Pricing{Currency: "USD", CPUHour: 0.0316, MemoryGiBHour: 0.0042, StorageGiBHour: 0.00014}); c.Pricing == nil || *c.Pricing != want {
		t.Errorf("pricing = %+v, want %+v", c.Pricing, want)
	}
	if got := c.SchedulingProfileNames(); !slices.Equal(got, []string{"dedicated", "spot", "standard"}) {
		t.Errorf("names %v", got)
	}

	d := DefaultConfig()
	if d.SchedulingProfiles != nil || d.Pricing != nil || d.Overlay.AllowedSchedulingProfiles != nil {
		t.Errorf("default config has scheduling or pricing: %+v", d)
	}
}

func TestParseSchedulingInvalid(t *testing.T) {
	t.Parallel()
	prof := func(body string) string { return "schedulingProfiles:\n  spot:\n" + body }
	one := "schedulingProfiles:\n  spot: {}\n"
	tests := []struct {
		name, in, want string
	}{
		{"profiles not a mapping", "schedulingProfiles: [spot]",
			`c.yaml: line 1: schedulingProfiles: want a mapping, got a list`},
		{"profile name", "schedulingProfiles:\n  Spot_1: {}",
			`c.yaml: line 2: schedulingProfiles.Spot_1: "Spot_1" is not a profile name (1 to 32 of a-z, 0-9 and '-', starting and ending with a letter or digit)`},
		{"unknown profile field", prof("    nodeSelectors: {}"),
			`c.yaml: line 3: schedulingProfiles.spot.nodeSelectors: unknown field (known: nodeSelector, priceFactor, priorityClassName, tolerations)`},
		{"label key", prof("    nodeSelector:\n      bad key: x"),
			`c.yaml: line 4: schedulingProfiles.spot.nodeSelector.bad key: "bad key" is not a label key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
		{"label key prefix", prof("    nodeSelector:\n      Example.com/pool: x"),
			`c.yaml: line 4: schedulingProfiles.spot.nodeSelector.Example.com/pool: "Example.com/pool" is not a label key: prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"label value", prof("    nodeSelector:\n      pool: -spot"),
			`c.yaml: line 4: schedulingProfiles.spot.nodeSelector.pool: "-spot" is not a label value: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`},
		{"label value a map", prof("    nodeSelector:\n      pool: {a: b}"),
			`c.yaml: line 4: schedulingProfiles.spot.nodeSelector.pool: want a label value (quote it), got a mapping`},
		{"tolerations not a list", prof("    tolerations: {key: a}"),
			`c.yaml: line 3: schedulingProfiles.spot.tolerations: want a list of tolerations, got a mapping`},
		{"toleration operator", prof("    tolerations:\n      - key: a\n        operator: In"),
			`c.yaml: line 5: schedulingProfiles.spot.tolerations[0].operator: "In" is not an operator (Equal or Exists)`},
		{"toleration effect", prof("    tolerations:\n      - key: a\n        effect: NoRun"),
			`c.yaml: line 5: schedulingProfiles.spot.tolerations[0].effect: "NoRun" is not an effect (NoSchedule, PreferNoSchedule, NoExecute; leave it out for all)`},
		{"toleration without key", prof("    tolerations:\n      - value: x"),
			`c.yaml: line 4: schedulingProfiles.spot.tolerations[0].key: required unless operator is Exists`},
		{"Exists with a value", prof("    tolerations:\n      - key: a\n        operator: Exists\n        value: x"),
			`c.yaml: line 6: schedulingProfiles.spot.tolerations[0].value: must be empty when operator is Exists`},
		{"toleration key", prof("    tolerations:\n      - key: a/b/c"),
			`c.yaml: line 4: schedulingProfiles.spot.tolerations[0].key: "a/b/c" is not a taint key: a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`},
		{"tolerationSeconds without NoExecute", prof("    tolerations:\n      - key: a\n        effect: NoSchedule\n        tolerationSeconds: 5"),
			`c.yaml: line 6: schedulingProfiles.spot.tolerations[0].tolerationSeconds: only with effect NoExecute`},
		{"tolerationSeconds out of range", prof("    tolerations:\n      - key: a\n        effect: NoExecute\n        tolerationSeconds: -1"),
			`c.yaml: line 6: schedulingProfiles.spot.tolerations[0].tolerationSeconds: -1 is out of range 0..86400`},
		{"unknown toleration field", prof("    tolerations:\n      - key: a\n        effects: NoSchedule"),
			`c.yaml: line 5: schedulingProfiles.spot.tolerations[0].effects: unknown field (known: effect, key, operator, tolerationSeconds, value)`},
		{"priority class name", prof("    priorityClassName: Preview_Low"),
			`c.yaml: line 3: schedulingProfiles.spot.priorityClassName: "Preview_Low" is not a PriorityClass name (DNS-1123 subdomain): a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"system priority class", prof("    priorityClassName: system-node-critical"),
			`c.yaml: line 3: schedulingProfiles.spot.priorityClassName: "system-node-critical" is reserved for the cluster's own pods`},
		{"price factor zero", prof("    priceFactor: 0"),
			`c.yaml: line 3: schedulingProfiles.spot.priceFactor: 0 is out of range: more than 0, at most 100 (1 is the price table; spot nodes are about 0.3)`},
		{"price factor not a number", prof("    priceFactor: cheap"),
			`c.yaml: line 3: schedulingProfiles.spot.priceFactor: want a number, got the string "cheap"`},
		{"price factor NaN", prof("    priceFactor: .nan"),
			`c.yaml: line 3: schedulingProfiles.spot.priceFactor: want a finite number, got .nan`},
		{"default profile undefined", "defaults:\n  schedulingProfile: spot",
			`c.yaml: line 2: defaults.schedulingProfile: "spot" is not defined: the config has no schedulingProfiles`},
		{"default profile unknown", one + "defaults:\n  schedulingProfile: cheap",
			`c.yaml: line 4: defaults.schedulingProfile: "cheap" is not one of schedulingProfiles (spot)`},
		{"allowed profile unknown", "overlay:\n  allowedSchedulingProfiles:\n    - cheap\n" + one,
			`c.yaml: line 3: overlay.allowedSchedulingProfiles[0]: "cheap" is not one of schedulingProfiles (spot)`},
		{"allowed profile twice", one + "overlay:\n  allowedSchedulingProfiles: [spot, spot]",
			`c.yaml: line 4: overlay.allowedSchedulingProfiles[1]: "spot" is listed twice`},
		{"pricing incomplete", "pricing:\n  currency: USD\n  cpuHour: 0.03",
			"c.yaml: line 2: pricing.memoryGiBHour: required\nc.yaml: line 2: pricing.storageGiBHour: required"},
		{"pricing currency", "pricing: {currency: usd, cpuHour: 1, memoryGiBHour: 1, storageGiBHour: 1}",
			`c.yaml: line 1: pricing.currency: "usd" is not a currency code (three capital letters, e.g. USD)`},
		{"negative price", "pricing: {currency: USD, cpuHour: -1, memoryGiBHour: 1, storageGiBHour: 1}",
			`c.yaml: line 1: pricing.cpuHour: -1 is out of range 0..1000 (a price per unit and hour)`},
		{"price a string", "pricing: {currency: USD, cpuHour: '0.03', memoryGiBHour: 1, storageGiBHour: 1}",
			`c.yaml: line 1: pricing.cpuHour: want a number, got the string "0.03"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig("c.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func TestPreviewFileSchedulingProfile(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxEnv: 32, SchedulingProfiles: []string{"spot", "standard"}}
	o := params.Options{TTL: time.Hour, SchedulingProfile: "standard"}
	tests := []struct {
		name, file, checkErr, want, note string
		lim                              Limits
	}{
		{name: "unset keeps the ApplicationSet's", file: "ttl: 2h", want: "standard"},
		{name: "an allowed profile", file: "schedulingProfile: spot", want: "spot"},
		{name: "outside the allow-list", file: "# spot please\nschedulingProfile: dedicated",
			checkErr: `.preview.yaml: line 2: schedulingProfile: "dedicated" is not a scheduling profile a .preview.yaml may choose on this server (allowed: spot, standard)`,
			want:     "standard",
			note:     `.preview.yaml: line 2: schedulingProfile: "dedicated" is not a scheduling profile a .preview.yaml may choose on this server (allowed: spot, standard); ignored`},
		{name: "no allow-list", file: "schedulingProfile: spot", lim: Limits{MaxEnv: 32},
			checkErr: `.preview.yaml: line 1: schedulingProfile: "spot" is refused: this server lets no .preview.yaml choose a scheduling profile (overlay.allowedSchedulingProfiles)`,
			want:     "standard",
			note:     `.preview.yaml: line 1: schedulingProfile: "spot" is refused: this server lets no .preview.yaml choose a scheduling profile (overlay.allowedSchedulingProfiles); ignored`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := lim
			if tc.lim.MaxEnv != 0 {
				l = tc.lim
			}
			f, err := Parse(".preview.yaml", []byte(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(f, l); (err == nil) != (tc.checkErr == "") || (err != nil && err.Error() != tc.checkErr) {
				t.Errorf("Check = %v, want %q", err, tc.checkErr)
			}
			if _, err := Load(".preview.yaml", []byte(tc.file), l); (err == nil) != (tc.checkErr == "") {
				t.Errorf("Load = %v, want %q", err, tc.checkErr)
			}
			got, note := Apply(o, f, l)
			if got.SchedulingProfile != tc.want {
				t.Errorf("profile %q, want %q", got.SchedulingProfile, tc.want)
			}
			if (note == nil) != (tc.note == "") || (note != nil && note.Error() != tc.note) {
				t.Errorf("note = %v, want %q", note, tc.note)
			}
		})
	}
	for in, want := range map[string]string{
		"schedulingProfile: Spot!": `.preview.yaml: line 1: schedulingProfile: "Spot!" is not a scheduling profile name (lower-case letters, digits and '-')`,
		"schedulingProfile: [a]":   `.preview.yaml: line 1: schedulingProfile: want a string, got a list`,
	} {
		if _, err := Parse(".preview.yaml", []byte(in)); err == nil || err.Error() != want {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

// checkScheduling holds the invariants of an accepted config's scheduling
// profiles and price table (FuzzParseConfig).
func checkScheduling(t *testing.T, c *Config) {
	t.Helper()
	for name, p := range c.SchedulingProfiles {
		if !profileName.MatchString(name) || p.PriceFactor < 0 || p.PriceFactor > MaxPriceFactor {
			t.Fatalf("accepted profile %q: %+v", name, p)
		}
		for k, v := range p.NodeSelector {
			if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
				t.Fatalf("accepted node selector %q=%q", k, v)
			}
		}
		for _, tol := range p.Tolerations {
			switch {
			case tol.Operator != "" && tol.Operator != "Equal" && tol.Operator != "Exists",
				tol.Operator == "Exists" && tol.Value != "",
				tol.Key == "" && tol.Operator != "Exists",
				tol.TolerationSeconds != nil && tol.Effect != "NoExecute",
				tol.Effect != "" && !slices.Contains(tolerationEffects, tol.Effect):
				t.Fatalf("accepted toleration %+v", tol)
			}
		}
		if s := p.PriorityClassName; s != "" && (len(validation.IsDNS1123Subdomain(s)) > 0 || strings.HasPrefix(s, "system-")) {
			t.Fatalf("accepted priority class %q", s)
		}
	}
	if s := c.Defaults.SchedulingProfile; s != "" {
		if _, ok := c.SchedulingProfiles[s]; !ok {
			t.Fatalf("default profile %q undefined", s)
		}
	}
	for _, s := range c.Overlay.AllowedSchedulingProfiles {
		if _, ok := c.SchedulingProfiles[s]; !ok {
			t.Fatalf("allowed profile %q undefined", s)
		}
	}
	if p := c.Pricing; p != nil && (!currencyCode.MatchString(p.Currency) || p.CPUHour < 0 || p.MemoryGiBHour < 0 || p.StorageGiBHour < 0) {
		t.Fatalf("accepted pricing %+v", p)
	}
}

// TestDocumentedScheduling parses the scheduling example that
// docs/overlay-config.md shows verbatim (testdata/scheduling.yaml).
func TestDocumentedScheduling(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/scheduling.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/overlay-config.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```yaml\n"+string(b)+"```\n") {
		t.Error("docs/overlay-config.md does not show testdata/scheduling.yaml verbatim in a yaml block")
	}
	c, err := ParseConfig("config.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	spot := c.SchedulingProfiles["spot"]
	if c.Defaults.SchedulingProfile != "standard" || !slices.Equal(c.Overlay.AllowedSchedulingProfiles, []string{"spot"}) ||
		spot.PriceFactor != 0.35 || spot.PriorityClassName != "preview-low" || len(spot.Tolerations) != 1 ||
		spot.NodeSelector["cloud.google.com/gke-spot"] != "true" || c.Pricing == nil || c.Pricing.CPUHour != 0.0316 {
		t.Errorf("parsed %+v, pricing %+v", c.SchedulingProfiles, c.Pricing)
	}
	if _, ok := c.SchedulingProfiles["standard"]; !ok {
		t.Error("standard missing")
	}
}
