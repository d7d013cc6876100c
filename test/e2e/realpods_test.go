//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// The real-pod scenario's inputs. Preview names follow docs/contract.md:
// <repo slug>-pr-<number>-<first 6 hex of sha256(repository)>.
const (
	rpBackendNumber  = 31
	rpFrontendNumber = 32
	rpBackend        = "backend-pr-31-58d661"
	rpFrontend       = "frontend-pr-32-cdf85e"
	rpBackendHost    = rpBackend + "." + domain
	rpFrontendHost   = rpFrontend + "." + domain
	// rpStagingNS runs the backend's staging: the sample app with APP_NAME=staging behind
	// Service app (80 -> 8080), as rpServerConfig's catalog says.
	rpStagingNS = "staging"
	// rpIntruderNS is a namespace that looks like a preview's (the managed-by label) but is no
	// dependency of anything: its pod must reach no preview's app or database.
	rpIntruderNS = "e2e-rp-intruder"
	rpCredsNS    = "preview-system"
	rpUser       = "reviewer"
	rpPassword   = "e2e-real-pods-password"
	rpAppImage   = "preview-generator.local/sample-app:dev"
	// rpSeedRows and rpLatestMigration are what seed v1 plus the sample app's migrations hold.
	rpSeedRows        = 5
	rpLatestMigration = "0004"
	// rpAPIServerPort is where pods reach the API server (Service kubernetes, 10.0.0.1:443):
	// the test forwards the node's address on this port to the stack's API server, which listens
	// on loopback only. 6443 is a port the db-credentials Job's egress policy admits.
	rpAPIServerPort = 6443
	// rpServerConfig is the generator's --config. The backend's catalog input equals the backend
	// ApplicationSet's input as the test rewrites it (rpExtraInput). Staging is in-cluster, so a
	// frontend on staging reaches rpStagingNS through its edge.
	rpServerConfig = `version: 1
services:
  backend:
    repository: acme/backend
    service: app
    port: 80
    targetPort: 8080
    staging:
      url: http://app.staging.svc.cluster.local
      publicURL: https://backend.staging.example.com
      namespace: staging
      ports: [8080]
    input:
      label: preview
      ttl: 1h
      basicAuth: true
      database: true
      redis: false
      mongodb: false
      seedVersion: v1
      migrateCommand: sample-app migrate
      sizeProfile: small
`
)

// rpExtraInput turns off what has no image on this machine (Redis, MongoDB) and runs the sample
// app's migrations; both ApplicationSets get it.
var rpExtraInput = map[string]any{
	"ttl":            "1h",
	"redis":          false,
	"mongodb":        false,
	"migrateCommand": "sample-app migrate",
}

// rpImages points the manifests' images at the ones hack/images built and node-up.sh imported
// into the node's containerd (no registry is reachable here).
var rpImages = map[string]string{
	"preview-edge": "preview-generator.local/edge:v7.15.6",
	"ghcr.io/preview-generator/seed-postgres": "preview-generator.local/seed-postgres:v1",
	"docker.io/curlimages/curl":               "preview-generator.local/curl:dev",
}

// rpInfo is the sample app's /api/info answer (examples/sample-app).
type rpInfo struct {
	App       string `json:"app"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Host      string `json:"preview_host"`
	PR        string `json:"pr_number"`
	Database  struct {
		Configured      bool     `json:"configured"`
		SeedRows        int64    `json:"seed_rows"`
		LatestMigration string   `json:"latest_migration"`
		Migrations      []string `json:"migrations"`
		Error           string   `json:"error"`
	} `json:"database"`
}

// rpBackendReport is the sample app's /backend answer: what its BACKEND_URL answered.
type rpBackendReport struct {
	App        string `json:"app"`
	Host       string `json:"preview_host"`
	BackendURL string `json:"backend_url"`
	Status     int    `json:"status"`
	Backend    rpInfo `json:"backend"`
	Error      string `json:"error"`
}

// gateway sends requests to the Gateway's loopback entrypoint with a preview's Host header.
type gateway struct {
	url string
	c   *http.Client
}

// get does GET path on host; with creds it sends the reviewer's basic auth; accept, if set, is
// the Accept header.
func (g gateway) get(ctx context.Context, host, path string, creds bool, accept string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	if creds {
		req.SetBasicAuth(rpUser, rpPassword)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := g.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// apiInfo checks that GET /api/info on host with credentials answers 200 and that check accepts
// the answer.
func (g gateway) apiInfo(host string, check func(rpInfo) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		code, body, err := g.get(ctx, host, "/api/info", true, "application/json")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET %s/api/info: %d %.300s", host, code, body)
		}
		var in rpInfo
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			return fmt.Errorf("GET %s/api/info: %w: %.300s", host, err, body)
		}
		return check(in)
	}
}

// migratedSeed accepts an answer of the backend preview itself with want seeded rows.
func migratedSeed(want int64) func(rpInfo) error {
	return func(in rpInfo) error {
		if in.Host != rpBackendHost || in.PR != fmt.Sprint(rpBackendNumber) {
			return fmt.Errorf("answered by %q (host %q, PR %q), want the backend preview", in.App, in.Host, in.PR)
		}
		d := in.Database
		if !d.Configured || d.Error != "" || d.SeedRows != want || d.LatestMigration != rpLatestMigration {
			return fmt.Errorf("database: configured=%t seed_rows=%d latest_migration=%q error=%q; want %d rows, migration %s",
				d.Configured, d.SeedRows, d.LatestMigration, d.Error, want, rpLatestMigration)
		}
		return nil
	}
}

// forwardAPIServer lets pods reach the API server as Service kubernetes (10.0.0.1:443). The
// stack's kube-apiserver listens on loopback and runs without an endpoint reconciler, so the
// Service has no endpoint; the db component's credentials Job needs one. The test listens on
// the node's address (the pods' gateway) and copies each connection to the API server (TLS
// passes through: its certificate names kubernetes.default.svc), and gives Service kubernetes
// an EndpointSlice with that address.
func forwardAPIServer(t *testing.T, nodeIP string) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(nodeIP, fmt.Sprint(rpAPIServerPort)))
	if err != nil {
		t.Fatalf("listening for pods' API server connections: %v", err)
	}
	api := localPort(27443)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.DialTimeout("tcp", api, 5*time.Second)
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	st.apply(t, fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes-e2e
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: preview-e2e}
addressType: IPv4
endpoints: [{addresses: [%s], conditions: {ready: true}}]
ports: [{name: https, port: %d, protocol: TCP}]
`, nodeIP, rpAPIServerPort))
	t.Cleanup(func() {
		ln.Close()
		st.deleteObjects(t, time.Minute, "-n", "default", "endpointslice", "kubernetes-e2e")
	})
}

// readyPod returns the one pod of namespace matching selector, Running and Ready on node (and
// not being deleted).
func (s *stack) readyPod(ctx context.Context, namespace, selector, node string) (*corev1.Pod, error) {
	var list corev1.PodList
	if err := s.getJSON(ctx, &list, "-n", namespace, "pods", "-l", selector); err != nil {
		return nil, err
	}
	var live []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			live = append(live, p)
		}
	}
	if len(live) != 1 {
		return nil, fmt.Errorf("%d live pods %s in %s, want 1", len(live), selector, namespace)
	}
	return s.runningReady(ctx, namespace, live[0].Name, node)
}

// podsReady waits until each selector's pod in namespace is Running and Ready and returns them.
func podsReady(t *testing.T, n *realNode, namespace string, timeout time.Duration, selectors ...string) map[string]*corev1.Pod {
	t.Helper()
	out := map[string]*corev1.Pod{}
	for _, sel := range selectors {
		eventually(t, timeout, "pod "+sel+" in "+namespace+" Running and Ready on the real node", func(ctx context.Context) error {
			p, err := st.readyPod(ctx, namespace, sel, n.name)
			out[sel] = p
			return err
		})
	}
	return out
}

const (
	selApp      = "app.kubernetes.io/name=preview-app"
	selEdge     = "app.kubernetes.io/name=preview-edge"
	selPostgres = "app.kubernetes.io/name=postgres"
)

// TestRealPodsPreview is the scenario on real pods: the generator (real binary, fake GitHub),
// the project's appsets/ and kustomize/ synced by Argo CD onto the real node, served by Traefik
// on Gateway preview-gateway/previews, isolated by kube-router. Its steps:
//  1. labelling a backend PR gives Running and Ready pods (app, edge, PostgreSQL); through the
//     Gateway, no credentials get 401 (or the sign-in page), the reviewer's get 200 and the
//     seeded, migrated database;
//  2. a frontend PR whose .preview.yaml points backend at that PR reaches it on its own host's
//     /api/; the frontend's pods reach the backend's app, an unrelated namespace's pod reaches
//     neither preview's app nor database;
//  3. deleting the database pod resets it to the seed, and the migrations run again;
//  4. closing the backend PR rolls the frontend's pods onto staging and removes the backend;
//  5. label → first 200 through the Gateway is measured (logs/timings.txt).
func TestRealPodsPreview(t *testing.T) {
	n := needRealNode(t)
	nodeIP := st.env["PREVIEW_E2E_NODE_IP"]
	if nodeIP == "" {
		t.Fatalf("the stack's env file has no PREVIEW_E2E_NODE_IP")
	}
	start := time.Now()
	var timings []string
	record := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		t.Log(line)
		timings = append(timings, line)
	}
	gw := gateway{url: n.gatewayURL, c: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	realGateway.Store(true)
	t.Cleanup(func() { realGateway.Store(false) })
	for _, ns := range []string{rpStagingNS, rpIntruderNS} {
		st.deleteObjects(t, 2*time.Minute, "namespace", ns)
	}
	st.useRealNode(t, n)
	forwardAPIServer(t, nodeIP)

	// The reviewer's credentials: the source Secret the generator copies into each preview
	// namespace as preview-auth (htpasswd; bcrypt at its lowest cost, so that the many
	// requests below stay cheap).
	hash, err := bcrypt.GenerateFromPassword([]byte(rpPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd, err := json.Marshal(rpUser + ":" + string(hash) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	st.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: preview-auth-source, namespace: %[1]s}
stringData: {htpasswd: %[2]s}
---
apiVersion: v1
kind: Namespace
metadata: {name: %[3]s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: %[3]s}
spec:
  selector: {matchLabels: {app: backend-staging}}
  template:
    metadata: {labels: {app: backend-staging}}
    spec:
      terminationGracePeriodSeconds: 1
      enableServiceLinks: false
      containers:
      - name: app
        image: %[4]s
        env: [{name: APP_NAME, value: staging}]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: %[3]s}
spec:
  selector: {app: backend-staging}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Namespace
metadata: {name: %[5]s, labels: {app.kubernetes.io/managed-by: preview-generator}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: %[5]s}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: client, image: %[6]s}]
`, rpCredsNS, htpasswd, rpStagingNS, rpAppImage, rpIntruderNS, rnPause))
	t.Cleanup(func() {
		for _, ns := range []string{rpStagingNS, rpIntruderNS} {
			st.deleteObjects(t, 2*time.Minute, "namespace", ns, "--wait=false")
		}
		st.deleteObjects(t, time.Minute, "-n", rpCredsNS, "secret", "preview-auth-source")
	})

	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.RequireToken(githubToken)
	gh.AddRepo(backendRepo)
	gh.AddRepo(frontendRepo)
	repoURL := st.pushGitOpsRepo(t, "gitops-realpods", map[string]string{"kustomize": "kustomize", "appsets": "appsets"})
	deps, appsetManifest, appsets := appsetManifests(t, installOptions{
		repoURL:    repoURL,
		baseURL:    "http://" + generatorAddr,
		token:      pluginToken,
		requeue:    requeueSeconds,
		extraInput: rpExtraInput,
		images:     rpImages,
	})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "plugin-token")
	configFile := filepath.Join(dir, "generator.yaml")
	for f, body := range map[string]string{tokenFile: pluginToken + "\n", configFile: rpServerConfig} {
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	startGenerator(t, "serve",
		"--config", configFile,
		"--listen", generatorAddr,
		"--plugin-token-file", tokenFile,
		"--github-url", gh.URL(),
		"--github-token", githubToken,
		"--repos", backendRepo+","+frontendRepo,
		"--resync-interval", resync.String(),
		"--github-timeout", "3s",
		"--domain", domain,
		"--registry", "preview-generator.local",
		"--image-template", "{registry}/sample-app:dev",
		"--namespace-credentials",
		"--credentials-namespace", rpCredsNS,
		"--kubeconfig", st.kubeconfig,
		"--refresh-appsets",
		"--log-format", "text",
	)
	removeAppSets(t, appsets)
	st.apply(t, deps)
	eventually(t, 30*time.Second, "plugin ConfigMap readable", st.exists("-n", "argocd", "configmap", "preview-generator"))
	time.Sleep(2 * time.Second) // let the ApplicationSet controller's informer see it
	st.apply(t, appsetManifest)
	t.Cleanup(func() { removeAppSets(t, appsets) })

	staging := podsReady(t, n, rpStagingNS, 3*time.Minute, "app=backend-staging")["app=backend-staging"]
	var intruder podNet
	eventually(t, 2*time.Minute, "intruder pod Running", func(ctx context.Context) error {
		p, err := st.runningReady(ctx, rpIntruderNS, "client", n.name)
		if err != nil {
			return err
		}
		intruder, err = st.podNetOf(ctx, p)
		return err
	})

	var backendPods map[string]*corev1.Pod
	t.Run("1-backend-label-serves-through-gateway", func(t *testing.T) {
		labelled := time.Now()
		gh.OpenPR(githubtest.PullRequest{
			Repo: backendRepo, Number: rpBackendNumber, Title: "Real pods", HeadBranch: "feature/real-pods",
			HeadSHA: sha1, CreatedAt: labelled.UTC().Truncate(time.Second), CommittedAt: labelled.UTC().Add(-time.Minute),
			Labels: []string{previewLabel},
		})
		eventually(t, 5*time.Minute, "backend /api/info answers 200 with the seeded, migrated database through the Gateway",
			gw.apiInfo(rpBackendHost, migratedSeed(rpSeedRows)))
		record("real pods: label -> first 200 through the Gateway (backend with PostgreSQL, seeded and migrated): %s",
			time.Since(labelled).Round(100*time.Millisecond))
		backendPods = podsReady(t, n, rpBackend, time.Minute, selApp, selEdge, selPostgres)

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, c := range []struct {
			what, path, accept string
			creds              bool
			want               int
			body               string
		}{
			{"no credentials, API", "/api/info", "application/json", false, http.StatusUnauthorized, ""},
			{"no credentials, JSON client", "/", "application/json", false, http.StatusUnauthorized, ""},
			{"no credentials, browser: the sign-in page", "/", "text/html", false, http.StatusForbidden, "/oauth2/sign_in"},
			{"credentials, browser", "/", "text/html", true, http.StatusOK, ""},
		} {
			code, body, err := gw.get(ctx, rpBackendHost, c.path, c.creds, c.accept)
			if err != nil {
				t.Errorf("%s: GET %s: %v", c.what, c.path, err)
				continue
			}
			if code != c.want || !strings.Contains(body, c.body) {
				t.Errorf("%s: GET %s: %d %.200q; want %d with %q", c.what, c.path, code, body, c.want, c.body)
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw.url+"/api/info", nil)
		req.Host = rpBackendHost
		req.SetBasicAuth(rpUser, "wrong-"+rpPassword)
		if resp, err := gw.c.Do(req); err != nil {
			t.Errorf("wrong password: %v", err)
		} else {
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("wrong password: GET /api/info: %d, want 401", resp.StatusCode)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("2-frontend-reaches-backend-preview-isolated", func(t *testing.T) {
		gh.AddFile(frontendRepo, ".preview.yaml", sha5, []byte(fmt.Sprintf("version: 1\ndependencies:\n  backend: pr-%d\n", rpBackendNumber)))
		labelled := time.Now()
		gh.OpenPR(githubtest.PullRequest{
			Repo: frontendRepo, Number: rpFrontendNumber, Title: "Use the real-pods API", HeadSHA: sha5,
			CreatedAt: labelled.UTC().Truncate(time.Second), CommittedAt: labelled.UTC(), Labels: []string{previewLabel},
		})
		eventually(t, 5*time.Minute, "frontend host's /api/info answered by the backend preview", gw.apiInfo(rpFrontendHost, migratedSeed(rpSeedRows)))
		record("real pods: label -> first 200 through the Gateway (frontend, /api/ on the backend preview): %s",
			time.Since(labelled).Round(100*time.Millisecond))
		front := podsReady(t, n, rpFrontend, time.Minute, selApp, selEdge)

		// The frontend's app calls BACKEND_URL (the backend preview's in-cluster URL) itself.
		eventually(t, time.Minute, "the frontend's app reaches the backend preview at BACKEND_URL", func(ctx context.Context) error {
			code, body, err := gw.get(ctx, rpFrontendHost, "/backend", true, "application/json")
			if err != nil {
				return err
			}
			var rep rpBackendReport
			if err := json.Unmarshal([]byte(body), &rep); err != nil || code != http.StatusOK {
				return fmt.Errorf("GET /backend: %d %.300s (%v)", code, body, err)
			}
			if rep.Host != rpFrontendHost || rep.Status != http.StatusOK || rep.Backend.Host != rpBackendHost {
				return fmt.Errorf("GET /backend: %+v", rep)
			}
			return nil
		})

		ctx := context.Background()
		backendApp := net.JoinHostPort(backendPods[selApp].Status.PodIP, "8080")
		backendDB := net.JoinHostPort(backendPods[selPostgres].Status.PodIP, "5432")
		frontendApp := net.JoinHostPort(front[selApp].Status.PodIP, "8080")
		for _, sel := range []string{selApp, selEdge} {
			pn, err := st.podNetOf(ctx, front[sel])
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "the frontend's "+sel+" pod reaches the backend's app on 8080",
				answers200(pn, "http://"+backendApp+"/healthz"))
			eventually(t, 30*time.Second, "the frontend's "+sel+" pod is refused at the backend's database",
				refused(pn, backendDB))
		}
		// The intruder's network works (staging has no policy)...
		eventually(t, 30*time.Second, "the intruder reaches staging", answers200(intruder, "http://"+net.JoinHostPort(staging.Status.PodIP, "8080")+"/healthz"))
		// ...and no preview admits it.
		consistently(t, 5*time.Second, "the intruder is refused at both previews' apps and at the database", func(ctx context.Context) error {
			for _, addr := range []string{backendApp, backendDB, frontendApp} {
				if err := refused(intruder, addr)(ctx); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("3-database-reset-migrates-again", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var creds corev1.Secret
		if err := st.getJSON(ctx, &creds, "-n", rpBackend, "secret", "db-credentials"); err != nil {
			t.Fatal(err)
		}
		old := backendPods[selPostgres]
		// A row written by the preview: the reset must drop it.
		if out, err := st.kubectl(ctx, nil, "-n", rpBackend, "exec", old.Name, "-c", "postgres", "--",
			"env", "PGPASSWORD="+string(creds.Data["password"]), "psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "app",
			"-v", "ON_ERROR_STOP=1", "-c",
			"INSERT INTO customers (id, email, full_name, country, created_at) VALUES (990001, 'reset-probe@example.test', 'Reset Probe', 'NL', now())"); err != nil {
			t.Fatalf("inserting a row: %v\n%s", err, out)
		}
		eventually(t, 30*time.Second, "the app sees the inserted row", gw.apiInfo(rpBackendHost, migratedSeed(rpSeedRows+1)))

		deleted := time.Now()
		if _, err := st.kubectl(ctx, nil, "-n", rpBackend, "delete", "pod", old.Name, "--wait=false"); err != nil {
			t.Fatal(err)
		}
		var fresh *corev1.Pod
		eventually(t, 3*time.Minute, "a new database pod Running and Ready (seeded and migrated)", func(ctx context.Context) error {
			p, err := st.readyPod(ctx, rpBackend, selPostgres, n.name)
			if err != nil {
				return err
			}
			if p.UID == old.UID {
				return fmt.Errorf("still the old pod %s", p.Name)
			}
			fresh = p
			return nil
		})
		eventually(t, 2*time.Minute, "the app answers on the reset database: the seed's rows, migrated again",
			gw.apiInfo(rpBackendHost, migratedSeed(rpSeedRows)))
		record("real pods: database pod deleted -> app answers on the re-seeded, re-migrated database: %s",
			time.Since(deleted).Round(100*time.Millisecond))
		logs, err := st.kubectl(ctx, nil, "-n", rpBackend, "logs", fresh.Name, "-c", "migrate")
		if err != nil {
			t.Fatal(err)
		}
		// A fresh copy of the seed: every migration is applied again, none was there already.
		for _, v := range []string{"0001", rpLatestMigration} {
			if !strings.Contains(string(logs), "migrate: applying "+v) {
				t.Errorf("the new database pod's migrate container did not apply %s:\n%s", v, logs)
			}
		}
		if strings.Contains(string(logs), "migrate: already applied") {
			t.Errorf("the new database pod's migrations were already applied (no reset?):\n%s", logs)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("4-backend-closed-frontend-rolls-to-staging", func(t *testing.T) {
		ctx := context.Background()
		before := map[string]*corev1.Pod{}
		for _, sel := range []string{selApp, selEdge} {
			p, err := st.readyPod(ctx, rpFrontend, sel, n.name)
			if err != nil {
				t.Fatal(err)
			}
			before[sel] = p
		}
		closed := time.Now()
		gh.ClosePR(backendRepo, rpBackendNumber, closed)
		eventually(t, 4*time.Minute, "frontend host's /api/info answered by staging", gw.apiInfo(rpFrontendHost, func(in rpInfo) error {
			if in.App != "staging" {
				return fmt.Errorf("answered by %q (host %q)", in.App, in.Host)
			}
			return nil
		}))
		record("real pods: backend PR closed -> frontend /api/ on staging: %s", time.Since(closed).Round(100*time.Millisecond))
		for _, sel := range []string{selApp, selEdge} {
			eventually(t, 2*time.Minute, "the frontend's "+sel+" pod rolled", func(ctx context.Context) error {
				p, err := st.readyPod(ctx, rpFrontend, sel, n.name)
				if err != nil {
					return err
				}
				if p.UID == before[sel].UID || p.Labels["pod-template-hash"] == before[sel].Labels["pod-template-hash"] {
					return fmt.Errorf("pod %s (template %s) is the one before the close", p.Name, p.Labels["pod-template-hash"])
				}
				return nil
			})
		}
		eventually(t, time.Minute, "the frontend's app calls staging at BACKEND_URL", func(ctx context.Context) error {
			code, body, err := gw.get(ctx, rpFrontendHost, "/backend", true, "application/json")
			if err != nil {
				return err
			}
			var rep rpBackendReport
			if err := json.Unmarshal([]byte(body), &rep); err != nil || code != http.StatusOK {
				return fmt.Errorf("GET /backend: %d %.300s (%v)", code, body, err)
			}
			if !strings.HasPrefix(rep.BackendURL, "http://app.staging.svc.cluster.local") || rep.Backend.App != "staging" {
				return fmt.Errorf("GET /backend: %+v", rep)
			}
			return nil
		})
		eventually(t, 3*time.Minute, "Application "+rpBackend+" deleted", st.gone("-n", "argocd", "application", rpBackend))
		eventually(t, 3*time.Minute, "namespace "+rpBackend+" and its pods gone", func(ctx context.Context) error {
			if err := st.gone("namespace", rpBackend)(ctx); err != nil {
				return err
			}
			var pods corev1.PodList
			if err := st.getJSON(ctx, &pods, "-n", rpBackend, "pods"); err != nil && !errors.Is(err, errNotFound) {
				return err
			}
			if len(pods.Items) > 0 {
				return fmt.Errorf("%d pods left in %s", len(pods.Items), rpBackend)
			}
			return nil
		})
		code, _, err := gw.get(ctx, rpBackendHost, "/api/info", true, "application/json")
		if err != nil || code != http.StatusNotFound {
			t.Errorf("the closed backend's host through the Gateway: %d, %v; want 404", code, err)
		}
	})
	record("real pods: whole test: %s", time.Since(start).Round(time.Second))
	appendTimings(t, "TestRealPodsPreview", timings)
}
