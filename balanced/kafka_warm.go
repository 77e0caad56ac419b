package balanced

import (
	"context"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
)

// A follow-mode member switching from zookeeper to kafka mode first
// revokes (handlers stopped, final commits, owner znodes released) and
// only then joins the Kafka group. Its membership client (kafkaMode's own
// client, whose connection carries the long-held JoinGroup) would be made
// only then too, and its first JoinGroup would wait for FindCoordinator
// and two new connections: 15-100 ms on a loaded machine, and members
// whose JoinGroups straggle in land in a second generation. So the client
// is made, and connected to the group's coordinator, while the revoke
// runs (warmMembership), and kafkaMode takes it (takeWarmMembership).

// warmMaxAge is how long a warmed membership client is used; an older one
// (its connections may have been closed by the broker as idle) is closed
// and a new one made.
const warmMaxAge = 30 * time.Second

// warmMembership is the membership client being warmed, or warmed.
type warmMembership struct {
	done   chan struct{} // closed when client and at are set (client nil: it failed)
	client sarama.Client
	at     time.Time
}

// warmState guards the one warmed membership client a Consumer keeps.
type warmState struct {
	mu   sync.Mutex
	warm *warmMembership
}

// warmMembership starts making the membership client kafkaMode uses next
// and connecting it to the group's coordinator, on a goroutine owned by
// c.bg (bounded by ConnectTimeout), unless one is warm already.
func (c *Consumer) warmMembership() {
	if c.addrs == nil {
		return
	}
	c.warm.mu.Lock()
	if c.warm.warm != nil {
		c.warm.mu.Unlock()
		return
	}
	w := &warmMembership{done: make(chan struct{})}
	c.warm.warm = w
	c.warm.mu.Unlock()
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer close(w.done)
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConnectTimeout)
		defer cancel()
		t0 := time.Now()
		client, err := c.newKafkaClientWith(ctx, c.addrs, membershipConfig(c.cfg.Sarama, c.cfg.RebalanceTimeout), false)
		if err != nil {
			c.log.Debug("warming the membership client failed; kafka mode makes its own", "err", err)
			return
		}
		_, err = kafkacoord.Call(ctx, func() (struct{}, error) {
			b, err := client.Coordinator(c.cfg.Group)
			if err == nil {
				_, err = b.Connected() // waits for the connection sarama opens in the background
			}
			return struct{}{}, err
		})
		c.log.Debug("membership client warmed", "took", time.Since(t0), "err", err)
		w.client, w.at = client, time.Now()
	}()
}

// takeWarmMembership returns the warmed membership client, if one is
// being warmed (waiting for it, at most until ctx is done) and is fresh,
// and forgets it: the caller owns it. nil: make one.
func (c *Consumer) takeWarmMembership(ctx context.Context) sarama.Client {
	c.warm.mu.Lock()
	w := c.warm.warm
	c.warm.warm = nil
	c.warm.mu.Unlock()
	if w == nil {
		return nil
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		c.bg.Add(1)
		go func() { // owned by c.bg: ends with the warming
			defer c.bg.Done()
			<-w.done
			if w.client != nil {
				_ = w.client.Close()
			}
		}()
		return nil
	}
	if w.client != nil && time.Since(w.at) > warmMaxAge {
		_ = w.client.Close()
		return nil
	}
	return w.client
}

// closeWarmMembership closes a warmed client nobody took (at the end of
// Run, after c.bg was waited for).
func (c *Consumer) closeWarmMembership() {
	c.warm.mu.Lock()
	w := c.warm.warm
	c.warm.warm = nil
	c.warm.mu.Unlock()
	if w == nil {
		return
	}
	<-w.done
	if w.client != nil {
		_ = w.client.Close()
	}
}
