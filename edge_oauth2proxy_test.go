package previewgenerator_test

// The real oauth2-proxy, run with the arguments the manifests render: the
// only changes are the addresses (a loopback port instead of :4180, the
// test's servers instead of Service app and the backend) and the directory
// of the Secret's files, each substitution checked to hit exactly one
// argument. hack/e2e/build.sh builds the binary from the pinned module
// (hack/e2e/modules/oauth2-proxy, v7.15.6).

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"golang.org/x/crypto/bcrypt"
	appsv1 "k8s.io/api/apps/v1"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/render"
	"github.com/preview-generator/preview-generator/internal/render/rendertest"
)

// OAuth2ProxyBinEnv points the edge test at oauth2-proxy v7.15.6 (else
// oauth2-proxy on PATH); RequireOAuth2ProxyEnv makes a missing one a
// failure instead of a skip (CI).
const (
	OAuth2ProxyBinEnv     = "PREVIEW_OAUTH2_PROXY_BIN"
	RequireOAuth2ProxyEnv = "PREVIEW_REQUIRE_OAUTH2_PROXY"
)

func oauth2ProxyBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(OAuth2ProxyBinEnv)
	if bin == "" {
		p, err := exec.LookPath("oauth2-proxy")
		if err != nil {
			rendertest.Missing(t, RequireOAuth2ProxyEnv, "no oauth2-proxy: set "+OAuth2ProxyBinEnv+" (hack/e2e/build.sh builds v7.15.6)")
		}
		bin = p
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		rendertest.Missing(t, RequireOAuth2ProxyEnv, fmt.Sprintf("%s: %v", bin, err))
	}
	const module, version = "github.com/oauth2-proxy/oauth2-proxy/v7", "v7.15.6"
	for _, m := range append([]*debug.Module{&info.Main}, info.Deps...) {
		if m.Path == module {
			if m.Version != version {
				t.Fatalf("%s is oauth2-proxy %s, want %s (the manifests' image)", bin, m.Version, version)
			}
			return bin
		}
	}
	t.Fatalf("%s is not built from %s", bin, module)
	return ""
}

// upstream is a test server that says who it is and what it received.
type upstream struct {
	name string
	srv  *httptest.Server
}

type seen struct {
	Who           string `json:"who"`
	URI           string `json:"uri"`
	Host          string `json:"host"`
	User          string `json:"user"`
	Authorization string `json:"authorization"`
}

func newUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	u := &upstream{name: name}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Who: name, URI: r.RequestURI, Host: r.Host, User: r.Header.Get("X-Forwarded-User"), Authorization: r.Header.Get("Authorization")})
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// edgeArgs renders the edge of a frontend preview whose backend is PR 12's
// preview, with components, and returns its arguments and env.
func edgeArgs(t *testing.T, auth bool, components ...string) ([]string, map[string]string) {
	t.Helper()
	p := withDependencies()
	p["basic_auth_enabled"] = fmt.Sprint(auth)
	_, res, err := renderPreview("frontend.yaml", p)
	if err != nil {
		t.Fatal(err)
	}
	d := typed[appsv1.Deployment](t, findObj(res, "Deployment", "edge"))
	if len(components) > 0 {
		// Components an ApplicationSet does not switch (auth-github): the
		// base with them, plus the ApplicationSet's /api/ upstream.
		r, err := render.Kustomize(previewgenerator.GitOps(), "kustomize/base", render.Options{Kustomize: &v1alpha1.ApplicationSourceKustomize{Components: components}})
		if err != nil {
			t.Fatal(err)
		}
		api := d.Spec.Template.Spec.Containers[0].Args
		d = typed[appsv1.Deployment](t, findObj(r, "Deployment", "edge"))
		d.Spec.Template.Spec.Containers[0].Args = append(d.Spec.Template.Spec.Containers[0].Args, api[len(api)-1])
	}
	c := d.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom.SecretKeyRef.Key // values come from the Secret's keys
	}
	return c.Args, env
}

type edge struct {
	url string
	app *upstream
	api *upstream
}

// startEdge runs oauth2-proxy with args, after the substitutions of the
// file comment; secret holds the files of Secret preview-auth (key ->
// content). env maps a container env name to a key of secret: like the
// kubelet, $(NAME) in args expands to that key's content.
func startEdge(t *testing.T, bin string, args []string, secret, env map[string]string) *edge {
	t.Helper()
	e := &edge{app: newUpstream(t, "app"), api: newUpstream(t, "backend")}
	dir := t.TempDir()
	for k, v := range secret {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e.url = "http://" + addr
	subst := []struct{ old, new string }{
		{"--http-address=0.0.0.0:4180", "--http-address=" + addr},
		{"--upstream=http://app:80/", "--upstream=" + e.app.srv.URL + "/"},
		{"--upstream=http://app.backend-pr-12-58d661.svc.cluster.local:80/api/", "--upstream=" + e.api.srv.URL + "/api/"},
	}
	args = slices.Clone(args)
	for _, s := range subst {
		i := slices.Index(args, s.old)
		if i < 0 {
			t.Fatalf("the rendered edge has no argument %s:\n%s", s.old, strings.Join(args, "\n"))
		}
		args[i] = s.new
	}
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "/etc/preview-auth/", dir+"/")
		for name, key := range env {
			args[i] = strings.ReplaceAll(args[i], "$("+name+")", secret[key])
		}
		if strings.Contains(args[i], "$(") {
			t.Fatalf("argument %s refers to an env variable the container lacks", a)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // nothing from OAUTH2_PROXY_* of the test's environment
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("oauth2-proxy %s\n%s", strings.Join(args, " "), logs.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("oauth2-proxy exited: %s", logs.String())
		default:
		}
		if r, err := http.Get(e.url + "/oauth2/ping"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy not ready at %s: %s", e.url, logs.String())
		}
	}
}

type reply struct {
	status   int
	body     string
	seen     seen
	location string
}

// do sends one request through the edge, without following redirects.
func (e *edge) do(t *testing.T, c *http.Client, method, path string, header http.Header, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c == nil {
		c = &http.Client{}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Timeout = 10 * time.Second
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	out := reply{status: r.StatusCode, body: string(b), location: r.Header.Get("Location")}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(b, &out.seen)
	}
	return out
}

// previewAuth is Secret preview-auth as the generator writes it: a bcrypt
// htpasswd line and a 32-byte cookie secret.
func previewAuth(t *testing.T, user, password string) map[string]string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"htpasswd":      user + ":" + string(hash) + "\n",
		"cookie-secret": "0123456789abcdef0123456789abcdef",
	}
}

func basic(user, password string) http.Header {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	return http.Header{"Authorization": r.Header["Authorization"]}
}

func TestEdgeWithAuthentication(t *testing.T) {
	t.Parallel()
	bin := oauth2ProxyBinary(t)
	args, env := edgeArgs(t, true)
	e := startEdge(t, bin, args, previewAuth(t, "reviewer", "s3cret pass"), env)

	// Without credentials: the sign-in page (its htpasswd form), or a 401
	// for an API path or a client that asks for JSON. Nothing reaches an
	// upstream.
	r := e.do(t, nil, "GET", "/", nil, nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, `name="username"`) || !strings.Contains(r.body, `action="/oauth2/sign_in"`) || r.seen.Who != "" {
		t.Errorf("GET / without credentials: %d %q, want the sign-in page with the htpasswd form (403)", r.status, r.body)
	}
	for _, tc := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/api/orders", nil, http.StatusUnauthorized},
		{"/", http.Header{"Accept": {"application/json"}}, http.StatusUnauthorized},
		{"/", basic("reviewer", "wrong"), http.StatusForbidden}, // the sign-in page again
		{"/api/orders", basic("reviewer", "wrong"), http.StatusUnauthorized},
		{"/api/orders", basic("intruder", "s3cret pass"), http.StatusUnauthorized},
	} {
		r := e.do(t, nil, "GET", tc.path, tc.header, nil)
		if r.status != tc.want || r.seen.Who != "" {
			t.Errorf("GET %s %v: %d %q, want %d and no upstream", tc.path, tc.header, r.status, r.body, tc.want)
		}
	}

	// Basic auth: the app at /, the backend at /api/ with the request's own
	// path and query and its own Host; the user as oauth2-proxy set it,
	// whatever the client claimed; the password goes to neither.
	h := basic("reviewer", "s3cret pass")
	h.Set("X-Forwarded-User", "admin")
	r = e.do(t, nil, "GET", "/orders?page=2", h, nil)
	if r.status != http.StatusOK || r.seen.Who != "app" || r.seen.URI != "/orders?page=2" || r.seen.User != "reviewer" || r.seen.Authorization != "" {
		t.Errorf("GET /orders with basic auth: %d %+v, want 200 from the app as user reviewer, without the password", r.status, r.seen)
	}
	r = e.do(t, nil, "GET", "/api/orders/7?full=1", h, nil)
	wantHost := strings.TrimPrefix(e.api.srv.URL, "http://")
	if r.status != http.StatusOK || r.seen.Who != "backend" || r.seen.URI != "/api/orders/7?full=1" || r.seen.Host != wantHost {
		t.Errorf("GET /api/orders/7 with basic auth: %d %+v, want 200 from the backend, Host %s", r.status, r.seen, wantHost)
	}
	if r.seen.Authorization != "" {
		t.Errorf("the backend received the reviewer's credentials: %q", r.seen.Authorization)
	}

	// The sign-in form: a cookie, then the app without a password.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	form := url.Values{"username": {"reviewer"}, "password": {"s3cret pass"}, "rd": {"/orders"}}
	r = e.do(t, c, "POST", "/oauth2/sign_in", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader(form.Encode()))
	if r.status != http.StatusFound || r.location != "/orders" {
		t.Fatalf("POST /oauth2/sign_in: %d Location %q, want 302 to /orders", r.status, r.location)
	}
	// The cookie is Secure (a preview is served over https); send it over
	// the test's http as a browser would over https.
	u, _ := url.Parse(e.url)
	var cookies []string
	for _, ck := range jar.Cookies(&url.URL{Scheme: "https", Host: u.Host}) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	if len(cookies) == 0 {
		t.Fatal("no session cookie after signing in")
	}
	r = e.do(t, nil, "GET", "/api/orders", http.Header{"Cookie": {strings.Join(cookies, "; ")}}, nil)
	if r.status != http.StatusOK || r.seen.Who != "backend" {
		t.Errorf("GET /api/orders with the session cookie: %d %+v", r.status, r.seen)
	}

	// Open without credentials: the app's health, and the edge's probes.
	if r := e.do(t, nil, "GET", "/healthz", nil, nil); r.status != http.StatusOK || r.seen.Who != "app" {
		t.Errorf("GET /healthz: %d %+v, want the app's answer", r.status, r.seen)
	}
	if r := e.do(t, nil, "POST", "/healthz", nil, nil); r.status == http.StatusOK || r.seen.Who != "" {
		t.Errorf("POST /healthz without credentials reached %q", r.seen.Who)
	}
	for _, p := range []string{"/oauth2/ping", "/oauth2/ready"} {
		if r := e.do(t, nil, "GET", p, nil, nil); r.status != http.StatusOK || r.seen.Who != "" {
			t.Errorf("GET %s: %d %+v, want the edge's own 200", p, r.status, r.seen)
		}
	}
	// The app's own /ping is the app's: the edge's probe paths are under
	// /oauth2/.
	if r := e.do(t, nil, "GET", "/ping", basic("reviewer", "s3cret pass"), nil); r.seen.Who != "app" {
		t.Errorf("GET /ping: %d %q, want the app's answer", r.status, r.body)
	}
}

func TestEdgeWithoutAuthentication(t *testing.T) {
	t.Parallel()
	bin := oauth2ProxyBinary(t)
	args, env := edgeArgs(t, false)
	e := startEdge(t, bin, args, nil, env)
	for _, tc := range []struct{ path, who string }{
		{"/", "app"},
		{"/assets/app.js", "app"},
		{"/api/orders?x=1", "backend"},
		{"/apiary", "app"},
	} {
		r := e.do(t, nil, "GET", tc.path, nil, nil)
		if r.status != http.StatusOK || r.seen.Who != tc.who || r.seen.URI != tc.path {
			t.Errorf("GET %s: %d %+v, want 200 from %s with the same path", tc.path, r.status, r.seen, tc.who)
		}
	}
	if r := e.do(t, nil, "POST", "/api/orders", http.Header{"Content-Type": {"application/json"}}, strings.NewReader(`{}`)); r.status != http.StatusOK || r.seen.Who != "backend" {
		t.Errorf("POST /api/orders: %d %+v", r.status, r.seen)
	}
}

func TestEdgeWithGitHubSignIn(t *testing.T) {
	t.Parallel()
	bin := oauth2ProxyBinary(t)
	args, env := edgeArgs(t, true, "../components/auth", "../components/auth-github")
	secret := previewAuth(t, "reviewer", "s3cret pass")
	secret["client-id"] = "Iv1.0123456789abcdef"
	secret["client-secret"] = "0123456789abcdef0123456789abcdef01234567"
	e := startEdge(t, bin, args, secret, env)
	// The sign-in page offers both; the GitHub flow uses the OAuth App of
	// the Secret (the placeholders of components/auth are overridden), with
	// a callback on the preview's own host.
	r := e.do(t, nil, "GET", "/", nil, nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "Sign in with GitHub") || !strings.Contains(r.body, `name="username"`) {
		t.Errorf("GET /: %d, want the sign-in page with GitHub and the htpasswd form:\n%s", r.status, r.body)
	}
	r = e.do(t, nil, "GET", "/oauth2/start?rd=%2Forders", http.Header{"X-Forwarded-Host": {"frontend-pr-7-cdf85e.preview.example.com"}, "X-Forwarded-Proto": {"https"}}, nil)
	loc, err := url.Parse(r.location)
	if r.status != http.StatusFound || err != nil || loc.Host != "github.com" || loc.Path != "/login/oauth/authorize" {
		t.Fatalf("GET /oauth2/start: %d Location %q, want a redirect to GitHub", r.status, r.location)
	}
	q := loc.Query()
	if q.Get("client_id") != secret["client-id"] {
		t.Errorf("client_id = %q, want the Secret's %q", q.Get("client_id"), secret["client-id"])
	}
	if q.Get("redirect_uri") != "https://frontend-pr-7-cdf85e.preview.example.com/oauth2/callback" {
		t.Errorf("redirect_uri = %q, want the preview host's /oauth2/callback", q.Get("redirect_uri"))
	}
	if !regexp.MustCompile(`(^| )read:org( |$)`).MatchString(q.Get("scope")) {
		t.Errorf("scope = %q, want read:org (membership of the organisation)", q.Get("scope"))
	}
	// Basic auth keeps working next to GitHub.
	if r := e.do(t, nil, "GET", "/api/x", basic("reviewer", "s3cret pass"), nil); r.status != http.StatusOK || r.seen.Who != "backend" || r.seen.Authorization != "" {
		t.Errorf("GET /api/x with basic auth: %d %+v", r.status, r.seen)
	}
}
