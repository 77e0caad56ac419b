package balanced

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// errFetchClosed ends a partition's fetching once its handler call is over.
var errFetchClosed = errors.New("balanced: partition fetch closed")

// fetchLowWater: a partition is fetched again once its handler has this few
// of its fetched messages left to take, however much the member holds.
const fetchLowWater = 32

// fetchBusyWait bounds a fetch request's MaxWaitTime while some partition
// of the broker loop holds messages its handler is taking.
const fetchBusyWait = 5 * time.Millisecond

// fetchShortWait bounds a fetch request's MaxWaitTime while partitions
// are being added to its loop (the last one less than fetchShortFor ago):
// a rebalance's partitions start one by one as their claims succeed, and a
// partition added to a loop waits for the loop's request in flight. A loop
// long-polling (waiting longer) gets no new partitions while a new wave can
// take them (fetcher.assign).
const (
	fetchShortWait = 500 * time.Millisecond
	fetchShortFor  = 2 * time.Second
)

// fetchMinBytes is the least a fetch response is asked to carry while the
// member holds more than Consumer.Fetch.MaxBytes in fetched, untaken
// messages and requests in flight (partitions whose handlers are slow or
// blocked): the others still progress. Smaller responses cost a round trip
// each for little: 64 KiB made a member reading 8 partitions of 1 KiB
// messages spend more CPU per message than with 256 KiB.
const fetchMinBytes = 256 << 10

// fetchMaxShare: a fetch response is asked to carry at most this share of
// Consumer.Fetch.MaxBytes. Smaller responses are let go sooner (a
// response's buffer stays until its last message is taken) and grow the
// heap in smaller steps: a member catching up 1 GiB over 1000 partitions
// peaked at 61 MiB RSS (median of 4) with a quarter, 66 MiB with all of it.
const fetchMaxShare = 4

// fetcher fetches a member's partitions: one goroutine per broker and wave
// (brokerLoop), on a connection of its own, sends one FetchRequest for all
// the partitions that broker leads and puts each partition's messages in
// that partition's queue (partFetch), where its handler takes them. The
// leaders come from the member's sarama client (leaderSource): a wave costs
// a connection per leader, not a client of its own, whose first metadata
// request for a topic of 4096 partitions cost the member 4-5 ms of CPU and
// the broker about as much, in every member that gained partitions in a
// join.
//
// It replaces sarama's Consumer, whose PartitionConsumer runs two
// goroutines, two channels of ChannelBufferSize and a ticker for every
// partition (about 10 KiB of stacks and heap a partition).
//
// Memory is bounded by Fetch.MaxBytes for the whole fetcher (held): the
// bytes its queues hold plus the bytes its requests in flight may bring. A
// request asks for at most what is left of it (down to fetchMinBytes) and
// at most a fetchMaxShare of it, and reserves that until its response is in
// the queues. A partition is
// fetched again once its queue holds less than Fetch.Default while some of
// Fetch.MaxBytes is left, so the next response is on its way while the
// handler takes what the last one brought (fetchAhead); and, whatever the
// fetcher holds, once it has fetchLowWater messages or fewer left. A
// request long-polls (Consumer.MaxWaitTime) only while none of the loop's
// partitions is being consumed: otherwise a poll of caught-up partitions
// would hold up the next fetch of the busy ones (fetchBusyWait).
type fetcher struct {
	meta    leaderSource
	conf    *sarama.Config
	version int16 // of FetchRequest
	// held is what the queues hold (message keys and values) plus what
	// the requests in flight reserved: at most Fetch.MaxBytes, plus
	// fetchMinBytes per request sent when nothing was left.
	held atomic.Int64
	// offsetRequests, if set, counts the ListOffsets requests sent (tests).
	offsetRequests *atomic.Int64
	stop           chan struct{}
	wg             sync.WaitGroup // broker loops and redispatches

	conns *connTracker // every connection, closed at shutdown

	mu     sync.Mutex
	loops  map[loopKey]*brokerLoop
	parts  map[TopicPartition]*partFetch
	wave   uint64 // the newest wave handed out (newWave)
	closed bool
	// idle holds the connection of the last loop that retired, per
	// broker, for the next loop to start on: a wave's loops retire once
	// their partitions settle, and the next rebalance's wave would dial
	// and handshake again (192 connections per join at 64 members and 3
	// brokers).
	idle map[int32]idleConn
}

// idleConn is a retired loop's connection and when it retired.
type idleConn struct {
	conn *sarama.Broker
	at   time.Time
}

// idleConnFor bounds how long a retired loop's connection is kept for
// reuse: far below the brokers' connections.max.idle.ms (10 minutes by
// default), after which they close it.
const idleConnFor = 30 * time.Second

// loopKey names a broker loop: its broker, and the wave its partitions
// started in.
type loopKey struct {
	broker int32
	wave   uint64
}

// maxFetchWaves bounds the waves whose loops (and connections) are open at
// once: beyond it, newWave hands out the newest one again.
const maxFetchWaves = 4

// leaderSource tells which broker leads a partition (sarama.Client).
type leaderSource interface {
	Leader(topic string, partition int32) (*sarama.Broker, error)
	RefreshMetadata(topics ...string) error
}

func newFetcher(meta leaderSource, conf *sarama.Config) *fetcher {
	cp := *conf // its own dialer (conns)
	f := &fetcher{meta: meta, conf: &cp, version: fetchVersion(conf.Version), stop: make(chan struct{}),
		loops: map[loopKey]*brokerLoop{}, parts: map[TopicPartition]*partFetch{}, wave: 1, idle: map[int32]idleConn{}}
	f.conns = trackConns(f.conf)
	return f
}

// connLocked returns a connection to leader for a new loop: a retired
// loop's, if recent and to the same address, else a new one; f.mu is held.
func (f *fetcher) connLocked(leader *sarama.Broker) *sarama.Broker {
	if ic, ok := f.idle[leader.ID()]; ok {
		delete(f.idle, leader.ID())
		if ic.conn.Addr() == leader.Addr() && time.Since(ic.at) < idleConnFor {
			return ic.conn
		}
		_ = ic.conn.Close()
	}
	conn := sarama.NewBroker(leader.Addr())
	_ = conn.Open(f.conf) // dials in the background; a failure shows in the first request
	return conn
}

// parkLocked keeps the connection of a loop that retired with no request
// in flight for the next loop to the same broker (replacing an older one),
// or closes it once the fetcher is closed; f.mu is held.
func (f *fetcher) parkLocked(id int32, conn *sarama.Broker) {
	if conn == nil {
		return
	}
	if f.closed {
		_ = conn.Close()
		return
	}
	if old, ok := f.idle[id]; ok {
		_ = old.conn.Close()
	}
	f.idle[id] = idleConn{conn: conn, at: time.Now()}
}

// newWave returns the wave to start a rebalance's new partitions in: a
// new one (fresh connections, opened as they start), unless maxFetchWaves
// have loops open.
func (f *fetcher) newWave() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.openWavesLocked() < maxFetchWaves {
		f.wave++
	}
	return f.wave
}

// currentWave is the newest wave.
func (f *fetcher) currentWave() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wave
}

// openWaves reports how many waves have loops open.
func (f *fetcher) openWaves() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.openWavesLocked()
}

func (f *fetcher) openWavesLocked() int {
	waves := map[uint64]bool{}
	for k := range f.loops {
		waves[k.wave] = true
	}
	return len(waves)
}

// mainLoopLocked is the broker's oldest open loop, or nil; f.mu is held.
func (f *fetcher) mainLoopLocked(broker int32) *brokerLoop {
	var main *brokerLoop
	for k, l := range f.loops {
		if k.broker == broker && (main == nil || k.wave < main.wave) {
			main = l
		}
	}
	return main
}

// fetchVersion is the FetchRequest version sarama's consumer uses for v.
func fetchVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_7_0_0):
		return 12
	case v.IsAtLeast(sarama.V2_3_0_0):
		return 11
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 10
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 8
	case v.IsAtLeast(sarama.V1_1_0_0):
		return 7
	case v.IsAtLeast(sarama.V1_0_0_0):
		return 6
	case v.IsAtLeast(sarama.V0_11_0_0):
		return 5
	case v.IsAtLeast(sarama.V0_10_1_0):
		return 3
	case v.IsAtLeast(sarama.V0_10_0_0):
		return 2
	case v.IsAtLeast(sarama.V0_9_0_0):
		return 1
	}
	return 0
}

// partFetch is one partition being fetched: the queue its broker loop fills
// and its handler empties.
type partFetch struct {
	f     *fetcher
	tp    TopicPartition
	ready chan struct{} // capacity 1: messages, errors or the end arrived
	hwm   atomic.Int64  // high-water mark of the last response; -1 before one

	mu        sync.Mutex
	loop      *brokerLoop // nil while redispatched and once ended
	queue     []*Message
	head      int
	bytes     int64      // of queue[head:]
	segs      []queueSeg // the responses queue[head:] came from, in order
	errs      []error
	end       error // fetching ended: errFetchClosed, sarama.ErrOffsetOutOfRange
	offset    int64 // next to fetch; OffsetOldest or OffsetNewest until listed
	fetchSize int32
	inFlight  bool
	// settling: the last response of its loop, a younger one than its
	// broker's oldest, brought it nothing and its queue is empty; the
	// oldest loop takes it over between two of its requests (pullSettling).
	settling bool
	// msgBytes is the mean key and value bytes of a message in the last
	// response that brought some (0 before), to tell how much of its
	// fetch size a partition behind its high-water mark will fill.
	msgBytes int64
	// tooLargeAt is the offset last reported as too large for
	// Fetch.Max (reported once, not at every fetch).
	tooLargeAt int64
	// resolved, if set, is told the offset a symbolic start resolved to
	// (once, outside mu).
	resolved func(offset int64)
}

// respHold is one fetch response while some of its messages are queued:
// their keys and values are slices of the response's buffer, which stays in
// memory until the last of them is taken. Its bytes count in the fetcher's
// held until then.
type respHold struct {
	bytes int64        // its messages' keys and values
	parts atomic.Int32 // partitions that queue some of its messages (+1 while delivered)
}

// drop is called once per partition done with r's messages (and once by
// deliver); the last returns r's bytes to release.
func (r *respHold) drop() int64 {
	if r.parts.Add(-1) == 0 {
		return r.bytes
	}
	return 0
}

// queueSeg is the part of a partition's queue that came from one response:
// up to queue index end.
type queueSeg struct {
	end int
	r   *respHold
}

// start begins fetching tp from offset (or sarama.OffsetOldest /
// OffsetNewest, which resolved, if not nil, is told once listed) in wave
// (see newWave). An offset out of range ends the fetch with
// sarama.ErrOffsetOutOfRange once the broker says so.
func (f *fetcher) start(tp TopicPartition, offset int64, wave uint64, resolved func(int64)) (*partFetch, error) {
	pf := &partFetch{f: f, tp: tp, ready: make(chan struct{}, 1), offset: offset, fetchSize: f.conf.Consumer.Fetch.Default, tooLargeAt: -1, resolved: resolved}
	pf.hwm.Store(-1)
	f.mu.Lock()
	switch {
	case f.closed:
		f.mu.Unlock()
		return nil, fmt.Errorf("balanced: fetch %s/%d: %w", tp.Topic, tp.Partition, sarama.ErrClosedClient)
	case f.parts[tp] != nil:
		f.mu.Unlock()
		return nil, fmt.Errorf("balanced: fetch %s/%d: already being fetched", tp.Topic, tp.Partition)
	}
	f.parts[tp] = pf
	f.mu.Unlock()
	leader, err := f.meta.Leader(tp.Topic, tp.Partition)
	if err != nil {
		pf.close()
		return nil, err
	}
	f.assign(pf, leader, wave)
	return pf, nil
}

// assign moves pf to the loop of its leader in wave, starting the loop
// (and its connection) if needed; wave 0 is the leader's oldest loop (a
// partition that is fetched already), else one in the newest wave.
func (f *fetcher) assign(pf *partFetch, leader *sarama.Broker, wave uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	var l *brokerLoop
	if wave == 0 {
		l, wave = f.mainLoopLocked(leader.ID()), f.wave
	} else {
		l = f.loops[loopKey{leader.ID(), wave}]
	}
	if l != nil && l.longPoll.Load() && f.openWavesLocked() < maxFetchWaves {
		// Its long poll would hold pf up to Consumer.MaxWaitTime: a loop
		// of a new wave instead, on a connection with nothing in flight.
		f.wave++
		wave, l = f.wave, nil
	}
	started := l == nil
	if started {
		conn := f.connLocked(leader)
		l = &brokerLoop{f: f, id: leader.ID(), wave: wave, broker: conn, wake: make(chan struct{}, 1), parts: map[*partFetch]struct{}{}}
		f.loops[l.key()] = l
	}
	l.addedAt.Store(time.Now().UnixNano()) // before pf is in the loop's next request
	added := l.adopt(pf, nil)
	if started {
		f.wg.Add(1)
		go l.run() // owned by f: ends at stop, on a broker error, or once it has no partitions
	} else if added {
		l.poke()
	}
}

// shutdown stops every loop and closes their connections, which ends
// their requests in flight; wait waits for them.
func (f *fetcher) shutdown() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.stop)
	}
	f.conns.closeAll() // ends the long polls in flight, which Broker.Close would wait for
	for _, l := range f.loops {
		_ = l.broker.Close()
	}
	clear(f.loops) // their goroutines end: wait waits for them
	for _, ic := range f.idle {
		_ = ic.conn.Close()
	}
	clear(f.idle)
}

// adopt makes l fetch pf, taking it off from (nil: none); f.mu is held.
// It is added to l's partitions before it names l as its loop, so that a
// finish racing with it (which removes it from the loop it names) never
// leaves an ended partition in l, which would keep l from retiring.
// False if pf has ended.
func (l *brokerLoop) adopt(pf *partFetch, from *brokerLoop) bool {
	l.mu.Lock()
	l.parts[pf] = struct{}{}
	l.mu.Unlock()
	pf.mu.Lock()
	ok := pf.end == nil && pf.loop == from
	if ok {
		pf.loop = l
		pf.inFlight = false // a request of from's may have it: its answer for pf is dropped (deliver)
		pf.settling = false
	}
	pf.mu.Unlock()
	if !ok {
		l.mu.Lock()
		delete(l.parts, pf)
		l.mu.Unlock()
		return false
	}
	if from != nil {
		from.mu.Lock()
		delete(from.parts, pf)
		from.mu.Unlock()
	}
	return true
}

func (f *fetcher) wait() { f.wg.Wait() }

// redispatch finds the new leaders of pfs after the retry backoff and moves
// them there, retrying until each is placed, ended, or the fetcher stops.
func (f *fetcher) redispatch(pfs []*partFetch) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.wg.Add(1)
	go func() { // owned by f
		defer f.wg.Done()
		for retries := 0; len(pfs) > 0; retries++ {
			backoff := f.conf.Consumer.Retry.Backoff
			if fn := f.conf.Consumer.Retry.BackoffFunc; fn != nil {
				backoff = fn(retries)
			}
			t := time.NewTimer(backoff)
			select {
			case <-f.stop:
				t.Stop()
				return
			case <-t.C:
			}
			topics := map[string]bool{}
			var names []string
			for _, pf := range pfs {
				if !topics[pf.tp.Topic] {
					topics[pf.tp.Topic] = true
					names = append(names, pf.tp.Topic)
				}
			}
			_ = f.meta.RefreshMetadata(names...) // a failure shows in Leader
			// A wave of their own: the new leader's loops may be in a long
			// poll, which would hold them up to Consumer.MaxWaitTime.
			wave := f.newWave()
			var again []*partFetch
			for _, pf := range pfs {
				if pf.ended() {
					continue
				}
				leader, err := f.meta.Leader(pf.tp.Topic, pf.tp.Partition)
				if err != nil {
					pf.notify(err)
					again = append(again, pf)
					continue
				}
				f.assign(pf, leader, wave)
			}
			pfs = again
		}
	}()
}

// take returns the next message, the errors reported since the last call,
// and the end of fetching once the queue is empty.
func (pf *partFetch) take() (*Message, []error, error) {
	pf.mu.Lock()
	errs := pf.errs
	pf.errs = nil
	if pf.head < len(pf.queue) {
		m := pf.queue[pf.head]
		pf.queue[pf.head] = nil
		pf.head++
		n := int64(len(m.Key) + len(m.Value))
		pf.bytes -= n
		var freed int64
		if len(pf.segs) > 0 && pf.head == pf.segs[0].end {
			freed = pf.segs[0].r.drop()
			pf.segs[0] = queueSeg{}
			pf.segs = pf.segs[1:]
		}
		left, queued, size := len(pf.queue)-pf.head, pf.bytes, pf.fetchSize
		if left == 0 {
			pf.queue, pf.head, pf.segs = nil, 0, nil
		}
		l := pf.loop
		pf.mu.Unlock()
		pf.f.release(freed)
		if l != nil && (left == fetchLowWater || pf.f.aheadOpened(queued+n, queued, size)) {
			l.poke()
		}
		return m, errs, nil
	}
	end := pf.end
	pf.mu.Unlock()
	return nil, errs, end
}

// fetchAhead reports whether a partition whose queue holds queued bytes,
// fetched size bytes at a time, may be fetched before it is nearly empty,
// the fetcher holding held: if it holds less than one Fetch.Default, while
// what is left of Fetch.MaxBytes is at least size or a quarter of it (so
// that requests do not shrink to slivers of it).
func (f *fetcher) fetchAhead(queued, held int64, size int32) bool {
	limit := int64(f.conf.Consumer.Fetch.MaxBytes)
	return queued < int64(f.conf.Consumer.Fetch.Default) && limit-held >= min(limit/4, int64(size))
}

// aheadOpened reports whether taking a message (the partition's queue going
// from queued0 to queued1 bytes) made it eligible for fetchAhead: the
// moment to wake its loop. (Room opening in held wakes every loop:
// release.)
func (f *fetcher) aheadOpened(queued0, queued1 int64, size int32) bool {
	held := f.held.Load()
	return f.fetchAhead(queued1, held, size) && !f.fetchAhead(queued0, held, size)
}

// reserve takes up to want bytes of what is left of Fetch.MaxBytes for a
// request, at least fetchMinBytes, and returns them.
func (f *fetcher) reserve(want int64) int64 {
	limit := int64(f.conf.Consumer.Fetch.MaxBytes)
	for {
		held := f.held.Load()
		n := max(min(want, limit-held), min(want, fetchMinBytes))
		if f.held.CompareAndSwap(held, held+n) {
			return n
		}
	}
}

// release gives back n reserved or held bytes, and wakes every loop: the
// room may let one fetch ahead.
func (f *fetcher) release(n int64) {
	if n == 0 {
		return
	}
	f.held.Add(-n)
	f.mu.Lock()
	for _, l := range f.loops {
		l.poke()
	}
	f.mu.Unlock()
}

// notify reports a fetch error to the partition's handler (Claim.Next logs
// it), keeping the last few.
func (pf *partFetch) notify(err error) {
	pf.mu.Lock()
	if len(pf.errs) < 8 {
		pf.errs = append(pf.errs, err)
	}
	pf.mu.Unlock()
	pf.signal()
}

func (pf *partFetch) signal() {
	select {
	case pf.ready <- struct{}{}:
	default:
	}
}

func (pf *partFetch) ended() bool {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	return pf.end != nil
}

// endedWith is the error fetching ended with, nil while it goes on.
func (pf *partFetch) endedWith() error {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	return pf.end
}

// close stops fetching the partition and drops its queue. It does not
// block and may be called more than once.
func (pf *partFetch) close() {
	pf.finish(errFetchClosed, true)
}

// finish ends the fetch with err (the first error sticks), dropping the
// queue if drop, and frees the partition for another start.
func (pf *partFetch) finish(err error, drop bool) {
	f := pf.f
	f.mu.Lock()
	if f.parts[pf.tp] == pf {
		delete(f.parts, pf.tp)
	}
	f.mu.Unlock()
	pf.mu.Lock()
	if pf.end == nil {
		pf.end = err
	}
	l := pf.loop
	pf.loop = nil
	var freed int64
	if drop {
		for _, s := range pf.segs {
			freed += s.r.drop()
		}
		pf.queue, pf.head, pf.bytes, pf.segs = nil, 0, 0, nil
	}
	pf.mu.Unlock()
	f.release(freed)
	if l != nil {
		l.mu.Lock()
		delete(l.parts, pf)
		l.mu.Unlock()
		l.poke()
	}
	pf.signal()
}

// brokerLoop fetches the partitions one broker leads, on its own
// connection.
//
// A rebalance's new partitions start in a wave of loops of their own
// (fetchPool.forNew), on fresh connections that carry no long poll: on a
// loop that is already fetching, a new partition waited for the long poll
// in flight (up to Consumer.MaxWaitTime). Once a partition is idle (a
// response brought it nothing and its queue is empty) it settles into its
// broker's oldest loop, and a wave's loops close once they have no
// partitions left: an idle member long-polls each broker once, not once per
// wave (4 waves of 3 brokers made 64 idle members cost Kafka a quarter of
// this 2-core machine).
type brokerLoop struct {
	f      *fetcher
	id     int32          // the broker's
	wave   uint64         // the wave its partitions started in
	broker *sarama.Broker // the loop's connection to it
	wake   chan struct{}  // capacity 1
	// addedAt is when a partition was last added to the loop by assign
	// (unix nanoseconds); longPoll: its request in flight may wait longer
	// than fetchShortWait.
	addedAt  atomic.Int64
	longPoll atomic.Bool

	mu    sync.Mutex
	parts map[*partFetch]struct{}
}

func (l *brokerLoop) key() loopKey { return loopKey{l.id, l.wave} }

// settle marks pfs, idle partitions of l, for the broker's oldest loop to
// take over (pullSettling) if that is older than l. l keeps fetching them
// until then: the oldest loop takes them between two of its requests, so
// that they are never left waiting for its long poll in flight (up to
// Consumer.MaxWaitTime) with nobody fetching them.
func (l *brokerLoop) settle(pfs []*partFetch) {
	if len(pfs) == 0 {
		return
	}
	f := l.f
	f.mu.Lock()
	main := f.mainLoopLocked(l.id)
	f.mu.Unlock()
	if main == nil || main.wave >= l.wave {
		return
	}
	for _, pf := range pfs {
		pf.mu.Lock()
		if pf.loop == l && pf.end == nil {
			pf.settling = true
		}
		pf.mu.Unlock()
	}
}

// pullSettling takes over, if l is its broker's oldest loop, the settling
// partitions of the broker's younger loops (settle). It runs between two
// of l's requests, so the next one fetches them; a request of the younger
// loop in flight for them is answered to nobody (deliver drops it).
func (l *brokerLoop) pullSettling() {
	f := l.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.mainLoopLocked(l.id) != l {
		return
	}
	for k, from := range f.loops {
		if k.broker != l.id || from == l {
			continue
		}
		from.mu.Lock()
		var pfs []*partFetch
		for pf := range from.parts {
			pf.mu.Lock()
			if pf.settling {
				pfs = append(pfs, pf)
			}
			pf.mu.Unlock()
		}
		from.mu.Unlock()
		for _, pf := range pfs {
			l.adopt(pf, from)
		}
	}
}

func (l *brokerLoop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// fetchEntry is one partition of a request in flight.
type fetchEntry struct {
	pf     *partFetch
	offset int64
}

func (l *brokerLoop) run() {
	defer l.f.wg.Done()
	for {
		select {
		case <-l.f.stop:
			return
		default:
		}
		if !l.listOffsets() {
			return
		}
		l.pullSettling()
		req, batch, reserved := l.request()
		if req == nil {
			if l.retireIfEmpty() {
				return
			}
			select {
			case <-l.f.stop:
				return
			case <-l.wake:
			}
			continue
		}
		l.longPoll.Store(req.MaxWaitTime > int32(fetchShortWait/time.Millisecond))
		resp, err := l.broker.Fetch(req)
		l.longPoll.Store(false)
		select {
		case <-l.f.stop:
			l.f.release(reserved)
			return
		default:
		}
		if err != nil {
			l.f.release(reserved)
			l.fail(err)
			return
		}
		l.deliver(resp, batch)
		l.f.release(reserved) // after deliver has added what came
	}
}

// retireIfEmpty ends the loop if no partition is left on it, keeping its
// connection for the next loop (parkLocked). It is called with no request
// in flight.
func (l *brokerLoop) retireIfEmpty() bool {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.parts) > 0 {
		return false
	}
	if l.f.loops[l.key()] == l {
		delete(l.f.loops, l.key())
		l.f.parkLocked(l.id, l.broker)
	} else {
		_ = l.broker.Close() // closed by shutdown already, or failed
	}
	return true
}

// listOffsets resolves the symbolic start offsets of the loop's partitions
// with one ListOffsets request; false if the broker failed (the loop has
// ended).
func (l *brokerLoop) listOffsets() bool {
	var pfs []*partFetch
	req := sarama.NewOffsetRequest(l.f.conf.Version)
	l.mu.Lock()
	for pf := range l.parts {
		pf.mu.Lock()
		if pf.end == nil && pf.offset < 0 {
			req.AddBlock(pf.tp.Topic, pf.tp.Partition, pf.offset, 1)
			pfs = append(pfs, pf)
		}
		pf.mu.Unlock()
	}
	l.mu.Unlock()
	if len(pfs) == 0 {
		return true
	}
	if n := l.f.offsetRequests; n != nil {
		n.Add(1)
	}
	resp, err := l.broker.GetAvailableOffsets(req)
	if err != nil {
		l.fail(err)
		return false
	}
	var moved []*partFetch
	for _, pf := range pfs {
		b := resp.GetBlock(pf.tp.Topic, pf.tp.Partition)
		switch {
		case b == nil:
			pf.notify(fmt.Errorf("list offsets: %w", sarama.ErrIncompleteResponse))
		case !errors.Is(b.Err, sarama.ErrNoError):
			if leaderMoved(b.Err) {
				moved = append(moved, pf)
			} else {
				pf.notify(fmt.Errorf("list offsets: %w", b.Err))
			}
		default:
			off := b.Offset
			if len(b.Offsets) > 0 {
				off = b.Offsets[0]
			}
			pf.mu.Lock()
			set := pf.offset < 0
			if set {
				pf.offset = off
			}
			pf.mu.Unlock()
			if set && pf.resolved != nil {
				pf.resolved(off)
			}
		}
	}
	l.detach(moved)
	return true
}

// leaderMoved: the partition must be fetched from another broker.
func leaderMoved(err error) bool {
	return errors.Is(err, sarama.ErrUnknownTopicOrPartition) || errors.Is(err, sarama.ErrNotLeaderForPartition) ||
		errors.Is(err, sarama.ErrLeaderNotAvailable) || errors.Is(err, sarama.ErrReplicaNotAvailable) ||
		errors.Is(err, sarama.ErrFencedLeaderEpoch) || errors.Is(err, sarama.ErrUnknownLeaderEpoch)
}

// request is the next FetchRequest: every partition with no fetch in
// flight, a known offset, and fetchLowWater or fewer messages left or room
// to fetch ahead (fetchAhead), except that partitions behind their
// high-water marks are added only until what they are expected to bring
// covers what the response may carry (the broker would answer the others
// with no messages, each costing a block to encode and decode: a member
// catching up 1000 partitions spent a quarter less CPU per message without
// them); nil if there is none. The bytes it reserved of Fetch.MaxBytes are
// for deliver to release.
func (l *brokerLoop) request() (*sarama.FetchRequest, []fetchEntry, int64) {
	c := l.f.conf
	req := &sarama.FetchRequest{
		Version:     l.f.version,
		MinBytes:    c.Consumer.Fetch.Min,
		MaxWaitTime: int32(c.Consumer.MaxWaitTime / time.Millisecond),
		Isolation:   c.Consumer.IsolationLevel,
		// No fetch sessions (KIP-227), as sarama's consumer.
		SessionID:    0,
		SessionEpoch: -1,
		RackID:       c.RackID,
	}
	var batch []fetchEntry
	var want int64   // what the response may carry at most
	var expect int64 // what its partitions behind their high-water marks may bring
	busy := false
	held := l.f.held.Load()
	limit := int64(c.Consumer.Fetch.MaxBytes)
	room := min(max(limit-held, fetchMinBytes), max(limit/fetchMaxShare, fetchMinBytes))
	l.mu.Lock()
	for pf := range l.parts { // a map: a random order, so every partition gets its turn at a full response
		pf.mu.Lock()
		switch left := len(pf.queue) - pf.head; {
		case pf.end != nil || pf.inFlight || pf.offset < 0:
		case left <= fetchLowWater || l.f.fetchAhead(pf.bytes, held, pf.fetchSize):
			if behind := pf.hwm.Load() - pf.offset; behind > 0 {
				if expect >= room {
					busy = true // fetched next time
					break
				}
				expect += expectBytes(behind, pf.msgBytes, pf.fetchSize)
			}
			pf.inFlight = true
			req.AddBlock(pf.tp.Topic, pf.tp.Partition, pf.offset, pf.fetchSize, -1)
			batch = append(batch, fetchEntry{pf, pf.offset})
			want += int64(pf.fetchSize)
		default:
			busy = true
		}
		pf.mu.Unlock()
	}
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil, nil, 0
	}
	reserved := l.f.reserve(min(want, room))
	if req.Version >= 3 {
		req.MaxBytes = int32(reserved)
	}
	if time.Since(time.Unix(0, l.addedAt.Load())) < fetchShortFor {
		req.MaxWaitTime = min(req.MaxWaitTime, int32(fetchShortWait/time.Millisecond))
	}
	if busy {
		// A partition whose handler is taking its messages will be
		// fetched again soon: a long poll of partitions that have
		// nothing new would hold it up.
		req.MaxWaitTime = min(req.MaxWaitTime, int32(fetchBusyWait/time.Millisecond))
	}
	return req, batch, reserved
}

// expectBytes is what a fetch of size bytes is expected to bring for a
// partition behind messages behind its high-water mark whose messages
// average msgBytes (0: not known yet, so all of size).
func expectBytes(behind, msgBytes int64, size int32) int64 {
	if msgBytes <= 0 || behind >= int64(size)/msgBytes {
		return int64(size)
	}
	return behind * msgBytes
}

// deliver puts each partition's messages of resp in its queue.
func (l *brokerLoop) deliver(resp *sarama.FetchResponse, batch []fetchEntry) {
	c := l.f.conf
	readCommitted := c.Consumer.IsolationLevel == sarama.ReadCommitted
	var moved, idle []*partFetch
	r := &respHold{}
	r.parts.Store(1) // deliver's own: no partition's last take releases r before all are queued
	for _, e := range batch {
		pf := e.pf
		b := resp.GetBlock(pf.tp.Topic, pf.tp.Partition)
		var p parsedBlock
		if b != nil && errors.Is(b.Err, sarama.ErrNoError) {
			p = parseBlock(pf.tp, e.offset, b, readCommitted)
		}
		pf.mu.Lock()
		if pf.loop == l {
			pf.inFlight = false
		}
		if pf.end != nil || pf.loop != l || pf.offset != e.offset {
			pf.mu.Unlock()
			continue // closed or moved meanwhile
		}
		pf.settling = false // until this response shows it idle again
		var note error
		outOfRange := false
		switch {
		case b == nil:
			// A throttled or incomplete response: fetched again next time.
		case errors.Is(b.Err, sarama.ErrNoError):
			pf.hwm.Store(b.HighWaterMarkOffset)
			switch {
			case p.partial && c.Consumer.Fetch.Max > 0 && pf.fetchSize >= c.Consumer.Fetch.Max:
				if pf.tooLargeAt != pf.offset {
					pf.tooLargeAt = pf.offset
					note = fmt.Errorf("offset %d: %w", pf.offset, sarama.ErrMessageTooLarge)
				}
				// From Fetch v3 on a broker returns a batch larger than
				// the limits when it leads the response (the requests'
				// partition order varies), and the block may have been
				// cut short by the response's MaxBytes: nothing is
				// skipped. Older brokers never return it: skipped, as
				// sarama does.
				if l.f.version < 3 {
					pf.offset++
				}
			case p.partial:
				pf.fetchSize = max(pf.fetchSize*2, pf.fetchSize) // no overflow
				if m := c.Consumer.Fetch.Max; m > 0 {
					pf.fetchSize = min(pf.fetchSize, m)
				}
			default:
				if len(p.msgs) > 0 {
					pf.fetchSize = c.Consumer.Fetch.Default
					switch {
					case pf.head == len(pf.queue):
						pf.queue, pf.head = p.msgs, 0
					case pf.head > 0:
						pf.queue = append(pf.queue[:0], pf.queue[pf.head:]...)
						for i := range pf.segs {
							pf.segs[i].end -= pf.head
						}
						pf.head = 0
						fallthrough
					default:
						pf.queue = append(pf.queue, p.msgs...)
					}
					pf.bytes += p.bytes
					pf.msgBytes = max(p.bytes/int64(len(p.msgs)), 1)
					pf.segs = append(pf.segs, queueSeg{end: len(pf.queue), r: r})
					r.parts.Add(1)
					r.bytes += p.bytes
				}
				pf.offset = p.next
				if len(p.msgs) == 0 && pf.head == len(pf.queue) && pf.offset >= b.HighWaterMarkOffset {
					idle = append(idle, pf)
				}
			}
		case errors.Is(b.Err, sarama.ErrOffsetOutOfRange):
			outOfRange = true
		case leaderMoved(b.Err):
			moved = append(moved, pf)
		default:
			note = b.Err
			moved = append(moved, pf)
		}
		pf.mu.Unlock()
		if len(p.msgs) > 0 {
			l.f.held.Add(p.bytes)
			pf.signal()
		}
		if note != nil {
			pf.notify(note)
		}
		if outOfRange {
			pf.finish(sarama.ErrOffsetOutOfRange, false)
		}
	}
	l.f.release(r.drop())
	l.detach(moved)
	l.settle(idle)
}

// detach takes pfs off this loop and redispatches them.
func (l *brokerLoop) detach(pfs []*partFetch) {
	if len(pfs) == 0 {
		return
	}
	l.mu.Lock()
	for _, pf := range pfs {
		delete(l.parts, pf)
	}
	l.mu.Unlock()
	for _, pf := range pfs {
		pf.mu.Lock()
		if pf.loop == l {
			pf.loop = nil
		}
		pf.inFlight = false
		pf.mu.Unlock()
	}
	l.f.redispatch(pfs)
}

// fail ends the loop after a request to its broker failed: its connection
// is closed and every partition is told and redispatched (to a new loop
// and connection).
func (l *brokerLoop) fail(err error) {
	_ = l.broker.Close()
	l.f.mu.Lock()
	if l.f.loops[l.key()] == l {
		delete(l.f.loops, l.key())
	}
	l.f.mu.Unlock()
	l.mu.Lock()
	pfs := make([]*partFetch, 0, len(l.parts))
	for pf := range l.parts {
		pfs = append(pfs, pf)
	}
	l.mu.Unlock()
	for _, pf := range pfs {
		pf.notify(fmt.Errorf("fetch from broker %d: %w", l.id, err))
	}
	l.detach(pfs)
}
