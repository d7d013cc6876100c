package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/prfile"
	"github.com/preview-generator/preview-generator/internal/store"
)

// outageLabel is the label for which fuzzSource fails as a store does
// before its first successful listing.
const outageLabel = "outage"

// fuzzSource serves fixed pull requests per requested repository, and
// fails with store.ErrUnavailable for outageLabel.
type fuzzSource struct {
	prs []pr.PullRequest
}

func (f fuzzSource) Get(_ context.Context, repos []pr.Repo, label string) (store.Result, error) {
	if strings.EqualFold(label, outageLabel) {
		return store.Result{}, fmt.Errorf("%w: GitHub is down", store.ErrUnavailable)
	}
	res := store.Result{Generation: 1}
	for _, r := range repos {
		var l []pr.PullRequest
		for _, p := range f.prs {
			if p.Repo.Key() == r.Key() {
				l = append(l, p)
			}
		}
		res.Lists = append(res.Lists, l)
	}
	return res, nil
}

func (fuzzSource) Ready() bool { return true }

// FuzzGetParamsBody posts arbitrary bytes, with the right token, as the
// body of a getparams request through the real handler. Whatever the body,
// the answer is a 200 with {"output":{"parameters":[...]}}, or a 4xx or
// the 503 of an unknown PR list with a JSON {"message"}: never another 5xx.
func FuzzGetParamsBody(f *testing.F) {
	data, err := os.ReadFile("testdata/prs.yaml")
	if err != nil {
		f.Fatal(err)
	}
	prs, err := prfile.Parse(data, testNow)
	if err != nil {
		f.Fatal(err)
	}
	s := New(Config{Token: []byte(testToken), Defaults: testDefaults(), Source: fuzzSource{prs: prs}, Now: func() time.Time { return testNow }})
	for _, seed := range []string{
		body(`{"repositories":["acme/backend","ACME/Frontend"],"database":true}`),
		body(`{"repositories":["acme/frontend"],"ttl":"24h","basicAuth":false}`),
		body(`{"repositories":["acme/backend"],"label":"` + outageLabel + `"}`),
		body(`{"repositories":["acme/backend"],"image":"{registry}/{nope}"}`),
		body(`{"repositories":["acme/backend"],"includeDrafts":true,"excludeBots":true,"sizeProfile":"large"}`),
		body(`{}`), body(`null`), `{"applicationSetName":"a","inputs":{}}`, `{"input":`, `[]`, ``, `null`,
		body(`{"repositories":["acme/backend"]}`) + `{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := do(t, s, http.MethodPost, RouteGetParams, "Bearer "+testToken, string(data))
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("status %d with Content-Type %q", rec.Code, ct)
		}
		if rec.Code == http.StatusOK {
			checkReply(t, rec.Body.Bytes())
			return
		}
		if rec.Code < 400 || rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d for body %q: %s", rec.Code, data, rec.Body)
		}
		var e ErrorResponse
		dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Message == "" {
			t.Fatalf("status %d: error body %q is not {\"message\": \"...\"}: %v", rec.Code, rec.Body, err)
		}
		if rec.Code == http.StatusServiceUnavailable && !strings.Contains(e.Message, "not known yet") {
			t.Fatalf("503 that is not the unknown-PRs answer: %q", e.Message)
		}
	})
}

// checkReply asserts that b is {"output":{"parameters":[...]}} with
// nothing else, a list (never null), and a generator-made name in every map.
func checkReply(t *testing.T, b []byte) {
	t.Helper()
	var reply struct {
		Output *struct {
			Parameters *[]map[string]string `json:"parameters"`
		} `json:"output"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reply); err != nil {
		t.Fatalf("200 body %q: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("200 body %q: more than one JSON value", b)
	}
	if reply.Output == nil || reply.Output.Parameters == nil {
		t.Fatalf("200 body %q lacks output.parameters as a list", b)
	}
	for _, p := range *reply.Output.Parameters {
		n, err := strconv.Atoi(p["number"])
		if err != nil || p["name"] != params.PreviewName(p["owner"], p["repo"], n) {
			t.Errorf("preview %v: name is not PreviewName(owner, repo, number)", p)
		}
	}
}
