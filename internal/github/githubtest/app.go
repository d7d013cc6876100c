package githubtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// installationToken serves POST /app/installations/{id}/access_tokens: it
// checks the app's RS256 JWT and mints an installation token valid for an
// hour, answered from the documented example. It runs under the server's
// lock, as a raw route: no token authentication, no primary rate limit.
func (s *Server) installationToken(r *http.Request, _ renderer) result {
	switch id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64); {
	case s.app == nil:
		return notFound()
	case id != s.app.installation:
		return notFound()
	}
	jwt, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if err := verifyAppJWT(jwt, s.app.id, s.app.key, time.Now()); err != nil {
		return errorBody(http.StatusUnauthorized, "A JSON web token could not be decoded: "+err.Error(), "https://docs.github.com/rest")
	}
	var raw [20]byte
	_, _ = rand.Read(raw[:])
	tok := "ghs_" + hex.EncodeToString(raw[:])
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	s.app.tokens[tok] = exp
	o := fixture("installation-token")
	o["token"] = tok
	o["expires_at"] = timestamp(exp)
	return result{status: http.StatusCreated, body: o}
}

// verifyAppJWT checks a GitHub App JWT: RS256 signature by key, issuer
// appID, not expired.
func verifyAppJWT(jwt string, appID int64, key *rsa.PublicKey, now time.Time) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if header.Alg != "RS256" {
		return fmt.Errorf("algorithm %q, want RS256", header.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	var claims struct {
		Iss any   `json:"iss"`
		Exp int64 `json:"exp"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if fmt.Sprint(claims.Iss) != strconv.FormatInt(appID, 10) {
		return fmt.Errorf("issuer %v, want %d", claims.Iss, appID)
	}
	if now.Unix() >= claims.Exp {
		return errors.New("expired")
	}
	return nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
