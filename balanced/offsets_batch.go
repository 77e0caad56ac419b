package balanced

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
)

// batchingClient is the sarama Client partitions are fetched through. Its
// GetOffset batches concurrent calls: sarama starts every partition
// consumer with two ListOffsets requests of one partition each (newest and
// oldest, see sarama's chooseStartingOffset), and a rebalance starts all
// the partitions it gained at once. At 16 × 4096 a join moves about 2000
// partitions: 4000 single-partition requests, which queue on three broker
// connections (sarama keeps at most Net.MaxOpenRequests in flight on each)
// and took about 1.1 s between owning the partitions and fetching them.
//
// Calls for a broker that arrive while a request to it is in flight wait,
// and the caller whose request ends sends them all as one request per
// timestamp (each answer is still read after its call was made, as
// sarama's own would be). A call whose batch failed, or whose partition
// had an error, is made again alone through sarama's GetOffset, which
// refreshes metadata and retries.
type batchingClient struct {
	sarama.Client

	mu      sync.Mutex
	waiting map[int32][]*offsetCall // by leader id
	busy    map[int32]bool          // a caller is sending to that leader

	requests *atomic.Int64 // ListOffsets requests sent by batches (the pool's count, for tests)
}

// offsetCall is one GetOffset call waiting in a batch.
type offsetCall struct {
	topic     string
	partition int32
	time      int64
	offset    int64
	err       error
	done      chan struct{}
}

func newBatchingClient(c sarama.Client, requests *atomic.Int64) *batchingClient {
	return &batchingClient{Client: c, waiting: map[int32][]*offsetCall{}, busy: map[int32]bool{}, requests: requests}
}

// GetOffset answers like sarama's Client.GetOffset.
func (c *batchingClient) GetOffset(topic string, partition int32, time int64) (int64, error) {
	leader, err := c.Leader(topic, partition)
	if err != nil {
		return c.Client.GetOffset(topic, partition, time)
	}
	call := &offsetCall{topic: topic, partition: partition, time: time, done: make(chan struct{})}
	id := leader.ID()
	c.mu.Lock()
	c.waiting[id] = append(c.waiting[id], call)
	if c.busy[id] {
		c.mu.Unlock()
		<-call.done // the sending caller answers every waiting call
	} else {
		c.busy[id] = true
		c.mu.Unlock()
		c.send(leader, id)
	}
	if call.err != nil {
		return c.Client.GetOffset(topic, partition, time)
	}
	return call.offset, nil
}

// send sends the calls waiting for leader, and those that arrive
// meanwhile, until none waits.
func (c *batchingClient) send(leader *sarama.Broker, id int32) {
	for {
		c.mu.Lock()
		calls := c.waiting[id]
		delete(c.waiting, id)
		if len(calls) == 0 {
			c.busy[id] = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		byTime := map[int64][]*offsetCall{}
		for _, call := range calls {
			byTime[call.time] = append(byTime[call.time], call)
		}
		var wg sync.WaitGroup
		for _, group := range byTime {
			wg.Go(func() { c.ask(leader, group) })
		}
		wg.Wait()
		for _, call := range calls {
			close(call.done)
		}
	}
}

// errNoOffset marks a call the batch could not answer (made again alone).
var errNoOffset = errors.New("balanced: no offset in the batched answer")

// ask sends one ListOffsets request for calls (all of one timestamp, each
// partition once at most; repeats are asked in a later request).
func (c *batchingClient) ask(leader *sarama.Broker, calls []*offsetCall) {
	for len(calls) > 0 {
		req := sarama.NewOffsetRequest(c.Config().Version)
		type key struct {
			topic     string
			partition int32
		}
		seen := map[key]bool{}
		var now, later []*offsetCall
		for _, call := range calls {
			k := key{call.topic, call.partition}
			if seen[k] {
				later = append(later, call)
				continue
			}
			seen[k] = true
			now = append(now, call)
			req.AddBlock(call.topic, call.partition, call.time, 1)
		}
		c.requests.Add(1)
		resp, err := leader.GetAvailableOffsets(req)
		for _, call := range now {
			call.err = err
			if err != nil {
				continue
			}
			b := resp.GetBlock(call.topic, call.partition)
			switch {
			case b == nil || len(b.Offsets) != 1:
				call.err = errNoOffset
			case !errors.Is(b.Err, sarama.ErrNoError):
				call.err = b.Err
			default:
				call.offset = b.Offsets[0]
			}
		}
		calls = later
	}
}
