package zkwatch_test

import (
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/proxy"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestLastAnswer: LastAnswer follows the ping replies of a healthy
// connection, grows while the server is silent although the connection
// still looks up, and is fresh again once the answers come back.
func TestLastAnswer(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	px, err := proxy.New(ctx, cl.ZooKeeperAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	const session = 3 * time.Second // pings every second
	c, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: px.Addr(), SessionTimeout: session, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.NegotiatedTimeout(); got != session {
		t.Errorf("NegotiatedTimeout %s, want %s", got, session)
	}
	if c.LastAnswer().IsZero() {
		t.Fatal("no answer recorded after the handshake")
	}
	time.Sleep(2500 * time.Millisecond) // two pings
	if d := time.Since(c.LastAnswer()); d > 1500*time.Millisecond {
		t.Errorf("healthy connection: last answer %s ago, want within a ping interval (1 s) and a round trip", d)
	}
	px.Pause()
	time.Sleep(1500 * time.Millisecond)
	silent := time.Since(c.LastAnswer())
	st := c.State()
	px.Resume()
	if silent < 1500*time.Millisecond {
		t.Errorf("server silent for 1.5 s: last answer only %s ago", silent)
	}
	if st != zkwatch.StateHasSession {
		t.Errorf("state %s during a 1.5 s silence, want the connection still up (read timeout 2 s)", st)
	}
	time.Sleep(1500 * time.Millisecond)
	if d := time.Since(c.LastAnswer()); d > 1500*time.Millisecond {
		t.Errorf("after the silence: last answer %s ago", d)
	}
	t.Logf("silent %s while the state was %s", silent.Round(time.Millisecond), st)
}
