package render

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The storage arithmetic of docs/gitops.md#storage, restated by hand.
var (
	// seedBudget is the largest baked seed data directory a preview's data
	// volume is sized for (a 100 MB SQL seed bakes to 350 MB).
	seedBudget = resource.MustParse("384Mi")
	// maxWAL is the max_wal_size the postgres container sets; the volume
	// budgets twice as much for the WAL.
	maxWAL = resource.MustParse("64Mi")
	// logAllowance is what each container's logs may take on the node.
	logAllowance = resource.MustParse("64Mi")
)

// podSpec returns the pod template spec of a Deployment or Job.
func podSpec(o *unstructured.Unstructured) map[string]any {
	spec, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
	return spec
}

// workloads are the objects of objs with a pod template.
func workloads(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Deployment" || o.GetKind() == "Job" {
			out = append(out, o)
		}
	}
	return out
}

// namedContainer returns the container or init container called name.
func namedContainer(o *unstructured.Unstructured, field, name string) map[string]any {
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", field)
	for _, c := range cs {
		if m := c.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

// runningContainers are the containers that run for the pod's life: the
// regular ones and the sidecars (init containers with restartPolicy Always).
func runningContainers(o *unstructured.Unstructured) []map[string]any {
	var out []map[string]any
	inits, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "initContainers")
	for _, c := range inits {
		if m := c.(map[string]any); m["restartPolicy"] == "Always" {
			out = append(out, m)
		}
	}
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		out = append(out, c.(map[string]any))
	}
	return out
}

func quantity(t *testing.T, m map[string]any, path ...string) resource.Quantity {
	t.Helper()
	s, ok, _ := unstructured.NestedString(m, path...)
	if !ok {
		t.Errorf("no %s", strings.Join(path, "."))
		return resource.Quantity{}
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Errorf("%s: %v", strings.Join(path, "."), err)
	}
	return q
}

func envEntry(c map[string]any, name string) map[string]any {
	env, _ := c["env"].([]any)
	for _, e := range env {
		if m := e.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

// checkDatabasePod checks the database pod: the seed copied from /seed/data
// into the data volume, PostgreSQL as a sidecar with explicit WAL limits,
// and the migrate container whose readiness means "migrated".
func checkDatabasePod(t *testing.T, pg *unstructured.Unstructured) {
	t.Helper()
	if pg == nil {
		t.Fatal("no Deployment/postgres")
	}
	if s, _, _ := unstructured.NestedString(pg.Object, "spec", "strategy", "type"); s != "Recreate" {
		t.Errorf("postgres strategy = %q, want Recreate (one database pod at a time)", s)
	}
	inits, _, _ := unstructured.NestedSlice(pg.Object, "spec", "template", "spec", "initContainers")
	var names []string
	for _, c := range inits {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	if want := []string{"copy-seed", "postgres"}; !slices.Equal(names, want) {
		t.Fatalf("postgres init containers = %v, want %v (copy first, then the sidecar)", names, want)
	}
	if got := containerImages(t, pg); len(got) != 1 || got["migrate"] != testImage {
		t.Errorf("postgres pod containers = %v, want only migrate with the app image %s", got, testImage)
	}

	copySeed := namedContainer(pg, "initContainers", "copy-seed")
	if copySeed["image"] != seedImage {
		t.Errorf("copy-seed image = %v, want %s", copySeed["image"], seedImage)
	}
	if v := envEntry(copySeed, "SEED_DATA"); v == nil || v["value"] != "/seed/data" {
		t.Errorf("copy-seed SEED_DATA = %v, want /seed/data (outside the image's VOLUME path)", v)
	}
	if !strings.Contains(fmt.Sprint(copySeed["args"]), `cp -a "$SEED_DATA"`) {
		t.Errorf("copy-seed does not copy $SEED_DATA: %v", copySeed["args"])
	}
	stamp, _, _ := unstructured.NestedString(envEntry(copySeed, "RESET_STAMP"), "valueFrom", "fieldRef", "fieldPath")
	if stamp != "metadata.annotations['preview-generator.io/reset-at']" {
		t.Errorf("copy-seed RESET_STAMP from %q, want the reset-at annotation", stamp)
	}

	postgres := namedContainer(pg, "initContainers", "postgres")
	if postgres["image"] != seedImage || postgres["restartPolicy"] != "Always" {
		t.Errorf("postgres: image %v restartPolicy %v, want %s as a sidecar (Always)", postgres["image"], postgres["restartPolicy"], seedImage)
	}
	args := fmt.Sprint(postgres["args"])
	for _, want := range []string{"max_wal_size=" + strings.TrimSuffix(maxWAL.String(), "i") + "B", "min_wal_size=32MB"} {
		if !strings.Contains(args, want) {
			t.Errorf("postgres args %s lack %s", args, want)
		}
	}
	if _, ok := postgres["startupProbe"]; !ok {
		t.Errorf("postgres has no startupProbe: migrate would start before the server accepts connections")
	}
	pgdata, _ := envEntry(postgres, "PGDATA")["value"].(string)
	if v, _ := envEntry(copySeed, "PGDATA")["value"].(string); v != pgdata {
		t.Errorf("PGDATA of copy-seed %q and postgres %q differ", v, pgdata)
	}
	mounted := false
	for _, m := range postgres["volumeMounts"].([]any) {
		mm := m.(map[string]any)
		if mm["name"] == "data" && strings.HasPrefix(pgdata, mm["mountPath"].(string)+"/") {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("PGDATA %q is not under the data volume's mount", pgdata)
	}

	migrate := namedContainer(pg, "containers", "migrate")
	ready, _ := migrate["readinessProbe"].(map[string]any)
	marker, _ := envEntry(migrate, "MIGRATED_FILE")["value"].(string)
	if cmd := fmt.Sprint(ready["exec"]); marker == "" || !strings.Contains(cmd, "[ -e "+marker+" ]") {
		t.Errorf("migrate readiness %s does not test MIGRATED_FILE %q", cmd, marker)
	}
	if v := envEntry(migrate, "PGHOST"); v == nil || v["value"] != "127.0.0.1" {
		t.Errorf("migrate PGHOST = %v, want 127.0.0.1 (the Service has no endpoint before migrations ran)", v)
	}
	if v, _ := envEntry(migrate, "DATABASE_URL")["value"].(string); !strings.Contains(v, "@127.0.0.1:5432/app") {
		t.Errorf("migrate DATABASE_URL = %q", v)
	}
}

// TestEveryPodPullsWithPreviewPull: every pod template lists the Secret
// preview-pull, which the generator writes into the namespace.
func TestEveryPodPullsWithPreviewPull(t *testing.T) {
	t.Parallel()
	for _, c := range combinations {
		for _, o := range workloads(renderCombination(t, c).Objects) {
			ps, _ := podSpec(o)["imagePullSecrets"].([]any)
			if len(ps) != 1 || ps[0].(map[string]any)["name"] != "preview-pull" {
				t.Errorf("%s: %s/%s imagePullSecrets = %v, want [{name: preview-pull}]", c.name, o.GetKind(), o.GetName(), ps)
			}
		}
	}
}

// TestStorageFitsLimits: the kubelet evicts a pod whose emptyDirs, writable
// layers and logs exceed the sum of its containers' ephemeral-storage
// limits. So every running container sets its limit, and per pod the limits
// cover every disk-backed emptyDir at its sizeLimit plus logs. The database
// volume holds the seed budget plus twice max_wal_size, and more.
func TestStorageFitsLimits(t *testing.T) {
	t.Parallel()
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			objs := renderCombination(t, c).Objects
			for _, o := range workloads(objs) {
				id := o.GetKind() + "/" + o.GetName()
				var limits, need resource.Quantity
				for _, ctr := range runningContainers(o) {
					limits.Add(quantity(t, ctr, "resources", "limits", "ephemeral-storage"))
					need.Add(logAllowance)
				}
				vols, _ := podSpec(o)["volumes"].([]any)
				for _, v := range vols {
					ed, ok := v.(map[string]any)["emptyDir"].(map[string]any)
					if !ok || ed["medium"] == "Memory" {
						continue
					}
					need.Add(quantity(t, ed, "sizeLimit"))
				}
				if limits.Cmp(need) < 0 {
					t.Errorf("%s: ephemeral-storage limits %s < emptyDirs + logs %s: eviction before the volumes are full", id, limits.String(), need.String())
				}
			}
			pg := find(objs, "Deployment", "postgres")
			if pg == nil {
				return
			}
			data := dataVolumeSize(t, objs, pg)
			min := seedBudget.DeepCopy()
			min.Add(maxWAL)
			min.Add(maxWAL)
			min.Add(resource.MustParse("256Mi")) // room for what the preview writes
			if data.Cmp(min) < 0 {
				t.Errorf("database volume %s < seed %s + 2 x WAL %s + 256Mi", data.String(), seedBudget.String(), maxWAL.String())
			}
		})
	}
}

// dataVolumeSize is the size of the database's data volume: the emptyDir's
// sizeLimit, or the claim's request with components/persistent-db.
func dataVolumeSize(t *testing.T, objs []*unstructured.Unstructured, pg *unstructured.Unstructured) resource.Quantity {
	t.Helper()
	vols, _ := podSpec(pg)["volumes"].([]any)
	for _, v := range vols {
		m := v.(map[string]any)
		if m["name"] != "data" {
			continue
		}
		if ed, ok := m["emptyDir"].(map[string]any); ok {
			if _, pvc := m["persistentVolumeClaim"]; pvc {
				t.Errorf("data volume is both an emptyDir and a claim: %v", m)
			}
			return quantity(t, ed, "sizeLimit")
		}
		claim, _, _ := unstructured.NestedString(m, "persistentVolumeClaim", "claimName")
		pvc := find(objs, "PersistentVolumeClaim", claim)
		if pvc == nil {
			t.Fatalf("data volume claims %q, which is not rendered", claim)
		}
		return quantity(t, pvc.Object, "spec", "resources", "requests", "storage")
	}
	t.Fatal("postgres has no data volume")
	return resource.Quantity{}
}

// TestPersistentDatabase: with components/persistent-db the data volume is
// the claim postgres-data, sized by the profile, and no emptyDir is left.
func TestPersistentDatabase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		combination string
		want        string
	}{
		{"db-persistent", "1Gi"},
		{"backend-persistent-large", "4Gi"},
	} {
		objs := renderCombination(t, combinationNamed(t, tc.combination)).Objects
		pg := find(objs, "Deployment", "postgres")
		vols, _ := podSpec(pg)["volumes"].([]any)
		var data map[string]any
		for _, v := range vols {
			if m := v.(map[string]any); m["name"] == "data" {
				data = m
			}
		}
		if _, ok := data["emptyDir"]; ok {
			t.Errorf("%s: data volume still has an emptyDir: %v", tc.combination, data)
		}
		if got := dataVolumeSize(t, objs, pg); got.Cmp(resource.MustParse(tc.want)) != 0 {
			t.Errorf("%s: claim size %s, want %s", tc.combination, got.String(), tc.want)
		}
		pvc := find(objs, "PersistentVolumeClaim", "postgres-data")
		if w := pvc.GetAnnotations()["argocd.argoproj.io/sync-wave"]; w != pg.GetAnnotations()["argocd.argoproj.io/sync-wave"] {
			t.Errorf("%s: claim wave %q, Deployment wave %q: a WaitForFirstConsumer claim would block the sync", tc.combination, w, pg.GetAnnotations()["argocd.argoproj.io/sync-wave"])
		}
		max := quantity(t, limitRange(t, objs, "PersistentVolumeClaim"), "max", "storage")
		if got := dataVolumeSize(t, objs, pg); got.Cmp(max) > 0 {
			t.Errorf("%s: claim %s above the LimitRange's max %s", tc.combination, got.String(), max.String())
		}
		checkDatabasePod(t, pg)
	}
}

func combinationNamed(t *testing.T, name string) combination {
	t.Helper()
	for _, c := range combinations {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no combination %q", name)
	return combination{}
}

func limitRange(t *testing.T, objs []*unstructured.Unstructured, typ string) map[string]any {
	t.Helper()
	ls, _, _ := unstructured.NestedSlice(find(objs, "LimitRange", "preview-limits").Object, "spec", "limits")
	for _, l := range ls {
		if m := l.(map[string]any); m["type"] == typ {
			return m
		}
	}
	t.Fatalf("LimitRange has no %s entry", typ)
	return nil
}

// TestSizeProfilesChangeWorkloads: medium and large raise the requests and
// limits of every workload over small, and every container stays within
// its profile's LimitRange maximum.
func TestSizeProfilesChangeWorkloads(t *testing.T) {
	t.Parallel()
	profiles := []string{"backend", "backend-medium", "backend-persistent-large"}
	type key struct{ kind, name, field, container string }
	workloadsOf := []key{
		{"Deployment", "app", "containers", "app"},
		{"Deployment", "postgres", "initContainers", "postgres"},
		{"Deployment", "redis", "containers", "redis"},
		{"Deployment", "mongodb", "containers", "mongodb"},
	}
	prev := map[key]map[string]resource.Quantity{}
	for _, p := range profiles {
		objs := renderCombination(t, combinationNamed(t, p)).Objects
		max := limitRange(t, objs, "Container")["max"].(map[string]any)
		for _, k := range workloadsOf {
			o := find(objs, k.kind, k.name)
			if o == nil {
				t.Fatalf("%s: no %s/%s", p, k.kind, k.name)
			}
			c := namedContainer(o, k.field, k.container)
			got := map[string]resource.Quantity{}
			for _, r := range []string{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"} {
				kind, res, _ := strings.Cut(r, ".")
				got[r] = quantity(t, c, "resources", kind, res)
				q := got[r]
				if kind == "limits" {
					if m := quantity(t, max, res); q.Cmp(m) > 0 {
						t.Errorf("%s: %s/%s %s %s above the LimitRange max %s", p, k.name, k.container, r, q.String(), m.String())
					}
				}
				if before, ok := prev[k][r]; ok && q.Cmp(before) <= 0 {
					t.Errorf("%s: %s/%s %s = %s, not above the smaller profile's %s", p, k.name, k.container, r, q.String(), before.String())
				}
			}
			prev[k] = got
		}
	}
}
