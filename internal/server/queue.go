package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/queue"
	"github.com/preview-generator/preview-generator/internal/store"
)

// InMaxPreviews is the input parameter that caps a repository's live
// previews (the fair queue).
const InMaxPreviews = "maxPreviews"

// MaxPreviewsLimit bounds --max-previews and maxPreviews.
const MaxPreviewsLimit = 100000

// LiveNamespaces tells which preview namespaces exist and are not being
// deleted. *previewns.Watcher implements it.
type LiveNamespaces interface {
	// Live returns them and a generation that changes whenever they do,
	// or an error while they are not known.
	Live() (queue.Set, uint64, error)
}

// QueueStatuses receives the fair queue's decisions on each new capped
// answer. *status.Queue implements it.
type QueueStatuses interface {
	Waiting(repo pr.Repo, sha string, position, of int, url string)
	Admitted(repo pr.Repo, sha, url string)
}

// QueueMetrics receives the queue length of each requested repository of
// a capped answer; Config.Metrics implements it when it can
// (*metrics.Metrics does).
type QueueMetrics interface {
	QueuedPreviews(repo string, n int)
}

// Queue configures the fair queue.
type Queue struct {
	// Max caps the previews of every repository the server serves
	// together (--max-previews); 0: no global cap.
	Max int
	// Live reads the cluster's preview namespaces; without it a capped
	// request is a 503.
	Live LiveNamespaces
	// Statuses, when set, is told each waiting and admitted PR of a
	// capped answer.
	Statuses QueueStatuses
}

// queueState is the queue of one request: nil when no cap concerns it.
type queueState struct {
	compose *compose.Queue
	gen     uint64 // the live namespaces' generation
	capped  bool   // a cap applies to the requested repositories
}

func (q *queueState) generation() uint64 {
	if q == nil {
		return 0
	}
	return q.gen
}

func (q *queueState) composeQueue() *compose.Queue {
	if q == nil {
		return nil
	}
	return q.compose
}

// targetsCapped reports whether a catalog repository has a maxPreviews:
// dependency targets then depend on the queue.
func targetsCapped(targets map[string]params.Options) bool {
	for _, o := range targets {
		if o.MaxPreviews > 0 {
			return true
		}
	}
	return false
}

// QueueInputError is an input the fair queue refuses (a 400); any other
// error of queueFor means the queue is not known (a 503).
type QueueInputError struct{ Err error }

func (e *QueueInputError) Error() string { return e.Err.Error() }

func (e *QueueInputError) Unwrap() error { return e.Err }

// queueFor returns the queue of a request for in, or nil when no cap
// concerns it. A cap whose inputs are unknown (the preview namespaces not
// listed yet, another served repository never listed) is an error: a
// short list would make Argo CD delete previews. Under --max-previews, a
// repository outside the service catalog must ask for the server's
// defaults (a *QueueInputError otherwise), since its PRs compete with
// every other repository's under options the server must know. res's
// Generation becomes the oldest of the reads. Any caller that builds an
// answer (getparams, a view of it) calls it and passes the result to
// answer.
func (s *Server) queueFor(ctx context.Context, in Input, res *store.Result) (*queueState, error) {
	q := s.cfg.Queue
	capped := q.Max > 0 || in.Options.MaxPreviews > 0
	if !capped && !s.targetsCapped {
		return nil, nil
	}
	if q.Max > 0 {
		if err := s.checkQueueInput(in); err != nil {
			return nil, &QueueInputError{err}
		}
	}
	if q.Live == nil {
		return nil, errors.New("the fair queue (maxPreviews) needs the cluster's preview namespaces, and this server does not read them " +
			"(run it with --fair-queue or --max-previews, with Kubernetes access); refusing to answer a list that could leave out live previews")
	}
	live, gen, err := q.Live.Live()
	if err != nil {
		return nil, fmt.Errorf("the live preview namespaces are not known yet, so the preview queue is not (Argo CD keeps the existing previews): %w", err)
	}
	st := &queueState{compose: &compose.Queue{Max: q.Max, Live: live}, gen: gen, capped: capped}
	if q.Max > 0 {
		others, opts := s.otherRepos(in)
		if len(others) > 0 {
			o, err := TargetPRs(ctx, s.cfg.Source, others, opts)
			if err != nil {
				return nil, fmt.Errorf("the open pull requests of the other repositories under --max-previews are not known yet; refusing to guess the preview queue: %w", err)
			}
			st.compose.Others, st.compose.OtherOptions = o.All(), opts
			if o.Generation < res.Generation {
				res.Generation = o.Generation
			}
		}
	}
	return st, nil
}

// queueForRequest is queueFor for getparams: a refused input is a 400,
// an unknown queue a 503, each counted.
func (s *Server) queueForRequest(ctx context.Context, in Input, res *store.Result) (*queueState, error) {
	qs, err := s.queueFor(ctx, in, res)
	var bad *QueueInputError
	switch {
	case err == nil:
		return qs, nil
	case errors.As(err, &bad):
		s.paramsError("bad_input")
		return nil, echo.NewHTTPError(http.StatusBadRequest, err.Error())
	default:
		s.paramsError("unavailable")
		return nil, echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
}

// otherRepos are the served repositories (--repos and the service
// catalog) that the request neither asks for nor judges as dependency
// targets, with the options they compete under: the server defaults.
func (s *Server) otherRepos(in Input) ([]pr.Repo, map[string]params.Options) {
	skip := map[string]bool{}
	for _, r := range in.Repos {
		skip[r.Key()] = true
	}
	for k := range s.cfg.Compose.Targets {
		skip[k] = true
	}
	var out []pr.Repo
	opts := map[string]params.Options{}
	for k, r := range s.cfg.Defaults.AllowedRepos {
		if !skip[k] {
			out = append(out, r)
			opts[k] = s.cfg.Defaults.Options()
		}
	}
	slices.SortFunc(out, func(a, b pr.Repo) int { return strings.Compare(a.Key(), b.Key()) })
	return out, opts
}

// checkQueueInput refuses, under --max-previews, an ApplicationSet of a
// repository outside the service catalog whose lifecycle options
// (lifecycleKeys) differ from the server defaults: the other
// ApplicationSets judge its PRs under the defaults when they rank the
// queue, so both must agree. Catalog repositories are checked by
// CheckCatalog.
func (s *Server) checkQueueInput(in Input) error {
	var errs []error
	for _, r := range in.Repos {
		if _, ok := s.cfg.Compose.Targets[r.Key()]; ok {
			continue
		}
		diffs := lifecycleDiff(s.cfg.Defaults.Options(), in.Options)
		if len(diffs) == 0 {
			continue
		}
		parts := make([]string, len(diffs))
		for i, df := range diffs {
			parts[i] = fmt.Sprintf("%s: ApplicationSet %s, server default %s", df.key, df.b, df.a)
		}
		errs = append(errs, fmt.Errorf(
			"%s asks for other lifecycle options than the server defaults (%s), and the server caps the previews of all repositories together (--max-previews): "+
				"every ApplicationSet ranks %s's pull requests in the preview queue, so the server must know its options. "+
				"Leave these keys out of the ApplicationSet, or declare %s in the service catalog with them in services.<name>.input",
			r, strings.Join(parts, "; "), r, r))
	}
	return errors.Join(errs...)
}

// observeQueue reports a new capped answer's queue: statuses on the heads
// of its waiting and admitted PRs, and each requested repository's queue
// length.
func (s *Server) observeQueue(repos []pr.Repo, ans compose.Answer, q *queueState) {
	if q == nil || !q.capped {
		return
	}
	if m, ok := s.cfg.Metrics.(QueueMetrics); ok {
		n := map[string]int{}
		for _, r := range repos {
			n[r.String()] = 0
		}
		for _, w := range ans.Queued {
			n[w.PR.Repo.String()]++
		}
		for r, c := range n {
			m.QueuedPreviews(r, c)
		}
	}
	st := s.cfg.Queue.Statuses
	if st == nil {
		return
	}
	for _, w := range ans.Queued {
		st.Waiting(w.PR.Repo, w.PR.HeadSHA, w.Position, w.Of, w.PR.HTMLURL)
	}
	for _, m := range ans.Params {
		if r, err := pr.ParseRepo(m[params.KeyRepository]); err == nil {
			st.Admitted(r, m[params.KeyHeadSHA], m[params.KeyURL])
		}
	}
}

// parseMaxPreviews reads maxPreviews: a whole number from 0 (no cap) to
// MaxPreviewsLimit.
func parseMaxPreviews(raw []byte) (int, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, fmt.Errorf("want a whole number (0: no cap), got %s", jsonKind(raw))
	}
	if f != math.Trunc(f) || f < 0 || f > MaxPreviewsLimit {
		return 0, fmt.Errorf("%s: want a whole number from 0 (no cap) to %d", strings.TrimSpace(string(raw)), MaxPreviewsLimit)
	}
	return int(f), nil
}
