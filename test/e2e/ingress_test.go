//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
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

// routeStatus stands in for the Gateway controller on the kwok stack: it accepts every HTTPRoute
// whose status does not describe its current generation yet, for each of its parents, as a
// controller does (Argo CD reports an HTTPRoute Progressing until a parent accepted it). On a
// stack with a real Gateway (Traefik) the controller writes this itself: while realGateway is
// set (a real-node test runs), it writes nothing. It runs until ctx ends.
func (s *stack) routeStatus(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var list gatewayv1.HTTPRouteList
		if realGateway.Load() {
			// Traefik writes the status of the routes it serves.
		} else if err := s.getJSON(ctx, &list, "httproutes.gateway.networking.k8s.io", "--all-namespaces"); err == nil {
			for _, r := range list.Items {
				if r.DeletionTimestamp != nil || routeAccepted(r) {
					continue
				}
				parents := ""
				for i, p := range r.Spec.ParentRefs {
					if i > 0 {
						parents += ","
					}
					ns := r.Namespace
					if p.Namespace != nil {
						ns = string(*p.Namespace)
					}
					cond := func(t, reason string) string {
						return fmt.Sprintf(`{"type":%q,"status":"True","reason":%q,"message":"","observedGeneration":%d,"lastTransitionTime":%q}`,
							t, reason, r.Generation, time.Now().UTC().Format(time.RFC3339))
					}
					parents += fmt.Sprintf(`{"parentRef":{"group":"gateway.networking.k8s.io","kind":"Gateway","namespace":%q,"name":%q},"controllerName":"preview-generator.io/e2e-fake-gateway","conditions":[%s,%s]}`,
						ns, p.Name, cond("Accepted", "Accepted"), cond("ResolvedRefs", "ResolvedRefs"))
				}
				// Errors (object deleted meanwhile) are retried on the next tick.
				_, _ = s.kubectl(ctx, nil, "-n", r.Namespace, "patch", "httproute.gateway.networking.k8s.io", r.Name,
					"--subresource=status", "--type=merge", "-p", `{"status":{"parents":[`+parents+`]}}`)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// realGateway is set while a test serves previews through the real node's Gateway (Traefik),
// which writes the HTTPRoutes' status itself; routeStatus then stands aside.
var realGateway atomic.Bool

// routeAccepted reports whether r's status describes its current generation.
func routeAccepted(r gatewayv1.HTTPRoute) bool {
	if len(r.Status.Parents) == 0 {
		return false
	}
	for _, p := range r.Status.Parents {
		for _, c := range p.Conditions {
			if c.ObservedGeneration != r.Generation {
				return false
			}
		}
	}
	return true
}
