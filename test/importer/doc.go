// Package importer checks zkbalance as an outside program gets it: a module
// in a temp dir that requires github.com/zkbalance/zkbalance (its only
// replace points at this checkout, as a published version would be
// fetched), imports balanced, builds with -race and runs a member against
// the real cluster through a ZooKeeper restart. What that program builds is
// what zkbalance's own tests test: the same ZooKeeper client (internal/zk),
// no go-zookeeper module in its build list.
package importer
