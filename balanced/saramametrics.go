package balanced

import (
	"reflect"

	gometrics "github.com/rcrowley/go-metrics"
)

// discardMetrics is the go-metrics registry of the default sarama config:
// it keeps nothing and hands out the no-op metrics of go-metrics.
//
// sarama records its client metrics (request and response sizes and rates
// per broker, fetch rates per topic, the batch size of every fetched
// partition) in Config.MetricRegistry, a registry it locks and looks names
// up in on every fetch response and for every partition in it; its meters
// are also ticked every 5 s by a goroutine of go-metrics. The consumer
// exports its own Prometheus metrics and reads none of these, so the default
// config drops them. A caller who wants them passes Config.Sarama with a
// registry of its own.
type discardMetrics struct{}

var _ gometrics.Registry = discardMetrics{}

func (discardMetrics) Each(func(string, any))                 {}
func (discardMetrics) Get(string) any                         { return nil }
func (discardMetrics) GetAll() map[string]map[string]any      { return nil }
func (discardMetrics) GetOrRegister(_ string, metric any) any { return nilMetric(metric) }
func (discardMetrics) Register(string, any) error             { return nil }
func (discardMetrics) RunHealthchecks()                       {}
func (discardMetrics) Unregister(string)                      {}
func (discardMetrics) UnregisterAll()                         {}

// nilMetric returns the no-op metric of the kind of metric, which is a
// metric or a function returning one (go-metrics' lazy registration). A
// kind it does not know is made as asked, so that the caller's type
// assertion holds.
func nilMetric(metric any) any {
	switch metric.(type) {
	case func() gometrics.Histogram, gometrics.Histogram:
		return gometrics.NilHistogram{}
	case func() gometrics.Meter, gometrics.Meter:
		return gometrics.NilMeter{}
	case func() gometrics.Counter, gometrics.Counter:
		return gometrics.NilCounter{}
	case func() gometrics.Gauge, gometrics.Gauge:
		return gometrics.NilGauge{}
	case func() gometrics.GaugeFloat64, gometrics.GaugeFloat64:
		return gometrics.NilGaugeFloat64{}
	case func() gometrics.Timer, gometrics.Timer:
		return gometrics.NilTimer{}
	}
	if v := reflect.ValueOf(metric); v.Kind() == reflect.Func && v.Type().NumIn() == 0 && v.Type().NumOut() == 1 {
		return v.Call(nil)[0].Interface()
	}
	return metric
}
