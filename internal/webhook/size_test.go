package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/preview-generator/preview-generator/internal/webhook"
)

// spaces is copied from by filler.
var spaces = []byte(strings.Repeat(" ", 32<<10))

// filler streams n spaces without holding them.
type filler struct{ n int64 }

func (f *filler) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(int64(len(p)), f.n)], spaces)
	f.n -= int64(k)
	return k, nil
}

// padded streams a fixture followed by JSON white space up to size bytes.
func padded(t *testing.T, name string, size int64) func() io.Reader {
	b := fixture(t, name)
	return func() io.Reader {
		return io.MultiReader(strings.NewReader(string(b)), &filler{n: size - int64(len(b))})
	}
}

// streamedSignature signs a streamed body as GitHub would.
func streamedSignature(t *testing.T, r io.Reader) string {
	t.Helper()
	mac := hmac.New(sha256.New, secret)
	if _, err := io.Copy(mac, r); err != nil {
		t.Fatal(err)
	}
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// TestBodySizeBound streams bodies around 25 MiB, with and without a
// Content-Length, through the real server.
func TestBodySizeBound(t *testing.T) {
	t.Parallel()
	const limit = webhook.MaxBodyBytes
	atLimit := padded(t, "pull_request_labeled.json", limit)
	overLimit := padded(t, "pull_request_labeled.json", limit+1)
	tests := []struct {
		name     string
		body     func() io.Reader
		length   int64 // -1: chunked, no Content-Length
		unsigned bool
		wantCode int
		wantMsg  string
		want     []call
	}{
		{"exactly 25 MiB, signed", atLimit, limit, false, 202, "accepted: pull_request labeled acme/backend#12", []call{{backend, 12}}},
		{"exactly 25 MiB, chunked", atLimit, -1, false, 202, "accepted", []call{{backend, 12}}},
		{"one byte over, announced", overLimit, limit + 1, false, 413, "body larger than 26214400 bytes", nil},
		{"one byte over, chunked", overLimit, -1, false, 413, "body larger than 26214400 bytes", nil},
		{"one byte over, unsigned", overLimit, limit + 1, true, 401, "missing X-Hub-Signature-256", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t) // not parallel: each case streams 25 MiB
			d := delivery{event: "pull_request", id: "big", contentType: "application/json", body: tc.body(), length: tc.length}
			if !tc.unsigned {
				d.headers = map[string]string{webhook.HeaderSignature: streamedSignature(t, tc.body())}
			}
			got := r.send(t, d)
			if got.code != tc.wantCode || !strings.Contains(got.message, tc.wantMsg) {
				t.Errorf("answer = %d %q, want %d containing %q", got.code, got.message, tc.wantCode, tc.wantMsg)
			}
			if calls := r.sink.got(); !slices.Equal(calls, tc.want) {
				t.Errorf("Sink told %v, want %v", calls, tc.want)
			}
		})
	}
}
