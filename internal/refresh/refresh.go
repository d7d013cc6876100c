// Package refresh asks Argo CD's ApplicationSet controller to reconcile
// now, instead of at its next requeueAfterSeconds, the ApplicationSets that
// serve a repository: those with a plugin generator of this service whose
// input lists the repository. It sets the annotation Argo CD's own webhook
// handler sets (RefreshAnnotation), with a JSON merge patch, and touches no
// other ApplicationSet.
//
// It reads ApplicationSets from an informer's cache over one namespace
// (Argo CD's), so it needs get, list, watch and patch on applicationsets
// there and nothing else. Enqueue never waits on the API server: Run
// coalesces a burst of events for one repository into one patch per
// ApplicationSet.
package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/preview-generator/preview-generator/internal/kube"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// Defaults for Config.
const (
	DefaultNamespace = "argocd"
	DefaultConfigMap = "preview-generator"
	// DefaultCoalesce is how long Enqueue waits for more events of the
	// same repository before patching.
	DefaultCoalesce = 250 * time.Millisecond
	// DefaultMaxRetries is how often Run retries a repository whose
	// patches failed, with exponential back-off, before it gives up.
	DefaultMaxRetries = 5
)

// RefreshAnnotation, set to "true", makes Argo CD's ApplicationSet
// controller reconcile the ApplicationSet at once; the controller removes
// it when done.
const RefreshAnnotation = "argocd.argoproj.io/application-set-refresh"

// FieldManager names this client in the ApplicationSets' managedFields.
const FieldManager = "preview-generator"

// Outcomes of one ApplicationSet's patch, as passed to Metrics.
const (
	OutcomePatched  = "patched"
	OutcomeNotFound = "not_found" // deleted after the cache saw it
	OutcomeError    = "error"
)

// ApplicationSets is the resource this package reads and patches.
var ApplicationSets = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applicationsets"}

// refreshPatch is the JSON merge patch Refresh sends.
var refreshPatch = []byte(`{"metadata":{"annotations":{"` + RefreshAnnotation + `":"true"}}}`)

// Metrics receives the outcome of every patch. *metrics.Metrics
// implements it.
type Metrics interface {
	// AppSetRefresh counts one patch of the ApplicationSet appset with
	// outcome OutcomePatched, OutcomeNotFound or OutcomeError.
	AppSetRefresh(appset, outcome string)
}

// Config tunes a Refresher.
type Config struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster. REST, when
	// set, is used instead.
	Kubeconfig string
	REST       *rest.Config
	// Namespace is Argo CD's namespace, where the ApplicationSets are;
	// empty means DefaultNamespace.
	Namespace string
	// ConfigMap is the name of the plugin's ConfigMap that the plugin
	// generators name in configMapRef; empty means DefaultConfigMap.
	ConfigMap string
	// Coalesce is the window of Enqueue; 0 means DefaultCoalesce.
	Coalesce time.Duration
	// MaxRetries bounds Run's retries of one repository; 0 means
	// DefaultMaxRetries.
	MaxRetries int
	// Logger may be nil.
	Logger *slog.Logger
	// Metrics may be nil.
	Metrics Metrics
}

// Refresher annotates the ApplicationSets that serve a repository. It is
// safe for concurrent use; Run it once.
type Refresher struct {
	cfg      Config
	client   dynamic.ResourceInterface
	informer cache.SharedIndexInformer
	queue    workqueue.TypedRateLimitingInterface[string] // Repo.Key()
	started  atomic.Bool
}

// New returns a Refresher over cfg.Namespace. It contacts nothing: Run
// starts the cache.
func New(cfg Config) (*Refresher, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.ConfigMap == "" {
		cfg.ConfigMap = DefaultConfigMap
	}
	if cfg.Coalesce <= 0 {
		cfg.Coalesce = DefaultCoalesce
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rc, err := kube.ClientConfig(cfg.REST, cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("Kubernetes client for ApplicationSets: %w", err)
	}
	informer := dynamicinformer.NewFilteredDynamicInformer(dyn, ApplicationSets, cfg.Namespace, 0, cache.Indexers{}, nil).Informer()
	if err := informer.SetTransform(trim); err != nil {
		return nil, fmt.Errorf("ApplicationSet cache: %w", err)
	}
	log := cfg.Logger
	if err := informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		log.Warn("watching ApplicationSets", "namespace", cfg.Namespace, "error", err)
	}); err != nil {
		return nil, fmt.Errorf("ApplicationSet cache: %w", err)
	}
	return &Refresher{
		cfg:      cfg,
		client:   dyn.Resource(ApplicationSets).Namespace(cfg.Namespace),
		informer: informer,
		queue: workqueue.NewTypedRateLimitingQueue(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](500*time.Millisecond, 30*time.Second)),
	}, nil
}

// Refresh annotates every ApplicationSet that serves repo and returns
// their names, sorted. ApplicationSets deleted since the cache saw them are
// skipped. It waits for the cache to sync, so Run must be running. On
// errors it returns the names it did patch and every failure, joined.
func (r *Refresher) Refresh(ctx context.Context, repo pr.Repo) ([]string, error) {
	if !cache.WaitForCacheSync(ctx.Done(), r.informer.HasSynced) {
		return nil, fmt.Errorf("waiting for the ApplicationSets of namespace %s: %w", r.cfg.Namespace, ctx.Err())
	}
	var (
		patched []string
		errs    []error
	)
	for _, name := range r.serving(repo) {
		_, err := r.client.Patch(ctx, name, types.MergePatchType, refreshPatch, metav1.PatchOptions{FieldManager: FieldManager})
		switch {
		case apierrors.IsNotFound(err):
			r.count(name, OutcomeNotFound)
		case err != nil:
			r.count(name, OutcomeError)
			errs = append(errs, fmt.Errorf("annotating ApplicationSet %s/%s for %s: %w", r.cfg.Namespace, name, repo, err))
		default:
			r.count(name, OutcomePatched)
			patched = append(patched, name)
		}
	}
	return patched, errors.Join(errs...)
}

// serving lists, sorted, the cached ApplicationSets that serve repo.
func (r *Refresher) serving(repo pr.Repo) []string {
	var names []string
	for _, obj := range r.informer.GetStore().List() {
		if u, ok := obj.(*unstructured.Unstructured); ok && serves(u, r.cfg.ConfigMap, repo) {
			names = append(names, u.GetName())
		}
	}
	slices.Sort(names)
	return names
}

func (r *Refresher) count(appset, outcome string) {
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.AppSetRefresh(appset, outcome)
	}
}

// Enqueue asks Run to refresh repo's ApplicationSets within
// Config.Coalesce. It returns at once: it never waits on the API server.
// Calls for one repository within that window, and calls while its
// refresh is not yet due, make one refresh. After Run has returned it does
// nothing.
func (r *Refresher) Enqueue(repo pr.Repo) {
	r.queue.AddAfter(repo.Key(), r.cfg.Coalesce)
}

// Run starts the ApplicationSet cache and refreshes enqueued repositories
// until ctx ends. A repository whose patches fail is retried with
// back-off, up to Config.MaxRetries times. Run returns nil when ctx ends,
// and an error only when it is called twice.
func (r *Refresher) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("refresh: Run called twice")
	}
	defer r.queue.ShutDown()
	go r.informer.Run(ctx.Done())
	go func() {
		<-ctx.Done()
		r.queue.ShutDown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), r.informer.HasSynced) {
		return nil
	}
	r.cfg.Logger.Info("watching ApplicationSets", "namespace", r.cfg.Namespace, "configMap", r.cfg.ConfigMap,
		"count", len(r.informer.GetStore().ListKeys()))
	for r.next(ctx) {
	}
	return nil
}

// next refreshes one queued repository; false when the queue shut down.
func (r *Refresher) next(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	repo, err := pr.ParseRepo(key)
	if err != nil { // Enqueue only adds Repo.Key()
		r.queue.Forget(key)
		return true
	}
	names, err := r.Refresh(ctx, repo)
	switch {
	case err == nil:
		r.queue.Forget(key)
		r.cfg.Logger.Info("refreshed ApplicationSets", "repo", key, "applicationSets", names)
	case ctx.Err() != nil:
		r.queue.Forget(key)
	case r.queue.NumRequeues(key) < r.cfg.MaxRetries:
		r.queue.AddRateLimited(key)
		r.cfg.Logger.Warn("refreshing ApplicationSets, will retry", "repo", key, "patched", names, "error", err)
	default:
		r.queue.Forget(key)
		r.cfg.Logger.Error("refreshing ApplicationSets, giving up", "repo", key, "patched", names, "error", err)
	}
	return true
}
