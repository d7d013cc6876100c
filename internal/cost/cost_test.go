package cost

import (
	"math"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// ctr is a container requesting cpu and memory ("" leaves it out).
func ctr(name, cpu, mem string) corev1.Container {
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: req}}
}

func sidecar(name, cpu, mem string) corev1.Container {
	c := ctr(name, cpu, mem)
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

func emptyDir(name, size string, medium corev1.StorageMedium) corev1.Volume {
	e := &corev1.EmptyDirVolumeSource{Medium: medium}
	if size != "" {
		q := resource.MustParse(size)
		e.SizeLimit = &q
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: e}}
}

// near compares with a tolerance far below what 4 decimals show.
func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func sameUsage(a, b Usage) bool {
	return near(a.CPU, b.CPU) && near(a.MemoryGiB, b.MemoryGiB) && near(a.StorageGiB, b.StorageGiB)
}

func TestPodUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec corev1.PodSpec
		want Usage
	}{
		{"no requests", corev1.PodSpec{Containers: []corev1.Container{ctr("a", "", "")}}, Usage{}},
		{
			"app containers add up",
			corev1.PodSpec{Containers: []corev1.Container{ctr("a", "250m", "256Mi"), ctr("b", "250m", "768Mi")}},
			Usage{CPU: 0.5, MemoryGiB: 1},
		},
		{
			"an ordinary init container larger than the app wins, per resource",
			corev1.PodSpec{
				InitContainers: []corev1.Container{ctr("init", "2", "64Mi")},
				Containers:     []corev1.Container{ctr("a", "500m", "512Mi")},
			},
			Usage{CPU: 2, MemoryGiB: 0.5},
		},
		{
			"ordinary init containers run one at a time: the largest, not the sum",
			corev1.PodSpec{
				InitContainers: []corev1.Container{ctr("i1", "1", ""), ctr("i2", "1500m", "")},
				Containers:     []corev1.Container{ctr("a", "100m", "")},
			},
			Usage{CPU: 1.5},
		},
		{
			"a sidecar runs with the app containers",
			corev1.PodSpec{
				InitContainers: []corev1.Container{sidecar("s", "100m", "256Mi")},
				Containers:     []corev1.Container{ctr("a", "50m", "128Mi")},
			},
			Usage{CPU: 0.15, MemoryGiB: 0.375},
		},
		{
			"an init container after a sidecar runs alongside it",
			corev1.PodSpec{
				InitContainers: []corev1.Container{sidecar("s", "1", ""), ctr("i", "2", "")},
				Containers:     []corev1.Container{ctr("a", "100m", "")},
			},
			Usage{CPU: 3},
		},
		{
			"an init container before a sidecar runs without it",
			corev1.PodSpec{
				InitContainers: []corev1.Container{ctr("i", "2", ""), sidecar("s", "1", "")},
				Containers:     []corev1.Container{ctr("a", "100m", "")},
			},
			Usage{CPU: 2},
		},
		{
			"disk emptyDirs with a sizeLimit are storage; Memory and unbounded ones are not",
			corev1.PodSpec{
				Containers: []corev1.Container{ctr("a", "", "")},
				Volumes: []corev1.Volume{
					emptyDir("data", "1Gi", corev1.StorageMediumDefault), emptyDir("tmp", "512Mi", ""),
					emptyDir("run", "1Gi", corev1.StorageMediumMemory), emptyDir("scratch", "", ""),
				},
			},
			Usage{StorageGiB: 1.5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := PodUsage(tc.spec); !sameUsage(got, tc.want) {
				t.Errorf("PodUsage = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func toUnstructured(t *testing.T, obj runtime.Object, kind, apiVersion string) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetKind(kind)
	u.SetAPIVersion(apiVersion)
	u.SetName("x")
	return u
}

func ptr[T any](v T) *T { return &v }

func TestMeasure(t *testing.T) {
	t.Parallel()
	pod := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{ctr("a", "500m", "1Gi")},
		Volumes:    []corev1.Volume{emptyDir("tmp", "1Gi", "")},
	}}
	claim := corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
	}}
	tests := []struct {
		name string
		objs func(t *testing.T) []*unstructured.Unstructured
		want Usage
	}{
		{"replicas unset count as 1", func(t *testing.T) []*unstructured.Unstructured {
			return []*unstructured.Unstructured{toUnstructured(t, &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: pod}}, "Deployment", "apps/v1")}
		}, Usage{CPU: 0.5, MemoryGiB: 1, StorageGiB: 1}},
		{"times replicas", func(t *testing.T) []*unstructured.Unstructured {
			return []*unstructured.Unstructured{toUnstructured(t, &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](3), Template: pod}}, "Deployment", "apps/v1")}
		}, Usage{CPU: 1.5, MemoryGiB: 3, StorageGiB: 3}},
		{"scaled to zero: nothing, emptyDirs included", func(t *testing.T) []*unstructured.Unstructured {
			return []*unstructured.Unstructured{toUnstructured(t, &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](0), Template: pod}}, "Deployment", "apps/v1")}
		}, Usage{}},
		{"a claim counts whatever the replicas", func(t *testing.T) []*unstructured.Unstructured {
			return []*unstructured.Unstructured{
				toUnstructured(t, &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](0), Template: pod}}, "Deployment", "apps/v1"),
				toUnstructured(t, &claim, "PersistentVolumeClaim", "v1"),
			}
		}, Usage{StorageGiB: 10}},
		{"a StatefulSet's claim templates are per replica", func(t *testing.T) []*unstructured.Unstructured {
			return []*unstructured.Unstructured{toUnstructured(t, &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Replicas: ptr[int32](2), Template: pod, VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim},
			}}, "StatefulSet", "apps/v1")}
		}, Usage{CPU: 1, MemoryGiB: 2, StorageGiB: 22}},
		{"Jobs, CronJobs and other kinds do not count; a bare Pod does", func(t *testing.T) []*unstructured.Unstructured {
			job := toUnstructured(t, &corev1.Pod{Spec: pod.Spec}, "Job", "batch/v1")
			svc := toUnstructured(t, &corev1.Service{}, "Service", "v1")
			bare := toUnstructured(t, &corev1.Pod{Spec: pod.Spec}, "Pod", "v1")
			return []*unstructured.Unstructured{job, svc, bare}
		}, Usage{CPU: 0.5, MemoryGiB: 1, StorageGiB: 1}},
		{"a Deployment of another group is not a workload", func(t *testing.T) []*unstructured.Unstructured {
			return []*unstructured.Unstructured{toUnstructured(t, &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: pod}}, "Deployment", "example.com/v1")}
		}, Usage{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Measure(tc.objs(t))
			if err != nil {
				t.Fatal(err)
			}
			if !sameUsage(got, tc.want) {
				t.Errorf("Measure = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMeasureRefusesMalformedWorkloads(t *testing.T) {
	t.Parallel()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "app"},
		"spec": map[string]any{"replicas": "three"},
	}}
	if _, err := Measure([]*unstructured.Unstructured{u}); err == nil {
		t.Fatal("Measure accepted replicas: three")
	}
}

func TestPerHour(t *testing.T) {
	t.Parallel()
	p := Pricing{Currency: "USD", CPUHour: 0.04, MemoryGiBHour: 0.005, StorageGiBHour: 0.0002}
	u := Usage{CPU: 0.5, MemoryGiB: 2, StorageGiB: 10}
	tests := []struct {
		name     string
		factor   float64
		sleeping bool
		want     float64
	}{
		// 0.5*0.04 + 2*0.005 = 0.03 compute; 10*0.0002 = 0.002 storage.
		{"on demand", 1, false, 0.032},
		{"no factor counts as 1", 0, false, 0.032},
		{"spot factor applies to compute only", 0.35, false, 0.03*0.35 + 0.002},
		{"sleeping: storage only", 1, true, 0.002},
		{"sleeping on spot: storage only", 0.35, true, 0.002},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := PerHour(u, p, tc.factor, tc.sleeping); !near(got, tc.want) {
				t.Errorf("PerHour = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0.0000"}, {0.04125, "0.0413"}, {0.04124, "0.0412"}, {1.5, "1.5000"}, {12.34567, "12.3457"},
		{0.00004, "0.0000"}, {-0.00004, "0.0000"}, {0.0001, "0.0001"},
	} {
		if got := Format(tc.in); got != tc.want {
			t.Errorf("Format(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
