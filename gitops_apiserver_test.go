package previewgenerator_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/render"
	"github.com/preview-generator/preview-generator/internal/render/rendertest"
)

// controlPlane is a throwaway etcd + kube-apiserver on loopback, started
// from the binaries in $PREVIEW_APISERVER_BIN (hack/e2e builds them: etcd,
// kube-apiserver, kubectl, argocd-crds/).
type controlPlane struct {
	bin, url, caFile, token string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess starts a process of ours and stops it (by its PID) at the
// end of the test.
func startProcess(t *testing.T, logFile, name string, args ...string) {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
	})
}

func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	bin := rendertest.APIServerBinDir(t)
	dir := t.TempDir()
	etcdPort, peerPort, apiPort := freePort(t), freePort(t), freePort(t)
	startProcess(t, filepath.Join(dir, "etcd.log"), filepath.Join(bin, "etcd"),
		"--name=gitops-test", "--data-dir="+filepath.Join(dir, "etcd"),
		fmt.Sprintf("--listen-client-urls=http://127.0.0.1:%d", etcdPort),
		fmt.Sprintf("--advertise-client-urls=http://127.0.0.1:%d", etcdPort),
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-cluster=gitops-test=http://127.0.0.1:%d", peerPort),
		"--unsafe-no-fsync")

	// Service-account signing key; the serving certificate is self-signed
	// by kube-apiserver in --cert-dir; the admin authenticates with a token.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	writeFile(t, pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	token := "gitops-test-admin-token"
	writeFile(t, filepath.Join(dir, "tokens.csv"), []byte(token+`,admin,admin,"system:masters"`+"\n"))
	certDir := filepath.Join(dir, "certs")
	startProcess(t, filepath.Join(dir, "apiserver.log"), filepath.Join(bin, "kube-apiserver"),
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--endpoint-reconciler-type=none", "--cert-dir="+certDir,
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pubFile, "--service-account-signing-key-file="+keyFile,
		"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=RBAC")
	cp := &controlPlane{bin: bin, url: fmt.Sprintf("https://127.0.0.1:%d", apiPort), caFile: filepath.Join(certDir, "apiserver.crt"), token: token}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := cp.kubectl(t, "", "get", "--raw=/readyz"); err == nil {
			return cp
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "apiserver.log"))
			t.Fatalf("kube-apiserver not ready after 90s:\n%s", tail(string(log), 3000))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// kubectl runs kubectl as the admin with stdin, returning its combined
// output.
func (cp *controlPlane) kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--server=" + cp.url, "--token=" + cp.token, "--insecure-skip-tls-verify=true"}
	cmd := exec.CommandContext(ctx, filepath.Join(cp.bin, "kubectl"), append(base, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// apply applies manifests and fails on any error or warning (Pod Security
// admission warns about pod templates the namespace's levels refuse).
func (cp *controlPlane) apply(t *testing.T, what string, manifests []byte) {
	t.Helper()
	out, err := cp.kubectl(t, string(manifests), "apply", "-f", "-")
	if err != nil || strings.Contains(out, "Warning") {
		t.Fatalf("applying %s: %v\n%s", what, err, out)
	}
}

// TestManifestsOnAPIServer applies every rendered preview and the
// generator's install to a real kube-apiserver, then runs the db component's
// credentials script against it with the ServiceAccount the component
// creates: the Secret is created once, kept on the second run, and the
// account can neither read Secrets nor write them elsewhere.
func TestManifestsOnAPIServer(t *testing.T) {
	cp := startControlPlane(t)

	// Gateway API's CRDs: every preview renders an HTTPRoute, which the API
	// server validates against its schema.
	gw := filepath.Join(cp.bin, "gateway-api-crds")
	if !dirExists(gw) {
		t.Fatalf("%s lacks gateway-api-crds: rebuild it with hack/e2e/build.sh", cp.bin)
	}
	if out, err := cp.kubectl(t, "", "apply", "--server-side", "-f", gw); err != nil {
		t.Fatalf("kubectl apply %s: %v\n%s", gw, err, out)
	}
	waitEstablished(t, cp, "crd/httproutes.gateway.networking.k8s.io")

	withDeps := withDependencies()
	// The same preview again, on a claim and the large profile: applied
	// over the first, so the server validates the changed objects too.
	persistent := backendParams()
	persistent["db_persistent_enabled"] = "true"
	persistent["size_profile"] = "large"
	for _, tc := range []struct {
		file   string
		params map[string]string
	}{
		{"backend.yaml", backendParams()},
		{"frontend.yaml", withDeps},
		{"backend.yaml", persistent},
		{"backend.yaml", onSpot()},
	} {
		_, res, err := renderPreview(tc.file, tc.params)
		if err != nil {
			t.Fatal(err)
		}
		cp.apply(t, tc.params["name"], res.YAML)
	}
	// The Ingress variant, and every optional component of the edge, on a
	// preview of its own.
	variant := withStagingBackend()
	for _, k := range []string{"name", "namespace"} {
		variant[k] = "frontend-pr-8-cdf85e"
	}
	if _, res, err := renderVariant(t, "frontend.yaml", variant, "ingress"); err != nil {
		t.Fatal(err)
	} else {
		cp.apply(t, "the Ingress variant", res.YAML)
	}
	extra, err := render.Kustomize(previewgenerator.GitOps(), "kustomize/base", render.Options{Kustomize: &v1alpha1.ApplicationSourceKustomize{
		Namespace:  "frontend-pr-9-cdf85e",
		Components: []string{"../components/auth", "../components/auth-github", "../components/egress-internet"}}})
	if err != nil {
		t.Fatal(err)
	}
	cp.apply(t, "auth-github and egress-internet", extra.YAML)
	deploy, err := render.Kustomize(os.DirFS("deploy"), ".", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// deploy/ holds a Role in Argo CD's namespace, which must exist.
	if out, err := cp.kubectl(t, "", "create", "namespace", "argocd"); err != nil {
		t.Fatalf("creating namespace argocd: %v\n%s", err, out)
	}
	cp.apply(t, "deploy/", deploy.YAML)

	// Argo CD's CRDs, when the binaries directory has them: the API server
	// validates appsets/ against their schemas.
	if crds := filepath.Join(cp.bin, "argocd-crds"); dirExists(crds) {
		if out, err := cp.kubectl(t, "", "apply", "--server-side", "-f", crds); err != nil {
			t.Fatalf("kubectl apply %s: %v\n%s", crds, err, out)
		}
		waitEstablished(t, cp, "crd/applicationsets.argoproj.io", "crd/appprojects.argoproj.io")
		for _, f := range []string{"project", "plugin-configmap", "plugin-secret", "frontend", "backend", "notifications/argocd-notifications-cm"} {
			data, err := os.ReadFile(filepath.Join("appsets", f+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			cp.apply(t, "appsets/"+f+".yaml", data)
		}
	}

	// The credentials script, pointed at this API server and a directory
	// holding what the kubelet would mount for the ServiceAccount.
	ns := backendParams()["namespace"]
	_, res, err := renderPreview("backend.yaml", backendParams())
	if err != nil {
		t.Fatal(err)
	}
	job := findObj(res, "Job", "db-credentials")
	args, _, _ := unstructured.NestedSlice(job.Object, "spec", "template", "spec", "containers")
	script := args[0].(map[string]any)["args"].([]any)[0].(string)
	saDir := t.TempDir()
	token, err := cp.kubectl(t, "", "-n", ns, "create", "token", "db-credentials-writer")
	if err != nil {
		t.Fatalf("token: %v\n%s", err, token)
	}
	ca, err := os.ReadFile(cp.caFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(saDir, "token"), []byte(strings.TrimSpace(token)))
	writeFile(t, filepath.Join(saDir, "namespace"), []byte(ns))
	writeFile(t, filepath.Join(saDir, "ca.crt"), ca)
	for old, repl := range map[string]string{
		"sa=/var/run/secrets/kubernetes.io/serviceaccount": "sa=" + saDir,
		"https://kubernetes.default.svc/":                  cp.url + "/",
		"/tmp/response":                                    filepath.Join(saDir, "response"),
	} {
		if !strings.Contains(script, old) {
			t.Fatalf("credentials script no longer contains %q", old)
		}
		script = strings.ReplaceAll(script, old, repl)
	}
	run := func() string {
		out, err := exec.Command("sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("credentials script: %v\n%s", err, out)
		}
		return string(out)
	}
	password := func() string {
		out, err := cp.kubectl(t, "", "-n", ns, "get", "secret", "db-credentials", "-o", "json")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var s struct {
			Data map[string][]byte `json:"data"`
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatal(err)
		}
		if string(s.Data["username"]) != "postgres" || string(s.Data["database"]) != "app" {
			t.Errorf("Secret data = %v", s.Data)
		}
		return string(s.Data["password"])
	}
	if out := run(); !strings.Contains(out, "created Secret "+ns+"/db-credentials") {
		t.Errorf("first run: %s", out)
	}
	first := password()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(first) {
		t.Errorf("password %q, want 64 hex characters", first)
	}
	if out := run(); !strings.Contains(out, "exists, kept") {
		t.Errorf("second run: %s", out)
	}
	if second := password(); second != first {
		t.Errorf("second run changed the password")
	}
	sa := "system:serviceaccount:" + ns + ":db-credentials-writer"
	for _, tc := range []struct {
		ns, verb string
		want     bool
	}{
		{ns, "create", true},
		{ns, "get", false},
		{ns, "list", false},
		{ns, "update", false},
		{"frontend-pr-7-cdf85e", "create", false},
	} {
		out, _ := cp.kubectl(t, "", "-n", tc.ns, "auth", "can-i", tc.verb, "secrets", "--as="+sa)
		if got := strings.TrimSpace(out) == "yes"; got != tc.want {
			t.Errorf("can %s %s secrets in %s: %q, want %v", sa, tc.verb, tc.ns, out, tc.want)
		}
	}
}

// waitEstablished waits until the API server serves the CRDs named.
func waitEstablished(t *testing.T, cp *controlPlane, crds ...string) {
	t.Helper()
	// kubectl wait fails at once while a new CRD has no status yet.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out, err := cp.kubectl(t, "", append([]string{"wait", "--for=condition=Established", "--timeout=5s"}, crds...)...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRDs %v not established: %v\n%s", crds, err, out)
		}
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// onSpot is the backend preview as a preview of its own (its Job's pod
// template is immutable, and Argo CD recreates that hook at every sync) on
// a scheduling profile: the API server validates the node selector,
// tolerations and priority class the templatePatch puts on every pod
// template.
func onSpot() map[string]string {
	p := backendParams()
	p["name"], p["namespace"] = "backend-pr-13-58d661", "backend-pr-13-58d661"
	p["scheduling_profile"] = "spot"
	p["scheduling"] = `{"nodeSelector":{"cloud.google.com/gke-spot":"true"},"tolerations":[{"key":"cloud.google.com/gke-spot","operator":"Equal","value":"true","effect":"NoSchedule"},{"operator":"Exists","effect":"NoExecute","tolerationSeconds":60}],"priorityClassName":"preview-low"}`
	return p
}
