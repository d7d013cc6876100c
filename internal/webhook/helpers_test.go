package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/webhook"
)

var (
	secret  = []byte("webhook-secret-0123456789abcdef")
	backend = pr.Repo{Owner: "acme", Name: "backend"}
)

// call is one Sink.Changed.
type call struct {
	Repo   pr.Repo
	Number int
}

// recSink records what it is told.
type recSink struct {
	mu    sync.Mutex
	calls []call
}

func (s *recSink) Changed(repo pr.Repo, number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call{repo, number})
}

func (s *recSink) got() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

// recMetrics counts deliveries by "event/outcome".
type recMetrics struct {
	mu     sync.Mutex
	counts map[string]int
}

func (m *recMetrics) WebhookDelivery(event, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[event+"/"+outcome]++
}

func (m *recMetrics) get() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.counts {
		out[k] = v
	}
	return out
}

// rig is a Handler watching acme/backend and acme/frontend, mounted in
// the real server and served over loopback HTTP.
type rig struct {
	h       *webhook.Handler
	sink    *recSink
	metrics *recMetrics
	url     string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{sink: &recSink{}, metrics: &recMetrics{counts: map[string]int{}}}
	watched := map[string]bool{"acme/backend": true, "acme/frontend": true}
	h, err := webhook.New(webhook.Config{
		Secret: secret, Sink: r.sink, Metrics: r.metrics,
		Watched: func(repo pr.Repo) bool { return watched[repo.Key()] },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	srv := httptest.NewServer(server.New(server.Config{Webhook: h}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + server.RouteWebhook
	return r
}

// delivery is one request to the webhook route.
type delivery struct {
	event, id   string
	contentType string
	body        io.Reader
	// length is the Content-Length to send; -1 hides it (chunked).
	length  int64
	headers map[string]string // set last; an empty value deletes
}

// signed is a JSON delivery of body signed with secret.
func signed(event, id string, body []byte) delivery {
	return delivery{
		event: event, id: id, contentType: "application/json", body: bytes.NewReader(body), length: int64(len(body)),
		headers: map[string]string{webhook.HeaderSignature: webhook.SignatureHeader(secret, body)},
	}
}

// answer is the status and message of a reply.
type answer struct {
	code    int
	message string
}

func (r *rig) send(t *testing.T, d delivery) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url, io.NopCloser(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = d.length
	if d.contentType != "" {
		req.Header.Set("Content-Type", d.contentType)
	}
	if d.event != "" {
		req.Header.Set(webhook.HeaderEvent, d.event)
	}
	if d.id != "" {
		req.Header.Set(webhook.HeaderDelivery, d.id)
	}
	for k, v := range d.headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", r.url, err)
	}
	defer resp.Body.Close()
	var msg struct {
		Message *string `json:"message"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &msg); err != nil || msg.Message == nil {
		t.Fatalf("reply %d is not JSON {\"message\": ...}: %q", resp.StatusCode, raw)
	}
	return answer{resp.StatusCode, *msg.Message}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replace returns b with old replaced once, failing if old is absent:
// a fixture edit that silently does nothing tests nothing.
func replace(t testing.TB, b []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("fixture lacks %q", old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

func ids() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012d", n)
	}
}
