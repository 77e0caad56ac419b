package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// BrokersFromZooKeeper returns the PLAINTEXT endpoints of the brokers
// registered in /brokers/ids, warning about registrations it skips.
func BrokersFromZooKeeper(ctx context.Context, conn *zkwatch.Conn, log *slog.Logger) ([]string, error) {
	return (*Security)(nil).BrokersFromZooKeeper(ctx, conn, log)
}

// BrokersFromZooKeeper returns the endpoints of the brokers registered in
// /brokers/ids for s: the listener s.Listener, or the first endpoint of
// s's security protocol (PLAINTEXT when s is nil). It warns about
// registrations it skips.
func (s *Security) BrokersFromZooKeeper(ctx context.Context, conn *zkwatch.Conn, log *slog.Logger) ([]string, error) {
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
	listener, proto := "", s.Protocol()
	what := proto + " endpoint"
	if s != nil && s.Listener != "" {
		listener, what = s.Listener, "listener "+s.Listener
	}
	var addrs []string
	for _, b := range bs {
		ep, err := b.Endpoint(listener, proto)
		if err != nil {
			log.Warn("broker has no "+what, "broker", b.ID, "err", err)
			continue
		}
		addrs = append(addrs, ep.Addr())
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("find brokers: no %s in /brokers/ids (see --listener)", what)
	}
	return addrs, nil
}

// BootstrapFromZooKeeper connects to servers (DialZooKeeper; 30 s to do it all) and
// returns BrokersFromZooKeeper.
func BootstrapFromZooKeeper(ctx context.Context, servers string, log *slog.Logger) ([]string, error) {
	return (*Security)(nil).BootstrapFromZooKeeper(ctx, servers, log)
}

// BootstrapFromZooKeeper connects to servers with s's credentials (30 s
// to do it all) and returns s.BrokersFromZooKeeper.
func (s *Security) BootstrapFromZooKeeper(ctx context.Context, servers string, log *slog.Logger) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := s.DialZooKeeper(ctx, servers, log)
	if err != nil {
		return nil, err // names the servers and the dial error
	}
	defer conn.Close()
	return s.BrokersFromZooKeeper(ctx, conn, log)
}

// probeSecurity connects to the brokers in turn until one answers, when
// sc has TLS or SASL: a wrong password or certificate then fails at once,
// where sarama's NewClient would go on retrying its metadata request over
// every broker (Metadata.Retry) before it gives up. An error that is no
// authentication or TLS failure (a broker down) is left to NewClient.
func probeSecurity(brokers []string, sc *sarama.Config) error {
	if !sc.Net.TLS.Enable && !sc.Net.SASL.Enable {
		return nil
	}
	for _, addr := range brokers {
		b := sarama.NewBroker(addr)
		if err := b.Open(sc); err != nil {
			return err // an invalid config: NewClient would say the same
		}
		ok, err := b.Connected()
		_ = b.Close()
		switch {
		case ok && err == nil:
			return nil
		case securityReason(err) != "":
			return fmt.Errorf("%s: %w", addr, err)
		}
	}
	return nil
}

// NewKafkaClient opens a sarama client to brokers with sc plus s's TLS and
// SASL, giving up when ctx is done (a client that arrives later is
// closed). Its errors name the brokers and the security protocol.
func (s *Security) NewKafkaClient(ctx context.Context, brokers []string, sc *sarama.Config) (sarama.Client, error) {
	if err := s.ApplySarama(sc); err != nil {
		return nil, err
	}
	type result struct {
		c   sarama.Client
		err error
	}
	ch := make(chan result, 1)
	go func() { // ends with NewClient; the select below or the closer takes its result
		if err := probeSecurity(brokers, sc); err != nil {
			ch <- result{nil, err}
			return
		}
		c, err := sarama.NewClient(brokers, sc)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("kafka client for %v%s: %w", brokers, s.describe(), r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() { // closes a client that arrives too late
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, fmt.Errorf("kafka client for %v%s: %w", brokers, s.describe(), context.Cause(ctx))
	}
}
