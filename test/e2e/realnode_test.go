//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// realNode describes the real node that hack/e2e/node-up.sh joined to the stack (E2E_REAL_NODE=1).
type realNode struct {
	name       string // Node name
	dnsIP      string // CoreDNS on the host, the pods' nameserver
	gatewayURL string // Traefik's entrypoint for Gateway preview-gateway/previews
}

// needRealNode returns the real node, or skips the test when the stack has none, unless
// PREVIEW_REQUIRE_REAL_NODE=1 (CI), where a missing node fails it.
func needRealNode(t *testing.T) *realNode {
	t.Helper()
	n := &realNode{name: st.env["PREVIEW_E2E_REAL_NODE"], dnsIP: st.env["PREVIEW_E2E_DNS_IP"], gatewayURL: st.env["PREVIEW_E2E_GATEWAY_URL"]}
	if n.name == "" || n.dnsIP == "" || n.gatewayURL == "" {
		if os.Getenv("PREVIEW_REQUIRE_REAL_NODE") == "1" {
			t.Fatalf("PREVIEW_REQUIRE_REAL_NODE=1 but the stack has no real node: start it with E2E_REAL_NODE=1 hack/e2e/up.sh")
		}
		t.Skip("no real node in this stack (E2E_REAL_NODE=1 hack/e2e/up.sh starts one)")
	}
	return n
}

// schedulable marks node as (un)schedulable (kubectl uncordon / cordon).
func (s *stack) schedulable(t *testing.T, node string, on bool) {
	t.Helper()
	verb := "cordon"
	if on {
		verb = "uncordon"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.kubectl(ctx, nil, verb, node); err != nil {
		t.Fatalf("%s %s: %v", verb, node, err)
	}
}

// useRealNode makes new pods land on the real node for the rest of the test: the kwok node is
// cordoned and the real one uncordoned; both are put back when the test ends, so the kwok tests'
// pods keep landing on the kwok node.
func (s *stack) useRealNode(t *testing.T, n *realNode) {
	t.Helper()
	s.schedulable(t, "kwok-node-0", false)
	s.schedulable(t, n.name, true)
	t.Cleanup(func() {
		s.schedulable(t, n.name, false)
		s.schedulable(t, "kwok-node-0", true)
	})
}

// pod returns one Pod.
func (s *stack) pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	var p corev1.Pod
	if err := s.getJSON(ctx, &p, "-n", namespace, "pod", name); err != nil {
		return nil, err
	}
	return &p, nil
}

// runningReady checks that the pod runs on node, is Running and Ready, and returns it.
func (s *stack) runningReady(ctx context.Context, namespace, name, node string) (*corev1.Pod, error) {
	p, err := s.pod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if p.Spec.NodeName != node {
		return nil, fmt.Errorf("pod %s/%s is on node %q, want %q", namespace, name, p.Spec.NodeName, node)
	}
	if p.Status.Phase != corev1.PodRunning {
		return nil, fmt.Errorf("pod %s/%s is %s: %s", namespace, name, p.Status.Phase, containerStates(p))
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s is Running but not Ready: %s", namespace, name, containerStates(p))
}

func containerStates(p *corev1.Pod) string {
	var b strings.Builder
	for _, c := range p.Status.ContainerStatuses {
		fmt.Fprintf(&b, "%s ready=%t", c.Name, c.Ready)
		if w := c.State.Waiting; w != nil {
			fmt.Fprintf(&b, " waiting %s %s", w.Reason, w.Message)
		}
		if c.State.Terminated != nil {
			fmt.Fprintf(&b, " terminated %s", c.State.Terminated.Reason)
		}
		b.WriteString("; ")
	}
	return b.String()
}

// podNet dials from inside a pod's network namespace: the connection leaves from the pod's
// address, through its veth and the node's bridge, so NetworkPolicy and kube-proxy treat it as
// the pod's own traffic. The pod's containers need no client tools (the client pods run only
// the pause image).
type podNet struct {
	pid int // a process of the pod (its container's init)
}

// podNetOf finds the host pid of the pod's first container through the node's containerd.
func (s *stack) podNetOf(ctx context.Context, p *corev1.Pod) (podNet, error) {
	if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].ContainerID == "" {
		return podNet{}, fmt.Errorf("pod %s/%s has no container yet", p.Namespace, p.Name)
	}
	id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	// containerd records each task's pid in its state dir: <state>/io.containerd.runtime.v2.task/k8s.io/<id>/init.pid
	b, err := os.ReadFile(filepath.Join(st.dir, "node", "containerd", "state", "io.containerd.runtime.v2.task", "k8s.io", id, "init.pid"))
	if err != nil {
		return podNet{}, fmt.Errorf("pid of container %s of pod %s/%s: %w", id, p.Namespace, p.Name, err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		return podNet{}, fmt.Errorf("pid of container %s: %q: %w", id, b, err)
	}
	return podNet{pid: pid}, nil
}

// dial connects from the pod's network namespace. The socket is created on an OS thread that
// has joined the namespace; the thread goes back to the host's namespace afterwards (or, if that
// fails, dies with its goroutine).
func (n podNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			ch <- result{err: fmt.Errorf("own network namespace: %w", err)}
			return
		}
		defer home.Close()
		pod, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", n.pid))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("pod's network namespace: %w", err)}
			return
		}
		defer pod.Close()
		if err := setns(pod); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("entering the pod's network namespace: %w", err)}
			return
		}
		d := net.Dialer{Timeout: 3 * time.Second}
		c, err := d.DialContext(ctx, network, addr)
		if setns(home) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }

// get does GET url from the pod's network namespace and returns status and body.
func (n podNet) get(ctx context.Context, url string) (int, string, error) {
	c := &http.Client{Transport: &http.Transport{DialContext: n.dial, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	return httpGet(ctx, c, url, "")
}

// lookup resolves name (fully qualified) from the pod's network namespace, asking nameserver.
func (n podNet) lookup(ctx context.Context, nameserver, name string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return n.dial(ctx, network, net.JoinHostPort(nameserver, "53"))
	}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return r.LookupHost(ctx, name)
}

// resolvConf reads /etc/resolv.conf as the pod's container sees it.
func (n podNet) resolvConf() (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/etc/resolv.conf", n.pid))
	if err != nil {
		return "", fmt.Errorf("the pod's resolv.conf: %w", err)
	}
	return string(b), nil
}

// httpGet does GET url (with Host header host, if set) and returns status and body.
func httpGet(ctx context.Context, c *http.Client, url, host string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// answers200 checks that GET url from client answers 200.
func answers200(client podNet, url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		code, body, err := client.get(ctx, url)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", url, code, body)
		}
		return nil
	}
}

// refused checks that a TCP connection from client to addr cannot be made: kube-router REJECTs
// what no policy admits (connection refused), a DROP would time out.
func refused(client podNet, addr string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		c, err := client.dial(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return fmt.Errorf("connected to %s", addr)
		}
		var ne net.Error
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil
		}
		return fmt.Errorf("dial %s failed, but not by a firewall: %w", addr, err)
	}
}

const (
	rnServerNS  = "e2e-rn-server"
	rnAllowedNS = "e2e-rn-allowed"
	rnOtherNS   = "e2e-rn-other"
	rnHost      = "rn.preview.test"
	rnImage     = "preview-generator.local/generator:dev"
	rnPause     = "registry.k8s.io/pause:3.6"
)

// TestRealNode runs real pods on the real node (kubelet, containerd, runc, CNI bridge) and checks
// what kwok cannot show: a pod becomes Running and Ready through its readiness probe and serves
// HTTP on its pod IP; a Service's ClusterIP (kube-proxy) and its DNS name (CoreDNS) work from
// another pod; NetworkPolicy (kube-router) drops a pod of another namespace while admitting the
// namespace an allow rule names, and pods under default-deny egress resolve names only through an
// ipBlock rule for the node-local DNS address; an HTTPRoute on Gateway preview-gateway/previews
// serves through Traefik on loopback.
func TestRealNode(t *testing.T) {
	n := needRealNode(t)
	for _, ns := range []string{rnServerNS, rnAllowedNS, rnOtherNS} {
		st.deleteObjects(t, 2*time.Minute, "namespace", ns)
	}
	st.useRealNode(t, n)
	t.Cleanup(func() {
		for _, ns := range []string{rnServerNS, rnAllowedNS, rnOtherNS} {
			st.deleteObjects(t, 2*time.Minute, "namespace", ns, "--wait=false")
		}
	})
	start := time.Now()
	st.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s, labels: {app.kubernetes.io/managed-by: preview-generator}}
---
apiVersion: v1
kind: Namespace
metadata: {name: %[2]s, labels: {e2e-client: allowed}}
---
apiVersion: v1
kind: Namespace
metadata: {name: %[3]s}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: %[1]s, labels: {app: app}}
spec:
  terminationGracePeriodSeconds: 1
  enableServiceLinks: false
  containers:
  - name: app
    image: %[4]s
    args: [serve, --demo, --listen, ":8080"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /readyz, port: http}
      periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: %[1]s}
spec:
  selector: {app: app}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: %[2]s}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: client, image: %[5]s}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: %[3]s}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: client, image: %[5]s}]
`, rnServerNS, rnAllowedNS, rnOtherNS, rnImage, rnPause))

	var server *corev1.Pod
	ready := eventually(t, 3*time.Minute, "server pod Running and Ready on the real node", func(ctx context.Context) error {
		p, err := st.runningReady(ctx, rnServerNS, "app", n.name)
		server = p
		return err
	})
	clients := map[string]podNet{}
	for _, ns := range []string{rnAllowedNS, rnOtherNS} {
		eventually(t, 2*time.Minute, "client pod in "+ns+" Running", func(ctx context.Context) error {
			p, err := st.runningReady(ctx, ns, "client", n.name)
			if err != nil {
				return err
			}
			clients[ns], err = st.podNetOf(ctx, p)
			return err
		})
	}
	allowed, other := clients[rnAllowedNS], clients[rnOtherNS]
	var svc corev1.Service
	if err := st.getJSON(context.Background(), &svc, "-n", rnServerNS, "service", "app"); err != nil {
		t.Fatal(err)
	}
	podURL := "http://" + net.JoinHostPort(server.Status.PodIP, "8080") + "/healthz"
	svcURL := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/healthz"
	fqdn := "app." + rnServerNS + ".svc.cluster.local"
	var enforced time.Duration

	t.Run("pod IP, ClusterIP and DNS name from another pod", func(t *testing.T) {
		eventually(t, 30*time.Second, "GET the pod IP from a pod of another namespace", answers200(other, podURL))
		eventually(t, 30*time.Second, "GET the Service's ClusterIP from a pod of another namespace", answers200(other, svcURL))
		rc, err := other.resolvConf()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"nameserver " + n.dnsIP, "search " + rnOtherNS + ".svc.cluster.local svc.cluster.local cluster.local"} {
			if !strings.Contains(rc, want) {
				t.Errorf("the client pod's resolv.conf lacks %q:\n%s", want, rc)
			}
		}
		eventually(t, 30*time.Second, "resolve "+fqdn+" from a pod", func(ctx context.Context) error {
			addrs, err := other.lookup(ctx, n.dnsIP, fqdn+".")
			if err != nil {
				return err
			}
			if len(addrs) != 1 || addrs[0] != svc.Spec.ClusterIP {
				return fmt.Errorf("%s resolves to %v, want [%s]", fqdn, addrs, svc.Spec.ClusterIP)
			}
			return nil
		})
		eventually(t, 30*time.Second, "GET the Service by its DNS name from a pod", func(ctx context.Context) error {
			addrs, err := other.lookup(ctx, n.dnsIP, fqdn+".")
			if err != nil {
				return err
			}
			return answers200(other, "http://"+net.JoinHostPort(addrs[0], "80")+"/healthz")(ctx)
		})
	})

	t.Run("Gateway serves an HTTPRoute through Traefik", func(t *testing.T) {
		st.apply(t, fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: %s}
spec:
  parentRefs: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: preview-gateway, name: previews}]
  hostnames: [%s]
  rules: [{backendRefs: [{name: app, port: 80}]}]
`, rnServerNS, rnHost))
		gatewayServes(t, n, "before any NetworkPolicy")
	})

	t.Run("NetworkPolicy", func(t *testing.T) {
		eventually(t, 30*time.Second, "before any policy, a pod of another namespace reaches the pod IP", answers200(other, podURL))
		serverNet, err := st.podNetOf(context.Background(), server)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "before any policy, the server pod resolves names", func(ctx context.Context) error {
			_, err := serverNet.lookup(ctx, n.dnsIP, fqdn+".")
			return err
		})
		// default-deny for the server's namespace; only namespaces labelled e2e-client=allowed reach
		// the app's port. DNS: the base's kube-dns pod selector first, then the node-local address.
		applied := time.Now()
		st.apply(t, fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: %[1]s}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-from-allowed, namespace: %[1]s}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {e2e-client: allowed}}}]
    ports: [{protocol: TCP, port: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: %[1]s}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
`, rnServerNS))
		eventually(t, time.Minute, "a pod of another namespace is refused at the pod IP", refused(other, net.JoinHostPort(server.Status.PodIP, "8080")))
		enforced = time.Since(applied)
		t.Logf("kube-router enforced the new policies %s after kubectl apply started", enforced.Round(100*time.Millisecond))
		consistently(t, 5*time.Second, "a pod of another namespace stays refused at the pod IP and at the ClusterIP", func(ctx context.Context) error {
			if err := refused(other, net.JoinHostPort(server.Status.PodIP, "8080"))(ctx); err != nil {
				return err
			}
			return refused(other, net.JoinHostPort(svc.Spec.ClusterIP, "80"))(ctx)
		})
		eventually(t, 30*time.Second, "the allowed namespace reaches the pod IP", answers200(allowed, podURL))
		eventually(t, 30*time.Second, "the allowed namespace reaches the ClusterIP", answers200(allowed, svcURL))
		// readiness probes every second, three failures make it NotReady
		consistently(t, 5*time.Second, "the server pod stays Ready (the kubelet's probes come from the node)", func(ctx context.Context) error {
			_, err := st.runningReady(ctx, rnServerNS, "app", n.name)
			return err
		})
		consistently(t, 5*time.Second, "default-deny egress: the kube-dns pod selector does not admit the node-local DNS", func(ctx context.Context) error {
			if _, err := serverNet.lookup(ctx, n.dnsIP, fqdn+"."); err == nil {
				return fmt.Errorf("resolved %s from under default-deny egress", fqdn)
			}
			return nil
		})
		st.apply(t, fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-node-local-dns, namespace: %s}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: %s/32}}]
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
`, rnServerNS, n.dnsIP))
		eventually(t, time.Minute, "an ipBlock rule for the node-local DNS address admits DNS", func(ctx context.Context) error {
			_, err := serverNet.lookup(ctx, n.dnsIP, fqdn+".")
			return err
		})
		gatewayServes(t, n, "under default-deny (Traefik connects from the node)")
	})
	appendTimings(t, "TestRealNode", []string{
		fmt.Sprintf("real node: pod created -> Running and Ready: %s", ready.Round(100*time.Millisecond)),
		fmt.Sprintf("real node: NetworkPolicy applied -> enforced by kube-router: %s", enforced.Round(100*time.Millisecond)),
		fmt.Sprintf("real node: whole test: %s", time.Since(start).Round(time.Second)),
	})
}

// gatewayServes checks that Traefik serves the HTTPRoute of host rnHost on the Gateway's
// loopback entrypoint, and that an unknown host gets 404.
func gatewayServes(t *testing.T, n *realNode, when string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	eventually(t, time.Minute, "GET through the Gateway "+when, func(ctx context.Context) error {
		code, body, err := httpGet(ctx, c, n.gatewayURL+"/healthz", rnHost)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET %s/healthz (Host %s): %d %s", n.gatewayURL, rnHost, code, body)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, _, err := httpGet(ctx, c, n.gatewayURL+"/healthz", "unknown.preview.test")
	if err != nil || code != http.StatusNotFound {
		t.Errorf("GET through the Gateway for an unknown host: %d, %v; want 404", code, err)
	}
}
