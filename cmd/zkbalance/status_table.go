package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/zkbalance/zkbalance/groupstate"
)

// statusRow is one line of the partition table of 'zkbalance status' and
// one element of "rows" in its JSON: the columns of kafka-consumer-groups
// --describe, for a group coordinated by ZooKeeper or by Kafka. nil is
// unknown (JSON null, "-" in the table).
type statusRow struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// CurrentOffset is the effective committed offset (the higher of
	// ZooKeeper's and Kafka's); nil when neither store has one.
	CurrentOffset *int64 `json:"current_offset"`
	// LogEndOffset is the next offset to be written; nil when unknown.
	LogEndOffset *int64 `json:"log_end_offset"`
	// Lag is LogEndOffset - CurrentOffset (0 for a commit beyond the log
	// end); nil when either is unknown, that is also when nothing is
	// committed, as kafka-consumer-groups shows it.
	Lag *int64 `json:"lag"`
	// Owner is who holds the partition: the owner znode values (a value
	// matching no registered member marked "(gone)") and the Kafka members
	// assigned it, comma-separated; nil when nobody does.
	Owner *string `json:"owner"`
	// Store is where CurrentOffset comes from: "zookeeper", "kafka" or
	// "both" (the same offset in each); nil when nothing is committed.
	Store *string `json:"store"`
	// LagChange (--watch only) is Lag minus the partition's lag in the
	// previous frame; omitted when either is unknown (the first frame).
	LagChange *int64 `json:"lag_change,omitempty"`
}

// rowKey identifies a partition across frames.
type rowKey struct {
	topic     string
	partition int32
}

func (r statusRow) key() rowKey { return rowKey{r.Topic, r.Partition} }

func ptr[T any](v T) *T { return &v }

// statusRows builds the table rows from a snapshot's partitions (already
// sorted by topic and partition).
func statusRows(parts []groupstate.Partition) []statusRow {
	rows := make([]statusRow, 0, len(parts))
	for _, p := range parts {
		r := statusRow{Topic: p.Topic, Partition: p.Partition}
		if p.Committed >= 0 {
			r.CurrentOffset = ptr(p.Committed)
			r.Store = ptr(string(p.Source))
		}
		if p.LogEnd >= 0 {
			r.LogEndOffset = ptr(p.LogEnd)
		}
		if p.Committed >= 0 && p.LogEnd >= 0 && p.Lag >= 0 {
			r.Lag = ptr(p.Lag)
		}
		if o := ownerText(p); o != "" {
			r.Owner = ptr(o)
		}
		rows = append(rows, r)
	}
	return rows
}

// ownerText is the owner znode values and the Kafka owners' member ids,
// comma-separated; "" when there are none.
func ownerText(p groupstate.Partition) string {
	var parts []string
	if len(p.Owners) > 0 {
		parts = append(parts, ownersText(p.Owners))
	}
	if len(p.KafkaOwners) > 0 {
		parts = append(parts, kafkaOwnersText(p.KafkaOwners))
	}
	return strings.Join(parts, ", ")
}

// withLagChange sets each row's LagChange against prev, the lags of the
// previous frame (nil: the first frame, no change known), and returns
// this frame's lags for the next one.
func withLagChange(rows []statusRow, prev map[rowKey]int64) map[rowKey]int64 {
	next := make(map[rowKey]int64, len(rows))
	for i := range rows {
		r := &rows[i]
		r.LagChange = nil
		if r.Lag == nil {
			continue
		}
		next[r.key()] = *r.Lag
		if before, ok := prev[r.key()]; ok {
			r.LagChange = ptr(*r.Lag - before)
		}
	}
	return next
}

// filterTopics keeps the partitions of the given topics (all when topics
// is empty) and recomputes the totals that count partitions; a topic with
// no partition in the group gets a warning. st is not modified.
func filterTopics(st *groupstate.Status, topics []string) *groupstate.Status {
	if len(topics) == 0 {
		return st
	}
	cp := *st
	cp.Partitions = nil
	seen := map[string]bool{}
	removedErrors := 0
	for _, p := range st.Partitions {
		if !slices.Contains(topics, p.Topic) {
			if p.Error != "" {
				removedErrors++
			}
			continue
		}
		seen[p.Topic] = true
		cp.Partitions = append(cp.Partitions, p)
	}
	if cp.Partitions == nil {
		cp.Partitions = []groupstate.Partition{}
	}
	t := groupstate.Totals{Members: st.Totals.Members, KafkaMembers: st.Totals.KafkaMembers, Errors: st.Totals.Errors - removedErrors}
	for _, p := range cp.Partitions {
		t.Partitions++
		t.Owned += b2i(len(p.Owners) > 0)
		t.KafkaOwned += b2i(len(p.KafkaOwners) > 0)
		t.Committed += b2i(p.Committed >= 0)
		t.LogEnd += max(p.LogEnd, 0)
		t.Lag += max(p.Lag, 0)
	}
	cp.Totals = t
	cp.Warnings = slices.Clone(st.Warnings)
	for i, topic := range topics {
		if !seen[topic] && !slices.Contains(topics[:i], topic) {
			cp.Warnings = append(cp.Warnings, fmt.Sprintf("--topic %s: the group has no partition of it", topic))
		}
	}
	return &cp
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// dash is v, or "-" for nil.
func dash[T any](v *T) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

// signed is "+3", "-2" or "0"; "-" for nil.
func signed(v *int64) string {
	switch {
	case v == nil:
		return "-"
	case *v > 0:
		return fmt.Sprintf("+%d", *v)
	}
	return fmt.Sprint(*v)
}

// rowsTotalLag sums the known lags (the LAG column).
func rowsTotalLag(rows []statusRow) int64 {
	var n int64
	for _, r := range rows {
		if r.Lag != nil {
			n += *r.Lag
		}
	}
	return n
}

// writeRows prints the partition table; change adds the LAG-CHANGE column
// (--watch).
func writeRows(w io.Writer, rows []statusRow, change bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG"
	if change {
		head += "\tLAG-CHANGE"
	}
	fmt.Fprintln(tw, head+"\tOWNER\tSTORE")
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(no partitions)")
	}
	for _, r := range rows {
		line := fmt.Sprintf("%s\t%d\t%s\t%s\t%s", r.Topic, r.Partition, dash(r.CurrentOffset), dash(r.LogEndOffset), dash(r.Lag))
		if change {
			line += "\t" + signed(r.LagChange)
		}
		fmt.Fprintln(tw, line+"\t"+dash(r.Owner)+"\t"+dash(r.Store))
	}
	return tw.Flush()
}
