// Package credentials keeps the namespace credentials of every live
// preview: the generator's leader writes, into each preview namespace,
// Secret preview-auth (the edge's htpasswd and, for GitHub SSO, client-id
// and client-secret, copied from a source Secret in the generator's own
// namespace, plus a cookie-secret made once per namespace) and Secret
// preview-pull (type kubernetes.io/dockerconfigjson, copied from another
// source Secret, when there is one). Nothing of it is in git or in an
// Application's spec.
//
// It writes only into a namespace that is in the generator's current
// answer (Live), exists, and carries app.kubernetes.io/managed-by=
// preview-generator; and only Secrets it owns (CopiedFromLabel): a Secret
// of the same name that is not its own is left alone and reported.
//
// It watches the preview namespaces (by label), the two Secret names in
// every namespace (by name) and the two source Secrets, so a new preview
// namespace gets its Secrets within a second and a changed source or a
// deleted or changed copy is put right at once; a periodic pass over every
// live namespace, from the watch caches, is the safety net. A pass that
// finds everything as it should be makes no request.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/preview-generator/preview-generator/internal/kube"
)

// The Secrets written into each preview namespace, and their keys.
const (
	AuthSecret = "preview-auth"
	PullSecret = "preview-pull"

	KeyHTPasswd     = "htpasswd"
	KeyCookieSecret = "cookie-secret"
	KeyClientID     = "client-id"
	KeyClientSecret = "client-secret"
)

// Labels and annotations.
const (
	// ManagedByLabel=ManagedBy marks a preview namespace (kustomize/base
	// renders it) and each copy.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "preview-generator"
	// CopiedFromLabel names the source Secret of a copy; a Secret without
	// it is never changed.
	CopiedFromLabel = "preview-generator.io/copied-from"
	// CopiedFromAnnotation is the source as namespace/name.
	CopiedFromAnnotation = "preview-generator.io/copied-from"
)

// Defaults for Config.
const (
	DefaultAuthSource = "preview-auth-source"
	DefaultPullSource = "preview-pull-source"
	DefaultResync     = time.Minute
)

// Outcomes of a write, as passed to Metrics.CredentialsWrite.
const (
	OutcomeCreated  = "created"
	OutcomeUpdated  = "updated"
	OutcomeConflict = "conflict" // changed or created meanwhile: tried again
	OutcomeError    = "error"
)

// Live is the generator's current answer: the namespace parameter of each
// live preview. *Answers implements it.
type Live interface {
	// Namespaces returns the live previews' namespaces.
	Namespaces() []string
	// Changed receives a value after Namespaces changed.
	Changed() <-chan struct{}
}

// Metrics receives what the Controller does. *metrics.Metrics implements
// it.
type Metrics interface {
	// CredentialsWrite counts one write of secret (AuthSecret,
	// PullSecret) with outcome OutcomeCreated, OutcomeUpdated,
	// OutcomeConflict or OutcomeError.
	CredentialsWrite(secret, outcome string)
	// CredentialsForeign sets how many live preview namespaces hold a
	// Secret named secret that is not the generator's.
	CredentialsForeign(secret string, n int)
	// CredentialsSourceMissing sets whether the source Secret source (its
	// name) is missing.
	CredentialsSourceMissing(source string, missing bool)
	// CredentialsNamespaces sets how many namespaces are live previews
	// that exist with the label: those the Controller keeps.
	CredentialsNamespaces(n int)
}

// Config tunes a Controller.
type Config struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster. REST, when
	// set, is used instead.
	Kubeconfig string
	REST       *rest.Config
	// Namespace holds the source Secrets: the generator's own. Required.
	Namespace string
	// AuthSource names the source of preview-auth's htpasswd, client-id
	// and client-secret; DefaultAuthSource when empty.
	AuthSource string
	// PullSource names the source of preview-pull, a
	// kubernetes.io/dockerconfigjson Secret; DefaultPullSource when empty.
	// NoPull turns preview-pull off.
	PullSource string
	NoPull     bool
	// Live is the current answer. Required.
	Live Live
	// Resync is the period of the pass over every live namespace;
	// DefaultResync when 0.
	Resync time.Duration
	// Logger and Metrics may be nil.
	Logger  *slog.Logger
	Metrics Metrics
	// NewCookieSecret makes a cookie secret (tests); nil means
	// NewCookieSecret.
	NewCookieSecret func() ([]byte, error)
}

// Controller writes the namespace credentials. Run it while this replica
// leads; it may run again after it returned (a new term), never twice at
// once.
type Controller struct {
	cfg     Config
	core    corev1client.CoreV1Interface
	running atomic.Bool
}

// New returns a Controller for cfg. It contacts nothing: Run does.
func New(cfg Config) (*Controller, error) {
	if cfg.AuthSource == "" {
		cfg.AuthSource = DefaultAuthSource
	}
	if cfg.PullSource == "" {
		cfg.PullSource = DefaultPullSource
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewCookieSecret == nil {
		cfg.NewCookieSecret = NewCookieSecret
	}
	switch {
	case cfg.Namespace == "":
		return nil, errors.New("namespace credentials: the source Secrets' namespace is required")
	case cfg.Live == nil:
		return nil, errors.New("namespace credentials: the current answer (Live) is required")
	}
	rc, err := kube.ClientConfig(cfg.REST, cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	core, err := corev1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building the client for Secrets and Namespaces: %w", err)
	}
	return &Controller{cfg: cfg, core: core}, nil
}

// run is one Run: its caches, queue and what it reported.
type run struct {
	c          *Controller
	log        *slog.Logger
	namespaces cache.SharedIndexInformer            // preview namespaces, by label
	copies     map[string]cache.SharedIndexInformer // AuthSecret, PullSecret in every namespace, by name
	sources    map[string]cache.SharedIndexInformer // the source Secrets, by name
	queue      workqueue.TypedRateLimitingInterface[string]

	// synced is true once every cache has synced.
	synced atomic.Bool

	mu      sync.Mutex
	foreign map[string]map[string]bool // secret name → namespaces where it is not ours
	missing map[string]bool            // source name → missing, as last logged
	// written holds what this run wrote, by namespace/name, until the cache
	// shows it: a reconcile that runs before the watch delivered its own
	// write must not write again.
	written map[string]*corev1.Secret
}

// Run watches and writes until ctx ends, then returns nil. It returns an
// error only when called while running.
func (c *Controller) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("namespace credentials: Run called twice")
	}
	defer c.running.Store(false)
	r := c.newRun()
	defer r.queue.ShutDown()
	informers := []cache.SharedIndexInformer{r.namespaces}
	for _, inf := range r.copies {
		informers = append(informers, inf)
	}
	for _, inf := range r.sources {
		informers = append(informers, inf)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, inf := range informers {
		wg.Add(1)
		go func() { defer wg.Done(); inf.Run(ctx.Done()) }()
	}
	go func() {
		<-ctx.Done()
		r.queue.ShutDown()
	}()
	synced := make([]cache.InformerSynced, len(informers))
	for i, inf := range informers {
		synced[i] = inf.HasSynced
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil
	}
	r.synced.Store(true)
	r.log.Info("keeping namespace credentials", "sourceNamespace", c.cfg.Namespace,
		"authSource", c.cfg.AuthSource, "pullSource", r.pullSourceName(), "previewNamespaces", len(r.namespaces.GetStore().ListKeys()))
	r.checkSources()
	r.enqueueLive()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(c.cfg.Resync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-c.cfg.Live.Changed():
			}
			r.enqueueLive()
		}
	}()
	for r.next(ctx) {
	}
	return nil
}

func (r *run) pullSourceName() string {
	if r.c.cfg.NoPull {
		return ""
	}
	return r.c.cfg.PullSource
}

// newRun builds the caches and the queue of one Run.
func (c *Controller) newRun() *run {
	r := &run{
		c:       c,
		log:     c.cfg.Logger,
		copies:  map[string]cache.SharedIndexInformer{},
		sources: map[string]cache.SharedIndexInformer{},
		queue: workqueue.NewTypedRateLimitingQueue(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, time.Minute)),
		foreign: map[string]map[string]bool{},
		missing: map[string]bool{},
	}
	rc := c.core.RESTClient()
	nsSelector := labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedBy}).String()
	r.namespaces = cache.NewSharedIndexInformer(
		cache.NewFilteredListWatchFromClient(rc, "namespaces", metav1.NamespaceAll, func(o *metav1.ListOptions) { o.LabelSelector = nsSelector }),
		&corev1.Namespace{}, 0, cache.Indexers{})
	_ = r.namespaces.SetTransform(trimNamespace)
	r.watchErrors(r.namespaces, "preview namespaces")
	_, _ = r.namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.enqueueObject(obj) },
		UpdateFunc: func(_, obj any) { r.enqueueObject(obj) },
		DeleteFunc: func(obj any) { r.forget(obj) },
	})
	names := []string{AuthSecret}
	sources := []string{c.cfg.AuthSource}
	if !c.cfg.NoPull {
		names = append(names, PullSecret)
		sources = append(sources, c.cfg.PullSource)
	}
	for _, name := range names {
		inf := secretInformer(rc, metav1.NamespaceAll, name)
		_ = inf.SetTransform(trimCopy)
		r.watchErrors(inf, "Secrets "+name)
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { r.enqueueSecret(obj) },
			UpdateFunc: func(_, obj any) { r.enqueueSecret(obj) },
			DeleteFunc: func(obj any) { r.dropWritten(obj); r.enqueueSecret(obj) },
		})
		r.copies[name] = inf
	}
	for _, name := range sources {
		inf := secretInformer(rc, c.cfg.Namespace, name)
		_ = inf.SetTransform(trimManagedFields)
		r.watchErrors(inf, "source Secret "+c.cfg.Namespace+"/"+name)
		sourceChanged := func(any) {
			if r.synced.Load() {
				r.checkSources()
				r.enqueueLive()
			}
		}
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    sourceChanged,
			UpdateFunc: func(_, obj any) { sourceChanged(obj) },
			DeleteFunc: sourceChanged,
		})
		r.sources[name] = inf
	}
	return r
}

// secretInformer caches the Secrets named name in namespace (all of them
// with metav1.NamespaceAll): a list and watch by field selector, which
// RBAC authorizes with resourceNames.
func secretInformer(rc rest.Interface, namespace, name string) cache.SharedIndexInformer {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	return cache.NewSharedIndexInformer(
		cache.NewFilteredListWatchFromClient(rc, "secrets", namespace, func(o *metav1.ListOptions) { o.FieldSelector = sel }),
		&corev1.Secret{}, 0, cache.Indexers{})
}

func (r *run) watchErrors(inf cache.SharedIndexInformer, what string) {
	_ = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		r.log.Warn("watching "+what, "error", err)
	})
}

// trimManagedFields drops what the cache never reads.
func trimManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// trimNamespace keeps a Namespace's name, labels and deletion mark.
func trimNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns.Name, Labels: ns.Labels, DeletionTimestamp: ns.DeletionTimestamp, ResourceVersion: ns.ResourceVersion,
	}}, nil
}

// trimCopy drops the data of Secrets that are not ours: the cache only
// needs to know they are there.
func trimCopy(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	s.ManagedFields = nil
	if !Owned(s) {
		s.Data, s.StringData = nil, nil
	}
	return s, nil
}

// live returns the namespaces of the current answer as a set.
func (r *run) live() map[string]bool {
	out := map[string]bool{}
	for _, ns := range r.c.cfg.Live.Namespaces() {
		out[ns] = true
	}
	return out
}

// enqueueLive queues every live preview namespace that exists with the
// label, and updates the namespaces gauge.
func (r *run) enqueueLive() {
	n := 0
	for ns := range r.live() {
		if _, ok, _ := r.namespaces.GetStore().GetByKey(ns); ok {
			r.queue.Add(ns)
			n++
		}
	}
	if m := r.c.cfg.Metrics; m != nil {
		m.CredentialsNamespaces(n)
	}
}

func (r *run) enqueueObject(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		r.queue.Add(key)
	}
}

// enqueueSecret queues the namespace of a copy, when it is live.
func (r *run) enqueueSecret(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(metav1.Object); ok && r.live()[m.GetNamespace()] {
		r.queue.Add(m.GetNamespace())
	}
}

// forget drops what was reported about a namespace that went away.
func (r *run) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(metav1.Object); ok {
		for _, name := range []string{AuthSecret, PullSecret} {
			r.setForeign(name, m.GetName(), false)
		}
	}
}

// next reconciles one queued namespace; false once the queue shut down.
func (r *run) next(ctx context.Context) bool {
	ns, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(ns)
	err := r.reconcile(ctx, ns)
	switch {
	case err == nil || ctx.Err() != nil:
		r.queue.Forget(ns)
	default:
		r.queue.AddRateLimited(ns)
		r.log.Warn("writing namespace credentials failed; will retry", "namespace", ns, "error", err)
	}
	return true
}

// reconcile writes the Secrets of one namespace when it is a live preview
// that exists with the label.
func (r *run) reconcile(ctx context.Context, ns string) error {
	if !r.live()[ns] {
		return nil
	}
	obj, ok, _ := r.namespaces.GetStore().GetByKey(ns)
	if !ok {
		return nil // not there, or not labelled
	}
	nsObj := obj.(*corev1.Namespace)
	if nsObj.Labels[ManagedByLabel] != ManagedBy || nsObj.DeletionTimestamp != nil {
		return nil
	}
	var errs []error
	auth := r.source(r.c.cfg.AuthSource)
	want, op, err := planAuth(ns, auth, r.current(AuthSecret, ns), r.c.cfg.NewCookieSecret)
	errs = append(errs, r.apply(ctx, ns, AuthSecret, want, op, err))
	if !r.c.cfg.NoPull {
		want, op, err := planPull(ns, r.source(r.c.cfg.PullSource), r.current(PullSecret, ns))
		errs = append(errs, r.apply(ctx, ns, PullSecret, want, op, err))
	}
	return errors.Join(errs...)
}

// source reads a source Secret from the cache.
func (r *run) source(name string) source {
	s := source{namespace: r.c.cfg.Namespace, name: name}
	if obj, ok, _ := r.sources[name].GetStore().GetByKey(r.c.cfg.Namespace + "/" + name); ok {
		s.secret = obj.(*corev1.Secret)
	}
	return s
}

// current reads the Secret name of namespace ns from the cache, or what this
// run wrote when the cache has not caught up with it yet; nil when there is
// none.
func (r *run) current(name, ns string) *corev1.Secret {
	key := ns + "/" + name
	var cached *corev1.Secret
	if obj, ok, _ := r.copies[name].GetStore().GetByKey(key); ok {
		cached = obj.(*corev1.Secret)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.written[key]
	if w == nil {
		return cached
	}
	if cached != nil && !olderVersion(cached.ResourceVersion, w.ResourceVersion) {
		delete(r.written, key) // the cache has it, or something newer
		return cached
	}
	return w
}

// olderVersion reports whether resource version a is older than b. Resource
// versions are opaque; where they are not integers (not etcd), none is
// older, and the cache wins.
func olderVersion(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}

// remember records a Secret this run wrote.
func (r *run) remember(s *corev1.Secret) {
	if s == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written == nil {
		r.written = map[string]*corev1.Secret{}
	}
	r.written[s.Namespace+"/"+s.Name] = s
}

// dropWritten forgets what this run wrote of a Secret that was deleted.
func (r *run) dropWritten(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(metav1.Object); ok {
		r.mu.Lock()
		delete(r.written, m.GetNamespace()+"/"+m.GetName())
		r.mu.Unlock()
	}
}

// apply carries out a plan.
func (r *run) apply(ctx context.Context, ns, name string, want *corev1.Secret, op string, planErr error) error {
	r.setForeign(name, ns, op == opForeign)
	if planErr != nil {
		return fmt.Errorf("%s in %s: %w", name, ns, planErr)
	}
	var err error
	var got *corev1.Secret
	switch op {
	case opNone, opForeign:
		return nil
	case opCreate:
		got, err = r.c.core.Secrets(ns).Create(ctx, want, metav1.CreateOptions{FieldManager: ManagedBy})
	case opUpdate:
		got, err = r.c.core.Secrets(ns).Update(ctx, want, metav1.UpdateOptions{FieldManager: ManagedBy})
	}
	if err == nil {
		r.remember(got)
	}
	outcome := OutcomeCreated
	if op == opUpdate {
		outcome = OutcomeUpdated
	}
	switch {
	case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
		// The cache is behind: try again once it caught up.
		outcome = OutcomeConflict
		err = fmt.Errorf("%s %s/%s: %w", op, ns, name, err)
	case err != nil:
		outcome = OutcomeError
		err = fmt.Errorf("%s %s/%s: %w", op, ns, name, err)
	default:
		r.log.Info("wrote namespace credentials", "namespace", ns, "secret", name, "op", op,
			"source", want.Annotations[CopiedFromAnnotation])
	}
	if m := r.c.cfg.Metrics; m != nil {
		m.CredentialsWrite(name, outcome)
	}
	return err
}

// setForeign records whether namespace ns holds a Secret name that is not
// ours, logging and counting changes.
func (r *run) setForeign(name, ns string, foreign bool) {
	r.mu.Lock()
	set := r.foreign[name]
	if set == nil {
		set = map[string]bool{}
		r.foreign[name] = set
	}
	was := set[ns]
	if foreign {
		set[ns] = true
	} else {
		delete(set, ns)
	}
	n := len(set)
	r.mu.Unlock()
	if was == foreign {
		return
	}
	if foreign {
		r.log.Warn("a Secret of this name that the generator did not write is in a preview namespace; leaving it alone",
			"namespace", ns, "secret", name, "ownedBy", CopiedFromLabel+" label missing")
	}
	if m := r.c.cfg.Metrics; m != nil {
		m.CredentialsForeign(name, n)
	}
}

// checkSources logs and counts each source Secret that is missing or
// back.
func (r *run) checkSources() {
	names := []string{r.c.cfg.AuthSource}
	if !r.c.cfg.NoPull {
		names = append(names, r.c.cfg.PullSource)
	}
	for _, name := range names {
		missing := r.source(name).secret == nil
		r.mu.Lock()
		was, known := r.missing[name]
		r.missing[name] = missing
		r.mu.Unlock()
		if known && was == missing {
			continue
		}
		if m := r.c.cfg.Metrics; m != nil {
			m.CredentialsSourceMissing(name, missing)
		}
		switch {
		case missing && name == r.c.cfg.AuthSource:
			r.log.Warn("source Secret missing: preview-auth gets an empty htpasswd and no client-id, so the edge lets nobody in",
				"secret", r.c.cfg.Namespace+"/"+name)
		case missing:
			r.log.Warn("source Secret missing: no preview-pull is written (existing copies are emptied); images are pulled without credentials",
				"secret", r.c.cfg.Namespace+"/"+name)
		case known:
			r.log.Info("source Secret is back", "secret", r.c.cfg.Namespace+"/"+name)
		}
	}
}
