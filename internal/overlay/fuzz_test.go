package overlay

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
)

// fieldErrors returns the *FieldErrors joined in err, and whether every
// error in it is one.
func fieldErrors(err error) ([]*FieldError, bool) {
	var out []*FieldError
	var walk func(error) bool
	walk = func(e error) bool {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				if !walk(x) {
					return false
				}
			}
			return true
		}
		var fe *FieldError
		if !errors.As(e, &fe) {
			return false
		}
		out = append(out, fe)
		return true
	}
	ok := walk(err)
	return out, ok
}

func FuzzParseOverlay(f *testing.F) {
	if b, err := os.ReadFile("testdata/preview.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"", "{}", "ttl: 24h", "ttl: -1h", "size: Large", "database: {enabled: true, seedVersion: 3}",
		"dependencies: {payments: pr-42, search: acme/search#7, x: 4}", "env: {A: '1', DEBUG: true}",
		"a: &x 1\nb: *x", "<<: {ttl: 1h}", "- 1", "ttl: 1h\n---\nttl: 2h", "env:\n  GH: ghp_abcdefghijklmnopqrstuvwxyz0123",
		"basicAuth:\n  enabled: yes", "version: 2", "\t", "{", "? [a]\n: b", "!!binary aGk=", "ttl: !!str 3h",
		"schedulingProfile: spot", "schedulingProfile: dedicated", "schedulingProfile: [x]",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxTTL: 168 * time.Hour, SizeProfiles: []string{"small", "medium"}, MaxEnv: 32, SchedulingProfiles: []string{"spot"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(".preview.yaml", data)
		if err != nil {
			fes, ok := fieldErrors(err)
			if !ok || len(fes) == 0 {
				t.Fatalf("error is not made of *FieldError: %v", err)
			}
			for _, fe := range fes {
				if fe.File != ".preview.yaml" || fe.Msg == "" {
					t.Fatalf("error without file or message: %#v", fe)
				}
			}
			return
		}
		if err := file.Validate(); err != nil {
			t.Fatalf("accepted file does not validate: %v\n%q", err, data)
		}
		again, err := Parse(".preview.yaml", data)
		if err != nil || !reflect.DeepEqual(file, again) {
			t.Fatalf("second parse differs: %v", err)
		}
		for _, d := range file.Dependencies {
			if !strings.HasPrefix(d.Where, ".preview.yaml: line ") {
				t.Fatalf("dependency %q located as %q", d.Name, d.Where)
			}
		}
		_ = Check(file, lim)
		o, _ := Apply(params.Options{TTL: time.Hour, BasicAuth: true, SizeProfile: "small"}, file, lim)
		if o.TTL <= 0 || o.TTL > lim.MaxTTL {
			t.Fatalf("effective ttl %s out of (0, %s]", o.TTL, lim.MaxTTL)
		}
		if !o.BasicAuth {
			t.Fatal("basic auth turned off although the limits refuse it")
		}
		if o.SizeProfile != "small" && o.SizeProfile != "medium" {
			t.Fatalf("size profile %q not allowed", o.SizeProfile)
		}
		if len(o.Env) > lim.MaxEnv {
			t.Fatalf("%d env variables", len(o.Env))
		}
		if o.SchedulingProfile != "" && o.SchedulingProfile != "spot" {
			t.Fatalf("scheduling profile %q not allowed", o.SchedulingProfile)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("testdata/config.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{"", "{}", validService, "sizeProfiles: [a, a]", "overlay: {path: ../x}", "defaults: {ttl: 2h, maxTTL: 1h}",
		validScheduling, "schedulingProfiles: {a: {tolerations: [{operator: Exists}]}}", "pricing: {currency: USD, cpuHour: 1e-3, memoryGiBHour: 0, storageGiBHour: .5}",
		"jira: {baseURL: 'https://acme.atlassian.net/', projects: [ABC, OPS]}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("c.yaml", data)
		if err != nil {
			if _, ok := fieldErrors(err); !ok {
				t.Fatalf("error is not made of *FieldError: %v", err)
			}
			return
		}
		for name, s := range c.Services {
			if !params.ValidServiceName(name) || s.Name != name || s.Port < 1 || s.Port > 65535 ||
				s.ServiceName == "" || s.StagingURL == "" || s.StagingNamespace == "" || s.Repo.Owner == "" || s.Repo.Name == "" {
				t.Fatalf("accepted an incomplete service %q: %+v", name, s)
			}
		}
		if c.Overlay.Path == "" || strings.HasPrefix(c.Overlay.Path, "/") || strings.Contains(c.Overlay.Path, "..") && strings.Contains("/"+c.Overlay.Path+"/", "/../") {
			t.Fatalf("accepted overlay path %q", c.Overlay.Path)
		}
		if c.Defaults.TTL > 0 && c.Defaults.MaxTTL > 0 && c.Defaults.TTL > c.Defaults.MaxTTL {
			t.Fatalf("default ttl above max")
		}
		for _, k := range c.Jira.Projects {
			if !params.ValidJiraProjectKey(k) {
				t.Fatalf("accepted Jira project key %q", k)
			}
		}
		if b := c.Jira.BaseURL; b != "" && (strings.HasSuffix(b, "/") || strings.ContainsAny(b, "| \n") || !strings.HasPrefix(strings.ToLower(b), "http://") && !strings.HasPrefix(strings.ToLower(b), "https://")) {
			t.Fatalf("accepted Jira base URL %q", b)
		}
		checkScheduling(t, c)
	})
}
