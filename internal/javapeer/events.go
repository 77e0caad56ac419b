package javapeer

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/internal/jvmpeer"
	"github.com/zkbalance/zkbalance/internal/peerproc"
)

// Kind is the first word of a line the Java member prints.
type Kind string

// The lines of the Java member (Member.java).
const (
	// KindStarted: "started <client id>", once, after the KafkaConsumer was
	// made and before it subscribes. Event.Text is the client id.
	KindStarted Kind = jvmpeer.KindStarted
	// KindAssigned: "assigned [t:p,...]", from onPartitionsAssigned: the
	// partitions added to the member's assignment (with an eager assignor
	// its whole new assignment; with cooperative-sticky only the new ones;
	// possibly none).
	KindAssigned Kind = "assigned"
	// KindRevoked: "revoked [t:p,...]", from onPartitionsRevoked, printed
	// after the member committed what it processed of them.
	KindRevoked Kind = "revoked"
	// KindLost: "lost [t:p,...]", from onPartitionsLost: taken away without
	// a chance to commit (the member fell out of the group).
	KindLost Kind = "lost"
	// KindMsg: "msg <topic> <partition> <offset> <start ns> <end ns>", one
	// record processed (start and end of its processing, Delay between
	// them, in nanoseconds since the Unix epoch); printed before the member
	// counts it as processed and so before its commit.
	KindMsg Kind = "msg"
	// KindCommit: "commit t:p=next,...", a commitSync of these next offsets
	// returned.
	KindCommit Kind = "commit"
	// KindError: "error <class>: <message>[ <- <cause class>: <message>...]",
	// an exception (with its causes) the member caught: a failed commit,
	// poll or close, bad arguments. Event.Text is all after "error ".
	KindError Kind = jvmpeer.KindError
	// KindClosed: "closed", the consumer was closed (it left the group);
	// the process exits next.
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

	// KindAssigned, KindRevoked, KindLost: the partitions, as printed.
	Partitions []TopicPartition

	// KindMsg: the record and when its processing started and ended (the
	// member's wall clock).
	Topic      string
	Partition  int32
	Offset     int64
	Start, End time.Time

	// KindCommit: the committed next offset per partition.
	Commits map[TopicPartition]int64

	// KindStarted: the client id. KindError: the exception, message and causes.
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
	case KindAssigned, KindRevoked, KindLost:
		parts := []TopicPartition{}
		if rest != "" {
			for _, s := range strings.Split(rest, ",") {
				tp, ok := jvmpeer.ParseTP(s)
				if !ok {
					return ev
				}
				parts = append(parts, tp)
			}
		}
		ev.Kind, ev.Partitions = k, parts
	case KindMsg:
		f := strings.Fields(rest)
		if len(f) != 5 || f[0] == "" {
			return ev
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		start, err3 := strconv.ParseInt(f[3], 10, 64)
		end, err4 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || p < 0 || off < 0 {
			return ev
		}
		ev.Kind, ev.Topic, ev.Partition, ev.Offset = k, f[0], int32(p), off
		ev.Start, ev.End = time.Unix(0, start), time.Unix(0, end)
	case KindCommit:
		commits, ok := jvmpeer.ParseCommits(rest)
		if !ok {
			return ev
		}
		ev.Kind, ev.Commits = k, commits
	}
	return ev
}

// owned replays the assigned, revoked and lost events: the member's
// assignment after evs, sorted by topic and partition.
func owned(evs []Event) []TopicPartition {
	set := map[TopicPartition]bool{}
	for _, e := range evs {
		switch e.Kind {
		case KindAssigned:
			for _, tp := range e.Partitions {
				set[tp] = true
			}
		case KindRevoked, KindLost:
			for _, tp := range e.Partitions {
				delete(set, tp)
			}
		}
	}
	return slices.SortedFunc(maps.Keys(set), jvmpeer.CompareTP)
}

func filter(evs []Event, k Kind) []Event {
	return peerproc.Filter(evs, func(e Event) bool { return e.Kind == k })
}
