// Package chaos is the chaos suite (issue 6): real member processes
// (test/member) consume a known sequence across 3 topics x 16 partitions
// while a fault schedule with a fixed seed kills members with SIGKILL and
// restarts them, cuts and stalls their ZooKeeper connections through a
// loopback proxy (a cut longer than the session timeout is a real session
// expiry), restarts ZooKeeper, kills and restarts brokers, and makes members
// join and leave. At the end: lost 0, overlap 0, duplicates reported,
// every partition owned by exactly one live member, committed offsets equal
// to the log end, and the independent ownership audit clean.
//
// make test runs a short schedule; make chaos runs a long one:
//
//	go test ./test/chaos -run TestChaos -v -chaos.messages 100000 -chaos.faults 50 -chaos.duration 5m -chaos.seed 7
//
// Kafka connections are not proxied: brokers advertise their own address,
// so broker faults are kill -9 and restart of the broker process.
package chaos
