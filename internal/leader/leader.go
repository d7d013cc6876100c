// Package leader elects one active replica among the generator's replicas
// with a coordination.k8s.io Lease (client-go's tools/leaderelection). The
// leader polls, takes webhooks and serves; the others wait and campaign
// again until the leader goes away. PodLabeler puts RoleLabel on the
// leader's Pod, so a Service that selects it sends traffic to the leader
// only, while every replica stays Ready.
//
// A leader that stops on purpose (its context ends) first stops acting,
// then releases the Lease, so another replica takes over within
// RetryPeriod instead of LeaseDuration.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/preview-generator/preview-generator/internal/kube"
)

// Defaults for Config: client-go's recommended timings. A leader that
// dies without releasing the Lease is replaced within about LeaseDuration
// plus RetryPeriod; one that stops cleanly within about RetryPeriod.
const (
	DefaultLeaseName     = "preview-generator"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Config tunes an Elector.
type Config struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster. REST, when
	// set, is used instead.
	Kubeconfig string
	REST       *rest.Config
	// Namespace holds the Lease: the generator's own. Required.
	Namespace string
	// LeaseName defaults to DefaultLeaseName.
	LeaseName string
	// Identity names this replica in the Lease: its Pod's name. Required;
	// see Identity.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod default to the Default
	// constants. The Lease stores whole seconds: LeaseDuration must be at
	// least a second, and longer than RenewDeadline.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	// Logger may be nil.
	Logger *slog.Logger
}

// Elector campaigns for the Lease. Leading is safe for concurrent use.
type Elector struct {
	cfg     Config
	lock    *resourcelock.LeaseLock
	leading atomic.Bool
	running atomic.Bool
}

// Identity returns this replica's identity: $POD_NAME (the downward API),
// else the host name.
func Identity(getenv func(string) string) (string, error) {
	if id := getenv("POD_NAME"); id != "" {
		return id, nil
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "", fmt.Errorf("leader identity: POD_NAME is unset and the host name is unknown: %w", err)
	}
	return host, nil
}

// New returns an Elector for cfg. It contacts nothing: Run campaigns.
func New(cfg Config) (*Elector, error) {
	if cfg.LeaseName == "" {
		cfg.LeaseName = DefaultLeaseName
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = DefaultRenewDeadline
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Namespace == "":
		return nil, errors.New("leader election: the Lease's namespace is required")
	case cfg.Identity == "":
		return nil, errors.New("leader election: an identity is required")
	case cfg.LeaseDuration < time.Second:
		return nil, fmt.Errorf("leader election: lease duration %s is below 1s", cfg.LeaseDuration)
	}
	rc, err := kube.ClientConfig(cfg.REST, cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := coordinationv1.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("Kubernetes client for Leases: %w", err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.LeaseName},
		Client:     client,
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	e := &Elector{cfg: cfg, lock: lock}
	// Validate the timings now, not at the first Run.
	if _, err := leaderelection.NewLeaderElector(e.electionConfig(leaderelection.LeaderCallbacks{
		OnStartedLeading: func(context.Context) {}, OnStoppedLeading: func() {},
	})); err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	return e, nil
}

func (e *Elector) electionConfig(cb leaderelection.LeaderCallbacks) leaderelection.LeaderElectionConfig {
	return leaderelection.LeaderElectionConfig{
		Lock:            e.lock,
		LeaseDuration:   e.cfg.LeaseDuration,
		RenewDeadline:   e.cfg.RenewDeadline,
		RetryPeriod:     e.cfg.RetryPeriod,
		Callbacks:       cb,
		ReleaseOnCancel: true,
		Name:            e.cfg.LeaseName,
	}
}

// Leading reports whether this replica holds the Lease now. It turns false
// before onLead's context ends and before the Lease is released.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Run campaigns for the Lease until ctx ends. Each time this replica wins,
// it calls onLead in a new goroutine with a context that ends when the
// term does (onLead may return earlier; the term goes on); when a term
// ends it waits for onLead to return, then calls onLose (if not nil). A replica that loses the Lease campaigns again.
// When ctx ends, a leader stops leading, waits for onLead, releases the
// Lease, calls onLose, and Run returns: onLead must return once its
// context ends. Run returns an error only when called twice.
func (e *Elector) Run(ctx context.Context, onLead func(context.Context), onLose func()) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("leader election: Run called twice")
	}
	for ctx.Err() == nil {
		if err := e.term(ctx, onLead, onLose); err != nil {
			return err
		}
	}
	return nil
}

// term campaigns once: it returns when ctx ends, or after a won term ends.
func (e *Elector) term(ctx context.Context, onLead func(context.Context), onLose func()) error {
	// The elector's context outlives ctx until onLead has returned, so
	// the Lease is released only once this replica has stopped acting.
	electCtx, release := context.WithCancel(context.WithoutCancel(ctx))
	defer release()
	var (
		mu       sync.Mutex
		stopping bool               // ctx ended or the term ended: never start onLead
		stopLead context.CancelFunc // ends onLead's context
		led      = make(chan struct{})
		won      bool
	)
	stepDown := func() {
		mu.Lock()
		stopping = true
		e.leading.Store(false)
		if stopLead != nil {
			stopLead()
		}
		started := won
		mu.Unlock()
		if started {
			<-led
		}
	}
	cb := leaderelection.LeaderCallbacks{
		OnStartedLeading: func(lctx context.Context) {
			mu.Lock()
			if stopping {
				mu.Unlock()
				return
			}
			// leadCtx ends after Leading turns false, whether the
			// term ends by ctx (stepDown) or by a lost Lease (lctx).
			leadCtx, cancel := context.WithCancel(context.WithoutCancel(lctx))
			stopLead = func() {
				e.leading.Store(false)
				cancel()
			}
			context.AfterFunc(lctx, stopLead)
			won = true
			e.leading.Store(true)
			mu.Unlock()
			defer close(led)
			e.cfg.Logger.Info("leading", "lease", e.cfg.Namespace+"/"+e.cfg.LeaseName, "identity", e.cfg.Identity)
			onLead(leadCtx)
		},
		OnStoppedLeading: stepDown, // after the Lease was lost or released
		OnNewLeader: func(id string) {
			if id != e.cfg.Identity {
				e.cfg.Logger.Info("following", "lease", e.cfg.Namespace+"/"+e.cfg.LeaseName, "leader", id)
			}
		},
	}
	le, err := leaderelection.NewLeaderElector(e.electionConfig(cb))
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		le.Run(electCtx)
	}()
	select {
	case <-ctx.Done():
		stepDown()
		release()
		<-done
	case <-done:
	}
	mu.Lock()
	wasLeader := won
	mu.Unlock()
	if wasLeader {
		e.cfg.Logger.Info("stopped leading", "lease", e.cfg.Namespace+"/"+e.cfg.LeaseName, "identity", e.cfg.Identity)
		if onLose != nil {
			onLose()
		}
	}
	return nil
}
