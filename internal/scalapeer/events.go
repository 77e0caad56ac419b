package scalapeer

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/internal/jvmpeer"
	"github.com/zkbalance/zkbalance/internal/peerproc"
)

// Kind is the first word of a line the Scala member prints.
type Kind string

// The lines of the Scala member (ScalaMember.java).
const (
	// KindStarted: "started <consumer id>", once, after createMessageStreams
	// returned: the member is registered under /consumers/<group>/ids and
	// its first rebalance ran. Event.Text is the consumer id.
	KindStarted Kind = jvmpeer.KindStarted
	// KindAssignment: "assignment [t:p=<thread id>,...]", from the rebalance
	// listener's beforeStartingFetchers: the whole group's assignment as the
	// consumer computed it, printed after its owner znodes were written.
	KindAssignment Kind = "assignment"
	// KindOwned: "owned [t:p,...]", right after KindAssignment: this
	// member's share of it, which it now processes.
	KindOwned Kind = "owned"
	// KindReleased: "released [t:p,...]", from beforeReleasingPartitions
	// (before the rebalance deletes the owner znodes) and at the stop: the
	// member waited for its messages in processing, committed, and
	// processes none of these partitions any more.
	KindReleased Kind = "released"
	// KindMsg: "msg <topic> <partition> <offset> <start ns> <end ns>", one
	// message processed (start and end of its processing, Delay between
	// them, in nanoseconds since the Unix epoch); printed before it counts
	// as processed and so before its commit.
	KindMsg Kind = "msg"
	// KindDropped: "dropped <topic> <partition> <offset>", a message the
	// consumer's iterator handed out, outside a stop, for a partition the
	// member does not own (after a rebalance released it: left in the chunk
	// the iterator was reading): not processed, not committed. Messages
	// handed out once a stop began are skipped without a line.
	KindDropped Kind = "dropped"
	// KindCommit: "commit t:p=next,...", commitOffsets wrote these next
	// offsets to ZooKeeper.
	KindCommit Kind = "commit"
	// KindError: "error <class>: <message>[ <- <cause class>: <message>...]",
	// an exception the member caught. Event.Text is all after "error ".
	KindError Kind = jvmpeer.KindError
	// KindClosed: "closed", the connector was shut down (its ZooKeeper
	// session closed, so its registration and owner znodes are gone); the
	// process exits next.
	KindClosed Kind = jvmpeer.KindClosed
	// KindOther is a line that did not parse.
	KindOther Kind = "other"
)

// TopicPartition names one partition; String is "topic:partition", as
// the member prints it.
type TopicPartition = jvmpeer.TopicPartition

// Event is one parsed line of the member's stdout.
type Event struct {
	Kind Kind
	At   time.Time // when the line was read
	Line string    // the raw line

	// KindOwned, KindReleased: the partitions, sorted.
	Partitions []TopicPartition

	// KindAssignment: the consumer thread id ("<consumer id>-<n>") of
	// every partition of the group's subscription.
	Assignment map[TopicPartition]string

	// KindMsg, KindDropped: the message; KindMsg: when its processing
	// started and ended (the member's wall clock).
	Topic      string
	Partition  int32
	Offset     int64
	Start, End time.Time

	// KindCommit: the committed next offset per partition.
	Commits map[TopicPartition]int64

	// KindStarted: the consumer id. KindError: the exception, message and causes.
	Text string
}

// parseLine parses one stdout line of the member; a line that does not
// parse is KindOther.
func parseLine(line string, at time.Time) Event {
	ev := Event{Kind: KindOther, At: at, Line: line}
	word, rest, _ := strings.Cut(line, " ")
	switch k := Kind(word); k {
	case KindStarted, KindError:
		if rest == "" {
			return ev
		}
		ev.Kind, ev.Text = k, rest
	case KindClosed:
		if rest != "" {
			return ev
		}
		ev.Kind = k
	case KindOwned, KindReleased:
		parts := []TopicPartition{}
		for _, s := range splitList(rest) {
			tp, ok := jvmpeer.ParseTP(s)
			if !ok {
				return ev
			}
			parts = append(parts, tp)
		}
		slices.SortFunc(parts, jvmpeer.CompareTP)
		ev.Kind, ev.Partitions = k, parts
	case KindAssignment:
		asg := map[TopicPartition]string{}
		for _, s := range splitList(rest) {
			tps, th, ok := strings.Cut(s, "=")
			tp, ok2 := jvmpeer.ParseTP(tps)
			if !ok || !ok2 || th == "" {
				return ev
			}
			asg[tp] = th
		}
		ev.Kind, ev.Assignment = k, asg
	case KindMsg, KindDropped:
		f := strings.Fields(rest)
		want := 5
		if k == KindDropped {
			want = 3
		}
		if len(f) != want {
			return ev
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || off < 0 {
			return ev
		}
		if k == KindMsg {
			start, err3 := strconv.ParseInt(f[3], 10, 64)
			end, err4 := strconv.ParseInt(f[4], 10, 64)
			if err3 != nil || err4 != nil {
				return ev
			}
			ev.Start, ev.End = time.Unix(0, start), time.Unix(0, end)
		}
		ev.Kind, ev.Topic, ev.Partition, ev.Offset = k, f[0], int32(p), off
	case KindCommit:
		commits, ok := jvmpeer.ParseCommits(rest)
		if !ok {
			return ev
		}
		ev.Kind, ev.Commits = k, commits
	}
	return ev
}

// splitList splits a comma-separated list; "" is none.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// owned is the member's partitions after evs: those of the last owned
// event, unless a released event came after it.
func owned(evs []Event) []TopicPartition {
	var cur []TopicPartition
	for _, e := range evs {
		switch e.Kind {
		case KindOwned:
			cur = e.Partitions
		case KindReleased, KindClosed:
			cur = nil
		}
	}
	return slices.Clone(cur)
}

func filter(evs []Event, k Kind) []Event {
	return peerproc.Filter(evs, func(e Event) bool { return e.Kind == k })
}
