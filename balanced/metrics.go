package balanced

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the consumer's Prometheus series; every series carries the
// constant label group.
type metrics struct {
	rebalances        prometheus.Counter
	superseded        prometheus.Counter
	rebalanceDuration prometheus.Histogram
	owned             prometheus.Gauge
	claimRetries      prometheus.Counter
	processed         *prometheus.CounterVec
	commits           prometheus.Counter
	commitErrors      prometheus.Counter
	lag               *prometheus.GaugeVec
	sessionsLost      prometheus.Counter
}

func newMetrics(group string, reg prometheus.Registerer) (*metrics, error) {
	cl := prometheus.Labels{"group": group}
	m := &metrics{
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "zkbalance", Name: "rebalances_total",
			Help: "Rebalances completed by this member.", ConstLabels: cl}),
		superseded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "zkbalance", Name: "rebalances_superseded_total",
			Help: "Rebalances restarted because a newer trigger arrived while they ran.", ConstLabels: cl}),
		rebalanceDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "zkbalance", Name: "rebalance_duration_seconds",
			Help: "Time from the start of a rebalance to all assigned partitions owned.", ConstLabels: cl,
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .5, 1, 2, 5, 10, 30}}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "zkbalance", Name: "owned_partitions",
			Help: "Partitions this member owns.", ConstLabels: cl}),
		claimRetries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "zkbalance", Name: "claim_retries_total",
			Help: "Owner znode creates retried because another member still held the partition.", ConstLabels: cl}),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "zkbalance", Name: "messages_processed_total",
			Help: "Messages marked processed by handlers.", ConstLabels: cl}, []string{"topic"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "zkbalance", Name: "commits_total",
			Help: "Offset commits written.", ConstLabels: cl}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "zkbalance", Name: "commit_errors_total",
			Help: "Offset commits that failed or were fenced.", ConstLabels: cl}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "zkbalance", Name: "lag_messages",
			Help: "Log end offset minus the marked offset of each owned partition.", ConstLabels: cl}, []string{"topic", "partition"}),
		sessionsLost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "zkbalance", Name: "sessions_lost_total",
			Help: "ZooKeeper sessions lost (expired or disconnected too long).", ConstLabels: cl}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rebalances, m.superseded, m.rebalanceDuration, m.owned, m.claimRetries,
		m.processed, m.commits, m.commitErrors, m.lag, m.sessionsLost} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("%w: Registerer: metrics of group %q already registered", ErrInvalidConfig, group)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
