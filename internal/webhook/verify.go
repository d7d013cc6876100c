package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Headers GitHub sets on every delivery.
const (
	// HeaderSignature carries "sha256=<hex>", the HMAC-SHA256 of the raw
	// body keyed with the webhook's secret.
	HeaderSignature = "X-Hub-Signature-256"
	// HeaderEvent names the event: pull_request, push, issue_comment, ping, ...
	HeaderEvent = "X-GitHub-Event"
	// HeaderDelivery is the event's unique ID. GitHub sends the same ID
	// again when a delivery is redelivered.
	HeaderDelivery = "X-GitHub-Delivery"
)

const signaturePrefix = "sha256="

// ErrUnsigned means a delivery carries no X-Hub-Signature-256: the
// webhook on GitHub has no secret, or the request is not from GitHub.
var ErrUnsigned = errors.New("missing " + HeaderSignature)

// ErrBadSignature means a delivery's signature is malformed or does not
// match its body and the secret.
var ErrBadSignature = errors.New("signature does not verify")

// Verify checks header, the value of X-Hub-Signature-256, against the
// HMAC-SHA256 of body keyed with secret, in constant time. It returns nil,
// or an error wrapping ErrUnsigned or ErrBadSignature.
func Verify(secret []byte, header string, body []byte) error {
	if header == "" {
		return ErrUnsigned
	}
	hexMAC, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return fmt.Errorf("%w: %s does not start with %q", ErrBadSignature, HeaderSignature, signaturePrefix)
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not %q followed by %d hex digits", ErrBadSignature, HeaderSignature, signaturePrefix, 2*sha256.Size)
	}
	if !hmac.Equal(got, Sign(secret, body)) {
		return fmt.Errorf("%w: the body was not signed with this secret", ErrBadSignature)
	}
	return nil
}

// Sign returns the HMAC-SHA256 of body keyed with secret, as GitHub
// computes it for X-Hub-Signature-256 (hex-encoded, after "sha256=").
func Sign(secret, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body) // a hash.Hash never returns an error
	return mac.Sum(nil)
}

// SignatureHeader returns the X-Hub-Signature-256 value GitHub would send
// for body: "sha256=" and the hex HMAC.
func SignatureHeader(secret, body []byte) string {
	return signaturePrefix + hex.EncodeToString(Sign(secret, body))
}
