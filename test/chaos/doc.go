// Package chaos is the chaos suite (issue 6): real member processes
// (test/member) consume a known sequence across 3 topics x 16 partitions
// while a fault schedule with a fixed seed kills members with SIGKILL and
// restarts them, cuts and stalls their ZooKeeper connections through a
// loopback proxy (a cut longer than the session timeout is a real session
// expiry), restarts ZooKeeper, kills and restarts brokers, resets, stalls
// and drops (for a few seconds) every member's connections to one broker,
// and makes members join and leave. At the end: lost 0, overlap 0,
// duplicates reported, every partition owned by exactly one live member,
// committed offsets equal to the log end, and the independent ownership
// audit clean.
//
// make test runs a short schedule; make chaos runs a long one:
//
//	go test ./test/chaos -run TestChaos -v -chaos.messages 100000 -chaos.faults 50 -chaos.duration 5m -chaos.seed 7
//
// Each member's ZooKeeper connection goes through its own proxy
// (internal/proxy). Broker connections go through one proxy per broker that the
// cluster owns (cluster.Config.ProxiedListener): every broker advertises its
// proxy on a second listener, members bootstrap at the proxies, so every
// metadata answer they get names proxies and all their Kafka traffic passes
// them; the harness's produce and checks and replication use the brokers'
// PLAINTEXT listener directly. The fault schedule's rng is used only on the
// fault loop's goroutine, so a seed always draws the same schedule.
//
// The S9 tests next to TestChaos (unreachable_test.go) make every broker, or
// ZooKeeper, unreachable mid-run for all members at once and check what the
// members do meanwhile and after.
//
// The ensemble tests (ensemble_test.go) run against a second cluster: a
// 3-server ZooKeeper quorum with a proxy in front of every server and one
// broker; members connect with all three proxies. They kill -9 the leader
// during a join storm, restart every server in turn (measuring the longest
// processing gap per partition) while members join and leave, and cut one
// server off from its clients; no member may lose its session. With
// -chaos.ensemble (make chaos) TestChaos/ensemble runs the chaos schedule
// against that cluster with ensemble faults (ensemble_chaos_test.go).
//
// The follow-mode fault tests (follow_faults_test.go) switch a group of
// Coordination follow members to Kafka's group coordinator and back and
// inject one fault in the middle of each switch: a member killed with
// SIGKILL (TestFollowMemberKilledDuringSwitch), or the group coordinator's
// broker killed or stopped and restarted
// (TestFollowCoordinatorKilledDuringSwitch,
// TestFollowCoordinatorStoppedDuringSwitch).
package chaos
