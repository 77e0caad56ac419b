package balanced

import (
	"testing"

	gometrics "github.com/rcrowley/go-metrics"
)

func TestDiscardMetrics(t *testing.T) {
	type custom struct{ n int }
	r := discardMetrics{}
	cases := []struct {
		name   string
		metric any
		check  func(any) bool
	}{
		{"lazy histogram", func() gometrics.Histogram { panic("made") }, func(v any) bool { _, ok := v.(gometrics.NilHistogram); return ok }},
		{"meter constructor", gometrics.NewMeter, func(v any) bool { _, ok := v.(gometrics.NilMeter); return ok }},
		{"counter constructor", gometrics.NewCounter, func(v any) bool { _, ok := v.(gometrics.NilCounter); return ok }},
		{"counter value", gometrics.NilCounter{}, func(v any) bool { _, ok := v.(gometrics.NilCounter); return ok }},
		{"gauge", func() gometrics.Gauge { panic("made") }, func(v any) bool { _, ok := v.(gometrics.NilGauge); return ok }},
		{"timer", func() gometrics.Timer { panic("made") }, func(v any) bool { _, ok := v.(gometrics.NilTimer); return ok }},
		{"unknown kind, lazy", func() *custom { return &custom{n: 7} }, func(v any) bool { c, ok := v.(*custom); return ok && c.n == 7 }},
		{"unknown kind, value", custom{n: 3}, func(v any) bool { c, ok := v.(custom); return ok && c.n == 3 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.GetOrRegister("x", tc.metric); !tc.check(got) {
				t.Fatalf("GetOrRegister returned %T", got)
			}
		})
	}
	if err := r.Register("x", gometrics.NewCounter()); err != nil {
		t.Fatal(err)
	}
	if r.Get("x") != nil || r.GetAll() != nil {
		t.Fatal("discardMetrics kept a metric")
	}
	r.Each(func(string, any) { t.Fatal("discardMetrics has a metric") })
}

// The default sarama config drops sarama's metrics, a caller's keeps its
// registry.
func TestDefaultSaramaMetricRegistry(t *testing.T) {
	base := Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "127.0.0.1:2181"}
	c, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Sarama.MetricRegistry.(discardMetrics); !ok {
		t.Fatalf("default MetricRegistry is %T", c.Sarama.MetricRegistry)
	}
	own := gometrics.NewRegistry()
	sc := c.Sarama
	sc.MetricRegistry = own
	base.Sarama = sc
	c, err = base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Sarama.MetricRegistry != own {
		t.Fatalf("the caller's MetricRegistry was replaced by %T", c.Sarama.MetricRegistry)
	}
}
