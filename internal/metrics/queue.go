package metrics

import "github.com/prometheus/client_golang/prometheus"

// queueMetrics are the fair queue's collectors.
type queueMetrics struct {
	queued      *prometheus.GaugeVec
	statusPosts *prometheus.CounterVec
}

func (q *queueMetrics) register(r *prometheus.Registry) {
	q.queued = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Name: "queued_previews",
		Help: "Eligible pull requests waiting for a preview slot (--max-previews, maxPreviews) in the latest getparams answer, by repo.",
	}, []string{"repo"})
	q.statusPosts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "queue_status_posts_total",
		Help: "Commit statuses preview/queue posted, by outcome (posted, error).",
	}, []string{"outcome"})
	r.MustRegister(q.queued, q.statusPosts)
}

// QueuedPreviews records how many PRs of repo wait for a slot.
func (m *Metrics) QueuedPreviews(repo string, n int) {
	m.queue.queued.WithLabelValues(repo).Set(float64(n))
}

// QueueStatusPost counts one preview/queue commit status post.
func (m *Metrics) QueueStatusPost(outcome string) {
	m.queue.statusPosts.WithLabelValues(outcome).Inc()
}
