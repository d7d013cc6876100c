package main

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestEdgeBasicAuth runs the edge image (oauth2-proxy built from the module
// proxy) under containerd with an htpasswd file in front of a test
// upstream: no credentials or wrong ones never reach the upstream, the
// right ones do.
func TestEdgeBasicAuth(t *testing.T) {
	c, ctx := startWithImages(t, 3*time.Minute, "edge")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream reached")
	}))
	t.Cleanup(upstream.Close)

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte("wonderland"))
	line := "alice:{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	if _, err := c.ctr(ctx, "run", "-d", "--net-host", "--read-only",
		"--mount", "type=bind,src="+dir+",dst=/etc/edge,options=rbind:ro",
		EdgeRef, "edge", "/bin/oauth2-proxy",
		"--http-address=127.0.0.1:"+strconv.Itoa(port), "--upstream="+upstream.URL+"/",
		"--htpasswd-file=/etc/edge/htpasswd", "--cookie-secret=0123456789abcdef0123456789abcdef",
		"--email-domain=*", "--provider=github", "--client-id=unused", "--client-secret=unused",
		"--cookie-secure=false", "--skip-provider-button"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.remove("edge") })

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(user, pass string, accept string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/api/info", port), nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, err := get("", "", ""); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the edge never listened: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, tc := range []struct {
		name, user, pass, accept string
		want                     []int
		reached                  bool
	}{
		{"no credentials, browser", "", "", "text/html", []int{http.StatusForbidden, http.StatusFound, http.StatusUnauthorized}, false},
		{"no credentials, API client", "", "", "application/json", []int{http.StatusUnauthorized}, false},
		{"wrong password", "alice", "queen", "application/json", []int{http.StatusUnauthorized}, false},
		{"right password", "alice", "wonderland", "", []int{http.StatusOK}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, err := get(tc.user, tc.pass, tc.accept)
			if err != nil {
				t.Fatal(err)
			}
			ok := false
			for _, w := range tc.want {
				ok = ok || code == w
			}
			if !ok {
				t.Errorf("status %d, want one of %v: %.300s", code, tc.want, body)
			}
			if reached := body == "upstream reached"; reached != tc.reached {
				t.Errorf("upstream reached: %v, want %v (body %.300q)", reached, tc.reached, body)
			}
		})
	}
}
