// Package kafkasasl configures sarama's SASL authentication (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512) for the balanced consumer and the
// commands, so that both speak it the same way.
package kafkasasl

import (
	"fmt"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// Mechanisms sarama can speak through Apply.
const (
	Plain       = sarama.SASLTypePlaintext   // "PLAIN"
	ScramSHA256 = sarama.SASLTypeSCRAMSHA256 // "SCRAM-SHA-256"
	ScramSHA512 = sarama.SASLTypeSCRAMSHA512 // "SCRAM-SHA-512"
)

// ErrUnknownMechanism is returned by Apply for a mechanism other than
// Plain, ScramSHA256 and ScramSHA512.
var ErrUnknownMechanism = fmt.Errorf("unknown SASL mechanism (want %s, %s or %s)", Plain, ScramSHA256, ScramSHA512)

// Apply enables SASL on sc with mechanism (Plain when empty), user and
// password, with a SCRAM client for the SCRAM mechanisms.
func Apply(sc *sarama.Config, mechanism, user, password string) error {
	if mechanism == "" {
		mechanism = Plain
	}
	var gen scram.HashGeneratorFcn
	switch mechanism {
	case Plain:
	case ScramSHA256:
		gen = scram.SHA256
	case ScramSHA512:
		gen = scram.SHA512
	default:
		return fmt.Errorf("%w: %q", ErrUnknownMechanism, mechanism)
	}
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.Mechanism = sarama.SASLMechanism(mechanism)
	sc.Net.SASL.User, sc.Net.SASL.Password = user, password
	if gen != nil {
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{gen: gen} }
	}
	return nil
}

// scramClient adapts github.com/xdg-go/scram to sarama.SCRAMClient, as
// sarama's own examples do.
type scramClient struct {
	gen  scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.gen.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }

func (c *scramClient) Done() bool { return c.conv.Done() }

// SecurityProtocol is the Kafka security protocol sc speaks (PLAINTEXT,
// SSL, SASL_PLAINTEXT or SASL_SSL): the listener protocol to pick from
// /brokers/ids when no listener is named.
func SecurityProtocol(sc *sarama.Config) string {
	switch {
	case sc.Net.SASL.Enable && sc.Net.TLS.Enable:
		return "SASL_SSL"
	case sc.Net.SASL.Enable:
		return "SASL_PLAINTEXT"
	case sc.Net.TLS.Enable:
		return "SSL"
	}
	return "PLAINTEXT"
}
