package chaos

import (
	"flag"
	"math/rand/v2"
	"testing"
	"time"
)

var chaosEnsemble = flag.Bool("chaos.ensemble", false,
	"also run TestChaos/ensemble, the schedule on the ensemble (make chaos sets it; make test runs the shorter ensemble tests of ensemble_test.go)")

// TestChaos/ensemble (runChaosEnsemble) is TestChaos against the 3-server ZooKeeper ensemble of
// ensemble_test.go (one broker), the members connecting with every
// server's proxy, under a schedule of ensemble faults next to member ones:
// the leader killed with SIGKILL and restarted 2-4 s later, a follower
// stopped and restarted, a rolling restart of all three servers, one
// server cut off from its clients by its proxy for 2-5 s (a silent
// partition: the clients on it notice at 2/3 of the session or at the
// cut's end and move to another server), for longer than the session, or
// refused (it looks down: they move at once), and members killed with
// SIGKILL, joining and leaving. A quorum is always up, so no member may
// lose its session except one killed; the end checks are TestChaos's
// (lost 0, overlap 0, every partition owned by exactly one live member as
// the assignor says, committed offsets at the log end, the audit clean)
// and no live member logged a session expiry.
//
// It runs with -chaos.ensemble (make chaos), with the -chaos.* schedule
// flags:
//
//	go test ./test/chaos -run TestChaos/ensemble -v -chaos.ensemble -chaos.messages 100000 -chaos.faults 50 -chaos.duration 5m -chaos.seed 7
//
// runChaosEnsemble is TestChaos's second part with -chaos.ensemble (make
// chaos): the schedule on the ensemble's cluster.
func runChaosEnsemble(t *testing.T) {
	runChaos(t, ensembleShared.Get(t), true)
}

// ensembleFault applies one fault of the ensemble schedule chosen by rng
// (the fault loop's).
func (s *suite) ensembleFault(rng *rand.Rand, n int) {
	cl := s.cl
	kinds := []string{"zk-leader-kill", "join", "zk-server-cut", "kill-member", "zk-follower-restart",
		"zk-server-refuse", "leave", "zk-rolling-restart", "zk-server-cut-long"}
	kind := kinds[rng.IntN(len(kinds))]
	live := s.liveMembers()
	switch {
	case kind == "leave" && len(live) <= 3, kind == "kill-member" && len(live) <= 2:
		kind = "join"
	case kind == "join" && len(live) >= 6:
		kind = "zk-server-refuse"
	}
	s.t.Logf("fault %d at %s: %s", n, time.Now().Format("15:04:05.000"), kind)
	s.mu.Lock()
	s.applied[kind]++
	s.mu.Unlock()
	servers := cl.ZooKeeperServers()
	// busiest is the server most member connections go through (its
	// proxy's open connections).
	busiest := func() int {
		best, conns := 1, -1
		for i := 1; i <= servers; i++ {
			if c := cl.ZooKeeperProxy(i).Stats().Active; c > conns {
				best, conns = i, c
			}
		}
		return best
	}
	restart := func(i int, down time.Duration, kill bool) {
		stop := cl.StopZooKeeperServer
		if kill {
			stop = cl.KillZooKeeperServer
		}
		if err := stop(i); err != nil {
			s.t.Errorf("stop ZooKeeper server %d: %v", i, err)
		}
		time.Sleep(down)
		if err := cl.StartZooKeeperServer(s.ctx, i); err != nil {
			s.t.Fatalf("start ZooKeeper server %d: %v", i, err)
		}
	}
	leader := func() int {
		l, err := cl.ZooKeeperLeader(s.ctx)
		if err != nil {
			s.t.Fatalf("ZooKeeper leader: %v", err)
		}
		return l
	}
	switch kind {
	case "zk-leader-kill":
		l := leader()
		down := time.Duration(2000+rng.IntN(2000)) * time.Millisecond
		s.t.Logf("  kill -9 leader %d, restart after %s", l, down)
		restart(l, down, true)
	case "zk-follower-restart":
		l := leader()
		f := l%servers + 1 + rng.IntN(servers-1)
		if f > servers {
			f -= servers
		}
		down := time.Duration(1000+rng.IntN(1500)) * time.Millisecond
		s.t.Logf("  restart follower %d (%s down)", f, down)
		restart(f, down, false)
	case "zk-rolling-restart":
		for i := 1; i <= servers; i++ {
			restart(i, time.Second, false)
			leader()
			time.Sleep(time.Second)
		}
	case "zk-server-cut":
		i, d := busiest(), time.Duration(2000+rng.IntN(3000))*time.Millisecond
		s.t.Logf("  cut server %d off its clients (drop) for %s", i, d)
		cl.ZooKeeperProxy(i).Drop(d)
	case "zk-server-cut-long":
		i, d := busiest(), session+3*time.Second
		s.t.Logf("  cut server %d off its clients (drop) for %s, longer than the session", i, d)
		cl.ZooKeeperProxy(i).Drop(d)
	case "zk-server-refuse":
		i, d := 1+rng.IntN(servers), time.Duration(2000+rng.IntN(3000))*time.Millisecond
		s.t.Logf("  server %d refuses its clients for %s", i, d)
		cl.ZooKeeperProxy(i).Refuse(d)
	case "kill-member":
		m := live[rng.IntN(len(live))]
		m.kill()
		s.retire(m)
		delay := time.Second + time.Duration(rng.IntN(2000))*time.Millisecond
		s.restarts.Go(func() {
			if sleepUntil(s.ctx, time.Now().Add(delay)) {
				s.join()
			}
		})
	case "join":
		s.join()
	case "leave":
		m := live[rng.IntN(len(live))]
		if err := m.leave(); err != nil {
			s.t.Error(err)
		}
		s.retire(m)
	}
}
