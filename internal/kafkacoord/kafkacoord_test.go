package kafkacoord_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
)

func TestRetriable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{sarama.ErrNotCoordinatorForConsumer, true},
		{sarama.ErrConsumerCoordinatorNotAvailable, true},
		{sarama.ErrOffsetsLoadInProgress, true},
		{sarama.ErrRequestTimedOut, true},
		{fmt.Errorf("wrapped: %w", sarama.ErrNotCoordinatorForConsumer), true},
		{io.EOF, true},
		{&net.OpError{Op: "read", Err: errors.New("connection reset")}, true},
		{sarama.ErrNotConnected, true},
		{sarama.ErrOutOfBrokers, true},
		{sarama.ErrUnknownTopicOrPartition, false},
		{sarama.ErrUnsupportedVersion, false},
		{sarama.ErrClosedClient, false},
		{sarama.ErrIncompleteResponse, false},
		{sarama.PacketEncodingError{Info: "x"}, false},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false},
	} {
		if got := kafkacoord.Retriable(tc.err); got != tc.want {
			t.Errorf("Retriable(%v) = %v; want %v", tc.err, got, tc.want)
		}
	}
}

func TestCall(t *testing.T) {
	v, err := kafkacoord.Call(context.Background(), func() (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Fatalf("%d, %v", v, err)
	}
	cause := errors.New("stop")
	ctx, cancel := context.WithCancelCause(context.Background())
	release := make(chan struct{})
	defer close(release)
	go cancel(cause)
	v, err = kafkacoord.Call(ctx, func() (int, error) { <-release; return 7, nil })
	if v != 0 || !errors.Is(err, cause) {
		t.Fatalf("after cancel: %d, %v; want the cause", v, err)
	}
}

// newClient returns a client of a mock broker that is the coordinator of
// group "g".
func newClient(t *testing.T) sarama.Client {
	t.Helper()
	b := sarama.NewMockBroker(t, 1)
	t.Cleanup(b.Close)
	b.SetHandlerByMap(map[string]sarama.MockResponse{
		"MetadataRequest":        sarama.NewMockMetadataResponse(t).SetBroker(b.Addr(), b.BrokerID()),
		"FindCoordinatorRequest": sarama.NewMockFindCoordinatorResponse(t).SetCoordinator(sarama.CoordinatorGroup, "g", b),
	})
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.ApiVersionsRequest = false // the mock broker does not answer it
	client, err := sarama.NewClient([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func TestDo(t *testing.T) {
	client := newClient(t)
	ctx := context.Background()

	// Retriable errors are retried until send succeeds; before runs first
	// every time.
	var sends, befores int
	err := kafkacoord.Do(ctx, client, "g", func(context.Context) error { befores++; return nil }, func(*sarama.Broker) error {
		sends++
		if sends < 3 {
			return []error{sarama.ErrNotCoordinatorForConsumer, sarama.ErrOffsetsLoadInProgress}[sends-1]
		}
		return nil
	})
	if err != nil || sends != 3 || befores != 3 {
		t.Fatalf("retried: %v after %d sends, %d befores; want success after 3", err, sends, befores)
	}

	// Other errors end Do at once, naming the coordinator.
	sends = 0
	err = kafkacoord.Do(ctx, client, "g", nil, func(*sarama.Broker) error { sends++; return sarama.ErrUnknownTopicOrPartition })
	if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) || !strings.HasPrefix(err.Error(), "coordinator ") || sends != 1 {
		t.Fatalf("not retriable: %v after %d sends", err, sends)
	}

	// A failing before ends Do with its error, before anything is sent.
	stop := errors.New("not the owner")
	sends = 0
	err = kafkacoord.Do(ctx, client, "g", func(context.Context) error { return stop }, func(*sarama.Broker) error { sends++; return nil })
	if err != stop || sends != 0 {
		t.Fatalf("before failed: %v after %d sends; want it as is and nothing sent", err, sends)
	}

	// A context that ends during the backoff ends Do with its cause and the
	// last error.
	cause := errors.New("shutdown")
	cctx, cancel := context.WithCancelCause(ctx)
	defer time.AfterFunc(20*time.Millisecond, func() { cancel(cause) }).Stop()
	sends = 0
	err = kafkacoord.Do(cctx, client, "g", nil, func(*sarama.Broker) error { sends++; return sarama.ErrOffsetsLoadInProgress })
	if !errors.Is(err, cause) || !errors.Is(err, sarama.ErrOffsetsLoadInProgress) || sends != 1 {
		t.Fatalf("cancelled during the backoff: %v after %d sends; want the cause and the last error after 1", err, sends)
	}
}

func TestDoGivesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the backoff (2.5s)")
	}
	client := newClient(t)
	var sends int
	start := time.Now()
	err := kafkacoord.Do(context.Background(), client, "g", nil, func(*sarama.Broker) error { sends++; return sarama.ErrOffsetsLoadInProgress })
	if !errors.Is(err, sarama.ErrOffsetsLoadInProgress) || sends != 6 {
		t.Fatalf("%v after %d sends; want the last error after 6", err, sends)
	}
	if d := time.Since(start); d < 2500*time.Millisecond {
		t.Fatalf("gave up after %v; want the backoff 100ms, 200ms, ..., 1s", d)
	}
}
