package balanced_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// A member whose group is protected by balanced.DigestACL consumes as
// usual; a ZooKeeper client without the credentials can read everything
// (groupstate.Read included) but change nothing, and one with them can.
func TestDigestACLProtectsGroup(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic, group := "acl-t-"+suffix, "acl-g-"+suffix
	const user, password = "zkbalance", "s3cret"
	const partitions, perPartition = 2, 20
	if err := cl.CreateTopic(ctx, topic, partitions, 1); err != nil {
		t.Fatal(err)
	}
	var msgs []cluster.Message
	for i := range partitions * perPartition {
		msgs = append(msgs, cluster.Message{Partition: int32(i % partitions), Value: []byte(strconv.Itoa(i))})
	}
	if _, err := cl.Produce(ctx, topic, msgs); err != nil {
		t.Fatal(err)
	}

	acl := balanced.DigestACL(user, password)
	var capture cluster.SessionCapture
	c, err := balanced.New(balanced.Config{
		Group: group, Topics: []string{topic}, ZooKeeper: cl.ZooKeeperAddr(),
		ZooKeeperAuth:   []balanced.ZooKeeperAuth{balanced.DigestAuth(user, password)},
		ACL:             acl,
		ZooKeeperDialer: capture.Dialer, // to expire the session
		CommitInterval:  50 * time.Millisecond,
		Logger:          testLogger(t, levelFromEnv()),
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	processed := 0
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(runCtx, balanced.EachMessage(func(context.Context, *balanced.Message) error {
			mu.Lock()
			processed++
			mu.Unlock()
			return nil
		}))
	}()
	stopped := false
	stopMember := func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("Run did not return within 60s of cancel")
		}
	}
	t.Cleanup(stopMember)

	anon, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ZooKeeperAddr(), Logger: testLogger(t, levelFromEnv())})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	authed, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ZooKeeperAddr(), Logger: testLogger(t, levelFromEnv()),
		Auth: []zkwatch.Auth{zkwatch.DigestAuth(user, password)}})
	if err != nil {
		t.Fatal(err)
	}
	defer authed.Close()

	// Wait until every message is processed and committed (read without
	// credentials: world-read) by the session `session` (0: any).
	base := "/consumers/" + group
	member := base + "/ids/" + c.MemberID()
	owner := func(p int) string { return fmt.Sprintf("%s/owners/%s/%d", base, topic, p) }
	offsetZnode := func(p int) string { return fmt.Sprintf("%s/offsets/%s/%d", base, topic, p) }
	waitCommitted := func(want int, notSession int64) int64 {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			committed := 0
			for p := range partitions {
				if b, _, err := anon.Get(ctx, offsetZnode(p)); err == nil && string(b) == strconv.Itoa(want) {
					committed++
				}
			}
			var session int64
			if _, st, err := anon.Get(ctx, member); err == nil {
				session = st.EphemeralOwner
			}
			owned := 0
			for p := range partitions {
				if _, st, err := anon.Get(ctx, owner(p)); err == nil && st.EphemeralOwner == session {
					owned++
				}
			}
			mu.Lock()
			n := processed
			mu.Unlock()
			if committed == partitions && n >= partitions*want && session != 0 && session != notSession && owned == partitions {
				return session
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a minute: %d messages processed, %d of %d partitions committed at %d, %d owned by the member's session 0x%x (must not be 0x%x)",
					n, committed, partitions, want, owned, session, notSession)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	firstSession := waitCommitted(perPartition, 0)

	created := []string{base, base + "/ids", member, base + "/owners", base + "/owners/" + topic,
		base + "/offsets", base + "/offsets/" + topic}
	for p := range partitions {
		created = append(created, owner(p), offsetZnode(p))
	}
	for _, p := range created {
		// ZooKeeper shows digest hashes only to clients with ADMIN on the
		// znode (to others as "user:x"), so ask with the credentials.
		got, _, err := authed.GetACL(ctx, p)
		if err != nil {
			t.Fatalf("GetACL %s: %v", p, err)
		}
		if !slices.Equal(got, acl) {
			t.Errorf("ACL of %s = %v, want %v", p, got, acl)
		}
		if _, _, err := anon.Get(ctx, p); err != nil {
			t.Errorf("read %s without credentials: %v", p, err)
		}
	}
	if got, _, err := anon.GetACL(ctx, "/consumers"); err != nil || !slices.Equal(got, zkwatch.WorldACL(zkwatch.PermAll)) {
		t.Errorf("ACL of /consumers = %v, %v; want world:anyone ALL (shared by every group)", got, err)
	}

	// Without credentials: no set, no delete, no new children.
	noAuth := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, zkwatch.ErrNoAuth) {
			t.Errorf("%s without credentials: err = %v, want zkwatch.ErrNoAuth", what, err)
		}
	}
	for p := range partitions {
		_, err := anon.Set(ctx, owner(p), []byte("intruder"), -1)
		noAuth("set "+owner(p), err)
		noAuth("delete "+owner(p), anon.Delete(ctx, owner(p), -1))
		_, err = anon.Set(ctx, offsetZnode(p), []byte("0"), -1)
		noAuth("set "+offsetZnode(p), err)
		noAuth("delete "+offsetZnode(p), anon.Delete(ctx, offsetZnode(p), -1))
	}
	_, err = anon.Set(ctx, member, []byte("{}"), -1)
	noAuth("set "+member, err)
	noAuth("delete "+member, anon.Delete(ctx, member, -1))
	_, err = anon.Create(ctx, owner(9), []byte("intruder"), zkwatch.FlagEphemeral, nil)
	noAuth("create "+owner(9), err)
	_, err = anon.Create(ctx, base+"/ids/intruder", []byte("{}"), zkwatch.FlagEphemeral, nil)
	noAuth("create a member", err)

	// The member still owns everything and its offsets are intact.
	for p := range partitions {
		if b, _, err := anon.Get(ctx, owner(p)); err != nil || string(b) != c.MemberID()+"-0" {
			t.Errorf("owner %s = %q, %v; want %s-0", owner(p), b, err, c.MemberID())
		}
	}

	// groupstate (zkbalance status) reads such a group without credentials.
	st, err := groupstate.Read(ctx, anon, nil, group)
	if err != nil {
		t.Fatalf("groupstate.Read without credentials: %v", err)
	}
	if len(st.Members) != 1 || st.Members[0].ID != c.MemberID() || len(st.Partitions) != partitions {
		t.Fatalf("groupstate.Read: members %+v, %d partitions", st.Members, len(st.Partitions))
	}
	for _, p := range st.Partitions {
		if len(p.Owners) != 1 || p.Owners[0].Member != c.MemberID() || p.ZooKeeperOffset != perPartition {
			t.Errorf("groupstate.Read: partition %+v", p)
		}
	}

	// After an expiry the member's new session authenticates again before
	// it re-registers, re-claims and commits under the protected parents.
	id, pw := capture.Credentials()
	if err := cl.ExpireSession(ctx, id, pw); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Produce(ctx, topic, msgs); err != nil {
		t.Fatal(err)
	}
	if second := waitCommitted(2*perPartition, firstSession); second == firstSession {
		t.Fatal("still the first session")
	}

	stopMember()

	// With the credentials: set and delete offsets, create and delete
	// children of the group's znodes.
	for p := range partitions {
		if _, err := authed.Set(ctx, offsetZnode(p), []byte(strconv.Itoa(perPartition)), -1); err != nil {
			t.Errorf("set %s with credentials: %v", offsetZnode(p), err)
		}
	}
	probe := owner(9)
	if _, err := authed.Create(ctx, probe, []byte("x"), 0, acl); err != nil {
		t.Fatalf("create %s with credentials: %v", probe, err)
	}
	noAuth("delete "+probe, anon.Delete(ctx, probe, -1))
	if err := authed.Delete(ctx, probe, -1); err != nil {
		t.Errorf("delete %s with credentials: %v", probe, err)
	}
	if err := authed.Delete(ctx, offsetZnode(1), -1); err != nil {
		t.Errorf("delete %s with credentials: %v", offsetZnode(1), err)
	}
}

// A wrong password is caught by New: the member could not manage the
// znodes it creates.
func TestDigestACLWithoutMatchingAuth(t *testing.T) {
	cl := shared.Get(t)
	_, err := balanced.New(balanced.Config{
		Group: "g", Topics: []string{"t"}, ZooKeeper: cl.ZooKeeperAddr(),
		ACL:           balanced.DigestACL("zkbalance", "s3cret"),
		ZooKeeperAuth: []balanced.ZooKeeperAuth{balanced.DigestAuth("zkbalance", "typo")},
	})
	if !errors.Is(err, balanced.ErrInvalidConfig) {
		t.Fatalf("New = %v, want ErrInvalidConfig", err)
	}
	t.Log(err)
}
