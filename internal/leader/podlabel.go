package leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"github.com/preview-generator/preview-generator/internal/kube"
)

// The label the leader puts on its own Pod once it can answer, and the
// Service selects: traffic follows it, not readiness, so the standby can be
// Ready too.
const (
	RoleLabel  = "preview-generator.io/role"
	RoleLeader = "leader"
)

// DefaultPodSelector selects the generator's Pods (deploy/'s labels).
const DefaultPodSelector = "app.kubernetes.io/name=preview-generator"

// PodLabelerConfig tunes a PodLabeler.
type PodLabelerConfig struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster. REST, when
	// set, is used instead.
	Kubeconfig string
	REST       *rest.Config
	// Namespace and Pod name this replica's Pod: $POD_NAMESPACE and
	// $POD_NAME. Required.
	Namespace, Pod string
	// Selector selects every replica's Pod; DefaultPodSelector when empty.
	Selector string
}

// PodLabeler sets and removes RoleLabel on Pods with JSON merge patches.
// It needs get, list and patch on pods in Namespace.
type PodLabeler struct {
	pods     corev1.PodInterface
	pod      string
	selector string
}

// NewPodLabeler returns a PodLabeler for cfg. It contacts nothing.
func NewPodLabeler(cfg PodLabelerConfig) (*PodLabeler, error) {
	if cfg.Namespace == "" || cfg.Pod == "" {
		return nil, errors.New("pod labels: the Pod's namespace and name are required ($POD_NAMESPACE, $POD_NAME)")
	}
	if cfg.Selector == "" {
		cfg.Selector = DefaultPodSelector
	}
	if _, err := metav1.ParseToLabelSelector(cfg.Selector); err != nil {
		return nil, fmt.Errorf("pod labels: selector %q: %w", cfg.Selector, err)
	}
	rc, err := kube.ClientConfig(cfg.REST, cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := corev1.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("Kubernetes client for Pods: %w", err)
	}
	return &PodLabeler{pods: client.Pods(cfg.Namespace), pod: cfg.Pod, selector: cfg.Selector}, nil
}

// rolePatch is the merge patch that sets RoleLabel to value, or removes it
// when value is nil.
func rolePatch(value *string) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{RoleLabel: value}}})
	return b
}

// leaderSelector selects the Pods of selector that carry the leader label.
func leaderSelector(selector string) string {
	return selector + "," + RoleLabel + "=" + RoleLeader
}

// Mark labels this replica's Pod as the leader.
func (l *PodLabeler) Mark(ctx context.Context) error {
	v := RoleLeader
	return l.patch(ctx, l.pod, rolePatch(&v))
}

// Unmark removes the leader label from this replica's Pod.
func (l *PodLabeler) Unmark(ctx context.Context) error {
	return l.patch(ctx, l.pod, rolePatch(nil))
}

// ClearOthers removes the leader label from every other Pod of the
// selector: a leader that died could not remove its own. It returns the
// Pods it cleared.
func (l *PodLabeler) ClearOthers(ctx context.Context) ([]string, error) {
	list, err := l.pods.List(ctx, metav1.ListOptions{LabelSelector: leaderSelector(l.selector)})
	if err != nil {
		return nil, fmt.Errorf("listing leader-labelled Pods: %w", err)
	}
	var cleared []string
	var errs []error
	for _, p := range list.Items {
		if p.Name == l.pod {
			continue
		}
		if err := l.patch(ctx, p.Name, rolePatch(nil)); err != nil {
			errs = append(errs, err)
			continue
		}
		cleared = append(cleared, p.Name)
	}
	return cleared, errors.Join(errs...)
}

func (l *PodLabeler) patch(ctx context.Context, pod string, body []byte) error {
	if _, err := l.pods.Patch(ctx, pod, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patching the labels of Pod %s: %w", pod, err)
	}
	return nil
}
