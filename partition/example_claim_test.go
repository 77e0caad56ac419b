package partition_test

import (
	"context"
	"log"
	"time"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Claiming many partitions whose owner znodes were just read missing: one
// call creates them all, and each that failed (another member was faster)
// is claimed on its own, waiting for its holder. It needs a ZooKeeper, so
// it is compiled, not run.
func ExampleClaimer_ClaimMissing() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: "127.0.0.1:2181"})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	const owners, offsets = "/consumers/g/owners/t/", "/consumers/g/offsets/t/"
	claims := []partition.MissingClaim{
		{Path: owners + "0", ReadAfter: offsets + "0"},
		{Path: owners + "1", ReadAfter: offsets + "1"},
	}
	c := partition.Claimer{Conn: conn}
	value := []byte("member-a-0")
	for i, r := range c.ClaimMissing(ctx, claims, value) {
		cl, err := r.Claim, r.Err
		if err != nil {
			cl, err = c.Claim(ctx, claims[i].Path, value) // looks first, then waits for the holder
		}
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("claimed %s (offset read behind: %v)", cl.Path, cl.After != nil)
	}
}
