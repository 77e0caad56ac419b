package groupstate

import (
	"context"
	"errors"

	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// readMode reads the group's mode znode into CoordinationMode and
// ZooKeeperDetached; a malformed one is a warning.
func (r *reader) readMode(ctx context.Context) error {
	data, _, err := r.conn.Get(ctx, zkformat.CoordinationPath(r.group))
	if errors.Is(err, zkwatch.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	s, err := zkformat.ParseCoordination(data)
	if err != nil {
		r.warn("%s is malformed (follow-mode members stay in their mode): %v", zkformat.CoordinationPath(r.group), err)
		return nil
	}
	r.st.CoordinationMode, r.st.ZooKeeperDetached = s.Mode, s.Detached
	return nil
}

// ModeText is the group's mode znode for people: "" when absent,
// "zookeeper", "kafka" or "kafka (zookeeper detached)".
func (st *Status) ModeText() string {
	if st.CoordinationMode == "" {
		return ""
	}
	return zkformat.CoordinationState{Mode: st.CoordinationMode, Detached: st.ZooKeeperDetached}.String()
}
