package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/previewns"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/status"
)

var (
	_ server.LiveNamespaces = (*previewns.Watcher)(nil)
	_ server.QueueStatuses  = (*status.Queue)(nil)
	_ server.QueueMetrics   = (*metrics.Metrics)(nil)
)

// queueConfig is what serve is told about the fair queue.
type queueConfig struct {
	MaxPreviews int
	FairQueue   bool
	QueueStatus bool
}

func (q *queueConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&q.MaxPreviews, "max-previews", 0,
		"cap on the live previews of every repository this generator serves together; extra pull requests wait, oldest activity first (0: no cap). Reads the preview namespaces from the cluster (list and watch on namespaces)")
	fs.BoolVar(&q.FairQueue, "fair-queue", false,
		"read the preview namespaces from the cluster so that ApplicationSets may cap their repositories' previews (input maxPreviews) without --max-previews; implied by --max-previews and by a maxPreviews in the service catalog")
	fs.BoolVar(&q.QueueStatus, "queue-status", true,
		"post the commit status "+status.QueueContext+" on the head of each pull request of a capped repository: pending with its position while it waits, success once admitted (the GitHub token needs commit statuses: write)")
}

// check reports every invalid setting through bad, naming its flag.
func (q *queueConfig) check(bad func(flagName, format string, a ...any)) {
	if q.MaxPreviews < 0 || q.MaxPreviews > server.MaxPreviewsLimit {
		bad("max-previews", "%d: want 0 (no cap) to %d", q.MaxPreviews, server.MaxPreviewsLimit)
	}
}

func (q *queueConfig) String() string {
	return fmt.Sprintf("max-previews=%d fair-queue=%t queue-status=%t", q.MaxPreviews, q.FairQueue, q.QueueStatus)
}

// fairQueue reports whether serve reads the preview namespaces.
func (cfg *config) fairQueue() bool {
	if cfg.MaxPreviews > 0 || cfg.FairQueue {
		return true
	}
	for _, o := range cfg.targets {
		if o.MaxPreviews > 0 {
			return true
		}
	}
	return false
}

// newQueue returns the fair queue's server side: the namespace watcher
// (nil without the queue) and, with GitHub, the status poster. Run both.
func newQueue(cfg *config, src *source, log *slog.Logger, m *metrics.Metrics) (server.Queue, *previewns.Watcher, *status.Queue, error) {
	q := server.Queue{Max: cfg.MaxPreviews}
	if !cfg.fairQueue() {
		return q, nil, nil, nil
	}
	klogToSlog(log)
	w, err := previewns.New(previewns.Config{Kubeconfig: cfg.Kubeconfig, Logger: log.With("component", "queue")})
	if err != nil {
		return q, nil, nil, fmt.Errorf("--max-previews: %w", err)
	}
	q.Live = w
	var st *status.Queue
	if cfg.QueueStatus && src.gh != nil {
		st = status.NewQueue(src.gh, log.With("component", "queue-status"), m)
		q.Statuses = st
	}
	return q, w, st, nil
}

// runQueue runs what newQueue returned until ctx ends.
func runQueue(ctx context.Context, w *previewns.Watcher, st *status.Queue) {
	if w != nil {
		go w.Run(ctx)
	}
	if st != nil {
		go st.Run(ctx)
	}
}
