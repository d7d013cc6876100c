//go:build e2e

package e2e

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// deployment reads a Deployment.
func (s *stack) deployment(ctx context.Context, namespace, name string) (*appsv1.Deployment, error) {
	var d appsv1.Deployment
	if err := s.getJSON(ctx, &d, "-n", namespace, "deployment", name); err != nil {
		return nil, err
	}
	return &d, nil
}

// namespace reads a Namespace.
func (s *stack) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	var ns corev1.Namespace
	if err := s.getJSON(ctx, &ns, "namespace", name); err != nil {
		return nil, err
	}
	return &ns, nil
}

// job reads a Job.
func (s *stack) job(ctx context.Context, namespace, name string) (*batchv1.Job, error) {
	var j batchv1.Job
	if err := s.getJSON(ctx, &j, "-n", namespace, "job", name); err != nil {
		return nil, err
	}
	return &j, nil
}

// containerImage returns the image of the named container of a Deployment.
func containerImage(d *appsv1.Deployment, container string) (string, error) {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == container {
			return c.Image, nil
		}
	}
	return "", fmt.Errorf("deployment %s/%s has no container %q", d.Namespace, d.Name, container)
}

// available is nil once the Deployment's current generation is observed and all replicas are
// updated and available (what kwok makes of Ready pods).
func (s *stack) available(namespace, name string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		d, err := s.deployment(ctx, namespace, name)
		if err != nil {
			return err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want || d.Status.AvailableReplicas != want {
			return fmt.Errorf("deployment %s/%s: generation %d observed %d, updated %d, available %d, want %d",
				namespace, name, d.Generation, d.Status.ObservedGeneration, d.Status.UpdatedReplicas, d.Status.AvailableReplicas, want)
		}
		return nil
	}
}
