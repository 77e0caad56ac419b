package balanced

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the consumer's Prometheus series. Every series carries the
// constant labels group and member (the member id, Consumer.MemberID), so
// that several members — of one group or of several — can share a
// registry, and summing a series over members gives the group's value
// (sum by (group) (zkbalance_lag_messages) is the group's lag).
//
// The per-partition series (lag_messages, last_commit_timestamp_seconds)
// exist exactly while the member owns the partition: they are written only
// by publishPartitions and deleted by forgetPartition, both under the
// consumer's stateLock (see lag.go). Run unregisters every series when it
// returns, and Close when Run never ran.
type metrics struct {
	reg        prometheus.Registerer // nil: not registered
	collectors []prometheus.Collector
	unregOnce  sync.Once

	rebalances        prometheus.Counter
	superseded        prometheus.Counter
	rebalanceDuration prometheus.Histogram
	owned             prometheus.Gauge
	claimRetries      prometheus.Counter
	processed         *prometheus.CounterVec
	commits           prometheus.Counter
	commitErrors      prometheus.Counter
	commitDuration    prometheus.Histogram
	lastCommit        *prometheus.GaugeVec
	lag               *prometheus.GaugeVec
	handlerErrors     *prometheus.CounterVec
	sessionsLost      prometheus.Counter
	zkConnected       *zkConnectedCollector
}

// newMetrics makes the series of member in group and registers them with
// reg (none when reg is nil). topics are the configured topics, whose
// per-topic counters start at 0; zkConnected reports the ZooKeeper
// connection for zookeeper_connected (ok false: no series, the member does
// not use ZooKeeper now). Registering the series of a member id that is
// already registered fails with ErrInvalidConfig.
func newMetrics(group, member string, topics []string, reg prometheus.Registerer, zkConnected func() (connected, ok bool)) (*metrics, error) {
	cl := prometheus.Labels{"group": group, "member": member}
	m := &metrics{
		reg: reg,
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
			Help: "Messages marked processed by handlers (counted when committed).", ConstLabels: cl}, []string{"topic"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "zkbalance", Name: "commits_total",
			Help: "Offset commits written.", ConstLabels: cl}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "zkbalance", Name: "commit_errors_total",
			Help: "Offset commits that failed or were fenced.", ConstLabels: cl}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "zkbalance", Name: "commit_duration_seconds",
			Help: "Latency of one partition's offset commit (ownership check and write), successful or not.", ConstLabels: cl,
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		lastCommit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "zkbalance", Name: "last_commit_timestamp_seconds",
			Help: "Unix time of the last successful offset commit of each owned partition (absent until its first commit by this member).", ConstLabels: cl},
			[]string{"topic", "partition"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "zkbalance", Name: "lag_messages",
			Help: "Log end offset minus the consumer's position (last mark, else its start offset) of each owned partition.", ConstLabels: cl},
			[]string{"topic", "partition"}),
		handlerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "zkbalance", Name: "handler_errors_total",
			Help: "Handler calls that returned an error while their partition was owned (each is restarted after HandlerRestartDelay).", ConstLabels: cl},
			[]string{"topic"}),
		sessionsLost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "zkbalance", Name: "sessions_lost_total",
			Help: "ZooKeeper sessions lost (expired or disconnected too long).", ConstLabels: cl}),
		zkConnected: &zkConnectedCollector{
			desc: prometheus.NewDesc("zkbalance_zookeeper_connected",
				"1 while the member is connected to its ZooKeeper session, else 0; absent when it does not use ZooKeeper (kafka mode without ZooKeeper, or detached).",
				nil, cl),
			value: zkConnected,
		},
	}
	for _, t := range topics {
		m.initTopic(t)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rebalances, m.superseded, m.rebalanceDuration, m.owned, m.claimRetries,
		m.processed, m.commits, m.commitErrors, m.commitDuration, m.lastCommit, m.lag, m.handlerErrors, m.sessionsLost, m.zkConnected} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("%w: Registerer: metrics of member %q of group %q already registered (two consumers with one MemberID?)", ErrInvalidConfig, member, group)
			}
			return nil, fmt.Errorf("%w: Registerer: %w", ErrInvalidConfig, err)
		}
		m.collectors = append(m.collectors, c)
	}
	return m, nil
}

// initTopic makes topic's per-topic counters exist at 0, so that rate()
// and increase() see their first increment.
func (m *metrics) initTopic(topic string) {
	m.processed.WithLabelValues(topic)
	m.handlerErrors.WithLabelValues(topic)
}

// unregister removes every registered series from the registerer (once).
func (m *metrics) unregister() {
	m.unregOnce.Do(func() {
		for _, c := range m.collectors {
			m.reg.Unregister(c)
		}
		m.collectors = nil
	})
}

// partitionLabels are the variable labels of tp's series.
func partitionLabels(tp TopicPartition) []string {
	return []string{tp.Topic, strconv.FormatInt(int64(tp.Partition), 10)}
}

// forgetPartition deletes tp's per-partition series. The caller holds the
// consumer's stateLock.
func (m *metrics) forgetPartition(tp TopicPartition) {
	l := partitionLabels(tp)
	m.lag.DeleteLabelValues(l...)
	m.lastCommit.DeleteLabelValues(l...)
}

// zkConnectedCollector is zookeeper_connected: a gauge read at scrape time,
// absent while value reports !ok.
type zkConnectedCollector struct {
	desc  *prometheus.Desc
	value func() (connected, ok bool)
}

// Describe implements prometheus.Collector.
func (z *zkConnectedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- z.desc }

// Collect implements prometheus.Collector.
func (z *zkConnectedCollector) Collect(ch chan<- prometheus.Metric) {
	connected, ok := z.value()
	if !ok {
		return
	}
	v := 0.0
	if connected {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(z.desc, prometheus.GaugeValue, v)
}
