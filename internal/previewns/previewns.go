// Package previewns watches the preview Namespaces that exist in the
// cluster: those labelled app.kubernetes.io/managed-by=preview-generator
// (kustomize/base renders the label) that are not being deleted. The fair
// queue (internal/queue) reads them as the live previews: a preview whose
// namespace exists is never evicted. Every replica and every restart reads
// the same cluster, so they agree.
//
// It only reads, through a watch cache (list and watch on Namespaces, by
// label): it runs on every replica, so a new leader has it at once.
package previewns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/preview-generator/preview-generator/internal/kube"
	"github.com/preview-generator/preview-generator/internal/queue"
)

// The label that marks a preview namespace (as internal/credentials reads it).
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "preview-generator"
)

// ErrNotSynced is returned while the watch cache has not listed the
// Namespaces yet: the live set is unknown, which is not the same as empty.
var ErrNotSynced = errors.New("the preview namespaces are not known yet (watch cache not synced)")

// Config wires a Watcher.
type Config struct {
	// REST, when set, is used as is; else Kubeconfig (empty: in-cluster).
	REST       *rest.Config
	Kubeconfig string
	Logger     *slog.Logger
}

// Watcher holds the live preview namespaces. Create it with New and run
// Run; it is safe for concurrent use.
type Watcher struct {
	log *slog.Logger
	inf cache.SharedIndexInformer

	mu     sync.Mutex
	synced bool
	names  []string // sorted
	set    queue.Set
	gen    uint64
}

// New returns a Watcher over the cluster cfg names.
func New(cfg Config) (*Watcher, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rc, err := kube.ClientConfig(cfg.REST, cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	core, err := corev1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building the client for Namespaces: %w", err)
	}
	sel := labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedBy}).String()
	w := &Watcher{log: cfg.Logger, set: queue.Set{}}
	w.inf = cache.NewSharedIndexInformer(
		cache.NewFilteredListWatchFromClient(core.RESTClient(), "namespaces", metav1.NamespaceAll, func(o *metav1.ListOptions) { o.LabelSelector = sel }),
		&corev1.Namespace{}, 0, cache.Indexers{})
	_ = w.inf.SetTransform(trim)
	_ = w.inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		w.log.Warn("watching the preview namespaces failed; retrying", "error", err)
	})
	_, _ = w.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.recompute() },
		UpdateFunc: func(_, _ any) { w.recompute() },
		DeleteFunc: func(any) { w.recompute() },
	})
	return w, nil
}

// trim keeps what Live reads: the name, the labels, the deletion mark and
// the phase.
func trim(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: ns.Labels, DeletionTimestamp: ns.DeletionTimestamp, ResourceVersion: ns.ResourceVersion},
		Status:     corev1.NamespaceStatus{Phase: ns.Status.Phase},
	}, nil
}

// live reports whether ns counts as a live preview.
func live(ns *corev1.Namespace) bool {
	return ns.Labels[ManagedByLabel] == ManagedBy && ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating
}

// recompute rebuilds the set from the cache; the generation moves only
// when the set changes.
func (w *Watcher) recompute() {
	var names []string
	for _, obj := range w.inf.GetStore().List() {
		if ns, ok := obj.(*corev1.Namespace); ok && live(ns) {
			names = append(names, ns.Name)
		}
	}
	slices.Sort(names)
	w.mu.Lock()
	defer w.mu.Unlock()
	if slices.Equal(names, w.names) {
		return
	}
	w.names = names
	w.set = queue.NewSet(names...)
	w.gen++
}

// Run fills the watch cache and keeps it current until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	go w.inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), w.inf.HasSynced) {
		return
	}
	w.recompute()
	w.mu.Lock()
	w.synced = true
	n := len(w.names)
	w.mu.Unlock()
	w.log.Info("watching the preview namespaces", "live", n)
	<-ctx.Done()
}

// Live returns the live preview namespaces and a generation that changes
// whenever they do, or ErrNotSynced before the first listing. The set
// must not be modified.
func (w *Watcher) Live() (queue.Set, uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.synced {
		return nil, 0, ErrNotSynced
	}
	return w.set, w.gen, nil
}

// Names returns the live preview namespaces, sorted (nil before the first
// listing).
func (w *Watcher) Names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.names)
}
