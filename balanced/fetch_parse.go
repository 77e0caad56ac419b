package balanced

import (
	"encoding/binary"
	"slices"

	"github.com/IBM/sarama"
)

// parsedBlock is what one partition's block of a fetch response holds from
// the fetched offset on.
type parsedBlock struct {
	msgs  []*Message
	bytes int64 // keys and values of msgs
	// next is the offset to fetch next: past the last message, control
	// batch or aborted batch of the block (the fetched offset if none).
	next int64
	// partial: the block held no whole message, only the start of one
	// larger than the fetch size; it must be fetched with more bytes.
	partial bool
}

// parseBlock turns a fetch response's block of tp, fetched from offset, into
// messages, the way sarama's partition consumer does: record batches
// (decompressed by sarama) and legacy message sets, including compressed
// wrapper messages; records before offset (a batch starts earlier) are
// skipped; control batches are skipped; with readCommitted the batches of
// aborted transactions are skipped too.
func parseBlock(tp TopicPartition, offset int64, b *sarama.FetchResponseBlock, readCommitted bool) parsedBlock {
	out := parsedBlock{next: offset}
	n := 0
	for _, recs := range b.RecordsSet {
		if recs != nil && recs.RecordBatch != nil {
			n += len(recs.RecordBatch.Records)
		}
	}
	if n > 0 {
		out.msgs = make([]*Message, 0, n)
	}
	var aborted map[int64]bool
	var txns []*sarama.AbortedTransaction
	if readCommitted && len(b.AbortedTransactions) > 0 {
		aborted = map[int64]bool{}
		txns = slices.Clone(b.AbortedTransactions)
		slices.SortFunc(txns, func(x, y *sarama.AbortedTransaction) int {
			switch {
			case x.FirstOffset < y.FirstOffset:
				return -1
			case x.FirstOffset > y.FirstOffset:
				return 1
			}
			return 0
		})
	}
	anyPartial := b.Partial
	for _, recs := range b.RecordsSet {
		switch {
		case recs == nil:
		case recs.RecordBatch != nil:
			batch := recs.RecordBatch
			if batch.PartialTrailingRecord {
				anyPartial = true
				continue
			}
			last := batch.LastOffset()
			for len(txns) > 0 && txns[0].FirstOffset <= last {
				aborted[txns[0].ProducerID] = true
				txns = txns[1:]
			}
			switch {
			case batch.Control:
				if aborted != nil && len(batch.Records) > 0 && controlAbort(batch.Records[0].Key) {
					delete(aborted, batch.ProducerID)
				}
			case aborted != nil && batch.IsTransactional && aborted[batch.ProducerID]:
			default:
				for _, rec := range batch.Records {
					off := batch.FirstOffset + rec.OffsetDelta
					if off < out.next {
						continue
					}
					ts := batch.FirstTimestamp.Add(rec.TimestampDelta)
					if batch.LogAppendTime {
						ts = batch.MaxTimestamp
					}
					m := &Message{Topic: tp.Topic, Partition: tp.Partition, Offset: off, Key: rec.Key, Value: rec.Value, Timestamp: ts}
					if len(rec.Headers) > 0 {
						m.Headers = make([]Header, len(rec.Headers))
						for i, h := range rec.Headers {
							m.Headers[i] = Header{Key: h.Key, Value: h.Value}
						}
					}
					out.msgs = append(out.msgs, m)
					out.bytes += int64(len(rec.Key) + len(rec.Value))
					out.next = off + 1
				}
			}
			out.next = max(out.next, last+1)
		case recs.MsgSet != nil:
			set := recs.MsgSet
			if set.PartialTrailingMessage {
				anyPartial = true
			}
			for _, blk := range set.Messages {
				inner := blk.Messages()
				for _, msg := range inner {
					if msg.Msg == nil {
						continue
					}
					off, ts := msg.Offset, msg.Msg.Timestamp
					if msg.Msg.Version >= 1 {
						// Inner offsets of a compressed set are relative
						// to the wrapper's, which is the last one's.
						off += blk.Offset - inner[len(inner)-1].Offset
						if msg.Msg.LogAppendTime && blk.Msg != nil {
							ts = blk.Msg.Timestamp
						}
					}
					if off < out.next {
						continue
					}
					out.msgs = append(out.msgs, &Message{Topic: tp.Topic, Partition: tp.Partition, Offset: off, Key: msg.Msg.Key, Value: msg.Msg.Value, Timestamp: ts})
					out.bytes += int64(len(msg.Msg.Key) + len(msg.Msg.Value))
					out.next = off + 1
				}
			}
		}
	}
	out.partial = anyPartial && len(out.msgs) == 0 && out.next == offset
	return out
}

// controlAbort reports whether a control record's key (version int16, type
// int16) marks an abort.
func controlAbort(key []byte) bool {
	return len(key) >= 4 && binary.BigEndian.Uint16(key[2:4]) == uint16(sarama.ControlRecordAbort)
}
