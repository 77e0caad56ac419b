package security_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/cmdtest"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// The zkbalance binary, built once (with -race) for the CLI tests.
var zkbalanceBuild = cmdtest.NewBinary("github.com/zkbalance/zkbalance/cmd/zkbalance", "zkbalance")

// The ZooKeeper digest user of the CLI tests' group (ZooKeeper needs no
// set-up for it: a digest identity is whatever addauth says).
const zkUser, zkPassword = "ops", "ops-secret"

// cliRun is one finished run of the binary.
type cliRun struct {
	cmdtest.Result
	took time.Duration
}

// zkb runs 'zkbalance args...' against the shared cluster's ZooKeeper with
// the extra environment env.
func zkb(t *testing.T, env []string, args ...string) cliRun {
	t.Helper()
	cl := shared.Get(t)
	args = append([]string{args[0], "--zookeeper", cl.KafkaZooKeeperConnect()}, args[1:]...)
	start := time.Now()
	r := cmdtest.RunEnv(t, zkbalanceBuild.Path(t), t.TempDir(), 2*time.Minute, env, args...)
	return cliRun{r, time.Since(start)}
}

// wantOK fails the test unless the run exited 0 with want in its stdout.
func (r cliRun) wantOK(t *testing.T, what, want string) {
	t.Helper()
	if r.Code != 0 || !strings.Contains(r.Stdout, want) {
		t.Fatalf("%s: exit %d after %s, want 0 and %q in stdout\nstdout:\n%s\nstderr:\n%s", what, r.Code, r.took.Round(time.Millisecond), want, r.Stdout, r.Stderr)
	}
	t.Logf("%s: ok in %s", what, r.took.Round(time.Millisecond))
}

// wantFail fails the test unless the run exited 1 within bound with a
// last stderr line "zkbalance <command>: <reason>" that contains every
// want.
func (r cliRun) wantFail(t *testing.T, what string, bound time.Duration, want ...string) {
	t.Helper()
	// The reason is the last line (consume logs before it).
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	line := lines[len(lines)-1]
	ok := r.Code == 1 && strings.HasPrefix(line, "zkbalance ") && r.took <= bound
	for _, w := range want {
		ok = ok && strings.Contains(line, w)
	}
	if !ok {
		t.Fatalf("%s: exit %d after %s; want exit 1 within %s and one stderr line with %q\nstdout:\n%s\nstderr:\n%s", what, r.Code, r.took.Round(time.Millisecond), bound, want, r.Stdout, r.Stderr)
	}
	t.Logf("%s: failed as wanted in %s: %s", what, r.took.Round(time.Millisecond), line)
}

// writeSecret writes a password file (with a trailing newline, as an editor
// leaves it).
func writeSecret(t *testing.T, name, pw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLISecured runs the zkbalance commands against the secured
// listeners: produce over SASL_PLAINTEXT (SCRAM-SHA-256, password from the
// environment, brokers from /brokers/ids by security protocol); consume
// over SASL_SSL (SCRAM-SHA-512, CA file) into a group whose znodes it
// creates with a digest-only ACL (ZooKeeper password from a file); status
// over SASL_SSL (PLAIN, password file, --listener); migrate-offsets over
// SSL with the CA; reset-offsets and coordination over SSL_CLIENT_AUTH with
// a client certificate. Without the ZooKeeper credentials each of them
// fails on the group with a one-line NOAUTH reason; a client-auth listener
// without a certificate and a wrong SASL password fail fast, naming what
// is wrong.
func TestCLISecured(t *testing.T) {
	cl := shared.Get(t)
	const n = 100
	topic, group := "cli-sec-topic", "cli-sec-group"
	caFile := cl.CACertFile()
	certFile, keyFile, err := cl.ClientCertFiles("zkbalance-cli")
	if err != nil {
		t.Fatal(err)
	}
	zkPwFile := writeSecret(t, "zk-password", zkPassword)
	plainPwFile := writeSecret(t, "plain-password", plainPassword)
	zkAuth := []string{"--zk-user", zkUser, "--zk-password-file", zkPwFile}
	zkEnv := []string{"ZKBALANCE_ZK_PASSWORD=" + zkPassword}
	scramEnv := []string{"ZKBALANCE_SASL_PASSWORD=" + scramPassword}
	clientCert := []string{"--listener", cluster.ListenerSSLClientAuth, "--tls-ca", caFile, "--tls-cert", certFile, "--tls-key", keyFile}

	// produce: SASL_PLAINTEXT picked from /brokers/ids, SCRAM-SHA-256,
	// password from $ZKBALANCE_SASL_PASSWORD; it creates the topic.
	zkb(t, scramEnv, "produce", "--topic", topic, "--count", "100", "--create-partitions", "2", "--replication", "2",
		"--sasl-user", scramUser, "--sasl-mechanism", "SCRAM-SHA-256").wantOK(t, "produce over SASL_PLAINTEXT/SCRAM-SHA-256", "produced 100 messages")

	// consume: SASL_SSL picked from /brokers/ids (SASL and TLS), SCRAM-SHA-512,
	// the CA from a file; the group's znodes get the digest-only ACL.
	consumeArgs := append([]string{"consume", "--zookeeper", cl.KafkaZooKeeperConnect(), "--group", group, "--topics", topic, "--print",
		"--sasl-user", scramUser, "--sasl-mechanism", "SCRAM-SHA-512", "--tls-ca", caFile, "--zk-acl", "digest-only"}, zkAuth...)
	lines := runConsumeUntil(t, scramEnv, consumeArgs, n)
	t.Logf("consume over SASL_SSL/SCRAM-SHA-512 with a digest-only group: %d lines", lines)
	checkACL(t, "/kafka/consumers/"+group)

	// Without the ZooKeeper credentials the group cannot be read or changed.
	noAuth := []string{"not authenticated to ZooKeeper", "NOAUTH", "--zk-user"}
	zkb(t, nil, "status", "--group", group, "--brokers", cl.BrokerAddrs()[0]).wantFail(t, "status without --zk-user", 30*time.Second, noAuth...)
	zkb(t, nil, "migrate-offsets", "--group", group, "--to", "kafka", "--brokers", cl.BrokerAddrs()[0]).wantFail(t, "migrate-offsets without --zk-user", 30*time.Second, noAuth...)
	zkb(t, nil, "reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--store", "zookeeper", "--apply", "--brokers", cl.BrokerAddrs()[0]).
		wantFail(t, "reset-offsets without --zk-user", 30*time.Second, noAuth...)
	zkb(t, nil, "coordination", "--group", group, "--to", "kafka", "--apply", "--force", "--brokers", cl.BrokerAddrs()[0]).
		wantFail(t, "coordination without --zk-user", 30*time.Second, noAuth...)

	// status: SASL_SSL named by --listener, PLAIN, password from a file;
	// ZooKeeper password from $ZKBALANCE_ZK_PASSWORD.
	r := zkb(t, zkEnv, "status", "--group", group, "--json", "--zk-user", zkUser,
		"--listener", cluster.ListenerSASLSSL, "--tls-ca", caFile, "--sasl-user", plainUser, "--sasl-password-file", plainPwFile)
	r.wantOK(t, "status over SASL_SSL/PLAIN", `"group": "`+group+`"`)
	var st struct {
		Rows []struct {
			CurrentOffset *int64 `json:"current_offset"`
			Store         *string
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.Stdout)
	}
	if len(st.Rows) != 2 || st.Rows[0].CurrentOffset == nil || st.Rows[1].CurrentOffset == nil || *st.Rows[0].CurrentOffset+*st.Rows[1].CurrentOffset != n {
		t.Fatalf("status --json: want 2 partitions with committed offsets summing to %d\n%s", n, r.Stdout)
	}

	// migrate-offsets: SSL with the CA file (--listener SSL), ZooKeeper -> Kafka.
	zkb(t, nil, append([]string{"migrate-offsets", "--group", group, "--to", "kafka", "--apply", "--listener", cluster.ListenerSSL, "--tls-ca", caFile}, zkAuth...)...).
		wantOK(t, "migrate-offsets over SSL", "wrote 2 offset(s)")

	// reset-offsets: SSL with a client certificate, in ZooKeeper (a write
	// the digest-only ACL allows the credentials only).
	zkb(t, nil, append(append([]string{"reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--store", "zookeeper", "--apply"}, clientCert...), zkAuth...)...).
		wantOK(t, "reset-offsets over SSL with a client certificate", "reset 2 of 2 offset(s)")

	// coordination: show, then switch, over the client-certificate listener.
	zkb(t, nil, append(append([]string{"coordination", "--group", group}, clientCert...), zkAuth...)...).
		wantOK(t, "coordination over SSL with a client certificate", "group "+group+": coordination zookeeper")
	zkb(t, nil, append(append([]string{"coordination", "--group", group, "--to", "kafka", "--apply", "--zk-acl", "digest-only"}, clientCert...), zkAuth...)...).
		wantOK(t, "coordination --to kafka --apply", "switched zookeeper → kafka")
	checkACL(t, "/kafka/consumers/"+group+"/coordination")

	// The client-certificate listener without a certificate.
	zkb(t, nil, append([]string{"status", "--group", group, "--listener", cluster.ListenerSSLClientAuth, "--tls-ca", caFile}, zkAuth...)...).
		wantFail(t, "status without a client certificate", 15*time.Second, "client certificate", "--tls-cert")
	// A CA the brokers' certificate is not signed by: the system roots.
	zkb(t, nil, append([]string{"status", "--group", group, "--listener", cluster.ListenerSSL, "--tls"}, zkAuth...)...).
		wantFail(t, "status with the system CAs", 15*time.Second, "unknown authority", "--tls-ca")
}

// TestCLIWrongPassword: a wrong SASL password fails every Kafka client
// of the commands within seconds, with one line naming the authentication.
func TestCLIWrongPassword(t *testing.T) {
	cl := shared.Get(t)
	wrong := []string{"ZKBALANCE_SASL_PASSWORD=wrong"}
	const bound = 10 * time.Second
	why := []string{"Kafka SASL authentication failed", "--sasl-user", "SCRAM-SHA-256", scramUser}
	sasl := []string{"--sasl-user", scramUser, "--sasl-mechanism", "SCRAM-SHA-256", "--listener", cluster.ListenerSASLPlaintext}
	zkb(t, wrong, append([]string{"status", "--all"}, sasl...)...).wantFail(t, "status --all, wrong password", bound, why...)
	zkb(t, wrong, append([]string{"produce", "--topic", "cli-wrong-pw", "--count", "1"}, sasl...)...).wantFail(t, "produce, wrong password", bound, why...)
	zkb(t, wrong, append([]string{"reset-offsets", "--group", "cli-wrong-pw", "--all-topics", "--to-latest", "--store", "kafka"}, sasl...)...).
		wantFail(t, "reset-offsets, wrong password", bound, why...)
	// consume (the balanced member's own client): bounded by --timeout.
	zkb(t, wrong, append([]string{"consume", "--group", "cli-wrong-pw", "--topics", "cli-wrong-pw", "--offsets", "kafka", "--timeout", "10s"}, sasl...)...).
		wantFail(t, "consume, wrong password", bound, "Kafka SASL authentication failed", "--sasl-user")
	// A password file with two lines is refused before anything connects.
	two := writeSecret(t, "two-lines", "a\nb")
	zkb(t, nil, "status", "--all", "--sasl-user", scramUser, "--sasl-password-file", two).
		wantFail(t, "two-line password file", 5*time.Second, "--sasl-password-file", "one line")
	_ = cl
}

// runConsumeUntil runs 'zkbalance consume' (args include --print) until it
// printed want message lines, then interrupts it and checks that it left
// cleanly (exit 0). It returns the number of lines.
func runConsumeUntil(t *testing.T, env, args []string, want int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, zkbalanceBuild.Path(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(cmdtest.Env(), env...)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // owned here: received below
	count := func() int { return strings.Count(stdout.String(), "\n") }
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for count() < want {
		select {
		case err := <-done:
			t.Fatalf("consume exited before %d lines (%v)\nstdout:\n%s\nstderr:\n%s", want, err, stdout.String(), stderr.String())
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("consume printed %d of %d lines in 2 minutes\nstderr:\n%s", count(), want, stderr.String())
		case <-tick.C:
		}
	}
	// Let the once-a-second commit catch up with the last lines, then stop.
	time.Sleep(1500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := <-done; err != nil {
		t.Fatalf("consume after SIGINT: %v\nstderr:\n%s", err, stderr.String())
	}
	return count()
}

// checkACL fails the test unless the znode at path (absolute, chroot
// included) grants only the digest user zkUser, all permissions.
func checkACL(t *testing.T, path string) {
	t.Helper()
	cl := shared.Get(t)
	conn, err := cl.DialZooKeeper(testCtx(t, 30*time.Second), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.AddAuth("digest", []byte(zkUser+":"+zkPassword)); err != nil {
		t.Fatal(err)
	}
	acl, _, err := conn.GetACL(path)
	if err != nil {
		t.Fatalf("get acl %s: %v", path, err)
	}
	want := zkwatch.DigestACL(zkwatch.PermAll, zkUser, zkPassword)
	if len(acl) != 1 || acl[0] != want[0] {
		t.Fatalf("ACL of %s = %+v, want %+v", path, acl, want)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
