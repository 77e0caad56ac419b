package balanced

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/internal/kafkacoord"
)

// Lag accounting.
//
// A partition's lag (zkbalance_lag_messages) is its log end offset minus
// the member's position in it, exported from the moment the member owns the
// partition and knows where it starts (its committed offset, read when its
// worker starts), until the partition is revoked, lost or the member
// closes. So a handler stuck on its first message shows the whole backlog
// behind it, and a lag alert can fire before anything was ever marked.
//
// The log end comes from two sources: the high-water mark of the fetch
// responses (updated with every message handed to the handler), and a
// ListOffsets request (latest) for every owned partition, batched into one
// request per leader broker, every Config.LagInterval. The second one keeps
// the lag growing while a handler is stuck: the fetcher stops fetching a
// partition whose handler does not take its messages, so the fetched
// high-water mark freezes with it. A partition just acquired takes its log
// end from its first fetch response, which comes within fetchShortWait;
// lagKickDelay after an acquisition, only those with no response yet are
// listed. (Listing each acquired partition 100 ms after it was acquired
// sent a request per broker and member in the middle of every join, when
// the brokers were busiest.)
//
// The position is, in order of preference: the last mark; the offset of the
// first message fetched; the start offset (the committed one, or, with
// none, Config.InitialOffset resolved by a ListOffsets request: earliest
// for sarama.OffsetOldest; for sarama.OffsetNewest the log end when first
// listed, so that messages produced between the fetch start and that
// listing are not counted until the first one is fetched).
//
// All per-partition series are written by publishPartitions under the
// stateLock, and only for workers that are in c.workers, not suspended and
// not cancelled; revoke, loss, suspension and removal delete them under the
// same lock after cancelling the worker. A publish that raced with a revoke
// therefore either ran before the delete or sees the cancelled worker: no
// series survives for a partition the member no longer owns.

// noOffset marks an offset not known yet.
const noOffset = math.MinInt64

// lagInputs is what a partition's lag is computed from (noOffset: unknown).
type lagInputs struct {
	fetchedEnd int64 // high-water mark of the last fetch response seen by the handler; <= 0 unknown
	listedEnd  int64 // log end from the last ListOffsets
	marked     int64 // next offset to commit; < 0 before any mark
	first      int64 // offset of the first message fetched; < 0 before
	start      int64 // start offset: committed, or the resolved initial offset
}

// computeLag returns the lag of a partition, and false while either its log
// end or its position is unknown. It is never negative (a mark can run
// ahead of a stale log end).
func computeLag(in lagInputs) (int64, bool) {
	end := int64(noOffset)
	if in.fetchedEnd > 0 {
		end = in.fetchedEnd
	}
	if in.listedEnd != noOffset && in.listedEnd >= 0 {
		end = max(end, in.listedEnd)
	}
	if end == noOffset {
		return 0, false
	}
	var pos int64
	switch {
	case in.marked >= 0:
		pos = in.marked
	case in.first >= 0:
		pos = in.first
	case in.start != noOffset && in.start >= 0:
		pos = in.start
	default:
		return 0, false
	}
	return max(end-pos, 0), true
}

// lagInputsOf reads w's current lag inputs.
func lagInputsOf(w *worker) lagInputs {
	start := w.start.Load()
	if start < 0 { // symbolic (InitialOffset) or unknown
		start = w.startResolved.Load()
	}
	return lagInputs{
		fetchedEnd: w.hwm.Load(),
		listedEnd:  w.listedEnd.Load(),
		marked:     w.marked.Load(),
		first:      w.first.Load(),
		start:      start,
	}
}

// publishPartitions writes the per-partition series of every live owned
// partition and deletes those of cancelled or suspended workers.
func (c *Consumer) publishPartitions() {
	if err := c.stateLock.Lock(context.Background()); err != nil {
		return
	}
	defer c.stateLock.Unlock()
	for tp, w := range c.workers {
		if w.suspended || w.ctx.Err() != nil {
			c.metrics.forgetPartition(tp)
			continue
		}
		l := partitionLabels(tp)
		if lag, ok := computeLag(lagInputsOf(w)); ok {
			c.metrics.lag.WithLabelValues(l...).Set(float64(lag))
		}
		if at := w.lastCommit.Load(); at > 0 {
			c.metrics.lastCommit.WithLabelValues(l...).Set(float64(at) / 1e9)
		}
	}
}

// forgetWorkers deletes the per-partition series of ws, which the caller
// has cancelled (or suspended).
func (c *Consumer) forgetWorkers(ws []*worker) {
	_ = c.stateLock.Lock(context.Background())
	defer c.stateLock.Unlock()
	for _, w := range ws {
		c.metrics.forgetPartition(w.tp)
	}
}

// noteFetchedEnd takes w's log end from its fetch's last response (its
// high-water mark), if there was one and nothing was listed yet.
func noteFetchedEnd(w *worker) {
	if pf := w.pf.Load(); pf != nil {
		if hwm := pf.hwm.Load(); hwm >= 0 {
			w.listedEnd.CompareAndSwap(noOffset, hwm)
		}
	}
}

// kickLag asks the lag loop for a refresh soon (a partition was acquired).
func (c *Consumer) kickLag() {
	select {
	case c.lagKick <- struct{}{}:
	default:
	}
}

// lagKickDelay is how long after kickLag its refresh runs: the workers of
// one rebalance start within it and share a refresh, and their first fetch
// responses (within fetchShortWait) have brought most of them a log end.
const lagKickDelay = time.Second

// lagLoop refreshes the log ends of the owned partitions every
// Config.LagInterval, and soon after a partition is acquired, then
// publishes the per-partition series; it returns when ctx is done.
func (c *Consumer) lagLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	for {
		kicked := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.lagKick:
			kicked = true
			if !ctxsleep.Sleep(ctx, lagKickDelay) {
				return
			}
		}
		c.refreshLogEnds(ctx, kicked)
		c.publishPartitions()
		if kicked {
			drain(c.lagKick) // the refresh covered the kicks since the sleep began
		}
	}
}

// refreshLogEnds lists the log end (and, for workers that start from a
// symbolic InitialOffset, the start) of every live owned partition (with
// onlyNew, of those not listed yet: the ones just acquired): one
// ListOffsets request per leader broker and timestamp. Failures leave the
// previous values (logged at debug level); a partition whose leader moved
// makes the client refresh its metadata. (Listing every owned partition
// after each acquisition sent six requests per member during a join at 64
// x 4096 with scala-range, when the brokers were busiest.)
func (c *Consumer) refreshLogEnds(ctx context.Context, onlyNew bool) {
	if c.client == nil {
		return
	}
	type batch struct {
		b  *sarama.Broker
		ws []*worker
	}
	latest, earliest := map[int32]*batch{}, map[int32]*batch{}
	var stale []string
	for _, w := range c.workersSnapshot() {
		if w.suspended || w.ctx.Err() != nil {
			continue
		}
		if onlyNew {
			noteFetchedEnd(w)
			if w.listedEnd.Load() != noOffset {
				continue
			}
		}
		b, err := c.client.Leader(w.tp.Topic, w.tp.Partition)
		if err != nil {
			stale = append(stale, w.tp.Topic)
			continue
		}
		add := func(m map[int32]*batch) {
			if m[b.ID()] == nil {
				m[b.ID()] = &batch{b: b}
			}
			m[b.ID()].ws = append(m[b.ID()].ws, w)
		}
		add(latest)
		if w.start.Load() == sarama.OffsetOldest && w.startResolved.Load() == noOffset && w.first.Load() < 0 && w.marked.Load() < 0 {
			add(earliest)
		}
	}
	list := func(bt *batch, ts int64, store func(w *worker, off int64)) {
		req := sarama.NewOffsetRequest(c.cfg.Sarama.Version)
		for _, w := range bt.ws {
			req.AddBlock(w.tp.Topic, w.tp.Partition, ts, 1)
		}
		resp, err := kafkacoord.Call(ctx, func() (*sarama.OffsetResponse, error) { return bt.b.GetAvailableOffsets(req) })
		if err != nil {
			if ctx.Err() == nil {
				c.log.Debug("lag: list offsets failed", "broker", bt.b.Addr(), "err", err)
			}
			return
		}
		for _, w := range bt.ws {
			blk := resp.GetBlock(w.tp.Topic, w.tp.Partition)
			switch {
			case blk == nil:
			case errors.Is(blk.Err, sarama.ErrNotLeaderForPartition), errors.Is(blk.Err, sarama.ErrUnknownTopicOrPartition):
				stale = append(stale, w.tp.Topic)
			case blk.Err != sarama.ErrNoError, len(blk.Offsets) == 0:
				c.log.Debug("lag: list offsets", "topic", w.tp.Topic, "partition", w.tp.Partition, "err", blk.Err)
			default:
				store(w, blk.Offsets[0])
			}
		}
	}
	for _, bt := range earliest {
		list(bt, sarama.OffsetOldest, func(w *worker, off int64) { w.startResolved.CompareAndSwap(noOffset, off) })
	}
	for _, bt := range latest {
		list(bt, sarama.OffsetNewest, func(w *worker, off int64) {
			w.listedEnd.Store(off)
			if w.start.Load() == sarama.OffsetNewest {
				w.startResolved.CompareAndSwap(noOffset, off)
			}
		})
	}
	if len(stale) > 0 && ctx.Err() == nil {
		if _, err := kafkacoord.Call(ctx, func() (struct{}, error) { return struct{}{}, c.client.RefreshMetadata(stale...) }); err != nil && ctx.Err() == nil {
			c.log.Debug("lag: refresh metadata failed", "topics", stale, "err", err)
		}
	}
}
