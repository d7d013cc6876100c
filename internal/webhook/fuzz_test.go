package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/webhook"
)

// FuzzWebhook sends arbitrary bodies and signature headers. Whatever
// comes, the answer is JSON and never a 5xx, and the Sink hears nothing
// unless the signature verifies. With sign set, the body is signed
// correctly, so the fuzzer also reaches the payload readers.
func FuzzWebhook(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	events := map[string]string{"pull_request_": "pull_request", "push_": "push", "issue_comment_": "issue_comment", "ping": "ping", "star_": "star"}
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		event := "pull_request"
		for prefix, e := range events {
			if bytes.HasPrefix([]byte(filepath.Base(file)), []byte(prefix)) {
				event = e
			}
		}
		f.Add(body, webhook.SignatureHeader(secret, body), false, event, "application/json")
		f.Add(body, "", true, event, "application/json")
		form := []byte("payload=" + url.QueryEscape(string(body)))
		f.Add(form, webhook.SignatureHeader(secret, form), false, event, "application/x-www-form-urlencoded")
	}
	f.Add([]byte(`{"action":"opened","number":1,"repository":{"full_name":"acme/backend"}}`), "sha256=", false, "pull_request", "application/json")
	f.Add([]byte(`{"action":"opened","number":-1,"repository":{"full_name":"acme/backend"}}`), "", true, "pull_request", "application/json")
	f.Add([]byte(`{"repository":{"full_name":"/"}}`), "", true, "push", "application/json")
	f.Add([]byte("payload=%zz"), "", true, "push", "application/x-www-form-urlencoded")

	// One handler for every input, as in production; the inputs of one
	// worker run one after another, and each gets a new delivery ID.
	sink := &recSink{}
	h, err := webhook.New(webhook.Config{Secret: secret, Sink: sink, Watched: func(pr.Repo) bool { return true }})
	if err != nil {
		f.Fatal(err)
	}
	nextID := ids()
	f.Fuzz(func(t *testing.T, body []byte, sig string, sign bool, event, contentType string) {
		sink.mu.Lock()
		sink.calls = nil
		sink.mu.Unlock()
		if sign {
			sig = webhook.SignatureHeader(secret, body)
		}
		req := httptest.NewRequest("POST", "/api/v1/webhooks/github", bytes.NewReader(body))
		req.Header = map[string][]string{
			webhook.HeaderSignature: {sig}, webhook.HeaderEvent: {event},
			webhook.HeaderDelivery: {nextID()}, "Content-Type": {contentType},
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("answer %d %s", rec.Code, rec.Body)
		}
		var msg struct {
			Message *string `json:"message"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &msg); err != nil || msg.Message == nil {
			t.Fatalf("reply %d is not JSON {\"message\": ...}: %q", rec.Code, rec.Body)
		}
		calls := sink.got()
		if len(calls) > 0 && webhook.Verify(secret, sig, body) != nil {
			t.Fatalf("Sink told %v for a delivery whose signature does not verify (answer %d %s)", calls, rec.Code, rec.Body)
		}
		if len(calls) > 1 || (len(calls) == 1) != (rec.Code == 202) {
			t.Fatalf("Sink told %v with answer %d: want one call exactly when 202", calls, rec.Code)
		}
	})
}
