package groupstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// MigrateOffsets copies a group's committed offsets from one store to the
// other: for every partition with an offset in the source (ZooKeeper's
// /consumers/<g>/offsets/<t>/<p>, or Kafka's offsets for group g) whose
// destination does not already hold the same value, one Change. Partitions
// are the ones Read lists. The source wins even when the destination holds a
// higher offset: this is a copy, not a merge.
//
// With dryRun nothing is written and the changes are returned. Otherwise
// exactly those changes are written, and Change.Applied says which were:
//   - into ZooKeeper: the offset znode is set as decimal ASCII (the Scala
//     consumer's format) with the version Read saw, or created (persistent,
//     world-readable, with its missing parents) when it did not exist; a
//     concurrent writer makes that one change fail rather than be
//     overwritten;
//   - into Kafka: one OffsetCommit v2 to the coordinator with generation -1,
//     an empty member id, retention -1 and empty metadata, as pykafka and the
//     Scala consumer with offsets.storage=kafka commit.
//
// Registered members (children of /consumers/<g>/ids) would overwrite the
// migrated offsets with their own commits, so a group that has any is
// refused with an error wrapping ErrLiveMembers unless force is set, in a
// dry run as well (the dry run predicts what the real run does).
//
// A source offset that cannot be read (a malformed offset znode, a Kafka
// error for the partition) fails the migration before anything is written.
// A malformed destination value counts as no offset (From -1, FromError
// says why) and is overwritten. A missing group is an error wrapping
// ErrNoGroup. client must not be nil; its Config.Version must be at least
// sarama.V0_9_0_0.
//
// On a failed write the returned changes say which were applied, and the
// error lists the others.
func MigrateOffsets(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string, dir Direction, dryRun, force bool) ([]Change, error) {
	return MigrateOffsetsACL(ctx, conn, client, group, dir, dryRun, force, nil)
}

// MigrateOffsetsACL is MigrateOffsets creating the offset znodes it writes
// to ZooKeeper (KafkaToZooKeeper), and their parents, with acl (nil:
// world:anyone ALL), for a group whose znodes have a digest ACL. Existing
// znodes keep theirs.
func MigrateOffsetsACL(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string, dir Direction, dryRun, force bool, acl []zkwatch.ACL) ([]Change, error) {
	changes, err := migrate(ctx, conn, client, group, dir, dryRun, force, acl)
	if err != nil {
		return changes, wrapf(err, "migrate offsets of group %s (%s)", group, dir)
	}
	return changes, nil
}

func migrate(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string, dir Direction, dryRun, force bool, acl []zkwatch.ACL) ([]Change, error) {
	if dir != ZooKeeperToKafka && dir != KafkaToZooKeeper {
		return nil, fmt.Errorf("invalid direction %d", int(dir))
	}
	if client == nil {
		return nil, errors.New("no kafka client")
	}
	st, err := read(ctx, conn, client, group, false)
	if err != nil {
		return nil, err
	}
	if n := len(st.Members); n > 0 && !force {
		ids := make([]string, 0, min(n, 3))
		for _, m := range st.Members[:min(n, 3)] {
			ids = append(ids, m.ID)
		}
		more := ""
		if n > 3 {
			more = fmt.Sprintf(" and %d more", n-3)
		}
		return nil, fmt.Errorf("%w: %d registered (%s%s) would overwrite the migrated offsets: stop them first, or force",
			ErrLiveMembers, n, strings.Join(ids, ", "), more)
	}
	changes := []Change{}
	var bad []string
	zkVersion := map[tp]int32{}
	for _, x := range st.Partitions {
		zkVersion[tp{x.Topic, x.Partition}] = x.zkVersion
		src, srcErr, dst, dstErr := x.ZooKeeperOffset, x.zkErr, x.KafkaOffset, x.kafkaErr
		if dir == KafkaToZooKeeper {
			src, srcErr, dst, dstErr = x.KafkaOffset, x.kafkaErr, x.ZooKeeperOffset, x.zkErr
		}
		if srcErr != nil {
			bad = append(bad, fmt.Sprintf("%s/%d: %v", x.Topic, x.Partition, srcErr))
			continue
		}
		if src < 0 || src == dst {
			continue
		}
		c := Change{Topic: x.Topic, Partition: x.Partition, From: dst, To: src}
		if dstErr != nil {
			c.From, c.FromError = -1, dstErr.Error()
		}
		changes = append(changes, c)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%d source offset(s) cannot be read, nothing written: %s", len(bad), strings.Join(bad, "; "))
	}
	if dryRun || len(changes) == 0 {
		return changes, nil
	}
	var errs []error
	if dir == KafkaToZooKeeper {
		for i := range changes {
			c := &changes[i]
			if err := writeZooKeeperOffset(ctx, conn, group, c, zkVersion[tp{c.Topic, c.Partition}], acl); err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					break
				}
				continue
			}
			c.Applied = true
		}
	} else {
		offs := make(map[tp]int64, len(changes))
		for _, c := range changes {
			offs[tp{c.Topic, c.Partition}] = c.To
		}
		perr, err := commitKafkaOffsets(ctx, client, group, offs)
		if err != nil {
			return changes, err
		}
		for i := range changes {
			c := &changes[i]
			if err := perr[tp{c.Topic, c.Partition}]; err != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", c.Topic, c.Partition, err))
				continue
			}
			c.Applied = true
		}
	}
	log := slog.Default()
	for _, c := range changes {
		if c.Applied {
			log.DebugContext(ctx, "groupstate: offset migrated", "group", group, "direction", dir.String(),
				"topic", c.Topic, "partition", c.Partition, "from", c.From, "to", c.To)
		}
	}
	if len(errs) > 0 {
		return changes, fmt.Errorf("%d of %d change(s) not written: %w", len(errs), len(changes), errors.Join(errs...))
	}
	return changes, nil
}

// writeZooKeeperOffset writes c.To to the offset znode of c: set with
// version (the one read) when it existed, else created with its parents,
// with acl (nil: world:anyone ALL).
func writeZooKeeperOffset(ctx context.Context, conn *zkwatch.Conn, group string, c *Change, version int32, acl []zkwatch.ACL) error {
	dir := groupPath(group) + "/offsets/" + c.Topic
	p := dir + "/" + strconv.FormatInt(int64(c.Partition), 10)
	data := []byte(strconv.FormatInt(c.To, 10))
	if version >= 0 {
		if _, err := conn.Set(ctx, p, data, version); err != nil {
			return fmt.Errorf("%s/%d: %w", c.Topic, c.Partition, err)
		}
		return nil
	}
	_, err := conn.Create(ctx, p, data, 0, acl)
	if errors.Is(err, zkwatch.ErrNoNode) {
		if err = conn.EnsurePath(ctx, dir, acl); err != nil {
			return fmt.Errorf("%s/%d: create parents: %w", c.Topic, c.Partition, err)
		}
		_, err = conn.Create(ctx, p, data, 0, acl)
	}
	if err != nil {
		return fmt.Errorf("%s/%d: %w", c.Topic, c.Partition, err)
	}
	return nil
}
