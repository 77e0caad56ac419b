package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// FailFast is how long a command keeps dialling ZooKeeper when every dial
// fails (refused, unroutable) before it gives up with the dial error: a
// wrong address is said within seconds, not after --timeout.
const FailFast = 1500 * time.Millisecond

// DialZooKeeper connects to the ZooKeeper connect string servers for a
// one-shot command, without credentials: see Security.DialZooKeeper.
func DialZooKeeper(ctx context.Context, servers string, log *slog.Logger) (*zkwatch.Conn, error) {
	return (*Security)(nil).DialZooKeeper(ctx, servers, log)
}

// DialZooKeeper connects to the ZooKeeper connect string servers for a
// one-shot command, with s's credentials (none when s is nil): it fails
// within FailFast when no server can be dialled (zkwatch.ErrUnreachable
// wrapping e.g. "connect: connection refused"), at once when a host does
// not resolve, and otherwise waits for a session until ctx is done.
func (s *Security) DialZooKeeper(ctx context.Context, servers string, log *slog.Logger) (*zkwatch.Conn, error) {
	cfg := zkwatch.Config{Servers: servers, Logger: log, FailFast: FailFast}
	if s != nil {
		cfg.Auth = s.ZooKeeperAuth
	}
	return zkwatch.Dial(ctx, cfg)
}
