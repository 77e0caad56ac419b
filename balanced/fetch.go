package balanced

import (
	"sync/atomic"

	"github.com/IBM/sarama"
)

// fetchPool is the member's fetcher (fetcher.go), which its owned
// partitions are fetched through, and hands out the waves new partitions
// start in.
//
// A partition joins its broker's fetch loop between two fetches; on a
// loop that is already fetching, it waits for the in-flight long-poll
// fetch (up to Consumer.MaxWaitTime), and its ListOffsets request, if its
// start offset is symbolic, queues behind it on the same connection. (With
// sarama's own partition consumers, two ListOffsets requests and a 100 ms
// admission batch, 250–350 ms were measured per join on idle partitions.)
// So the partitions gained in one rebalance start in a wave of loops of
// their own, on fresh connections, which carry no long polls yet; once
// idle they settle into their broker's oldest loop (see brokerLoop). The
// leaders come from the member's client (meta). One fetcher also means one
// budget (Consumer.Fetch.MaxBytes) for all of a member's fetching.
type fetchPool struct {
	f *fetcher
	// offsetRequests counts the ListOffsets requests the fetcher sent (tests).
	offsetRequests atomic.Int64
}

// fetchWave is a wave of the pool's fetcher: where a worker starts its
// partition's fetch.
type fetchWave struct {
	fetcher *fetcher
	id      uint64
}

func newFetchPool(meta leaderSource, conf *sarama.Config) *fetchPool {
	p := &fetchPool{f: newFetcher(meta, conf)}
	p.f.offsetRequests = &p.offsetRequests
	return p
}

// forNew returns a new wave to start newly owned partitions in (see
// fetcher.newWave).
func (p *fetchPool) forNew() fetchWave { return fetchWave{fetcher: p.f, id: p.f.newWave()} }

// current returns the newest wave.
func (p *fetchPool) current() fetchWave { return fetchWave{fetcher: p.f, id: p.f.currentWave()} }

// close stops the fetcher (at shutdown, after the workers and the
// partition fetches are done) and waits until its loops have ended.
func (p *fetchPool) close() {
	p.f.shutdown()
	p.f.wait()
}

// openGens reports how many waves have loops open (for tests).
func (p *fetchPool) openGens() int { return p.f.openWaves() }
