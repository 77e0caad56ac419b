package zkwatch_test

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// A server that accepts connections and never answers the handshake (as a
// starting ZooKeeper may, ZOOKEEPER-5051) must not hold the client for
// go-zookeeper's 6.7 session timeouts: with the session timeout as the
// bound it gives up on each connection after 1s and dials again.
func TestDialGivesUpOnSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			select {
			case held <- c: // keep it open and silent
			default:
				c.Close()
			}
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 4500*time.Millisecond)
	defer cancel()
	_, err = zkwatch.Dial(ctx, zkwatch.Config{Servers: ln.Addr().String(), SessionTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("Dial to a silent server succeeded")
	}
	// 1s handshake bound + go-zookeeper's 1s pause before it dials the
	// only server again: at least 2 connections in 4.5s (without the bound
	// the first handshake alone takes 6.7s).
	if n := accepted.Load(); n < 2 {
		t.Fatalf("%d connection(s) in 4.5s: the handshake was not bounded", n)
	}
}
