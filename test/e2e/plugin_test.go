//go:build e2e

package e2e

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
)

// stubPlugin is a plugin-generator stand-in for the smoke step: it answers Argo CD's getparams
// call with whatever parameters the test set, after checking the bearer token.
type stubPlugin struct {
	token string
	srv   *http.Server
	url   string

	mu     sync.Mutex
	params []map[string]string
	calls  int
}

func startStubPlugin(t *testing.T, token string) *stubPlugin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the stub plugin: %v", err)
	}
	p := &stubPlugin{token: token, url: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/getparams.execute", func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+p.token)) != 1 {
			http.Error(w, `{"message":"forbidden"}`, http.StatusForbidden)
			return
		}
		p.mu.Lock()
		p.calls++
		params := append([]map[string]string{}, p.params...)
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"output": map[string]any{"parameters": params}})
	})
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

func (p *stubPlugin) set(params ...map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.params = params
}

func (p *stubPlugin) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// pluginRegistration is the plugin ConfigMap and token Secret exactly as users install them
// (appsets/): baseUrl, token as $<secret>:<key>, requestTimeout; the Secret labelled
// app.kubernetes.io/part-of: argocd so the ApplicationSet controller can read it.
func pluginRegistration(name, baseURL, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %[1]s
  namespace: argocd
  labels: {app.kubernetes.io/part-of: argocd}
stringData:
  token: %[3]q
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s
  namespace: argocd
data:
  baseUrl: %[2]q
  token: "$%[1]s:token"
  requestTimeout: "10"
`, name, baseURL, token)
}

// application reads an Argo CD Application.
func (s *stack) application(ctx context.Context, name string) (*v1alpha1.Application, error) {
	var app v1alpha1.Application
	if err := s.getJSON(ctx, &app, "-n", "argocd", "application", name); err != nil {
		return nil, err
	}
	return &app, nil
}

// syncedHealthy is nil once the Application is Synced and Healthy.
func (s *stack) syncedHealthy(name string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		app, err := s.application(ctx, name)
		if err != nil {
			return err
		}
		if app.Status.Sync.Status != "Synced" || app.Status.Health.Status != "Healthy" {
			msg := ""
			if app.Status.OperationState != nil {
				msg = app.Status.OperationState.Message
			}
			return fmt.Errorf("application %s is %s/%s (%s)", name, app.Status.Sync.Status, app.Status.Health.Status, msg)
		}
		return nil
	}
}

// exists is nil once the object exists.
func (s *stack) exists(args ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var obj map[string]any
		return s.getJSON(ctx, &obj, args...)
	}
}

// gone is nil once the object no longer exists.
func (s *stack) gone(args ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var obj map[string]any
		err := s.getJSON(ctx, &obj, args...)
		switch {
		case err == nil:
			return fmt.Errorf("%v still exists", args)
		case errorsIsNotFound(err):
			return nil
		default:
			return err
		}
	}
}
