package balanced

import (
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
// start on fresh connections — a generation — which carry no long polls
// yet. The leaders come from the member's client (meta). A generation lives
// while any of its partitions is fetched and is closed after its last one,
// once a newer generation exists. At most maxFetchGens are open; beyond
// that new partitions share the newest one.
type fetchPool struct {
	meta leaderSource
	conf *sarama.Config
	log  *slog.Logger

	mu      sync.Mutex
	cur     *fetchGen
	open    map[*fetchGen]bool
	closing sync.WaitGroup // retired generations being closed

	offsetRequests atomic.Int64 // ListOffsets requests the generations' fetchers sent (tests)
}

// fetchGen is one fetcher, with connections of its own to the leaders of
// its partitions (opened as its first partitions start).
type fetchGen struct {
	pool    *fetchPool
	fetcher *fetcher

	// guarded by pool.mu
	refs   int  // workers and partition fetches using it
	sealed bool // a newer generation takes new partitions
	closed bool
}

func newFetchPool(meta leaderSource, conf *sarama.Config, log *slog.Logger) *fetchPool {
	return &fetchPool{meta: meta, conf: conf, log: log, open: map[*fetchGen]bool{}}
}

// forNew returns the generation to start newly owned partitions on, with a reference the
// caller must release: a new one, unless the current one has not been used
// yet or maxFetchGens are open.
func (p *fetchPool) forNew() *fetchGen {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.cur; g != nil && (g.refs == 0 || len(p.open) >= maxFetchGens) {
		g.refs++
		return g
	}
	return p.startLocked()
}

// current returns the current generation (a new one if there is none),
// with a reference.
func (p *fetchPool) current() *fetchGen {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.cur; g != nil {
		g.refs++
		return g
	}
	return p.startLocked()
}

func (p *fetchPool) startLocked() *fetchGen {
	if old := p.cur; old != nil {
		old.sealed = true
		if old.refs == 0 {
			p.closeLocked(old)
		}
	}
	g := &fetchGen{pool: p, fetcher: newFetcher(p.meta, p.conf), refs: 1}
	g.fetcher.offsetRequests = &p.offsetRequests
	p.cur = g
	p.open[g] = true
	return g
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
	if g.refs == 0 && g.sealed {
		p.closeLocked(g)
	}
}

// closeLocked retires g and closes it on a goroutine owned by the pool
// (close waits for it).
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
		g.fetcher.shutdown() // closes its connections: ends the loops' requests in flight
		g.fetcher.wait()
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
