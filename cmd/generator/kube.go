package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"

	"github.com/preview-generator/preview-generator/internal/leader"
	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/refresh"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/store"
)

// kubeConfig is what serve is told about the Kubernetes API: both uses of
// it are off unless asked for.
type kubeConfig struct {
	Kubeconfig string

	RefreshAppSets  bool
	ArgoCDNamespace string
	PluginConfigMap string

	LeaderElect     bool
	LeaderLeaseName string
	LeaderNamespace string

	// podName is $POD_NAME (or the host name): the leader identity and,
	// with podNamespace ($POD_NAMESPACE, else --leader-namespace), the Pod
	// the leader labels.
	podName, podNamespace string
}

func (k *kubeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&k.Kubeconfig, "kubeconfig", "", "kubeconfig file for --refresh-appsets and --leader-elect; empty: in-cluster (the Pod's ServiceAccount)")
	fs.BoolVar(&k.RefreshAppSets, "refresh-appsets", false, "annotate the ApplicationSets that serve a repository when it changes, so Argo CD reconciles them at once (needs get, list, watch, patch on applicationsets in --argocd-namespace)")
	fs.StringVar(&k.ArgoCDNamespace, "argocd-namespace", refresh.DefaultNamespace, "Argo CD's namespace, where the ApplicationSets are")
	fs.StringVar(&k.PluginConfigMap, "plugin-configmap", refresh.DefaultConfigMap, "name of the plugin's ConfigMap the ApplicationSets' plugin generators name in configMapRef")
	fs.BoolVar(&k.LeaderElect, "leader-elect", false, "run one active replica: the one holding a Lease polls, serves, and labels its Pod preview-generator.io/role=leader for the Service to select; the others stand by, ready (needs get, create, update on leases in --leader-namespace, get, list, patch on pods in $POD_NAMESPACE)")
	fs.StringVar(&k.LeaderLeaseName, "leader-lease-name", leader.DefaultLeaseName, "name of the Lease for --leader-elect")
	fs.StringVar(&k.LeaderNamespace, "leader-namespace", "", "namespace of the Lease for --leader-elect; empty: $POD_NAMESPACE")
}

// fromPod fills what the downward API gives: the Lease's namespace when no
// flag or PREVIEW_ variable set it, and the identity.
func (k *kubeConfig) fromPod(getenv func(string) string) {
	k.podNamespace = getenv("POD_NAMESPACE")
	if k.LeaderNamespace == "" {
		k.LeaderNamespace = k.podNamespace
	}
	if id, err := leader.Identity(getenv); err == nil {
		k.podName = id
	}
}

// check reports every invalid setting through bad, naming its flag.
func (k *kubeConfig) check(bad func(flagName, format string, a ...any)) {
	name := func(flagName, value string, is func(string) []string) {
		if errs := is(value); len(errs) > 0 {
			bad(flagName, "%q: %s", value, strings.Join(errs, "; "))
		}
	}
	if k.RefreshAppSets {
		name("argocd-namespace", k.ArgoCDNamespace, validation.IsDNS1123Label)
		name("plugin-configmap", k.PluginConfigMap, validation.IsDNS1123Subdomain)
	}
	if k.LeaderElect {
		name("leader-lease-name", k.LeaderLeaseName, validation.IsDNS1123Subdomain)
		if k.LeaderNamespace == "" {
			bad("leader-namespace", "required with --leader-elect (or $POD_NAMESPACE from the downward API)")
		} else {
			name("leader-namespace", k.LeaderNamespace, validation.IsDNS1123Label)
		}
		if k.podName == "" {
			bad("leader-elect", "no identity: set $POD_NAME (the downward API)")
		}
	}
}

func (k *kubeConfig) String() string {
	return fmt.Sprintf("kubeconfig=%s refresh-appsets=%t argocd-namespace=%s plugin-configmap=%s leader-elect=%t leader-lease-name=%s leader-namespace=%s",
		k.Kubeconfig, k.RefreshAppSets, k.ArgoCDNamespace, k.PluginConfigMap, k.LeaderElect, k.LeaderLeaseName, k.LeaderNamespace)
}

var klogOnce sync.Once

// klogToSlog sends client-go's logs through log, so they share its format.
func klogToSlog(log *slog.Logger) {
	klogOnce.Do(func() { klog.SetSlogLogger(log) })
}

// newRefresher returns the ApplicationSet refresher, or nil without
// --refresh-appsets. Run it; webhooks call its Enqueue.
func newRefresher(cfg *config, log *slog.Logger, m *metrics.Metrics) (*refresh.Refresher, error) {
	if !cfg.RefreshAppSets {
		return nil, nil
	}
	klogToSlog(log)
	r, err := refresh.New(refresh.Config{
		Kubeconfig: cfg.Kubeconfig, Namespace: cfg.ArgoCDNamespace, ConfigMap: cfg.PluginConfigMap,
		Logger: log.With("component", "refresh"), Metrics: m,
	})
	if err != nil {
		return nil, fmt.Errorf("--refresh-appsets: %w", err)
	}
	return r, nil
}

// labelRetry is how soon a leader retries labelling its Pod after a
// failure.
const labelRetry = 2 * time.Second

// polling runs the store's background refreshes: always, or with
// --leader-elect only while this replica leads, labelling its Pod while it
// can answer.
type polling struct {
	st       *store.Store
	interval time.Duration
	log      *slog.Logger
	elector  *leader.Elector    // nil without --leader-elect
	labels   *leader.PodLabeler // nil without --leader-elect
	// leaderOnly run while this replica leads (always without
	// --leader-elect), each in its own goroutine, until the term's
	// context ends; a term ends only after they returned.
	leaderOnly []func(context.Context)
	// marked is true while this replica's Pod carries the leader label (as
	// far as it knows).
	marked atomic.Bool
	// synced is true once a refresh of every repository has finished in
	// the current term: before that the store may hold an older answer
	// than the previous leader served.
	synced atomic.Bool
}

func newPolling(cfg *config, log *slog.Logger, st *store.Store) (*polling, error) {
	p := &polling{st: st, interval: cfg.ResyncInterval, log: log.With("component", "leader")}
	if !cfg.LeaderElect {
		return p, nil
	}
	klogToSlog(log)
	el, err := leader.New(leader.Config{
		Kubeconfig: cfg.Kubeconfig, Namespace: cfg.LeaderNamespace, LeaseName: cfg.LeaderLeaseName,
		Identity: cfg.podName, Logger: log.With("component", "leader"),
	})
	if err != nil {
		return nil, fmt.Errorf("--leader-elect: %w", err)
	}
	ns := cfg.podNamespace
	if ns == "" {
		ns = cfg.LeaderNamespace
	}
	labels, err := leader.NewPodLabeler(leader.PodLabelerConfig{Kubeconfig: cfg.Kubeconfig, Namespace: ns, Pod: cfg.podName})
	if err != nil {
		return nil, fmt.Errorf("--leader-elect: %w", err)
	}
	p.elector, p.labels = el, labels
	return p, nil
}

// source is what the HTTP server answers from: the store, or with
// --leader-elect the store gated by leadership.
func (p *polling) source() server.Source {
	if p.elector == nil {
		return p.st
	}
	return p
}

// Ready is /readyz with --leader-elect: a standby is ready at once (the
// Service selects the leader by its label, not by readiness); a leader once
// refreshed in this term, with every repository listed.
func (p *polling) Ready() bool {
	if !p.elector.Leading() {
		return true
	}
	return p.synced.Load() && p.st.Ready()
}

// Role is "leader" while this replica holds the Lease, else "standby".
func (p *polling) Role() string {
	if p.elector.Leading() {
		return "leader"
	}
	return "standby"
}

// Get answers only while Ready: a replica that does not lead, or has not
// refreshed since it began to, could answer with an older state than
// Argo CD has seen; ErrUnavailable makes that a 503, on which Argo CD keeps
// what exists.
func (p *polling) Get(ctx context.Context, repos []pr.Repo, label string) (store.Result, error) {
	if !p.elector.Leading() || !p.synced.Load() {
		return store.Result{}, fmt.Errorf("%w: this replica is not the leader, or has not refreshed since it became it", store.ErrUnavailable)
	}
	return p.st.Get(ctx, repos, label)
}

// run refreshes until ctx ends: with --leader-elect, only in the terms
// this replica leads, refreshing at once when one begins.
func (p *polling) run(ctx context.Context) {
	if p.elector == nil {
		defer p.startLeaderOnly(ctx)()
		p.st.Run(ctx)
		return
	}
	_ = p.elector.Run(ctx, p.lead, func() {
		p.synced.Store(false)
		if p.marked.Load() { // lead's removal failed: try again
			p.unmark()
		}
	})
}

// lead is a term: it clears a dead leader's label from the other Pods,
// refreshes, labels this Pod, and refreshes every interval; when the term
// ends it removes the label before returning, so before the Elector
// releases the Lease.
func (p *polling) lead(ctx context.Context) {
	p.synced.Store(false)
	defer p.unmark()
	defer p.startLeaderOnly(ctx)()
	if cleared, err := p.labels.ClearOthers(ctx); err != nil {
		p.log.Warn("could not remove the leader label from other Pods", "err", err)
	} else if len(cleared) > 0 {
		p.log.Info("removed a former leader's label", "pods", strings.Join(cleared, ","))
	}
	_ = p.st.SyncAll(ctx) // outcomes are logged and counted per repository
	if ctx.Err() != nil {
		return
	}
	p.synced.Store(true)
	// Label the Pod (retrying) while the store refreshes as it does
	// without election: every interval, and at once for each repository a
	// webhook names (Store.Run drains the queue Store.Refresh fills).
	var marking sync.WaitGroup
	defer marking.Wait() // before the deferred unmark: no label after it
	marking.Add(1)
	go func() {
		defer marking.Done()
		for !p.mark(ctx) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(labelRetry):
			}
		}
	}()
	p.st.Run(ctx)
}

// startLeaderOnly starts the leaderOnly functions on ctx and returns a
// function that waits for them to return.
func (p *polling) startLeaderOnly(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, run := range p.leaderOnly {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}
	return wg.Wait
}

// mark labels this replica's Pod as the leader, unless done in this term,
// and reports whether it carries the label.
func (p *polling) mark(ctx context.Context) bool {
	if p.marked.Load() {
		return true
	}
	if err := p.labels.Mark(ctx); err != nil {
		p.log.Warn("could not label this Pod as the leader; the Service sends it nothing", "err", err, "retry", labelRetry)
		return false
	}
	p.marked.Store(true)
	p.log.Info("labelled this Pod as the leader", "label", leader.RoleLabel+"="+leader.RoleLeader)
	return true
}

// unmark removes the leader label from this replica's Pod, with its own
// deadline: it runs when the term's context has ended.
func (p *polling) unmark() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.labels.Unmark(ctx); err != nil {
		p.log.Warn("could not remove the leader label from this Pod; the next leader will", "err", err)
		return
	}
	p.marked.Store(false)
}
