package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// BrokersFromZooKeeper returns the PLAINTEXT endpoints of the brokers
// registered in /brokers/ids, warning about registrations it skips.
func BrokersFromZooKeeper(ctx context.Context, conn *zkwatch.Conn, log *slog.Logger) ([]string, error) {
	bs, err := conn.ReadBrokers(ctx)
	if len(bs) == 0 {
		if err == nil {
			err = errors.New("no broker registered in /brokers/ids")
		}
		return nil, fmt.Errorf("find brokers: %w", err)
	}
	if err != nil {
		log.Warn("skipping malformed broker registrations", "err", err)
	}
	var addrs []string
	for _, b := range bs {
		ep, err := b.Endpoint("", "PLAINTEXT")
		if err != nil {
			log.Warn("broker has no PLAINTEXT endpoint", "broker", b.ID, "err", err)
			continue
		}
		addrs = append(addrs, ep.Addr())
	}
	if len(addrs) == 0 {
		return nil, errors.New("find brokers: no PLAINTEXT endpoint in /brokers/ids")
	}
	return addrs, nil
}

// BootstrapFromZooKeeper connects to servers (DialZooKeeper; 30 s to do it all) and
// returns BrokersFromZooKeeper.
func BootstrapFromZooKeeper(ctx context.Context, servers string, log *slog.Logger) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := DialZooKeeper(ctx, servers, log)
	if err != nil {
		return nil, err // names the servers and the dial error
	}
	defer conn.Close()
	return BrokersFromZooKeeper(ctx, conn, log)
}
