// Package kubetest starts a throwaway Kubernetes control plane for tests:
// etcd and kube-apiserver, as local processes on loopback, with RBAC
// authorization on and an admin that authenticates with a token. Tests get
// a *rest.Config and talk to a real API server, not a fake clientset.
//
// The binaries come from $PREVIEW_APISERVER_BIN (hack/e2e/build.sh builds
// etcd, kube-apiserver, kubectl and Argo CD's CRDs into one folder). Without
// it a test skips, unless $PREVIEW_REQUIRE_APISERVER is set (CI), which
// makes the missing control plane a failure.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Environment variables Start reads.
const (
	// BinEnv names the folder with etcd and kube-apiserver (and
	// argocd-crds/).
	BinEnv = "PREVIEW_APISERVER_BIN"
	// RequireEnv, when set, makes a missing BinEnv a failure, not a skip.
	RequireEnv = "PREVIEW_REQUIRE_APISERVER"
)

// startTimeout bounds the wait for kube-apiserver's /readyz.
const startTimeout = 90 * time.Second

// ControlPlane is a running etcd and kube-apiserver. Start stops it when
// the test ends.
type ControlPlane struct {
	// Config authenticates as an admin (group system:masters).
	Config *rest.Config
	// Bin is $PREVIEW_APISERVER_BIN.
	Bin string
	// Dir holds the data, keys and logs.
	Dir string

	mapper *restmapper.DeferredDiscoveryRESTMapper
	dyn    dynamic.Interface
}

// Start starts a control plane, waits until the API server is ready, and
// registers its shutdown with tb.Cleanup.
func Start(tb testing.TB) *ControlPlane {
	tb.Helper()
	bin := os.Getenv(BinEnv)
	if bin == "" {
		if os.Getenv(RequireEnv) != "" {
			tb.Fatalf("%s is set but %s is not: it must name a folder with etcd and kube-apiserver (hack/e2e/build.sh | tail -1)", RequireEnv, BinEnv)
		}
		tb.Skipf("skipping: set %s to a folder with etcd and kube-apiserver (hack/e2e/build.sh | tail -1 prints it); %s=1 makes this a failure", BinEnv, RequireEnv)
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			tb.Fatalf("%s=%s: %v", BinEnv, bin, err)
		}
	}
	dir := tb.TempDir()
	cp := &ControlPlane{Bin: bin, Dir: dir}

	etcdPort, peerPort, apiPort := freePort(tb), freePort(tb), freePort(tb)
	cp.start(tb, "etcd", filepath.Join(bin, "etcd"),
		"--name=kubetest", "--data-dir="+filepath.Join(dir, "etcd"),
		fmt.Sprintf("--listen-client-urls=http://127.0.0.1:%d", etcdPort),
		fmt.Sprintf("--advertise-client-urls=http://127.0.0.1:%d", etcdPort),
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-cluster=kubetest=http://127.0.0.1:%d", peerPort),
		"--unsafe-no-fsync")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyFile, pubFile, tokens := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub"), filepath.Join(dir, "tokens.csv")
	writeFile(tb, keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	writeFile(tb, pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	token := rand.Text()
	writeFile(tb, tokens, []byte(token+`,kubetest-admin,kubetest-admin,"system:masters"`+"\n"))
	cp.start(tb, "kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--endpoint-reconciler-type=none", "--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokens,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pubFile, "--service-account-signing-key-file="+keyFile,
		"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=RBAC")

	cp.Config = &rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", apiPort),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, // a self-signed serving certificate on loopback
		QPS:             100,
		Burst:           200,
	}
	cp.waitReady(tb)
	dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	if err != nil {
		tb.Fatal(err)
	}
	cp.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	if cp.dyn, err = dynamic.NewForConfig(cp.Config); err != nil {
		tb.Fatal(err)
	}
	return cp
}

// start runs a process of ours, logging to Dir/<name>.log, and kills it
// (by its PID) when the test ends.
func (cp *ControlPlane) start(tb testing.TB, name, path string, args ...string) {
	tb.Helper()
	log, err := os.Create(filepath.Join(cp.Dir, name+".log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", name, err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
	})
}

// Log returns the end of a process's log ("etcd", "kube-apiserver").
func (cp *ControlPlane) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(cp.Dir, name+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (cp *ControlPlane) waitReady(tb testing.TB) {
	tb.Helper()
	rt, err := rest.TransportFor(cp.Config)
	if err != nil {
		tb.Fatal(err)
	}
	hc := &http.Client{Transport: rt, Timeout: 5 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := hc.Get(cp.Config.Host + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("kube-apiserver not ready after %s: %v\n%s", startTimeout, err, cp.Log("kube-apiserver"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Dynamic returns an admin dynamic client.
func (cp *ControlPlane) Dynamic() dynamic.Interface { return cp.dyn }

// As returns a copy of Config that impersonates user in groups. The admin
// may impersonate anyone; RBAC then authorizes every request as user.
func (cp *ControlPlane) As(user string, groups ...string) *rest.Config {
	c := rest.CopyConfig(cp.Config)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return c
}

// AsServiceAccount returns a copy of Config that acts as the ServiceAccount
// namespace/name, with the groups a ServiceAccount token carries.
func (cp *ControlPlane) AsServiceAccount(namespace, name string) *rest.Config {
	return cp.As("system:serviceaccount:"+namespace+":"+name,
		"system:serviceaccounts", "system:serviceaccounts:"+namespace, "system:authenticated")
}

// CreateNamespace creates namespace name.
func (cp *ControlPlane) CreateNamespace(tb testing.TB, name string) {
	tb.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	_, err := cp.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).
		Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatalf("creating namespace %s: %v", name, err)
	}
}

// Apply server-side applies every document of manifests (YAML or JSON,
// "---"-separated) as the admin, and returns the objects as applied.
func (cp *ControlPlane) Apply(tb testing.TB, manifests []byte) []*unstructured.Unstructured {
	tb.Helper()
	objs, err := Decode(manifests)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		got, err := cp.apply(o)
		if err != nil {
			tb.Fatalf("applying %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		out = append(out, got)
	}
	return out
}

func (cp *ControlPlane) apply(o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := o.GroupVersionKind()
	m, err := cp.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		cp.mapper.Reset() // a CRD applied since the last lookup
		m, err = cp.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	data, err := o.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = cp.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := o.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		ri = cp.dyn.Resource(m.Resource).Namespace(ns)
	}
	force := true
	return ri.Patch(context.Background(), o.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: "kubetest", Force: &force})
}

// Decode splits manifests into objects, skipping empty documents.
func Decode(manifests []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("decoding manifests: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// InstallArgoCDCRDs applies the CRDs in $PREVIEW_APISERVER_BIN/argocd-crds
// and waits until they are established.
func (cp *ControlPlane) InstallArgoCDCRDs(tb testing.TB) {
	tb.Helper()
	dir := filepath.Join(cp.Bin, "argocd-crds")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no Argo CD CRDs in %s (hack/e2e/build.sh copies them): %v", dir, err)
	}
	var applied []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		applied = append(applied, cp.Apply(tb, data)...)
	}
	crds := cp.dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	deadline := time.Now().Add(60 * time.Second)
	for _, crd := range applied {
		for {
			o, err := crds.Get(context.Background(), crd.GetName(), metav1.GetOptions{})
			if err == nil && established(o) {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("CRD %s not established after 60s: %v", crd.GetName(), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The API server serves the resource a moment after Established.
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			name, _, _ := unstructured.NestedString(v.(map[string]any), "name")
			gvr := schema.GroupVersionResource{Group: group, Version: name, Resource: plural}
			for {
				_, err := cp.dyn.Resource(gvr).List(context.Background(), metav1.ListOptions{Limit: 1})
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					tb.Fatalf("%s not served after 60s: %v", gvr, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	cp.mapper.Reset()
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(tb testing.TB, name string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}
