package leader_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"github.com/preview-generator/preview-generator/internal/kubetest"
	"github.com/preview-generator/preview-generator/internal/leader"
)

// Test timings: a dead leader is replaced after about 2s, a leaving one
// within about 200ms.
const (
	leaseDuration = 2 * time.Second
	renewDeadline = time.Second
	retryPeriod   = 200 * time.Millisecond
)

// candidate is one replica campaigning, with what happened to it.
type candidate struct {
	id     string
	e      *leader.Elector
	cancel context.CancelFunc
	done   chan error
	cut    *atomic.Bool // when set, every API request fails

	mu       sync.Mutex
	leads    []time.Time // onLead called
	ended    []time.Time // onLead returned (its context ended)
	loses    []time.Time // onLose called
	overlaps int         // onLead running while Leading() was false at its start
}

func (c *candidate) events() (leads, ended, loses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.leads), len(c.ended), len(c.loses)
}

// campaign starts a candidate on lease in namespace ns; it stops when the
// test ends.
func campaign(t *testing.T, cfg *rest.Config, ns, lease, id string) *candidate {
	t.Helper()
	c := &candidate{id: id, done: make(chan error, 1), cut: new(atomic.Bool)}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if c.cut.Load() {
				return nil, errors.New("cut off")
			}
			return rt.RoundTrip(r)
		})
	})
	e, err := leader.New(leader.Config{
		REST: cfg, Namespace: ns, LeaseName: lease, Identity: id,
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.e = e
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		c.done <- e.Run(ctx, func(ctx context.Context) {
			c.mu.Lock()
			c.leads = append(c.leads, time.Now())
			if !e.Leading() {
				c.overlaps++
			}
			c.mu.Unlock()
			<-ctx.Done()
			c.mu.Lock()
			c.ended = append(c.ended, time.Now())
			c.mu.Unlock()
		}, func() {
			c.mu.Lock()
			c.loses = append(c.loses, time.Now())
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop ends the candidate's Run and waits for it.
func (c *candidate) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("%s: Run: %v", c.id, err)
		}
		c.done <- nil // for a second stop
	case <-time.After(10 * time.Second):
		t.Errorf("%s: Run did not return 10s after its context ended", c.id)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// leaders returns the candidates that lead now.
func leaders(cs ...*candidate) []*candidate {
	var out []*candidate
	for _, c := range cs {
		if c.e.Leading() {
			out = append(out, c)
		}
	}
	return out
}

// waitLeader waits until exactly one of cs leads, checking every
// millisecond that never two do, and returns it.
func waitLeader(t *testing.T, timeout time.Duration, cs ...*candidate) *candidate {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		switch l := leaders(cs...); len(l) {
		case 1:
			return l[0]
		case 0:
		default:
			t.Fatalf("%s and %s lead at once", l[0].id, l[1].id)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader after %s", timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func holder(t *testing.T, cp *kubetest.ControlPlane, ns, lease string) string {
	t.Helper()
	client, err := coordinationv1.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	l, err := client.Leases(ns).Get(context.Background(), lease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// TestElectionOnAPIServer runs electors against a real kube-apiserver.
func TestElectionOnAPIServer(t *testing.T) {
	cp := kubetest.Start(t)
	cp.CreateNamespace(t, "gen")

	t.Run("OneLeaderThenAGracefulHandover", func(t *testing.T) {
		a := campaign(t, cp.Config, "gen", "handover", "a")
		b := campaign(t, cp.Config, "gen", "handover", "b")
		first := waitLeader(t, 10*time.Second, a, b)
		other := a
		if first == a {
			other = b
		}
		// Several lease durations: always exactly this one, never both.
		for end := time.Now().Add(2 * leaseDuration); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if l := leaders(a, b); len(l) != 1 || l[0] != first {
				t.Fatalf("leaders changed to %d without a cause", len(l))
			}
		}
		if got := holder(t, cp, "gen", "handover"); got != first.id {
			t.Errorf("Lease holder = %q, want %q", got, first.id)
		}
		if leads, _, _ := first.events(); leads != 1 {
			t.Errorf("onLead called %d times on the leader", leads)
		}
		if leads, _, _ := other.events(); leads != 0 {
			t.Errorf("onLead called %d times on the follower", leads)
		}

		stopped := time.Now()
		first.stop(t)
		if first.e.Leading() {
			t.Error("a stopped elector still leads")
		}
		next := waitLeader(t, 5*time.Second, a, b)
		took := time.Since(stopped)
		t.Logf("graceful handover took %s (retry period %s, lease %s)", took, retryPeriod, leaseDuration)
		if next != other {
			t.Fatalf("after %s stopped, %s leads", first.id, next.id)
		}
		// Released, not expired: well within the lease duration.
		if took >= leaseDuration/2 {
			t.Errorf("handover took %s: the Lease was not released (lease duration %s)", took, leaseDuration)
		}
		_, ended, loses := first.events()
		if ended != 1 || loses != 1 {
			t.Errorf("old leader: onLead returned %d times, onLose called %d times; want 1, 1", ended, loses)
		}
		first.mu.Lock()
		endedAt := first.ended[0]
		first.mu.Unlock()
		other.mu.Lock()
		ledAt := other.leads[0]
		other.mu.Unlock()
		if !endedAt.Before(ledAt) {
			t.Errorf("old leader's onLead returned at %s, after the new one's began at %s", endedAt.Format(time.StampMicro), ledAt.Format(time.StampMicro))
		}
		if got := holder(t, cp, "gen", "handover"); got != other.id {
			t.Errorf("Lease holder = %q, want %q", got, other.id)
		}
	})

	t.Run("ADeadLeaderIsReplacedWhenItsLeaseExpires", func(t *testing.T) {
		a := campaign(t, cp.Config, "gen", "crash", "a")
		b := campaign(t, cp.Config, "gen", "crash", "b")
		first := waitLeader(t, 10*time.Second, a, b)
		// The leader loses the API server: it can neither renew nor
		// release.
		first.cut.Store(true)
		cut := time.Now()
		var stepDown time.Duration
		for {
			l := leaders(a, b)
			if len(l) > 1 {
				t.Fatalf("both lead %s after the cut", time.Since(cut))
			}
			if stepDown == 0 && !first.e.Leading() {
				stepDown = time.Since(cut)
			}
			if len(l) == 1 && l[0] != first {
				break
			}
			if time.Since(cut) > 10*time.Second {
				t.Fatalf("no takeover 10s after the leader was cut off")
			}
			time.Sleep(time.Millisecond)
		}
		took := time.Since(cut)
		t.Logf("cut-off leader stepped down after %s; takeover after %s (renew deadline %s, lease %s)", stepDown, took, renewDeadline, leaseDuration)
		if took < leaseDuration-retryPeriod {
			t.Errorf("takeover after %s: before the lease (%s) could have expired", took, leaseDuration)
		}
		if stepDown == 0 || stepDown > took {
			t.Errorf("the old leader stepped down after %s, the new one led after %s", stepDown, took)
		}
		if _, ended, loses := first.events(); ended != 1 || loses != 1 {
			t.Errorf("cut-off leader: onLead returned %d times, onLose %d; want 1, 1", ended, loses)
		}
		// Back on the network it campaigns again, as a follower.
		first.cut.Store(false)
		time.Sleep(leaseDuration)
		if l := leaders(a, b); len(l) != 1 || l[0] == first {
			t.Errorf("after the old leader came back, leaders = %d", len(l))
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	rc := &rest.Config{Host: "https://127.0.0.1:1"}
	ok := leader.Config{REST: rc, Namespace: "gen", Identity: "a"}
	tests := []struct {
		name string
		edit func(*leader.Config)
		want string
	}{
		{"no namespace", func(c *leader.Config) { c.Namespace = "" }, "namespace"},
		{"no identity", func(c *leader.Config) { c.Identity = "" }, "identity"},
		{"lease under a second", func(c *leader.Config) { c.LeaseDuration = 500 * time.Millisecond }, "below 1s"},
		{"renew deadline not below the lease", func(c *leader.Config) {
			c.LeaseDuration, c.RenewDeadline = 5*time.Second, 5*time.Second
		}, "leaseDuration must be greater than renewDeadline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			tc.edit(&cfg)
			if _, err := leader.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := leader.New(ok); err != nil {
		t.Errorf("New(valid config): %v", err)
	}
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	e, err := leader.New(leader.Config{REST: &rest.Config{Host: "https://127.0.0.1:1"}, Namespace: "gen", Identity: "a"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, func(context.Context) {}, nil) }()
	time.Sleep(50 * time.Millisecond)
	if err := e.Run(ctx, func(context.Context) {}, nil); err == nil {
		t.Error("a second Run did not fail")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if e.Leading() {
		t.Error("leads without an API server")
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"pod name", map[string]string{"POD_NAME": "preview-generator-7d9f-abcde"}, "preview-generator-7d9f-abcde"},
		{"host name without POD_NAME", nil, host},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := leader.Identity(func(k string) string { return tc.env[k] })
			if err != nil || got != tc.want {
				t.Errorf("Identity = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// createPods creates Pods named names in ns with labels, as the admin. They
// never run: the API server stores Pods without a scheduler.
func createPods(t *testing.T, cp *kubetest.ControlPlane, ns string, labels map[string]string, names ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: %s}\n", ns)
	for _, n := range names {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n", n, ns)
		for k, v := range labels {
			fmt.Fprintf(&b, "    %s: %q\n", k, v)
		}
		b.WriteString("spec:\n  automountServiceAccountToken: false\n  containers: [{name: c, image: example.invalid/none}]\n")
	}
	cp.Apply(t, []byte(b.String()))
}

// roleLabels returns the Pods of ns and their RoleLabel ("" when unset).
func roleLabels(t *testing.T, cfg *rest.Config, ns string) map[string]string {
	t.Helper()
	client, err := corev1.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	list, err := client.Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		out[p.Name] = p.Labels[leader.RoleLabel]
	}
	return out
}

// TestPodLabeler marks, unmarks and clears leader labels on real Pods:
// Mark and Unmark touch only this replica's Pod and keep its other labels;
// ClearOthers removes the label from the selector's other Pods only.
func TestPodLabeler(t *testing.T) {
	cp := kubetest.Start(t)
	cp.CreateNamespace(t, "gen")
	app := map[string]string{"app.kubernetes.io/name": "preview-generator"}
	createPods(t, cp, "gen", app, "a", "b", "crashed")
	createPods(t, cp, "gen", map[string]string{"app.kubernetes.io/name": "other", leader.RoleLabel: leader.RoleLeader}, "neighbour")
	ctx := context.Background()
	newLabeler := func(pod string) *leader.PodLabeler {
		l, err := leader.NewPodLabeler(leader.PodLabelerConfig{REST: cp.Config, Namespace: "gen", Pod: pod})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, crashed := newLabeler("a"), newLabeler("crashed")
	if err := crashed.Mark(ctx); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want map[string]string
	}{
		{"a marks", func() error { return a.Mark(ctx) },
			map[string]string{"a": "leader", "b": "", "crashed": "leader", "neighbour": "leader"}},
		{"a clears the others of its selector", func() error {
			cleared, err := a.ClearOthers(ctx)
			if err == nil && (len(cleared) != 1 || cleared[0] != "crashed") {
				err = fmt.Errorf("cleared %v, want [crashed]", cleared)
			}
			return err
		}, map[string]string{"a": "leader", "b": "", "crashed": "", "neighbour": "leader"}},
		{"a unmarks", func() error { return a.Unmark(ctx) },
			map[string]string{"a": "", "b": "", "crashed": "", "neighbour": "leader"}},
		{"unmarking twice is fine", func() error { return a.Unmark(ctx) },
			map[string]string{"a": "", "b": "", "crashed": "", "neighbour": "leader"}},
		{"a missing Pod is an error", func() error {
			if err := newLabeler("gone").Mark(ctx); err == nil || !strings.Contains(err.Error(), "Pod gone") {
				return fmt.Errorf("Mark of a missing Pod = %v, want an error naming it", err)
			}
			return nil
		}, map[string]string{"a": "", "b": "", "crashed": "", "neighbour": "leader"}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := roleLabels(t, cp.Config, "gen")
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Fatalf("%s: role labels = %v, want %v", s.name, got, s.want)
		}
	}
	client, _ := corev1.NewForConfig(cp.Config)
	p, err := client.Pods("gen").Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Labels["app.kubernetes.io/name"] != "preview-generator" {
		t.Errorf("a's labels = %v: the patches dropped the app label", p.Labels)
	}
}
