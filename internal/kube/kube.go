// Package kube builds the client-go REST configuration the generator's
// Kubernetes clients share (internal/refresh, internal/leader): from a
// kubeconfig file, or in-cluster from the Pod's ServiceAccount.
package kube

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// UserAgent is what the generator's Kubernetes clients send, so the API
// server's audit log names them.
const UserAgent = "preview-generator"

// RESTConfig returns the configuration for kubeconfig, a kubeconfig file's
// path; empty means in-cluster (the Pod's ServiceAccount token and the
// KUBERNETES_SERVICE_HOST/PORT the kubelet sets).
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes configuration (set --kubeconfig outside a cluster): %w", err)
		}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = UserAgent
	return cfg, nil
}

// ClientConfig returns rc when it is set, else RESTConfig(kubeconfig): the
// choice every client's Config makes between its REST and Kubeconfig
// fields. rc is returned as it is, without the user agent.
func ClientConfig(rc *rest.Config, kubeconfig string) (*rest.Config, error) {
	if rc != nil {
		return rc, nil
	}
	return RESTConfig(kubeconfig)
}
