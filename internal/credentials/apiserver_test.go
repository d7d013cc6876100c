package credentials_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"github.com/preview-generator/preview-generator/internal/credentials"
	"github.com/preview-generator/preview-generator/internal/kubetest"
)

// writeCounter counts the write requests a client sends for Secrets.
type writeCounter struct {
	next   http.RoundTripper
	writes atomic.Int64
	mu     sync.Mutex
	log    []string
}

func (w *writeCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && strings.Contains(req.URL.Path, "/secrets") {
		w.writes.Add(1)
		w.mu.Lock()
		w.log = append(w.log, req.Method+" "+req.URL.Path)
		w.mu.Unlock()
	}
	return w.next.RoundTrip(req)
}

// requests returns the writes counted, at most the first 10 from i on.
func (w *writeCounter) requests(i int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.log[min(i, len(w.log)):]
	return append([]string(nil), out[:min(len(out), 10)]...)
}

func (w *writeCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.log)
}

// countingConfig returns a copy of cfg whose Secret writes counter counts.
func countingConfig(cfg *rest.Config) (*rest.Config, *writeCounter) {
	c := rest.CopyConfig(cfg)
	wc := &writeCounter{}
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		wc.next = rt
		return wc
	}
	return c, wc
}

// recorder is a credentials.Metrics that keeps the last values.
type recorder struct {
	mu         sync.Mutex
	writes     map[string]int
	foreign    map[string]int
	missing    map[string]bool
	namespaces int
}

func newRecorder() *recorder {
	return &recorder{writes: map[string]int{}, foreign: map[string]int{}, missing: map[string]bool{}}
}

func (r *recorder) CredentialsWrite(secret, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes[secret+"/"+outcome]++
}

func (r *recorder) CredentialsForeign(secret string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.foreign[secret] = n
}

func (r *recorder) CredentialsSourceMissing(source string, missing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.missing[source] = missing
}

func (r *recorder) CredentialsNamespaces(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.namespaces = n
}

func (r *recorder) get(f func(*recorder) any) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(r)
}

// waitFor polls cond until it holds or timeout passes; it returns how long
// it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s: %s", what, timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const (
	sourceNS = "preview-system"
	htpasswd = "reviewer:$2y$05$Npda/wcHOGrBKYgr9sNJo./O8KZbXQqwTrF0BcRxiS5Vr.P37zDJC\n"
	// A dockerconfigjson as kubectl create secret docker-registry makes it.
	dockerConfig = `{"auths":{"registry.example.com":{"username":"bot","password":"pull-token","auth":"Ym90OnB1bGwtdG9rZW4="}}}`
)

type harness struct {
	t     *testing.T
	cp    *kubetest.ControlPlane
	admin corev1client.CoreV1Interface
}

func (h *harness) createNamespace(name string, labelled bool) {
	h.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if labelled {
		ns.Labels = map[string]string{credentials.ManagedByLabel: credentials.ManagedBy}
	}
	if _, err := h.admin.Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		h.t.Fatalf("creating namespace %s: %v", name, err)
	}
}

func (h *harness) secret(ns, name string) *corev1.Secret {
	h.t.Helper()
	s, err := h.admin.Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) putSource(name string, typ corev1.SecretType, data map[string][]byte) {
	h.t.Helper()
	ctx := context.Background()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sourceNS, Name: name}, Type: typ, Data: data}
	cur, err := h.admin.Secrets(sourceNS).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = h.admin.Secrets(sourceNS).Create(ctx, s, metav1.CreateOptions{})
	case err == nil:
		cur.Data = data
		_, err = h.admin.Secrets(sourceNS).Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		h.t.Fatalf("writing source %s: %v", name, err)
	}
}

func (h *harness) deleteSecret(ns, name string) {
	h.t.Helper()
	if err := h.admin.Secrets(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		h.t.Fatalf("deleting %s/%s: %v", ns, name, err)
	}
}

// start runs a Controller on cfg until the test ends or stop is called.
func start(t *testing.T, cfg credentials.Config) (stop func()) {
	t.Helper()
	c, err := credentials.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func hasAuth(h *harness, ns, wantHTPasswd string) func() (bool, string) {
	return func() (bool, string) {
		s := h.secret(ns, credentials.AuthSecret)
		if s == nil {
			return false, "no " + credentials.AuthSecret
		}
		if got := string(s.Data[credentials.KeyHTPasswd]); got != wantHTPasswd {
			return false, fmt.Sprintf("htpasswd %q, want %q", got, wantHTPasswd)
		}
		return true, ""
	}
}

func hasPull(h *harness, ns, want string) func() (bool, string) {
	return func() (bool, string) {
		s := h.secret(ns, credentials.PullSecret)
		if s == nil {
			return false, "no " + credentials.PullSecret
		}
		if got := string(s.Data[corev1.DockerConfigJsonKey]); got != want {
			return false, fmt.Sprintf(".dockerconfigjson %q, want %q", got, want)
		}
		return true, ""
	}
}

// cookie returns the cookie secret of ns's preview-auth.
func (h *harness) cookie(ns string) string {
	h.t.Helper()
	s := h.secret(ns, credentials.AuthSecret)
	if s == nil {
		h.t.Fatalf("%s/%s missing", ns, credentials.AuthSecret)
	}
	return string(s.Data[credentials.KeyCookieSecret])
}

// TestNamespaceCredentialsOnAPIServer runs the Controller against a real
// kube-apiserver: the copies appear as soon as a live preview namespace is
// created, only in live previews that carry the label; the cookie secret
// survives resyncs, source changes and a second instance; a source change
// propagates; a foreign Secret is left alone; a deleted or changed copy is
// restored; and nothing is written while nothing changes.
func TestNamespaceCredentialsOnAPIServer(t *testing.T) {
	cp := kubetest.Start(t)
	admin, err := corev1client.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cp: cp, admin: admin}
	ctx := context.Background()
	h.createNamespace(sourceNS, false)
	h.putSource(credentials.DefaultAuthSource, corev1.SecretTypeOpaque, map[string][]byte{
		credentials.KeyHTPasswd: []byte(htpasswd), credentials.KeyClientID: []byte("Iv1.0123456789abcdef"),
		credentials.KeyClientSecret: []byte("client-secret-value"), "unrelated": []byte("not copied"),
	})
	h.putSource(credentials.DefaultPullSource, corev1.SecretTypeDockerConfigJson, map[string][]byte{
		corev1.DockerConfigJsonKey: []byte(dockerConfig),
	})

	const (
		live       = "backend-pr-1-58d661"   // live, labelled
		unlabelled = "backend-pr-12-58d661"  // live, no label
		notLive    = "payments-pr-42-1a2b3c" // labelled, not in the answer
		foreign    = "frontend-pr-7-aa11bb"  // live, labelled, its own preview-auth
		other      = "team"                  // neither
	)
	answers := credentials.NewAnswers(nil)
	answers.Served("backend-previews", []string{live, unlabelled, foreign})
	h.createNamespace(other, false)
	h.createNamespace(notLive, true)
	h.createNamespace(unlabelled, false)
	h.createNamespace(foreign, true)
	// As kustomize/base would render it: with the managed-by label, but no
	// copied-from label.
	foreignSecret, err := admin.Secrets(foreign).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: credentials.AuthSecret, Labels: map[string]string{credentials.ManagedByLabel: credentials.ManagedBy}},
		Data:       map[string][]byte{"htpasswd": []byte("someone:else\n")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	restCfg, writes := countingConfig(cp.Config)
	m := newRecorder()
	cfg := credentials.Config{REST: restCfg, Namespace: sourceNS, Live: answers, Resync: 200 * time.Millisecond, Metrics: m}
	stopA := start(t, cfg)

	// A live preview namespace created now gets both Secrets at once.
	created := time.Now()
	h.createNamespace(live, true)
	waitFor(t, 5*time.Second, "preview-auth in a new preview namespace", hasAuth(h, live, htpasswd))
	waitFor(t, 5*time.Second, "preview-pull in a new preview namespace", hasPull(h, live, dockerConfig))
	t.Logf("namespace created → both Secrets written: %s", time.Since(created).Round(time.Millisecond))
	if d := time.Since(created); d > 2*time.Second {
		t.Errorf("the Secrets took %s after the namespace was created, want ≤ 2s", d)
	}

	auth := h.secret(live, credentials.AuthSecret)
	wantAuth := map[string]string{
		credentials.KeyHTPasswd: htpasswd, credentials.KeyClientID: "Iv1.0123456789abcdef", credentials.KeyClientSecret: "client-secret-value",
	}
	for k, v := range wantAuth {
		if got := string(auth.Data[k]); got != v {
			t.Errorf("preview-auth %s = %q, want %q", k, got, v)
		}
	}
	if _, ok := auth.Data["unrelated"]; ok {
		t.Error("preview-auth has the source's unrelated key")
	}
	cookie := string(auth.Data[credentials.KeyCookieSecret])
	if raw, err := base64.URLEncoding.DecodeString(cookie); err != nil || len(raw) != 32 || len(cookie) != 44 {
		t.Errorf("cookie-secret %q: want 32 random bytes base64url-encoded (44 characters): %d bytes, %v", cookie, len(raw), err)
	}
	if auth.Type != corev1.SecretTypeOpaque || auth.Labels[credentials.CopiedFromLabel] != credentials.DefaultAuthSource ||
		auth.Labels[credentials.ManagedByLabel] != credentials.ManagedBy ||
		auth.Annotations[credentials.CopiedFromAnnotation] != sourceNS+"/"+credentials.DefaultAuthSource {
		t.Errorf("preview-auth type %q, labels %v, annotations %v", auth.Type, auth.Labels, auth.Annotations)
	}
	if pull := h.secret(live, credentials.PullSecret); pull.Type != corev1.SecretTypeDockerConfigJson ||
		pull.Labels[credentials.CopiedFromLabel] != credentials.DefaultPullSource {
		t.Errorf("preview-pull type %q, labels %v", pull.Type, pull.Labels)
	}

	t.Run("only live previews with the label", func(t *testing.T) {
		waitFor(t, 5*time.Second, "preview-pull next to a foreign preview-auth", hasPull(h, foreign, dockerConfig))
		time.Sleep(500 * time.Millisecond) // several resyncs
		for _, ns := range []string{unlabelled, notLive, other, sourceNS} {
			for _, name := range []string{credentials.AuthSecret, credentials.PullSecret} {
				if s := h.secret(ns, name); s != nil {
					t.Errorf("%s/%s was written: %v", ns, name, s.Labels)
				}
			}
		}
		// Each condition alone is not enough; both are, and at once.
		if _, err := admin.Namespaces().Patch(ctx, unlabelled, types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"`+credentials.ManagedByLabel+`":"`+credentials.ManagedBy+`"}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Second, "preview-auth once the live namespace is labelled", hasAuth(h, unlabelled, htpasswd))
		answers.Served("payments-previews", []string{notLive})
		waitFor(t, 2*time.Second, "preview-auth once the labelled namespace is live", hasAuth(h, notLive, htpasswd))
	})

	t.Run("foreign Secret untouched and reported", func(t *testing.T) {
		s := h.secret(foreign, credentials.AuthSecret)
		if s.ResourceVersion != foreignSecret.ResourceVersion || string(s.Data["htpasswd"]) != "someone:else\n" {
			t.Errorf("the foreign preview-auth changed: rv %s → %s, data %q", foreignSecret.ResourceVersion, s.ResourceVersion, s.Data)
		}
		if n := m.get(func(r *recorder) any { return r.foreign[credentials.AuthSecret] }); n != 1 {
			t.Errorf("foreign preview-auth gauge = %v, want 1", n)
		}
	})

	t.Run("no writes when nothing changed", func(t *testing.T) {
		time.Sleep(500 * time.Millisecond)
		before := writes.writes.Load()
		log := writes.count()
		answers.Served("backend-previews", []string{live, unlabelled, foreign}) // same answer again
		time.Sleep(2 * time.Second)                                             // 10 resyncs
		if n := writes.writes.Load() - before; n != 0 {
			t.Errorf("%d Secret writes with nothing changed: %v", n, writes.requests(log))
		}
	})

	t.Run("source change propagates, cookie kept", func(t *testing.T) {
		changed := htpasswd + "another:$2y$05$crIQ3pU/dJi2T6c8IM1UNOXV6KlgxjvFBvJH2ZfmmhgRSS8qObZVu\n"
		h.putSource(credentials.DefaultAuthSource, corev1.SecretTypeOpaque, map[string][]byte{
			credentials.KeyHTPasswd: []byte(changed), credentials.KeyClientID: []byte("Iv1.0123456789abcdef"),
			credentials.KeyClientSecret: []byte("client-secret-value"),
		})
		d := waitFor(t, 2*time.Second, "the new htpasswd in every live preview", func() (bool, string) {
			for _, ns := range []string{live, unlabelled, notLive} {
				if ok, why := hasAuth(h, ns, changed)(); !ok {
					return false, ns + ": " + why
				}
			}
			return true, ""
		})
		t.Logf("source changed → copies updated: %s", d.Round(time.Millisecond))
		if got := h.cookie(live); got != cookie {
			t.Errorf("cookie-secret changed with the source: %q → %q", cookie, got)
		}
		rotated := `{"auths":{"registry.example.com":{"auth":"Ym90OnJvdGF0ZWQ="}}}`
		h.putSource(credentials.DefaultPullSource, corev1.SecretTypeDockerConfigJson, map[string][]byte{corev1.DockerConfigJsonKey: []byte(rotated)})
		waitFor(t, 2*time.Second, "the rotated pull secret", hasPull(h, live, rotated))
	})

	t.Run("deleted or changed copy restored", func(t *testing.T) {
		cur := h.secret(live, credentials.AuthSecret)
		cur.Data[credentials.KeyHTPasswd] = []byte("intruder:x\n")
		cur.Data[credentials.KeyCookieSecret] = []byte("short")
		if _, err := admin.Secrets(live).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want := string(h.secret(unlabelled, credentials.AuthSecret).Data[credentials.KeyHTPasswd])
		waitFor(t, 2*time.Second, "the changed copy restored", hasAuth(h, live, want))
		// A cookie secret that is not one (not 32 bytes) is replaced.
		if got := h.cookie(live); got == "short" || got == cookie {
			t.Errorf("cookie-secret %q after it was broken, want a new valid one", got)
		}
		cookie = h.cookie(live)
		h.deleteSecret(live, credentials.PullSecret)
		waitFor(t, 2*time.Second, "the deleted preview-pull restored", hasPull(h, live, string(h.secret(unlabelled, credentials.PullSecret).Data[corev1.DockerConfigJsonKey])))
		h.deleteSecret(live, credentials.AuthSecret)
		waitFor(t, 2*time.Second, "the deleted preview-auth restored", hasAuth(h, live, want))
		if got := h.cookie(live); got == cookie {
			t.Error("a deleted preview-auth came back with the old cookie-secret; it cannot know it")
		}
		cookie = h.cookie(live)
	})

	t.Run("second instance keeps every cookie secret", func(t *testing.T) {
		cookies := map[string]string{}
		for _, ns := range []string{live, unlabelled, notLive} {
			cookies[ns] = h.cookie(ns)
		}
		stopA() // the leader steps down
		before := writes.writes.Load()
		restB, writesB := countingConfig(cp.Config)
		cfgB := cfg
		cfgB.REST, cfgB.Metrics = restB, newRecorder()
		stopB := start(t, cfgB)
		time.Sleep(time.Second)
		if n := writesB.writes.Load(); n != 0 {
			t.Errorf("the new leader wrote %d times with nothing changed: %v", n, writesB.requests(0))
		}
		for ns, c := range cookies {
			if got := h.cookie(ns); got != c {
				t.Errorf("%s: cookie-secret changed with the leader: %q → %q", ns, c, got)
			}
		}
		// Two instances at once (an overlap the Lease should prevent) on
		// a new namespace still end with one cookie secret, kept.
		restA2, _ := countingConfig(cp.Config)
		cfgA2 := cfg
		cfgA2.REST, cfgA2.Metrics = restA2, newRecorder()
		stopA2 := start(t, cfgA2)
		const fresh = "backend-pr-13-58d661"
		answers.Served("backend-previews", []string{live, unlabelled, foreign, fresh})
		h.createNamespace(fresh, true)
		waitFor(t, 5*time.Second, "preview-auth in a namespace two instances race for", hasAuth(h, fresh, string(h.secret(live, credentials.AuthSecret).Data[credentials.KeyHTPasswd])))
		first := h.cookie(fresh)
		time.Sleep(time.Second)
		if got := h.cookie(fresh); got != first {
			t.Errorf("two instances changed the cookie-secret: %q → %q", first, got)
		}
		stopA2()
		stopB()
		if writes.writes.Load() != before {
			t.Errorf("the stopped instance wrote after it stopped")
		}
	})

	t.Run("missing sources", func(t *testing.T) {
		m := newRecorder()
		restC, _ := countingConfig(cp.Config)
		cfgC := cfg
		cfgC.REST, cfgC.Metrics = restC, m
		stopC := start(t, cfgC)
		defer stopC()
		h.deleteSecret(sourceNS, credentials.DefaultAuthSource)
		waitFor(t, 2*time.Second, "an empty htpasswd without the source", hasAuth(h, live, ""))
		auth := h.secret(live, credentials.AuthSecret)
		if _, ok := auth.Data[credentials.KeyHTPasswd]; !ok {
			t.Error("preview-auth lost its htpasswd key: the edge needs the (empty) file")
		}
		for _, k := range []string{credentials.KeyClientID, credentials.KeyClientSecret} {
			if _, ok := auth.Data[k]; ok {
				t.Errorf("preview-auth kept %s after its source went", k)
			}
		}
		if got := h.cookie(live); got != cookie {
			t.Errorf("cookie-secret changed when the source went: %q → %q", cookie, got)
		}
		h.deleteSecret(sourceNS, credentials.DefaultPullSource)
		waitFor(t, 2*time.Second, "preview-pull emptied without its source", hasPull(h, live, `{"auths":{}}`))
		waitFor(t, time.Second, "source_missing gauges", func() (bool, string) {
			got := m.get(func(r *recorder) any { return maps.Clone(r.missing) }).(map[string]bool)
			return got[credentials.DefaultAuthSource] && got[credentials.DefaultPullSource], fmt.Sprint(got)
		})
		// A new preview still gets preview-auth (cookie-secret, empty
		// htpasswd), and no preview-pull.
		const fresh = "backend-pr-14-58d661"
		answers.Served("backend-previews", []string{live, fresh})
		h.createNamespace(fresh, true)
		waitFor(t, 2*time.Second, "preview-auth without a source", hasAuth(h, fresh, ""))
		time.Sleep(300 * time.Millisecond)
		if s := h.secret(fresh, credentials.PullSecret); s != nil {
			t.Errorf("preview-pull written without a source: %q", s.Data)
		}
		if c := h.cookie(fresh); len(c) != 44 {
			t.Errorf("cookie-secret %q without a source", c)
		}
		// The source comes back.
		h.putSource(credentials.DefaultAuthSource, corev1.SecretTypeOpaque, map[string][]byte{credentials.KeyHTPasswd: []byte(htpasswd)})
		// Back in every served namespace before this instance stops, or the next one finds a
		// stale preview-auth and rightly rewrites it.
		for _, ns := range []string{fresh, live, notLive} {
			waitFor(t, 2*time.Second, "htpasswd back in "+ns, hasAuth(h, ns, htpasswd))
		}
		waitFor(t, time.Second, "source_missing gauge back to 0", func() (bool, string) {
			got := m.get(func(r *recorder) any { return r.missing[credentials.DefaultAuthSource] }).(bool)
			return !got, "still missing"
		})
	})

	t.Run("pull secrets off", func(t *testing.T) {
		h.putSource(credentials.DefaultPullSource, corev1.SecretTypeDockerConfigJson, map[string][]byte{corev1.DockerConfigJsonKey: []byte(dockerConfig)})
		restD, writesD := countingConfig(cp.Config)
		cfgD := cfg
		cfgD.REST, cfgD.Metrics, cfgD.NoPull = restD, newRecorder(), true
		stopD := start(t, cfgD)
		defer stopD()
		const fresh = "backend-pr-15-58d661"
		answers.Served("backend-previews", []string{fresh})
		h.createNamespace(fresh, true)
		waitFor(t, 2*time.Second, "preview-auth with pull secrets off", hasAuth(h, fresh, htpasswd))
		time.Sleep(500 * time.Millisecond)
		if s := h.secret(fresh, credentials.PullSecret); s != nil {
			t.Errorf("preview-pull written with pull secrets off")
		}
		if got := writesD.requests(0); len(got) != 1 || !strings.HasSuffix(got[0], "/namespaces/"+fresh+"/secrets") {
			t.Errorf("writes = %v, want the one creating preview-auth in %s", got, fresh)
		}
	})

	if !bytes.Equal([]byte(h.secret(foreign, credentials.AuthSecret).Data["htpasswd"]), []byte("someone:else\n")) {
		t.Error("the foreign preview-auth changed by the end")
	}
}
