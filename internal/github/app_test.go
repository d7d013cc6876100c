package github

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

func TestGitHubAppAuthentication(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		appID, inst  int64
		serverKey    *rsa.PublicKey
		wantErr      error
		wantTokenReq int
	}{
		{name: "valid installation", appID: 42, inst: 99, serverKey: &key.PublicKey, wantTokenReq: 1},
		{name: "wrong installation", appID: 42, inst: 7, serverKey: &key.PublicKey, wantErr: ErrForbidden, wantTokenReq: 2},
		{name: "key not registered", appID: 42, inst: 99, serverKey: &other.PublicKey, wantErr: ErrForbidden, wantTokenReq: 2},
		{name: "wrong app", appID: 43, inst: 99, serverKey: &key.PublicKey, wantErr: ErrForbidden, wantTokenReq: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "abc", Labels: []string{"preview"}})
			srv.EnableApp(42, 99, tc.serverKey)
			c, _ := newTestClient(t, srv, func(c *Config) {
				c.Token, c.AppID, c.InstallationID, c.AppPrivateKey = "", tc.appID, tc.inst, pemKey
			})
			for i := range 2 {
				got, err := c.ListOpenPullRequests(context.Background(), backend)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("call %d: error %v, want %v", i, err, tc.wantErr)
					}
					continue
				}
				if err != nil || len(got) != 1 {
					t.Fatalf("call %d: %d PRs, error %v; want 1 PR", i, len(got), err)
				}
			}
			if n := srv.Count(githubtest.RouteInstallToken, 0); n != tc.wantTokenReq {
				t.Errorf("installation token requests = %d, want %d", n, tc.wantTokenReq)
			}
			if tc.wantErr == nil {
				if n := srv.Count("", http.StatusUnauthorized); n != 0 {
					t.Errorf("%d requests answered 401", n)
				}
			}
		})
	}
}

// shortTokens shortens the installation tokens the fake mints while short is
// set: ghinstallation then takes each for expired (it refreshes a minute
// ahead) and mints a new one before every request, as if the token rotated
// between any two requests.
type shortTokens struct {
	next  http.RoundTripper
	short atomic.Bool
}

func (s *shortTokens) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil || !s.short.Load() || !strings.HasSuffix(req.URL.Path, "/access_tokens") || resp.StatusCode != http.StatusCreated {
		return resp, err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	body["expires_at"] = time.Now().Add(30 * time.Second).UTC().Format(time.RFC3339)
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestETagsAfterTokenRotation checks the conditional requests of a GitHub
// App client whose installation token changes: GitHub's ETags are bound to
// the token, so the first pass with a new token answers every list page 200
// (and the client takes the new pages), and the next pass with the same
// token costs nothing again.
func TestETagsAfterTokenRotation(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	srv := githubtest.NewServer(t)
	openN(srv, "acme/backend", 250)
	srv.EnableApp(42, 99, &key.PublicKey)
	tr := &shortTokens{next: srv.Client().Transport}
	c, _ := newTestClient(t, srv, func(c *Config) {
		c.Token, c.AppID, c.InstallationID, c.AppPrivateKey = "", 42, 99, pemKey
		c.HTTPClient = &http.Client{Transport: tr}
	})
	steps := []struct {
		name        string
		short       bool
		ok, nm      int // list pages answered 200 and 304
		tokens      int // installation tokens minted
		conditional bool
	}{
		// Pages 1, 3, 2, 1: page 1 again with another token is a 200.
		{name: "first listing, a new token per request", short: true, ok: 4, tokens: 4},
		{name: "resync, a new token per request", short: true, ok: 3, tokens: 3, conditional: true},
		{name: "resync with a new long-lived token", ok: 3, tokens: 1, conditional: true},
		{name: "resync with the same token", nm: 3, conditional: true},
	}
	for _, s := range steps {
		tr.short.Store(s.short)
		srv.ResetCounts()
		remaining := srv.RateRemaining()
		got, err := c.ListOpenPullRequests(context.Background(), backend)
		if err != nil || len(got) != 250 {
			t.Fatalf("%s: %d PRs, error %v; want 250", s.name, len(got), err)
		}
		ok, nm := srv.Count(githubtest.RoutePullsList, http.StatusOK), srv.Count(githubtest.RoutePullsList, http.StatusNotModified)
		if ok != s.ok || nm != s.nm {
			t.Errorf("%s: %d list pages answered 200 and %d 304, want %d and %d", s.name, ok, nm, s.ok, s.nm)
		}
		if n := srv.Count(githubtest.RouteInstallToken, 0); n != s.tokens {
			t.Errorf("%s: %d installation tokens, want %d", s.name, n, s.tokens)
		}
		if got := remaining - srv.RateRemaining(); got != s.ok {
			t.Errorf("%s: spent %d of the rate limit, want %d", s.name, got, s.ok)
		}
		for _, r := range srv.Requests() {
			if r.Route == githubtest.RoutePullsList && s.conditional && r.IfNoneMatch == "" {
				t.Errorf("%s: page %d asked without If-None-Match", s.name, r.Page)
			}
		}
	}
}
