package server

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/prfile"
	"github.com/preview-generator/preview-generator/internal/store"
)

// servedLog records what an AnswerObserver is told.
type servedLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *servedLog) Served(appset string, namespaces []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, appset+":"+strings.Join(namespaces, ","))
}

// TestAnswersObserved checks that the observer learns the namespaces of
// every answer served, new or cached, by ApplicationSet, and nothing of
// an error.
func TestAnswersObserved(t *testing.T) {
	t.Parallel()
	log := &servedLog{}
	st := store.New(prfile.NewFile("testdata/prs.yaml"), store.Config{})
	s := New(Config{
		Token: []byte(testToken), Defaults: testDefaults(), Source: st, Answers: log,
		Now: func() time.Time { return testNow },
	})
	for _, req := range []struct {
		body string
		code int
	}{
		{`{"applicationSetName":"backend-previews","input":{"parameters":{"repositories":["acme/backend"]}}}`, http.StatusOK},
		{`{"applicationSetName":"backend-previews","input":{"parameters":{"repositories":["acme/backend"]}}}`, http.StatusOK}, // cached
		{`{"applicationSetName":"all","input":{"parameters":{"repositories":["acme/frontend","acme/backend"]}}}`, http.StatusOK},
		{`{"applicationSetName":"bad","input":{"parameters":{"repositories":["acme/unknown"]}}}`, http.StatusBadRequest},
	} {
		if rec := do(t, s, http.MethodPost, RouteGetParams, "Bearer "+testToken, req.body); rec.Code != req.code {
			t.Fatalf("%s: %d %s", req.body, rec.Code, rec.Body)
		}
	}
	want := []string{
		"backend-previews:backend-pr-1-58d661",
		"backend-previews:backend-pr-1-58d661",
		"all:backend-pr-1-58d661,frontend-pr-7-cdf85e",
	}
	if !slices.Equal(log.calls, want) {
		t.Errorf("observed %q, want %q", log.calls, want)
	}
}
