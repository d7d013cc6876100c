// Package cost estimates what a preview costs per hour from the manifests
// it renders: the CPU and memory its pods request and the storage it
// holds, times the server config's price table (pricing) and the scheduling
// profile's price factor.
//
// The arithmetic (Measure, PerHour) is pure: manifests in, numbers out.
// Estimator adds the caching that keeps rendering off the answer's path.
//
// What is counted, per workload (Deployment, StatefulSet, ReplicaSet,
// DaemonSet as one pod, bare Pod), times its replicas (unset: 1):
//   - CPU and memory: the pod's effective requests as the scheduler counts
//     them: max(the largest init phase, the app containers plus every
//     sidecar), where an init phase is one ordinary init container plus
//     the sidecars (init containers with restartPolicy Always) started
//     before it. Limits are not counted. Pod overhead is not counted.
//   - Storage: the sizeLimit of every emptyDir on disk (medium unset; a
//     Memory emptyDir is memory the containers' limits already bound), and
//     the volumeClaimTemplates of a StatefulSet. Containers'
//     ephemeral-storage requests are not added: the emptyDirs are part of
//     them, so adding both would count the same bytes twice.
//
// PersistentVolumeClaims count their storage request whatever the replicas.
// Jobs and CronJobs are not counted: they run to completion (the database
// credentials Job finishes in seconds), so they cost nothing per hour.
package cost

import (
	"fmt"
	"math"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Pricing is the price table of the server config (pricing:).
type Pricing struct {
	// Currency is an ISO 4217 code such as USD.
	Currency string
	// CPUHour is the price of one requested CPU core for an hour.
	CPUHour float64
	// MemoryGiBHour is the price of one requested GiB of memory for an hour.
	MemoryGiBHour float64
	// StorageGiBHour is the price of one GiB of storage for an hour.
	StorageGiBHour float64
}

// Usage is what a preview's manifests request.
type Usage struct {
	// CPU is in cores, MemoryGiB and StorageGiB in GiB (2^30 bytes).
	CPU, MemoryGiB, StorageGiB float64
}

// Add returns u + v.
func (u Usage) Add(v Usage) Usage {
	return Usage{CPU: u.CPU + v.CPU, MemoryGiB: u.MemoryGiB + v.MemoryGiB, StorageGiB: u.StorageGiB + v.StorageGiB}
}

// Scale returns u times n.
func (u Usage) Scale(n float64) Usage {
	return Usage{CPU: u.CPU * n, MemoryGiB: u.MemoryGiB * n, StorageGiB: u.StorageGiB * n}
}

const gib = 1 << 30

// Measure sums the requests of objs (see the package doc for what counts).
// An object of a counted kind that does not decode is an error naming it.
func Measure(objs []*unstructured.Unstructured) (Usage, error) {
	var total Usage
	for _, o := range objs {
		u, err := measureObject(o)
		if err != nil {
			return Usage{}, fmt.Errorf("measuring %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		total = total.Add(u)
	}
	return total, nil
}

func measureObject(o *unstructured.Unstructured) (Usage, error) {
	switch o.GroupVersionKind().GroupKind().String() {
	case "Deployment.apps":
		var d appsv1.Deployment
		if err := fromUnstructured(o, &d); err != nil {
			return Usage{}, err
		}
		return PodUsage(d.Spec.Template.Spec).Scale(replicas(d.Spec.Replicas)), nil
	case "StatefulSet.apps":
		var s appsv1.StatefulSet
		if err := fromUnstructured(o, &s); err != nil {
			return Usage{}, err
		}
		u := PodUsage(s.Spec.Template.Spec)
		for _, c := range s.Spec.VolumeClaimTemplates {
			u.StorageGiB += gibOf(c.Spec.Resources.Requests[corev1.ResourceStorage])
		}
		return u.Scale(replicas(s.Spec.Replicas)), nil
	case "ReplicaSet.apps":
		var r appsv1.ReplicaSet
		if err := fromUnstructured(o, &r); err != nil {
			return Usage{}, err
		}
		return PodUsage(r.Spec.Template.Spec).Scale(replicas(r.Spec.Replicas)), nil
	case "DaemonSet.apps":
		var d appsv1.DaemonSet
		if err := fromUnstructured(o, &d); err != nil {
			return Usage{}, err
		}
		return PodUsage(d.Spec.Template.Spec), nil
	case "Pod":
		var p corev1.Pod
		if err := fromUnstructured(o, &p); err != nil {
			return Usage{}, err
		}
		return PodUsage(p.Spec), nil
	case "PersistentVolumeClaim":
		var c corev1.PersistentVolumeClaim
		if err := fromUnstructured(o, &c); err != nil {
			return Usage{}, err
		}
		return Usage{StorageGiB: gibOf(c.Spec.Resources.Requests[corev1.ResourceStorage])}, nil
	}
	return Usage{}, nil
}

func fromUnstructured(o *unstructured.Unstructured, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true)
}

// replicas is a workload's replica count; unset means 1, as the API server
// defaults it.
func replicas(r *int32) float64 {
	if r == nil {
		return 1
	}
	return float64(max(*r, 0))
}

// PodUsage is one pod's effective requests and its disk emptyDirs.
func PodUsage(spec corev1.PodSpec) Usage {
	cpu := podRequest(spec, corev1.ResourceCPU)
	mem := podRequest(spec, corev1.ResourceMemory)
	u := Usage{CPU: float64(cpu.MilliValue()) / 1000, MemoryGiB: gibOf(mem)}
	for _, v := range spec.Volumes {
		if e := v.EmptyDir; e != nil && e.Medium == corev1.StorageMediumDefault && e.SizeLimit != nil {
			u.StorageGiB += gibOf(*e.SizeLimit)
		}
	}
	return u
}

// podRequest is the pod's effective request of one resource, the way
// Kubernetes' scheduler computes it with sidecar containers: the app
// containers and every sidecar run together; each ordinary init container
// runs alone with the sidecars started before it; the pod requests the
// largest of these.
func podRequest(spec corev1.PodSpec, name corev1.ResourceName) resource.Quantity {
	var steady resource.Quantity
	for _, c := range spec.Containers {
		steady.Add(c.Resources.Requests[name])
	}
	var sidecars, initMax resource.Quantity
	for _, c := range spec.InitContainers {
		req := c.Resources.Requests[name]
		phase := sidecars.DeepCopy()
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Add(req)
			steady.Add(req)
			phase = sidecars.DeepCopy()
		} else {
			phase.Add(req)
		}
		if phase.Cmp(initMax) > 0 {
			initMax = phase
		}
	}
	if initMax.Cmp(steady) > 0 {
		return initMax
	}
	return steady
}

func gibOf(q resource.Quantity) float64 {
	return q.AsApproximateFloat64() / gib
}

// PerHour is the hourly price of u under p: compute (CPU and memory) times
// factor (the scheduling profile's price factor; 0 counts as 1), plus
// storage. A sleeping preview's app is scaled to zero: it costs only its
// storage.
func PerHour(u Usage, p Pricing, factor float64, sleeping bool) float64 {
	if factor == 0 {
		factor = 1
	}
	v := u.StorageGiB * p.StorageGiBHour
	if !sleeping {
		v += (u.CPU*p.CPUHour + u.MemoryGiB*p.MemoryGiBHour) * factor
	}
	return v
}

// Format prints an hourly price as cost_per_hour does: a decimal string
// with 4 decimals ("0.0412"), rounded half away from zero.
func Format(v float64) string {
	r := math.Round(v*1e4) / 1e4
	if r == 0 {
		r = 0 // no "-0.0000"
	}
	return strconv.FormatFloat(r, 'f', 4, 64)
}
