// Package balancedhook lets the module's own packages reach parts of
// package balanced that are not its API, without exporting them from
// balanced: balancedtest builds a *balanced.Claim over a fake partition,
// test/bench asks which partitions a member has started fetching, and
// test/kafka4 which Kafka group generation a member is in.
//
// Package balanced sets the variables in its init (importing balanced is
// what makes them non-nil); a user asserts the function type documented on
// each, once, at its own package initialisation, so that a mismatch fails
// every test of that package at once.
package balancedhook

// NewClaim is, once package balanced is initialised, its Claim constructor:
//
//	func(tp balanced.TopicPartition, initialOffset int64, marked *atomic.Int64, src interface {
//		Next(ctx context.Context) (*balanced.Message, error)
//		Messages() <-chan *balanced.Message
//		HighWaterMark() int64
//		Commit(ctx context.Context) error
//	}) *balanced.Claim
//
// marked holds the next offset to commit (-1: none yet); the Claim's Mark
// and MarkOffset move it forward. Claim.Next, Messages, HighWaterMark and
// Commit call src's methods of the same names.
var NewClaim any

// Fetching is, once package balanced is initialised,
//
//	func(c *balanced.Consumer) []balanced.TopicPartition
//
// listing the partitions c owns whose fetching has started, sorted.
var Fetching any

// KafkaGeneration is, once package balanced is initialised,
//
//	func(c *balanced.Consumer) (id int32, member string, ok bool)
//
// giving the Kafka group generation and member id c is in (kafka mode); ok
// is false between generations and in zookeeper mode.
var KafkaGeneration any
