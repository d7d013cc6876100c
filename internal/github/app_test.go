package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"testing"

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
