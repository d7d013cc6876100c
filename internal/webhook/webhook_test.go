package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/webhook"
)

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	t.Parallel()
	sink := &recSink{}
	watched := func(pr.Repo) bool { return true }
	tests := []struct {
		name string
		cfg  webhook.Config
		want string
	}{
		{"valid", webhook.Config{Secret: secret, Sink: sink, Watched: watched}, ""},
		{"short secret", webhook.Config{Secret: []byte("fifteen-chars!!"), Sink: sink, Watched: watched}, "webhook secret is 15 characters; use at least 16"},
		{"no secret", webhook.Config{Sink: sink, Watched: watched}, "webhook secret is 0 characters"},
		{"no sink", webhook.Config{Secret: secret, Watched: watched}, "no Sink"},
		{"no allow-list", webhook.Config{Secret: secret, Sink: sink}, "no Watched"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhook.New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New = %v, want success", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestDeliveries sends one delivery per case through the real server and
// checks the answer, what the Sink was told and the metric.
func TestDeliveries(t *testing.T) {
	t.Parallel()
	opened := fixture(t, "pull_request_opened.json")
	labeled := fixture(t, "pull_request_labeled.json")
	pr12 := []call{{backend, 12}}

	type tcase struct {
		name     string
		d        delivery
		wantCode int
		wantMsg  string
		want     []call
		outcome  string // metric: event/outcome
	}
	var tests []tcase
	for _, action := range []string{"opened", "reopened", "closed", "labeled", "unlabeled", "synchronize", "ready_for_review", "converted_to_draft", "edited"} {
		tests = append(tests, tcase{
			"pull_request " + action, signed("pull_request", "d-"+action, replace(t, opened, `"action": "opened"`, `"action": "`+action+`"`)),
			202, "accepted: pull_request " + action + " acme/backend#12", pr12, "pull_request/accepted",
		})
	}
	for _, action := range []string{"assigned", "review_requested", "milestoned", "auto_merge_enabled"} {
		tests = append(tests, tcase{
			"pull_request " + action + " changes nothing", signed("pull_request", "d-"+action, replace(t, opened, `"action": "opened"`, `"action": "`+action+`"`)),
			200, `ignored: pull_request action "` + action + `" changes no preview`, nil, "pull_request/ignored",
		})
	}
	form := []byte("payload=" + url.QueryEscape(string(labeled)))
	formDelivery := signed("pull_request", "d-form", form)
	formDelivery.contentType = "application/x-www-form-urlencoded"
	formNoPayload := signed("pull_request", "d-form-empty", []byte("data="+url.QueryEscape(string(labeled))))
	formNoPayload.contentType = "application/x-www-form-urlencoded"
	textPlain := signed("pull_request", "d-text", labeled)
	textPlain.contentType = "text/plain"
	jsonCharset := signed("pull_request", "d-charset", labeled)
	jsonCharset.contentType = "application/json; charset=utf-8"

	withHeader := func(d delivery, k, v string) delivery {
		h := map[string]string{}
		for hk, hv := range d.headers {
			h[hk] = hv
		}
		h[k] = v
		d.headers = h
		return d
	}
	goodSig := webhook.SignatureHeader(secret, labeled)
	sha1MAC := hmac.New(sha1.New, secret)
	sha1MAC.Write(labeled)
	sha1Sig := "sha1=" + hex.EncodeToString(sha1MAC.Sum(nil))
	changedAfterSigning := withHeader(signed("pull_request", "d-tampered", replace(t, labeled, `"number": 12`, `"number": 13`)), webhook.HeaderSignature, goodSig)
	noRepo := []byte(`{"action":"opened","number":12,"pull_request":{"number":12}}`)

	tests = append(tests, []tcase{
		{"pull_request labeled fixture", signed("pull_request", "d1", labeled), 202, "accepted: pull_request labeled acme/backend#12", pr12, "pull_request/accepted"},
		{"pull_request synchronize fixture", signed("pull_request", "d2", fixture(t, "pull_request_synchronize.json")), 202, "accepted: pull_request synchronize acme/backend#12", pr12, "pull_request/accepted"},
		{"pull_request closed fixture", signed("pull_request", "d3", fixture(t, "pull_request_closed.json")), 202, "accepted: pull_request closed acme/backend#12", pr12, "pull_request/accepted"},
		{"push to a branch: the whole repository", signed("push", "d4", fixture(t, "push_branch.json")), 202, `accepted: push to branch "feature/login" of acme/backend`, []call{{backend, 0}}, "push/accepted"},
		{"push of a tag", signed("push", "d5", fixture(t, "push_tag.json")), 200, `ignored: push to "refs/tags/v1.4.0" is not a branch push`, nil, "push/ignored"},
		{"comment on a pull request", signed("issue_comment", "d6", fixture(t, "issue_comment_created.json")), 202, "accepted: comment 1823456789 created on acme/backend#12", pr12, "issue_comment/accepted"},
		{"comment edited", signed("issue_comment", "d7", fixture(t, "issue_comment_edited.json")), 202, "accepted: comment 1823456789 edited on acme/backend#12", pr12, "issue_comment/accepted"},
		{"comment deleted", signed("issue_comment", "d8", fixture(t, "issue_comment_deleted.json")), 202, "accepted: comment 1823456789 deleted on acme/backend#12", pr12, "issue_comment/accepted"},
		{"comment on an issue", signed("issue_comment", "d9", fixture(t, "issue_comment_on_issue.json")), 200, "ignored: comment on issue acme/backend#9, not a pull request", nil, "issue_comment/ignored"},
		{"ping", signed("ping", "d10", fixture(t, "ping.json")), 200, "pong", nil, "ping/ignored"},
		{"unknown event", signed("star", "d11", fixture(t, "star_created.json")), 200, `ignored: event "star" is not used`, nil, "other/ignored"},
		{"event go-github does not know", signed("made_up_event", "d12", []byte(`{}`)), 200, `ignored: event "made_up_event" is not used`, nil, "other/ignored"},
		{"repository not watched", signed("pull_request", "d13", replace(t, labeled, `"full_name": "acme/backend",
    "private"`, `"full_name": "acme/other",
    "private"`)), 200, "ignored: repository not watched: acme/other", nil, "pull_request/ignored"},
		{"repository named in another case", signed("pull_request", "d14", replace(t, labeled, `"full_name": "acme/backend",
    "private"`, `"full_name": "ACME/Frontend",
    "private"`)), 202, "accepted: pull_request labeled ACME/Frontend#12", []call{{pr.Repo{Owner: "ACME", Name: "Frontend"}, 12}}, "pull_request/accepted"},
		{"form-encoded payload", formDelivery, 202, "accepted: pull_request labeled acme/backend#12", pr12, "pull_request/accepted"},
		{"form without a payload field", formNoPayload, 400, "form body without a payload field", nil, "pull_request/bad_request"},
		{"JSON with a charset", jsonCharset, 202, "accepted: pull_request labeled acme/backend#12", pr12, "pull_request/accepted"},
		{"text/plain", textPlain, 415, `content type "text/plain": want application/json`, nil, "pull_request/bad_request"},
		{"no content type", withHeader(signed("pull_request", "d15", labeled), "Content-Type", ""), 415, `content type ""`, nil, "pull_request/bad_request"},
		{"no event header", signed("", "d16", labeled), 400, "missing X-GitHub-Event", nil, "other/bad_request"},
		{"no delivery header", signed("pull_request", "", labeled), 400, "missing X-GitHub-Delivery", nil, "pull_request/bad_request"},
		{"malformed JSON", signed("pull_request", "d17", labeled[:len(labeled)/2]), 400, "delivery d17: malformed payload: pull_request", nil, "pull_request/bad_request"},
		{"payload without a repository", signed("pull_request", "d18", noRepo), 400, "delivery d18: malformed payload: no repository", nil, "pull_request/bad_request"},
		{"pull_request without a number", signed("pull_request", "d19", []byte(`{"action":"opened","repository":{"full_name":"acme/backend"}}`)), 400, "names no pull request number", nil, "pull_request/bad_request"},

		{"unsigned", withHeader(signed("pull_request", "d20", labeled), webhook.HeaderSignature, ""), 401, "missing X-Hub-Signature-256", nil, "pull_request/unsigned"},
		{"sha1 signature only", withHeader(withHeader(signed("pull_request", "d21", labeled), webhook.HeaderSignature, ""), "X-Hub-Signature", sha1Sig), 401, "missing X-Hub-Signature-256", nil, "pull_request/unsigned"},
		{"wrong secret", withHeader(signed("pull_request", "d22", labeled), webhook.HeaderSignature, webhook.SignatureHeader([]byte("another-secret-0123456789"), labeled)), 403, "not signed with this secret", nil, "pull_request/bad_signature"},
		{"body changed after signing", changedAfterSigning, 403, "not signed with this secret", nil, "pull_request/bad_signature"},
		{"sha1 value in the sha256 header", withHeader(signed("pull_request", "d23", labeled), webhook.HeaderSignature, sha1Sig), 403, `does not start with "sha256="`, nil, "pull_request/bad_signature"},
		{"upper-case prefix", withHeader(signed("pull_request", "d24", labeled), webhook.HeaderSignature, "SHA256="+strings.TrimPrefix(goodSig, "sha256=")), 403, `does not start with "sha256="`, nil, "pull_request/bad_signature"},
		{"prefix only", withHeader(signed("pull_request", "d25", labeled), webhook.HeaderSignature, "sha256="), 403, "64 hex digits", nil, "pull_request/bad_signature"},
		{"not hex", withHeader(signed("pull_request", "d26", labeled), webhook.HeaderSignature, "sha256="+strings.Repeat("zz", 32)), 403, "64 hex digits", nil, "pull_request/bad_signature"},
		{"truncated", withHeader(signed("pull_request", "d27", labeled), webhook.HeaderSignature, goodSig[:len(goodSig)-2]), 403, "64 hex digits", nil, "pull_request/bad_signature"},
		{"signature with a suffix", withHeader(signed("pull_request", "d28", labeled), webhook.HeaderSignature, goodSig+"00"), 403, "64 hex digits", nil, "pull_request/bad_signature"},
		{"all-zero signature", withHeader(signed("pull_request", "d29", labeled), webhook.HeaderSignature, "sha256="+strings.Repeat("0", 64)), 403, "not signed with this secret", nil, "pull_request/bad_signature"},
	}...)

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			got := r.send(t, tc.d)
			if got.code != tc.wantCode || !strings.Contains(got.message, tc.wantMsg) {
				t.Errorf("answer = %d %q, want %d containing %q", got.code, got.message, tc.wantCode, tc.wantMsg)
			}
			if calls := r.sink.got(); !slices.Equal(calls, tc.want) {
				t.Errorf("Sink told %v, want %v", calls, tc.want)
			}
			if m := r.metrics.get(); len(m) != 1 || m[tc.outcome] != 1 {
				t.Errorf("metrics = %v, want one %s", m, tc.outcome)
			}
		})
	}
}

func TestReplayedDeliveryChangesNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	body := fixture(t, "pull_request_labeled.json")
	const id = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

	// A forged delivery with the ID does not take it.
	forged := signed("pull_request", id, body)
	forged.headers = map[string]string{webhook.HeaderSignature: webhook.SignatureHeader([]byte("not-the-secret-0123456789"), body)}
	if got := r.send(t, forged); got.code != 403 {
		t.Fatalf("forged = %d %q, want 403", got.code, got.message)
	}
	// Nor does a verified one that could not be read.
	if got := r.send(t, signed("pull_request", id, body[:10])); got.code != 400 {
		t.Fatalf("malformed = %d %q, want 400", got.code, got.message)
	}
	if got := r.send(t, signed("pull_request", id, body)); got.code != 202 {
		t.Fatalf("first genuine delivery = %d %q, want 202", got.code, got.message)
	}
	for range 2 {
		got := r.send(t, signed("pull_request", id, body))
		if got.code != 409 || got.message != "delivery "+id+" was already received; nothing done" {
			t.Errorf("replay = %d %q, want 409 naming the delivery", got.code, got.message)
		}
	}
	// A replay of an ignored delivery is a replay too.
	ping := fixture(t, "ping.json")
	if got := r.send(t, signed("ping", "ping-1", ping)); got.code != 200 {
		t.Fatalf("ping = %d %q", got.code, got.message)
	}
	if got := r.send(t, signed("ping", "ping-1", ping)); got.code != 409 {
		t.Errorf("replayed ping = %d %q, want 409", got.code, got.message)
	}
	if calls := r.sink.got(); !slices.Equal(calls, []call{{backend, 12}}) {
		t.Errorf("Sink told %v, want acme/backend#12 once", calls)
	}
	if got := r.metrics.get()["pull_request/replayed"]; got != 2 {
		t.Errorf("replayed metric = %d, want 2", got)
	}
}

// TestConcurrentReplays sends one delivery from many clients at once:
// exactly one is acted on.
func TestConcurrentReplays(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	body := fixture(t, "push_branch.json")
	const n = 8
	codes := make(chan int, n)
	for range n {
		go func() { codes <- r.send(t, signed("push", "same-id", body)).code }()
	}
	count := map[int]int{}
	for range n {
		count[<-codes]++
	}
	if count[202] != 1 || count[409] != n-1 {
		t.Errorf("answers = %v, want one 202 and %d 409", count, n-1)
	}
	if calls := r.sink.got(); len(calls) != 1 {
		t.Errorf("Sink told %v, want one call", calls)
	}
}

// TestComments follows one comment through creation, an edit, an edit
// delivered late and deletion.
func TestComments(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	next := ids()
	created := fixture(t, "issue_comment_created.json")
	edited := fixture(t, "issue_comment_edited.json")
	send := func(event string, body []byte) {
		t.Helper()
		if got := r.send(t, signed(event, next(), body)); got.code != 202 {
			t.Fatalf("%s = %d %q, want 202", event, got.code, got.message)
		}
	}
	send("issue_comment", edited)
	send("issue_comment", created) // the older version, delivered late
	got := r.h.Comments(backend, 12)
	if len(got) != 1 {
		t.Fatalf("Comments = %+v, want one", got)
	}
	c := got[0]
	if c.Repo != backend || c.PullRequest != 12 || c.ID != 1823456789 || c.Author != "bob" ||
		c.AuthorAssociation != "COLLABORATOR" || c.Body != "/preview extend 48h" ||
		c.CreatedAt.Format("2006-01-02T15:04:05Z07:00") != "2026-11-20T12:00:05Z" ||
		c.UpdatedAt.Format("2006-01-02T15:04:05Z07:00") != "2026-11-20T12:03:41Z" {
		t.Errorf("comment = %+v, want bob's edited /preview extend 48h on acme/backend#12", c)
	}
	if other := r.h.Comments(backend, 13); len(other) != 0 {
		t.Errorf("Comments of #13 = %+v, want none", other)
	}
	if same := r.h.Comments(pr.Repo{Owner: "ACME", Name: "Backend"}, 12); len(same) != 1 {
		t.Errorf("Comments by another spelling of the repository = %+v, want the one comment", same)
	}

	// A second comment, newer, comes after the first.
	second := replace(t, replace(t, created, `"id": 1823456789`, `"id": 1823456790`), `"created_at": "2026-11-20T12:00:05Z",
    "updated_at": "2026-11-20T12:00:05Z",
    "author_association": "COLLABORATOR",
    "body": "/preview extend 24h"`, `"created_at": "2026-11-20T12:10:00Z",
    "updated_at": "2026-11-20T12:10:00Z",
    "author_association": "OWNER",
    "body": "/preview pin"`)
	send("issue_comment", second)
	var bodies []string
	for _, c := range r.h.Comments(backend, 12) {
		bodies = append(bodies, c.Body)
	}
	if !slices.Equal(bodies, []string{"/preview extend 48h", "/preview pin"}) {
		t.Errorf("bodies = %q, want oldest first", bodies)
	}

	send("issue_comment", fixture(t, "issue_comment_deleted.json"))
	bodies = bodies[:0]
	for _, c := range r.h.Comments(backend, 12) {
		bodies = append(bodies, c.Body)
	}
	if !slices.Equal(bodies, []string{"/preview pin"}) {
		t.Errorf("after deleting 1823456789, bodies = %q, want only the second comment", bodies)
	}

	// Comments on unwatched repositories are not kept.
	other := replace(t, created, `"full_name": "acme/backend"`, `"full_name": "acme/other"`)
	if got := r.send(t, signed("issue_comment", next(), other)); got.code != 200 {
		t.Fatalf("comment on an unwatched repository = %d %q, want 200", got.code, got.message)
	}
	if got := r.h.Comments(pr.Repo{Owner: "acme", Name: "other"}, 12); len(got) != 0 {
		t.Errorf("kept %+v of an unwatched repository", got)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	// Computed with: printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret"
	const openssl = "sha256=457b642fe12aa34e51da690e6f3d5ce5c778ff114d258ad001f8228973b47341"
	if got := webhook.SignatureHeader(secret, body); got != openssl {
		t.Fatalf("SignatureHeader = %s, want %s (openssl)", got, openssl)
	}
	tests := []struct {
		name    string
		header  string
		body    []byte
		wantErr error
	}{
		{"valid", openssl, body, nil},
		{"valid, upper-case hex", "sha256=" + strings.ToUpper(strings.TrimPrefix(openssl, "sha256=")), body, nil},
		{"empty", "", body, webhook.ErrUnsigned},
		{"other body", webhook.SignatureHeader(secret, body), append(bytes.Clone(body), ' '), webhook.ErrBadSignature},
		{"no prefix", strings.TrimPrefix(webhook.SignatureHeader(secret, body), "sha256="), body, webhook.ErrBadSignature},
		{"spaces", " " + webhook.SignatureHeader(secret, body), body, webhook.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify(secret, tc.header, tc.body)
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("Verify = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
