package zkwatch_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// refusedAddr is a local address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// With FailFast a refused server fails Dial within about FailFast, with
// ErrUnreachable wrapping the dial error.
func TestDialFailFastRefused(t *testing.T) {
	addr := refusedAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: addr, FailFast: time.Second, Logger: quietLogger()})
	took := time.Since(start)
	t.Logf("took %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, zkwatch.ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ErrUnreachable wrapping ECONNREFUSED", err)
	}
	if !strings.Contains(err.Error(), "connection refused") || strings.Count(err.Error(), "zkwatch:") != 1 {
		t.Errorf("err = %q, want one zkwatch: prefix and the dial error", err)
	}
	if took > 3*time.Second {
		t.Errorf("took %s, want about 1s", took)
	}
}

// Without FailFast Dial waits until ctx is done, and its error still names
// the last dial error.
func TestDialDeadlineNamesDialError(t *testing.T) {
	addr := refusedAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: addr, Logger: quietLogger()})
	t.Logf("%v", err)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, zkwatch.ErrUnreachable) {
		t.Fatalf("err = %v, want DeadlineExceeded and ECONNREFUSED", err)
	}
}

// A server that accepts connections is not unreachable: FailFast does not
// apply, Dial waits for ctx.
func TestDialFailFastSilentServerWaits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // ends when ln is closed
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = zkwatch.Dial(ctx, zkwatch.Config{Servers: ln.Addr().String(), FailFast: 500 * time.Millisecond, SessionTimeout: time.Second, Logger: quietLogger()})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, zkwatch.ErrUnreachable) {
		t.Fatalf("err = %v, want the deadline, not ErrUnreachable", err)
	}
}

// An unresolvable host fails at once with the resolver's error.
func TestDialUnresolvableHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: "nosuchhost.invalid:2181", FailFast: time.Second, Logger: quietLogger()})
	t.Logf("took %s: %v", time.Since(start).Round(time.Millisecond), err)
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !strings.Contains(err.Error(), "no such host") {
		t.Fatalf("err = %v, want a DNS error saying no such host", err)
	}
}

// A one-shot tool fails within a second when no ZooKeeper server can be
// dialled, naming why (e.g. "connect: connection refused").
func ExampleConfig_failFast() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: "zk1:2181/kafka", FailFast: time.Second})
	if errors.Is(err, zkwatch.ErrUnreachable) {
		slog.Error("ZooKeeper is down or the address is wrong", "err", err)
		return
	}
	if err != nil {
		slog.Error("connect", "err", err)
		return
	}
	defer conn.Close()
}
