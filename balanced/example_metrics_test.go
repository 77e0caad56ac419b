package balanced_test

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkbalance/zkbalance/balanced"
)

// Two members of one group in one process share a registry: their series
// differ by the member label (the member id), so sum by (group) of
// zkbalance_lag_messages is the group's lag. LagInterval sets how often the
// owned partitions' log ends are listed (default 10s). A member's series
// are unregistered when its Run returns, or by Close.
func Example_metrics() {
	reg := prometheus.NewRegistry()
	newMember := func(id string) *balanced.Consumer {
		c, err := balanced.New(balanced.Config{
			ZooKeeper:   "zk1:2181,zk2:2181/kafka",
			Group:       "billing",
			Topics:      []string{"orders"},
			MemberID:    id,
			Registerer:  reg,
			LagInterval: 5 * time.Second,
		})
		if err != nil {
			panic(err)
		}
		return c
	}
	a, b := newMember("billing-a"), newMember("billing-b")
	count := func() {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "zkbalance_handler_errors_total" {
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "member" {
							fmt.Printf("%s=%s %v\n", l.GetName(), l.GetValue(), m.GetCounter().GetValue())
						}
					}
				}
			}
		}
	}
	count()
	// A second consumer with a registered member id is refused.
	_, err := balanced.New(balanced.Config{ZooKeeper: "zk1:2181", Group: "billing", Topics: []string{"orders"},
		MemberID: "billing-a", Registerer: reg})
	fmt.Println(err != nil)
	_ = a.Close() // Run never ran: Close unregisters
	count()
	_ = b.Close()
	// Output:
	// member=billing-a 0
	// member=billing-b 0
	// true
	// member=billing-b 0
}
