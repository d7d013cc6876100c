// Package webhook receives GitHub webhook deliveries so that a label, a
// push or a comment is reflected at once instead of at the next poll. It
// verifies each delivery's HMAC-SHA256 signature in constant time, bounds
// its size, drops replayed delivery IDs, reads the event with go-github's
// types, and tells a Sink which watched repository (and pull request)
// changed. It keeps the comments on pull requests for lifecycle commands.
//
// It never builds an answer for Argo CD: polling stays the source of
// truth, and a missed delivery is healed by the next refresh.
package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// MaxBodyBytes is the largest delivery accepted: GitHub caps webhook
// payloads at 25 MB.
const MaxBodyBytes = 25 << 20

// MinSecretLen is the shortest secret New accepts.
const MinSecretLen = 16

// Defaults for Config.
const (
	// DefaultMaxDeliveries is how many delivery IDs are remembered.
	DefaultMaxDeliveries = 10_000
	// DefaultMaxComments is how many comments the comment log holds.
	DefaultMaxComments = 10_000
	// DefaultMaxCommentBytes bounds the bodies the comment log holds.
	DefaultMaxCommentBytes = 16 << 20
)

// Outcomes of a delivery, as counted by Metrics.
const (
	OutcomeAccepted     = "accepted"      // acted on: 202
	OutcomeIgnored      = "ignored"       // verified, changes nothing: 200
	OutcomeReplayed     = "replayed"      // delivery ID seen before: 409
	OutcomeBadSignature = "bad_signature" // 403
	OutcomeUnsigned     = "unsigned"      // 401
	OutcomeTooLarge     = "too_large"     // 413
	OutcomeBadRequest   = "bad_request"   // 400, 405 or 415
)

// Sink is told which repository (and pull request, 0 for any) changed.
// Changed is called synchronously while the delivery is answered, so it
// must not block: schedule the work and return.
type Sink interface {
	Changed(repo pr.Repo, number int)
}

// Metrics counts deliveries. *metrics.Metrics implements it.
type Metrics interface {
	// WebhookDelivery counts one delivery by event (ping, pull_request,
	// push, issue_comment, or other) and outcome (the Outcome constants).
	WebhookDelivery(event, outcome string)
}

// Config wires a Handler.
type Config struct {
	// Secret is the webhook's secret on GitHub, at least MinSecretLen
	// bytes.
	Secret []byte
	// Sink is told of every change to a watched repository.
	Sink Sink
	// Watched reports whether a repository is served; deliveries about
	// any other are ignored.
	Watched func(pr.Repo) bool
	// ImageGate returns the image gate of a repository, if it has one.
	// status, check_run and check_suite deliveries refresh only a
	// repository whose gate they name (a check suite: any check run
	// gate); nil gates nothing, and they are ignored.
	ImageGate func(pr.Repo) (ImageGate, bool)
	// Metrics may be nil.
	Metrics Metrics
	// Logger may be nil.
	Logger *slog.Logger
	// MaxDeliveries defaults to DefaultMaxDeliveries, MaxComments to
	// DefaultMaxComments and MaxCommentBytes to DefaultMaxCommentBytes.
	MaxDeliveries   int
	MaxComments     int
	MaxCommentBytes int
}

// Handler is the http.Handler of POST /api/v1/webhooks/github. Build it
// with New. It is safe for concurrent use.
type Handler struct {
	cfg        Config
	deliveries *deliveries
	comments   *comments
}

// New returns a Handler, or an error naming what cfg lacks.
func New(cfg Config) (*Handler, error) {
	var errs []error
	if len(cfg.Secret) < MinSecretLen {
		errs = append(errs, fmt.Errorf("webhook secret is %d characters; use at least %d", len(cfg.Secret), MinSecretLen))
	}
	if cfg.Sink == nil {
		errs = append(errs, errors.New("webhook: no Sink"))
	}
	if cfg.Watched == nil {
		errs = append(errs, errors.New("webhook: no Watched"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxDeliveries <= 0 {
		cfg.MaxDeliveries = DefaultMaxDeliveries
	}
	if cfg.MaxComments <= 0 {
		cfg.MaxComments = DefaultMaxComments
	}
	if cfg.MaxCommentBytes <= 0 {
		cfg.MaxCommentBytes = DefaultMaxCommentBytes
	}
	return &Handler{
		cfg:        cfg,
		deliveries: newDeliveries(cfg.MaxDeliveries),
		comments:   newComments(cfg.MaxComments, cfg.MaxCommentBytes),
	}, nil
}

// Comments returns the comments kept for a pull request, oldest first:
// those created or edited on it since the process started, within the
// log's bounds, without those deleted since.
func (h *Handler) Comments(repo pr.Repo, number int) []Comment {
	return h.comments.of(repo, number)
}

// answer is the status and message of a delivery's reply.
type answer struct {
	code    int
	outcome string
	message string
}

// ServeHTTP answers one delivery with JSON {"message": ...}.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.handle(r)
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.WebhookDelivery(eventLabel(r.Header.Get(HeaderEvent)), a.outcome)
	}
	if a.code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.code)
	_ = json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{a.message})
}

// eventLabel bounds the event label of the metric: the header is not
// trusted until the signature verifies.
func eventLabel(event string) string {
	switch event {
	case EventPing, EventPullRequest, EventPush, EventIssueComment, EventStatus, EventCheckRun, EventCheckSuite:
		return event
	}
	return "other"
}

// ImageGate is a repository's image gate: the check run named CheckRun,
// or the commit status of context Status.
type ImageGate struct {
	CheckRun string
	Status   string
}

// gateIgnores says why an image gating event about ev changes nothing for
// repo; empty when it may.
func (h *Handler) gateIgnores(repo pr.Repo, ev ImageGate) string {
	var (
		g  ImageGate
		ok bool
	)
	if h.cfg.ImageGate != nil {
		g, ok = h.cfg.ImageGate(repo)
	}
	switch {
	case !ok:
		return fmt.Sprintf("%s has no image gate", repo)
	case ev.Status != "" && ev.Status != g.Status:
		return fmt.Sprintf("status %q is not the image gate of %s", ev.Status, repo)
	case ev.CheckRun != "" && ev.CheckRun != g.CheckRun:
		return fmt.Sprintf("check run %q is not the image gate of %s", ev.CheckRun, repo)
	case ev == ImageGate{} && g.CheckRun == "":
		return fmt.Sprintf("%s is gated on a status, not a check run", repo)
	}
	return ""
}

// handle verifies, records and acts on a delivery. The signature is
// checked before anything else is read; a delivery is recorded only once
// it is verified and readable, so a redelivery of one that failed can
// still succeed.
func (h *Handler) handle(r *http.Request) answer {
	bad := func(code int, format string, a ...any) answer {
		return answer{code: code, outcome: OutcomeBadRequest, message: fmt.Sprintf(format, a...)}
	}
	if r.Method != http.MethodPost {
		return bad(http.StatusMethodNotAllowed, "method %s not allowed: GitHub POSTs deliveries", r.Method)
	}
	sig := r.Header.Get(HeaderSignature)
	if sig == "" {
		return answer{http.StatusUnauthorized, OutcomeUnsigned,
			fmt.Sprintf("missing %s: set the webhook's secret on GitHub (the SHA-1 X-Hub-Signature is not accepted)", HeaderSignature)}
	}
	tooLarge := answer{http.StatusRequestEntityTooLarge, OutcomeTooLarge, fmt.Sprintf("body larger than %d bytes", MaxBodyBytes)}
	if r.ContentLength > MaxBodyBytes {
		return tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return bad(http.StatusBadRequest, "reading body: %v", err)
	}
	if len(body) > MaxBodyBytes {
		return tooLarge
	}
	if err := Verify(h.cfg.Secret, sig, body); err != nil {
		h.cfg.Logger.Warn("webhook delivery with a bad signature", "delivery", r.Header.Get(HeaderDelivery), "error", err)
		return answer{http.StatusForbidden, OutcomeBadSignature, err.Error()}
	}

	payload, a, ok := readPayload(r.Header.Get("Content-Type"), body)
	if !ok {
		return a
	}
	event, id := r.Header.Get(HeaderEvent), r.Header.Get(HeaderDelivery)
	switch {
	case event == "":
		return bad(http.StatusBadRequest, "missing %s", HeaderEvent)
	case id == "":
		return bad(http.StatusBadRequest, "missing %s", HeaderDelivery)
	}
	in, err := decide(event, payload)
	if err != nil {
		return bad(http.StatusBadRequest, "delivery %s: %v", id, err)
	}
	if !h.deliveries.add(id) {
		return answer{http.StatusConflict, OutcomeReplayed, fmt.Sprintf("delivery %s was already received; nothing done", id)}
	}
	return h.act(id, event, in)
}

// readPayload returns the JSON payload of a delivery body: the body itself
// for application/json, the payload field for a form.
func readPayload(contentType string, body []byte) ([]byte, answer, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = contentType
	}
	switch mt {
	case "application/json":
		return body, answer{}, true
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, answer{http.StatusBadRequest, OutcomeBadRequest, fmt.Sprintf("malformed form body: %v", err)}, false
		}
		if !form.Has("payload") {
			return nil, answer{http.StatusBadRequest, OutcomeBadRequest, "form body without a payload field"}, false
		}
		return []byte(form.Get("payload")), answer{}, true
	}
	return nil, answer{http.StatusUnsupportedMediaType, OutcomeBadRequest,
		fmt.Sprintf("content type %q: want application/json (or application/x-www-form-urlencoded)", contentType)}, false
}

// act carries out a verified, new delivery.
func (h *Handler) act(id, event string, in intent) answer {
	ignored := func(why string) answer {
		h.cfg.Logger.Debug("webhook delivery ignored", "delivery", id, "event", event, "why", why)
		return answer{http.StatusOK, OutcomeIgnored, "ignored: " + why}
	}
	if event == EventPing {
		h.cfg.Logger.Info("webhook ping", "delivery", id, "what", in.what)
		return answer{http.StatusOK, OutcomeIgnored, "pong"}
	}
	if in.repo != (pr.Repo{}) && !h.cfg.Watched(in.repo) {
		return ignored(fmt.Sprintf("repository not watched: %s", in.repo))
	}
	if in.ignore != "" {
		return ignored(in.ignore)
	}
	if in.gate != nil {
		if why := h.gateIgnores(in.repo, *in.gate); why != "" {
			return ignored(why)
		}
	}
	if in.comment != nil {
		h.comments.put(*in.comment)
	}
	if in.forget != 0 {
		h.comments.forget(in.forget)
	}
	h.cfg.Sink.Changed(in.repo, in.number)
	h.cfg.Logger.Info("webhook delivery accepted", "delivery", id, "event", event, "what", in.what)
	return answer{http.StatusAccepted, OutcomeAccepted, "accepted: " + in.what}
}
