//go:build e2e

package e2e

import (
	"context"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
)

// ingressStatus stands in for an ingress controller, which the stack lacks (kwok fakes nodes and
// pods only): it gives every Ingress without one a load-balancer address, since Argo CD reports
// an Ingress Progressing until it has one. It runs until ctx ends.
func (s *stack) ingressStatus(ctx context.Context) {
	const status = `{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}`
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var list networkingv1.IngressList
		if err := s.getJSON(ctx, &list, "ingresses", "--all-namespaces"); err == nil {
			for _, ing := range list.Items {
				if len(ing.Status.LoadBalancer.Ingress) > 0 || ing.DeletionTimestamp != nil {
					continue
				}
				// Errors (object deleted meanwhile) are retried on the next tick.
				_, _ = s.kubectl(ctx, nil, "-n", ing.Namespace, "patch", "ingress", ing.Name,
					"--subresource=status", "--type=merge", "-p", status)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
