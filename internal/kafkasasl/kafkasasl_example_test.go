package kafkasasl_test

import (
	"fmt"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkasasl"
)

func ExampleApply() {
	sc := sarama.NewConfig()
	if err := kafkasasl.Apply(sc, kafkasasl.ScramSHA256, "app", "s3cret"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(kafkasasl.SecurityProtocol(sc), sc.Net.SASL.Mechanism, sc.Net.SASL.SCRAMClientGeneratorFunc != nil)
	fmt.Println(kafkasasl.Apply(sarama.NewConfig(), "GSSAPI", "app", "x"))
	// Output:
	// SASL_PLAINTEXT SCRAM-SHA-256 true
	// unknown SASL mechanism (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512): "GSSAPI"
}
