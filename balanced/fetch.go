package balanced

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
)

// maxFetchGens bounds the sarama clients a member fetches through at once.
const maxFetchGens = 4

// fetchPool hands out the fetchers (fetcher.go) that newly owned partitions
// are fetched through.
//
// A partition joins its broker's fetch loop between two fetches; on a
// client that is already fetching, it waits for the in-flight long-poll
// fetch (up to Consumer.MaxWaitTime), and its ListOffsets request, if its
// start offset is symbolic, queues behind it on the same connection. (With
// sarama's own partition consumers, two ListOffsets requests and a 100 ms
// admission batch, 250–350 ms were measured per join on idle partitions.) So the partitions gained in one rebalance
// start on a fresh client — a generation — whose connections carry no long
// polls yet. A generation lives while any of its partitions is fetched and
// is closed after its last one, once a newer generation exists. At most
// maxFetchGens are open; beyond that new partitions share the newest one.
type fetchPool struct {
	addrs []string
	conf  *sarama.Config
	log   *slog.Logger

	mu      sync.Mutex
	cur     *fetchGen
	open    map[*fetchGen]bool
	closing sync.WaitGroup // retired generations being closed

	offsetRequests atomic.Int64 // ListOffsets requests the generations' fetchers sent (tests)
}

// fetchGen is one sarama client and its fetcher, made in the background from
// the moment the rebalance knows it will need it.
type fetchGen struct {
	pool  *fetchPool
	ready chan struct{} // closed when fetcher or err is set
	tps   []TopicPartition

	client  sarama.Client
	fetcher *fetcher
	err     error

	// guarded by pool.mu
	refs   int  // workers and partition fetches using it
	sealed bool // a newer generation takes new partitions
	closed bool
}

func newFetchPool(addrs []string, conf *sarama.Config, log *slog.Logger) *fetchPool {
	cp := *conf
	cp.Metadata.Full = false // a generation asks only for the topics it fetches
	return &fetchPool{addrs: addrs, conf: &cp, log: log, open: map[*fetchGen]bool{}}
}

// forNew returns the generation to start tps on, with a reference the
// caller must release: a new one, unless the current one has not been used
// yet or maxFetchGens are open.
func (p *fetchPool) forNew(tps []TopicPartition) *fetchGen {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.cur; g != nil && !g.failed() && (g.refs == 0 || len(p.open) >= maxFetchGens) {
		g.refs++
		return g
	}
	return p.startLocked(tps)
}

// current returns the current generation (a new one if it failed or there
// is none), with a reference.
func (p *fetchPool) current() *fetchGen {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.cur; g != nil && !g.failed() {
		g.refs++
		return g
	}
	return p.startLocked(nil)
}

func (p *fetchPool) startLocked(tps []TopicPartition) *fetchGen {
	if old := p.cur; old != nil {
		old.sealed = true
		if old.refs == 0 {
			p.closeLocked(old)
		}
	}
	g := &fetchGen{pool: p, ready: make(chan struct{}), tps: tps, refs: 1}
	p.cur = g
	p.open[g] = true
	go g.dial() // ends on its own: sarama's dial and metadata calls time out
	return g
}

// dial makes the client and warms it up: metadata of the partitions' topics
// and a connection to each leader, so that their first requests go out at
// once.
func (g *fetchGen) dial() {
	defer close(g.ready)
	client, err := sarama.NewClient(g.pool.addrs, g.pool.conf)
	if err != nil {
		g.err = fmt.Errorf("balanced: kafka client for fetching: %w", err)
		return
	}
	g.client, g.fetcher = client, newFetcher(client, g.pool.conf)
	g.fetcher.offsetRequests = &g.pool.offsetRequests
	topics := map[string]bool{}
	for _, tp := range g.tps {
		topics[tp.Topic] = true
	}
	var names []string
	for t := range topics {
		names = append(names, t)
	}
	if len(names) > 0 {
		if err := client.RefreshMetadata(names...); err != nil {
			return // the partition fetches retry and report it
		}
		for _, tp := range g.tps {
			_, _ = client.Leader(tp.Topic, tp.Partition) // opens the connection
		}
	}
}

// failed reports whether the generation could not be made.
func (g *fetchGen) failed() bool {
	select {
	case <-g.ready:
		return g.err != nil
	default:
		return false
	}
}

// get waits until the generation is made.
func (g *fetchGen) get(ctx context.Context) (*fetcher, error) {
	select {
	case <-g.ready:
		return g.fetcher, g.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (g *fetchGen) acquire() {
	g.pool.mu.Lock()
	g.refs++
	g.pool.mu.Unlock()
}

// release drops a reference; the last one of a sealed generation closes it.
func (g *fetchGen) release() {
	p := g.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	g.refs--
	if g.refs == 0 && (g.sealed || g.failed()) {
		p.closeLocked(g)
	}
}

// closeLocked retires g and closes it on a goroutine owned by the pool
// (close waits for it): g may still be dialling.
func (p *fetchPool) closeLocked(g *fetchGen) {
	if g.closed {
		return
	}
	g.closed = true
	delete(p.open, g)
	if p.cur == g {
		p.cur = nil
	}
	p.closing.Add(1)
	go func() {
		defer p.closing.Done()
		<-g.ready
		if g.fetcher != nil {
			g.fetcher.shutdown()
		}
		if g.client != nil {
			_ = g.client.Close() // ends the loops' requests in flight
		}
		if g.fetcher != nil {
			g.fetcher.wait()
		}
	}()
}

// close closes every generation (at shutdown, after the workers and the
// partition fetches are done) and waits until all are closed.
func (p *fetchPool) close() {
	p.mu.Lock()
	for g := range p.open {
		p.closeLocked(g)
	}
	p.mu.Unlock()
	p.closing.Wait()
}

// openGens reports how many generations are open (for tests).
func (p *fetchPool) openGens() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open)
}
