package balanced

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Consumer is one member of a ZooKeeper-balanced consumer group. Make it
// with New, run it with Run, stop it by cancelling Run's context or with
// Close.
type Consumer struct {
	cfg      Config
	log      *slog.Logger
	memberID string
	assignor partition.Assignor
	metrics  *metrics

	mu      sync.Mutex
	started bool
	closed  bool
	closeCh chan struct{}
	runDone chan struct{}

	// Set up by Run, used by workers.
	client sarama.Client
	addrs  []string // the bootstrap brokers the client was made with
	fetch  *fetchPool
	store  offsetStore
	bg     sync.WaitGroup // background closes of partition consumers, the warming of a membership client, the Kafka set-up
	// kafkaReady is closed once the Kafka set-up that Run starts beside
	// the registration (connectBeside) has ended, with kafkaErr; nil
	// when it ran before (connect).
	kafkaReady chan struct{}
	kafkaErr   error
	warm       warmState // follow mode: the membership client warmed while leaving zookeeper mode

	// workers is owned by the Run goroutine and the rebalance it starts (one
	// at a time); stateLock guards it against the commit loop and Owned.
	stateLock *ctxMutex
	workers   map[TopicPartition]*worker

	// regs caches the members' parsed registrations by member id (used by
	// one rebalance at a time). Members write their registration once per
	// id; an entry is dropped when its id leaves the group.
	regs map[string]subscription
	// topicCache keeps the topics' parsed registrations (topic_cache.go).
	topicCache topicCache
	// owners (sticky) caches the owners directories the last rebalance
	// read, by topic (used by one rebalance at a time): an unchanged
	// directory is not read again (see ownersRead.unchanged).
	owners map[string]ownersRead
	// tree (sticky) is the current session's owners tree (owners_tree.go),
	// nil without one; guarded by treeMu.
	treeMu sync.Mutex
	tree   *ownersTree
	// noTreeWatch: the server answered a tree watch UNIMPLEMENTED (before
	// ZooKeeper 3.6, which also closes the connection): not asked again.
	noTreeWatch atomic.Bool
	// ownerReads counts the sticky reads of owners: whole directories
	// listed and read, and single owner znodes read from the tree (tests).
	ownerReads struct{ whole, single atomic.Int64 }

	// claimWaits is signalled (never blocking) when a claim finds its
	// partition held by another member and waits: the session loop then
	// restarts the rebalance if the owners it read have changed since.
	claimWaits chan struct{}

	// lagKick asks the lag loop for a refresh (lag.go).
	lagKick chan struct{}

	// detach is follow mode's request to drop ZooKeeper (coord_detach.go).
	detach zkDetach

	// hookMu serializes the calls of Config.Hooks (see hook).
	hookMu sync.Mutex

	// For Health: the session Run holds (nil when none), and the outcome
	// of the last rebalance.
	sess          atomic.Pointer[zkwatch.Conn]
	kgen          atomic.Pointer[kafkaGeneration] // kafka mode: the current generation, nil between them
	healthMu      sync.Mutex
	lastRebalance time.Time
	view          viewHealth // what the last rebalance read, for Health
	rebalanceErr  error
}

// New validates cfg and returns a Consumer. It does not connect: Run does.
func New(cfg Config) (*Consumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a, err := partition.Lookup(cfg.Assignor)
	if err != nil {
		return nil, &ConfigError{Field: "Assignor", Reason: err.Error()}
	}
	id := cfg.MemberID
	if id == "" {
		id = newMemberID(cfg.Layout, cfg.Group)
	}
	c := &Consumer{
		cfg:        cfg,
		log:        cfg.Logger.With("group", cfg.Group, "member", id),
		memberID:   id,
		assignor:   a,
		closeCh:    make(chan struct{}),
		runDone:    make(chan struct{}),
		stateLock:  newCtxMutex(),
		workers:    map[TopicPartition]*worker{},
		claimWaits: make(chan struct{}, 1),
		lagKick:    make(chan struct{}, 1),
	}
	if c.metrics, err = newMetrics(cfg.Group, id, cfg.Topics, cfg.Registerer, c.zooKeeperConnected); err != nil {
		return nil, err
	}
	return c, nil
}

// zooKeeperConnected is the zookeeper_connected series: connected to the
// session Run holds; not ok when the member does not use ZooKeeper
// (Config.ZooKeeper empty, or detached in follow mode).
func (c *Consumer) zooKeeperConnected() (connected, ok bool) {
	if c.cfg.ZooKeeper == "" || c.zkDetached() {
		return false, false
	}
	sess := c.sess.Load()
	return sess != nil && sess.State() == zkwatch.StateHasSession, true
}

// MemberID is this member's id in /consumers/<group>/ids.
func (c *Consumer) MemberID() string { return c.memberID }

// Owned lists the partitions whose handlers are running, sorted.
func (c *Consumer) Owned() []TopicPartition {
	return c.ownedWhere(func(*worker) bool { return true })
}

// fetching lists the owned partitions whose fetching has started, sorted.
func (c *Consumer) fetching() []TopicPartition {
	return c.ownedWhere(func(w *worker) bool { return w.fetching.Load() })
}

// ownedWhere lists the owned (not suspended) partitions whose worker
// passes keep, sorted.
func (c *Consumer) ownedWhere(keep func(*worker) bool) []TopicPartition {
	if err := c.stateLock.Lock(context.Background()); err != nil {
		return nil
	}
	defer c.stateLock.Unlock()
	var out []TopicPartition
	for tp, w := range c.workers {
		if !w.suspended && keep(w) {
			out = append(out, tp)
		}
	}
	slices.SortFunc(out, partition.CompareTopicPartitions)
	return out
}

// Run joins the group and consumes until ctx is done or Close is called
// (then it returns nil after a clean leave: handlers stopped, offsets
// committed, owner and member znodes deleted), or until a fatal error. It
// may be called once. The first connection to ZooKeeper, and then the Kafka
// client's bootstrap (its first metadata request, after the TLS and SASL
// handshakes), must each succeed within Config.ConnectTimeout, or Run
// returns the error (wrong Kafka credentials wrap
// sarama.ErrSASLAuthenticationFailed); later session losses are recovered
// from. In zookeeper mode the member registers while the Kafka client
// bootstraps and rebalances once it has: a member whose bootstrap fails has
// been in the group for that long.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return fmt.Errorf("balanced: Run: nil handler")
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.started {
		c.mu.Unlock()
		return fmt.Errorf("balanced: Run called twice")
	}
	c.started = true
	c.mu.Unlock()
	defer close(c.runDone)
	defer c.metrics.unregister() // after everything else: the member's series end with it

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() { // owned by Run: ends when ctx is done (Run cancels it on return)
		select {
		case <-c.closeCh:
			cancel(ErrClosed)
		case <-ctx.Done():
		}
	}()

	switch c.cfg.Coordination {
	case CoordinationKafka:
		return c.runKafka(ctx, h)
	case CoordinationFollow:
		return c.runFollow(ctx, h)
	}
	kctx, kcancel := context.WithCancel(ctx)
	sess, ok, err := c.connectBeside(ctx, kctx)
	if !ok {
		kcancel()
		return err
	}
	defer c.sess.Store(nil)
	defer c.closeKafka()
	defer kcancel() // before closeKafka: a set-up still under way ends

	for {
		err := c.runSession(ctx, sess, h)
		if ctx.Err() != nil {
			c.shutdown(sess)
			return nil
		}
		sess.Close()
		if err != nil {
			return err
		}
		if sess = c.renewSession(ctx); sess == nil {
			return nil // ctx done while reconnecting: nothing is held
		}
	}
}

// connect opens the member's first ZooKeeper session (none when
// Config.ZooKeeper is empty: kafka mode without ZooKeeper) and its Kafka
// clients, each within ConnectTimeout. With ok the caller owns sess and
// the clients (closeKafka, and c.sess.Store(nil) when it returns); without
// it nothing is held, and err is nil when ctx ended while connecting.
func (c *Consumer) connect(ctx context.Context) (sess *zkwatch.Conn, ok bool, err error) {
	t0 := time.Now()
	if c.cfg.ZooKeeper != "" {
		if sess, err = c.dialFirst(ctx); err != nil {
			return nil, false, err
		}
	}
	t1 := time.Now()
	if err := c.setupKafka(ctx, sess); err != nil {
		if sess != nil {
			sess.Close()
		}
		c.sess.Store(nil)
		if ctx.Err() != nil {
			return nil, false, nil // stopped while connecting
		}
		return nil, false, err
	}
	c.log.Debug("connected", "zookeeper", t1.Sub(t0), "kafka", time.Since(t1))
	return sess, true, nil
}

// connectBeside opens the member's first ZooKeeper session and starts the
// Kafka set-up (setupKafka: the brokers from /brokers/ids, the client's
// metadata) on its own goroutine with kctx, so that the member registers
// while it runs: reading the brokers took two ZooKeeper round trips on
// every join's critical path. runSession waits for it (awaitKafka) before
// the member's first rebalance. A member whose Kafka set-up fails has
// registered for that long: the others see it join and leave.
func (c *Consumer) connectBeside(ctx, kctx context.Context) (*zkwatch.Conn, bool, error) {
	sess, err := c.dialFirst(ctx)
	if err != nil {
		return nil, false, err
	}
	ready := make(chan struct{})
	c.kafkaReady = ready
	c.bg.Add(1)
	go func() { // owned by Run: kctx ends it, closeKafka waits for it
		defer c.bg.Done()
		defer close(ready)
		t0 := time.Now()
		c.kafkaErr = c.setupKafka(kctx, sess)
		c.log.Debug("kafka set up", "took", time.Since(t0), "err", c.kafkaErr)
	}()
	return sess, true, nil
}

// dialFirst opens the member's first session within ConnectTimeout and
// makes it c.sess.
func (c *Consumer) dialFirst(ctx context.Context) (*zkwatch.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	sess, err := c.dial(dctx)
	if err != nil {
		return nil, fmt.Errorf("balanced: connect to ZooKeeper %s: %w", c.cfg.ZooKeeper, err)
	}
	c.sess.Store(sess)
	return sess, nil
}

// awaitKafka waits until the Kafka set-up connectBeside started has ended
// and returns its error (nil at once when there was none).
func (c *Consumer) awaitKafka(ctx context.Context) error {
	if c.kafkaReady == nil {
		return nil
	}
	select {
	case <-c.kafkaReady:
		return c.kafkaErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// renewSession counts a lost ZooKeeper session and opens the next one,
// retrying with backoff (redial); c.sess follows. It returns nil when ctx
// ended first.
func (c *Consumer) renewSession(ctx context.Context) *zkwatch.Conn {
	c.metrics.sessionsLost.Inc()
	c.log.Warn("zookeeper session lost; opening a new one")
	c.sess.Store(nil)
	next, err := c.redial(ctx)
	if err != nil {
		return nil
	}
	c.sess.Store(next)
	return next
}

// Close stops Run (as if its context was cancelled) and waits for it to
// return. Safe to call more than once and before Run. The member's
// Prometheus series are unregistered when Run returns, or by Close when Run
// never ran.
func (c *Consumer) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.closeCh)
	}
	started := c.started
	c.mu.Unlock()
	if started {
		<-c.runDone
	}
	c.metrics.unregister()
	return nil
}

// dial opens a OneSession connection: when its session expires every call on
// it fails, so a stale member cannot write in the session's name.
func (c *Consumer) dial(ctx context.Context) (*zkwatch.Conn, error) {
	return zkwatch.Dial(ctx, zkwatch.Config{
		Servers:        c.cfg.ZooKeeper,
		SessionTimeout: c.cfg.SessionTimeout,
		Dialer:         c.cfg.ZooKeeperDialer,
		Logger:         c.cfg.Logger,
		OneSession:     true,
		Auth:           c.cfg.ZooKeeperAuth,
	})
}

// redial opens a new session, retrying with backoff until ctx is done.
func (c *Consumer) redial(ctx context.Context) (*zkwatch.Conn, error) {
	b := partition.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
	for attempt := 0; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
		sess, err := c.dial(dctx)
		cancel()
		if err == nil {
			return sess, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.log.Warn("cannot reach ZooKeeper, retrying", "err", err)
		c.reportError(ctx, fmt.Errorf("balanced: connect to ZooKeeper %s: %w", c.cfg.ZooKeeper, err))
		if !ctxsleep.Sleep(ctx, b.Delay(attempt, 0.5)) {
			return nil, ctx.Err()
		}
	}
}

// setupKafka creates the sarama client, the fetcher and the offset store.
func (c *Consumer) setupKafka(ctx context.Context, sess *zkwatch.Conn) error {
	addrs := c.cfg.Brokers
	if len(addrs) == 0 {
		var err error
		if addrs, err = c.brokersFromZK(ctx, sess); err != nil {
			return err
		}
	}
	client, err := c.newKafkaClientWith(ctx, addrs, memberClientConfig(c.cfg.Sarama), true)
	if err != nil {
		return fmt.Errorf("balanced: kafka client for %v%s: %w", addrs, describeSecurity(c.cfg.Sarama), err)
	}
	c.client, c.fetch, c.addrs = client, newFetchPool(client, c.cfg.Sarama), addrs
	switch {
	case c.cfg.Coordination == CoordinationFollow && c.cfg.Offsets == OffsetsKafka:
		c.store = newFollowKafkaOffsets(client, c.cfg.Group)
	case c.cfg.Coordination == CoordinationFollow:
		c.store = newFollowOffsets(newZooKeeperOffsets(c.cfg.Group, c.cfg.ACL), client, c.cfg.Group, c.log)
	case c.cfg.Coordination == CoordinationKafka:
		c.store = newKafkaGroupOffsets(client, c.cfg.Group)
	case c.cfg.Offsets == OffsetsKafka:
		c.store = newKafkaOffsets(client, c.cfg.Group)
	case c.cfg.Offsets == OffsetsDual:
		c.store = newDualOffsets(newZooKeeperOffsets(c.cfg.Group, c.cfg.ACL), newKafkaOffsets(client, c.cfg.Group))
	default:
		c.store = newZooKeeperOffsets(c.cfg.Group, c.cfg.ACL)
	}
	return nil
}

// memberClientConfig is conf for the member's own client: metadata of the
// topics it uses only (Metadata.Full false), never all of the cluster's.
// A client with Full (sarama's default) fetches every topic's metadata when
// it is made and every RefreshFrequency: with five topics of 4096
// partitions a joining member's Kafka set-up took 0.55 s at 64 members
// (17-27 ms on an idle cluster), against 4-13 ms for one topic.
func memberClientConfig(conf *sarama.Config) *sarama.Config {
	cp := *conf
	cp.Metadata.Full = false
	return &cp
}

// newKafkaClientWith makes a sarama client with conf, giving up when ctx is
// done or after ConnectTimeout (sarama's own dial timeouts and metadata
// retries are not bounded by either); a client made after that is closed
// on its own goroutine, which ends when sarama gives up or succeeds. With
// probe, one of addrs must answer first (probeBrokers): a client without
// Metadata.Full contacts no broker when it is made, so an unreachable
// cluster or refused credentials would show only at the first fetch.
func (c *Consumer) newKafkaClientWith(ctx context.Context, addrs []string, conf *sarama.Config, probe bool) (sarama.Client, error) {
	type result struct {
		client sarama.Client
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		if probe {
			if err := probeBrokers(addrs, conf); err != nil {
				ch <- result{nil, err}
				return
			}
		}
		client, err := sarama.NewClient(addrs, conf)
		ch <- result{client, err}
	}()
	t := time.NewTimer(c.cfg.ConnectTimeout)
	defer t.Stop()
	var cause error
	select {
	case r := <-ch:
		return r.client, r.err
	case <-t.C:
		cause = fmt.Errorf("no metadata within ConnectTimeout %s", c.cfg.ConnectTimeout)
	case <-ctx.Done():
		cause = context.Cause(ctx)
	}
	go func() {
		if r := <-ch; r.client != nil {
			_ = r.client.Close()
		}
	}()
	return nil, cause
}

// probeBrokers returns nil once one of addrs answers an ApiVersions
// request through conf's TLS and SASL, trying them in turn; else every
// broker's error (joined: a refused SASL login still matches
// sarama.ErrSASLAuthenticationFailed).
func probeBrokers(addrs []string, conf *sarama.Config) error {
	var errs []error
	for _, addr := range addrs {
		b := sarama.NewBroker(addr)
		err := b.Open(conf)
		if err == nil {
			_, err = b.ApiVersions(&sarama.ApiVersionsRequest{})
		}
		_ = b.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("broker %s: %w", addr, err))
	}
	return fmt.Errorf("%w: %w", sarama.ErrOutOfBrokers, errors.Join(errs...))
}

func (c *Consumer) closeKafka() {
	c.bg.Wait()
	c.closeWarmMembership()
	if c.store != nil {
		_ = c.store.Close()
	}
	if c.fetch != nil {
		c.fetch.close()
	}
	if c.client != nil {
		_ = c.client.Close()
	}
}

// brokersFromZK reads bootstrap addresses from /brokers/ids.
func (c *Consumer) brokersFromZK(ctx context.Context, sess *zkwatch.Conn) ([]string, error) {
	brokers, err := sess.ReadBrokers(ctx)
	if len(brokers) == 0 {
		if err == nil {
			err = errors.New("no broker registered in /brokers/ids")
		}
		return nil, fmt.Errorf("balanced: find brokers: %w", err)
	}
	if err != nil {
		c.log.Warn("skipping malformed broker registrations", "err", err)
		c.reportError(ctx, fmt.Errorf("balanced: find brokers: %w", err))
	}
	var addrs []string
	for _, b := range brokers {
		ep, err := b.Endpoint(c.cfg.Listener, securityProtocol(c.cfg.Sarama))
		if err != nil {
			c.log.Warn("broker has no usable endpoint", "broker", b.ID, "err", err)
			continue
		}
		addrs = append(addrs, ep.Addr())
	}
	if len(addrs) == 0 {
		if c.cfg.Listener == "" {
			return nil, fmt.Errorf("balanced: find brokers: no %s endpoint registered", securityProtocol(c.cfg.Sarama))
		}
		return nil, fmt.Errorf("balanced: find brokers: no endpoint for listener %q", c.cfg.Listener)
	}
	return addrs, nil
}
