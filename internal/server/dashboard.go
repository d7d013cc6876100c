package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/labstack/echo/v4"

	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/dashboard"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/store"
)

// The dashboard reads the answers the server gives Argo CD: it remembers
// the input of each ApplicationSet that asked (bounded, for a while) and
// computes that answer again (from the answer cache when valid) when the
// dashboard is read. It never answers Argo CD and never changes an answer.

// Remembered ApplicationSet inputs: at most maxInputs, each until
// inputTTL after the ApplicationSet last asked (its requeueAfterSeconds
// is far shorter; one that stopped asking, deleted perhaps, drops out).
const (
	maxInputs = 256
	inputTTL  = time.Hour
)

// inputMemory remembers the input parameters of the ApplicationSets that
// asked, by name.
type inputMemory struct {
	mu     sync.Mutex
	byName map[string]rememberedInput
}

type rememberedInput struct {
	raw v1alpha1.PluginParameters
	at  time.Time
}

// remember records the input of applicationSet, asked at now. Past
// maxInputs, the one that asked longest ago is forgotten.
func (m *inputMemory) remember(applicationSet string, raw v1alpha1.PluginParameters, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byName == nil {
		m.byName = map[string]rememberedInput{}
	}
	if _, ok := m.byName[applicationSet]; !ok && len(m.byName) >= maxInputs {
		oldest := ""
		for name, in := range m.byName {
			if oldest == "" || in.at.Before(m.byName[oldest].at) {
				oldest = name
			}
		}
		delete(m.byName, oldest)
	}
	m.byName[applicationSet] = rememberedInput{raw: raw, at: now}
}

// list returns the inputs asked for within inputTTL of now, by name.
func (m *inputMemory) list(now time.Time) (names []string, raws []v1alpha1.PluginParameters) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(m.byName)) {
		in := m.byName[name]
		if now.Sub(in.at) > inputTTL {
			delete(m.byName, name)
			continue
		}
		names = append(names, name)
		raws = append(raws, in.raw)
	}
	return names, raws
}

// MountDashboard serves h's routes (dashboard.RouteIndex,
// dashboard.RoutePreviews and dashboard.RouteWake) through the server's
// middleware (request metrics, logs). Call it before serving; a nil or
// disabled h mounts nothing.
func (s *Server) MountDashboard(h *dashboard.Handler) {
	if !h.Enabled() {
		return
	}
	wrapped := echo.WrapHandler(h)
	s.echo.Match([]string{http.MethodGet, http.MethodHead}, dashboard.RouteIndex, wrapped)
	s.echo.Match([]string{http.MethodGet, http.MethodHead}, dashboard.RoutePreviews, wrapped)
	s.echo.POST(dashboard.RouteWake, wrapped)
}

var _ dashboard.Source = (*Server)(nil)

// Previews implements dashboard.Source: the answer of every ApplicationSet
// that asked within the last hour, computed as getparams would now. An
// ApplicationSet whose answer cannot be computed (GitHub never listed, an
// input no longer valid) is Unavailable, never empty.
func (s *Server) Previews(ctx context.Context) (dashboard.Snapshot, error) {
	var snap dashboard.Snapshot
	names, raws := s.inputs.list(s.cfg.Now())
	for i, name := range names {
		rows, res, err := s.previewsOf(ctx, name, raws[i])
		if err != nil {
			snap.Unavailable = append(snap.Unavailable, dashboard.Unavailable{ApplicationSet: name, Reason: err.Error()})
			continue
		}
		snap.Answered = append(snap.Answered, name)
		snap.Previews = append(snap.Previews, rows...)
		for _, r := range res.Stale {
			if !slices.Contains(snap.Stale, r) {
				snap.Stale = append(snap.Stale, r)
			}
		}
		if !res.StaleAsOf.IsZero() && (snap.StaleAsOf.IsZero() || res.StaleAsOf.Before(snap.StaleAsOf)) {
			snap.StaleAsOf = res.StaleAsOf
		}
	}
	slices.Sort(snap.Stale)
	return snap, nil
}

// previewsOf computes applicationSet's answer for raw as getparams does,
// and reads it as dashboard rows.
func (s *Server) previewsOf(ctx context.Context, applicationSet string, raw v1alpha1.PluginParameters) ([]dashboard.Preview, store.Result, error) {
	in, err := ParseInput(raw, s.cfg.Defaults)
	if err != nil {
		return nil, store.Result{}, fmt.Errorf("its input is no longer valid: %w", err)
	}
	if err := CheckCatalog(in, s.cfg.Compose.Targets, s.cfg.Compose.Overlay.Services); err != nil {
		return nil, store.Result{}, fmt.Errorf("its input is no longer valid: %w", err)
	}
	res, err := s.cfg.Source.Get(ctx, in.Repos, in.Options.Label)
	if err != nil {
		return nil, store.Result{}, fmt.Errorf("the open pull requests are not known: %w", err)
	}
	var targets store.Result
	if len(s.catalog) > 0 {
		targets, err = TargetPRs(ctx, s.cfg.Source, s.catalog, s.cfg.Compose.Targets)
		if err != nil {
			return nil, store.Result{}, fmt.Errorf("the dependency targets are not known: %w", err)
		}
		res.Stale = append(res.Stale, targets.Stale...)
		if !targets.StaleAsOf.IsZero() && (res.StaleAsOf.IsZero() || targets.StaleAsOf.Before(res.StaleAsOf)) {
			res.StaleAsOf = targets.StaleAsOf
		}
		if targets.Generation < res.Generation {
			res.Generation = targets.Generation
		}
	}
	qs, err := s.queueFor(ctx, in, &res)
	if err != nil {
		return nil, store.Result{}, fmt.Errorf("the preview queue is not known: %w", err)
	}
	a, err := s.answer(raw, in, res, targets, qs)
	if err != nil {
		return nil, store.Result{}, err
	}
	ms, err := a.params()
	if err != nil {
		return nil, store.Result{}, err
	}
	created := map[string]time.Time{}
	for _, p := range res.All() {
		created[p.Repo.Key()+"#"+strconv.Itoa(p.Number)] = p.CreatedAt
	}
	rows := make([]dashboard.Preview, 0, len(ms)+len(a.queued))
	for _, m := range ms {
		p := dashboard.FromParams(applicationSet, m)
		p.CreatedAt = created[strings.ToLower(m[params.KeyRepository])+"#"+m[params.KeyNumber]]
		rows = append(rows, p)
	}
	for _, q := range a.queued {
		q.ApplicationSet = applicationSet
		rows = append(rows, q)
	}
	return rows, res, nil
}

// params decodes the answer's parameter maps.
func (a *answer) params() ([]map[string]string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(a.gz))
	if err != nil {
		return nil, fmt.Errorf("reading the cached answer: %w", err)
	}
	var r reply
	if err := json.NewDecoder(zr).Decode(&r); err != nil {
		return nil, fmt.Errorf("reading the cached answer: %w", err)
	}
	if r.Output.Parameters == nil {
		return nil, errors.New("reading the cached answer: no parameters")
	}
	return r.Output.Parameters, nil
}

// queuedOf returns the pull requests ans leaves waiting for a slot in the
// fair queue, as dashboard rows (State dashboard.StateQueued, Queue set).
func queuedOf(ans compose.Answer) []dashboard.Preview {
	out := make([]dashboard.Preview, 0, len(ans.Queued))
	for _, q := range ans.Queued {
		p := q.PR
		name := params.PreviewName(p.Repo.Owner, p.Repo.Name, p.Number)
		out = append(out, dashboard.Preview{Name: name, Namespace: name, Repository: p.Repo.String(), Number: p.Number,
			Title: p.Title, Author: p.Author, PRURL: p.HTMLURL, HeadShortSHA: p.HeadSHA[:min(params.ShortSHALen, len(p.HeadSHA))],
			State: dashboard.StateQueued, CreatedAt: p.CreatedAt, LastActivityAt: p.UpdatedAt.UTC(),
			Queue: &dashboard.Queue{Position: q.Position, Of: q.Of, Reason: q.Reason}})
	}
	return out
}
