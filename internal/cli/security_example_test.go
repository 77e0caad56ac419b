package cli_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/cli"
)

// A command adds the connection and security flags and the common ones,
// then resolves them into one Security that every client is built with.
func ExampleAddSecureClusterFlags() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	pwFile := filepath.Join(dir, "sasl-password")
	_ = os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)

	fs := flag.NewFlagSet("zkbalance status", flag.ContinueOnError)
	common := cli.AddCommonFlags(fs, time.Minute, "give up after this long")
	cf := cli.AddSecureClusterFlags(fs)
	_ = fs.Parse([]string{"--zookeeper", "zk1:2181/kafka", "--timeout", "30s",
		"--sasl-user", "app", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-password-file", pwFile, "--tls"})
	sec, err := cf.Security()
	if err != nil {
		fmt.Println(err)
		return
	}
	sc := sarama.NewConfig()
	if err := sec.ApplySarama(sc); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(common.Timeout(), sec.Protocol(), sc.Net.SASL.Mechanism, sc.Net.SASL.User)
	// Output: 30s SASL_SSL SCRAM-SHA-512 app
}
