package balanced

import (
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func recordBatch(first int64, n int, mod func(*sarama.RecordBatch)) *sarama.Records {
	b := &sarama.RecordBatch{FirstOffset: first, LastOffsetDelta: int32(n - 1), FirstTimestamp: time.Unix(100, 0)}
	for i := range n {
		b.Records = append(b.Records, &sarama.Record{OffsetDelta: int64(i), Value: []byte{byte(i)}, TimestampDelta: time.Duration(i) * time.Second})
	}
	if mod != nil {
		mod(b)
	}
	return &sarama.Records{RecordBatch: b}
}

func TestParseBlock(t *testing.T) {
	tp := TopicPartition{Topic: "t", Partition: 3}
	legacyCompressed := &sarama.Records{MsgSet: &sarama.MessageSet{Messages: []*sarama.MessageBlock{{
		Offset: 22, // the wrapper carries the last inner offset
		Msg: &sarama.Message{Version: 1, Set: &sarama.MessageSet{Messages: []*sarama.MessageBlock{
			{Offset: 0, Msg: &sarama.Message{Version: 1, Value: []byte("a")}},
			{Offset: 1, Msg: &sarama.Message{Version: 1, Value: []byte("b")}},
			{Offset: 2, Msg: &sarama.Message{Version: 1, Value: []byte("c")}},
		}}},
	}}}}
	tests := []struct {
		name          string
		offset        int64
		block         *sarama.FetchResponseBlock
		readCommitted bool
		wantOffsets   []int64
		wantNext      int64
		wantPartial   bool
	}{
		{name: "empty", offset: 5, block: &sarama.FetchResponseBlock{}, wantNext: 5},
		{name: "batch from its middle", offset: 11, block: &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{recordBatch(10, 3, nil)}},
			wantOffsets: []int64{11, 12}, wantNext: 13},
		{name: "two batches", offset: 10, block: &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{recordBatch(10, 2, nil), recordBatch(12, 2, nil)}},
			wantOffsets: []int64{10, 11, 12, 13}, wantNext: 14},
		{name: "control batch skipped", offset: 10, block: &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{
			recordBatch(10, 2, nil), recordBatch(12, 1, func(b *sarama.RecordBatch) { b.Control = true })}},
			wantOffsets: []int64{10, 11}, wantNext: 13},
		{name: "only a partial batch", offset: 7, block: &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{
			{RecordBatch: &sarama.RecordBatch{FirstOffset: 7, PartialTrailingRecord: true}}}},
			wantNext: 7, wantPartial: true},
		{name: "whole batch then a partial one", offset: 10, block: &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{
			recordBatch(10, 2, nil), {RecordBatch: &sarama.RecordBatch{FirstOffset: 12, PartialTrailingRecord: true}}}},
			wantOffsets: []int64{10, 11}, wantNext: 12},
		{name: "compacted gap", offset: 10, block: &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{
			recordBatch(10, 1, func(b *sarama.RecordBatch) { b.LastOffsetDelta = 4 })}},
			wantOffsets: []int64{10}, wantNext: 15},
		{name: "legacy compressed set", offset: 21, block: &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{legacyCompressed}},
			wantOffsets: []int64{21, 22}, wantNext: 23},
		{name: "aborted transaction read committed", offset: 10, readCommitted: true, block: &sarama.FetchResponseBlock{
			AbortedTransactions: []*sarama.AbortedTransaction{{ProducerID: 7, FirstOffset: 10}},
			RecordsSet: []*sarama.Records{
				recordBatch(10, 2, func(b *sarama.RecordBatch) { b.ProducerID, b.IsTransactional = 7, true }),
				recordBatch(12, 1, func(b *sarama.RecordBatch) {
					b.ProducerID, b.IsTransactional, b.Control = 7, true, true
					b.Records[0].Key = []byte{0, 0, 0, 0} // abort
				}),
				recordBatch(13, 1, func(b *sarama.RecordBatch) { b.ProducerID, b.IsTransactional = 7, true }),
			}},
			wantOffsets: []int64{13}, wantNext: 14},
		{name: "aborted transaction read uncommitted", offset: 10, block: &sarama.FetchResponseBlock{
			AbortedTransactions: []*sarama.AbortedTransaction{{ProducerID: 7, FirstOffset: 10}},
			RecordsSet: []*sarama.Records{
				recordBatch(10, 2, func(b *sarama.RecordBatch) { b.ProducerID, b.IsTransactional = 7, true }),
			}},
			wantOffsets: []int64{10, 11}, wantNext: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseBlock(tp, tt.offset, tt.block, tt.readCommitted)
			var offs []int64
			var bytes int64
			for _, m := range p.msgs {
				if m.Topic != tp.Topic || m.Partition != tp.Partition {
					t.Fatalf("message of %s/%d", m.Topic, m.Partition)
				}
				offs = append(offs, m.Offset)
				bytes += int64(len(m.Key) + len(m.Value))
			}
			if !slices.Equal(offs, tt.wantOffsets) || p.next != tt.wantNext || p.partial != tt.wantPartial || p.bytes != bytes {
				t.Fatalf("offsets %v next %d partial %v bytes %d; want %v next %d partial %v bytes %d",
					offs, p.next, p.partial, p.bytes, tt.wantOffsets, tt.wantNext, tt.wantPartial, bytes)
			}
		})
	}
}

func TestParseBlockTimestamps(t *testing.T) {
	p := parseBlock(TopicPartition{Topic: "t"}, 0, &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{recordBatch(0, 2, nil)}}, false)
	if !p.msgs[1].Timestamp.Equal(time.Unix(101, 0)) {
		t.Fatalf("create time %v", p.msgs[1].Timestamp)
	}
	p = parseBlock(TopicPartition{Topic: "t"}, 0, &sarama.FetchResponseBlock{RecordsSet: []*sarama.Records{recordBatch(0, 2, func(b *sarama.RecordBatch) {
		b.LogAppendTime, b.MaxTimestamp = true, time.Unix(500, 0)
	})}}, false)
	if !p.msgs[0].Timestamp.Equal(time.Unix(500, 0)) {
		t.Fatalf("log append time %v", p.msgs[0].Timestamp)
	}
}

func TestFetchVersion(t *testing.T) {
	for _, tt := range []struct {
		v    sarama.KafkaVersion
		want int16
	}{{sarama.V0_8_2_0, 0}, {sarama.V0_10_1_0, 3}, {sarama.V2_1_0_0, 10}, {sarama.V3_0_0_0, 12}} {
		if got := fetchVersion(tt.v); got != tt.want {
			t.Errorf("fetchVersion(%s) = %d, want %d", tt.v, got, tt.want)
		}
	}
}
