package cli

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// DefaultEnvFile is where 'demo up' writes the local cluster's addresses
// (KEY=VALUE lines: ZOOKEEPER, KAFKA_ZOOKEEPER_CONNECT, BROKERS, PID).
const DefaultEnvFile = ".zkbalance.env"

// The environment variables the connection flags default to.
const (
	EnvZooKeeper = "ZKBALANCE_ZOOKEEPER"
	EnvBrokers   = "ZKBALANCE_BROKERS"
)

// ConnectionHelp describes the connection flags, for command help texts.
const ConnectionHelp = `Connection: --zookeeper is the ZooKeeper connect string the brokers
register in, with Kafka's chroot ("zk1:2181,zk2:2181/kafka"); --brokers the
Kafka bootstrap addresses (default: the PLAINTEXT endpoints registered in
/brokers/ids). Without the flags they come from $` + EnvZooKeeper + ` and
$` + EnvBrokers + `, and failing those (a convenience for the local
cluster) from the ` + DefaultEnvFile + ` file 'demo up' writes in the current
directory (--env-file; "" to never read one).`

// SecureConnectionHelp is ConnectionHelp and SecurityHelp, for the
// commands with AddSecureClusterFlags.
const SecureConnectionHelp = ConnectionHelp + "\n\n" + SecurityHelp

// ClusterFlags are the connection flags of every command that talks to a
// cluster.
type ClusterFlags struct {
	zookeeper, brokers, envFile *string
	security                    *SecurityFlags // nil without AddSecureClusterFlags
}

// AddClusterFlags adds --zookeeper, --brokers and --env-file to fs.
func AddClusterFlags(fs *flag.FlagSet) *ClusterFlags {
	return &ClusterFlags{
		zookeeper: fs.String("zookeeper", "", `ZooKeeper connect string with the Kafka chroot, "host:port[,host:port][/chroot]" (default: $`+EnvZooKeeper+`, else KAFKA_ZOOKEEPER_CONNECT from --env-file)`),
		brokers:   fs.String("brokers", "", "Kafka bootstrap addresses, comma-separated (default: $"+EnvBrokers+", else BROKERS from --env-file for the same ZooKeeper, else read from /brokers/ids)"),
		envFile:   fs.String("env-file", DefaultEnvFile, `file written by 'demo up' to read the addresses from when neither flags nor environment give them ("": none)`),
	}
}

// AddSecureClusterFlags adds the connection flags (AddClusterFlags) and
// the security flags (AddSecurityFlags) to fs: the flags of every
// zkbalance command that talks to a cluster.
func AddSecureClusterFlags(fs *flag.FlagSet) *ClusterFlags {
	cf := AddClusterFlags(fs)
	cf.security = AddSecurityFlags(fs)
	return cf
}

// Security resolves the security flags (see SecurityFlags.Resolve); with
// AddClusterFlags alone it is an unsecured cluster's.
func (cf *ClusterFlags) Security() (*Security, error) { return cf.security.Resolve() }

// Resolve returns the ZooKeeper connect string and the broker addresses
// (empty: read them from /brokers/ids). Flags win over the environment,
// which wins over the env file.
func (cf *ClusterFlags) Resolve() (zookeeper string, brokers []string, err error) {
	readEnv := func() (map[string]string, error) { return ReadEnvFile(*cf.envFile) }
	if *cf.envFile == "" {
		readEnv = nil
	}
	return resolveAddrs(*cf.zookeeper, *cf.brokers, os.Getenv, readEnv, *cf.envFile)
}

// ResolveOptionalZooKeeper is Resolve for commands that can work with
// Kafka alone (a cluster without ZooKeeper, Kafka 4): no ZooKeeper address
// is not an error when broker addresses are given; zookeeper is then "".
func (cf *ClusterFlags) ResolveOptionalZooKeeper() (zookeeper string, brokers []string, err error) {
	zookeeper, brokers, err = cf.Resolve()
	if err == nil || !errors.Is(err, ErrUsage) || *cf.zookeeper != "" {
		return zookeeper, brokers, err
	}
	bs := *cf.brokers
	if bs == "" {
		bs = os.Getenv(EnvBrokers)
	}
	if bs == "" && *cf.envFile != "" {
		if env, eerr := ReadEnvFile(*cf.envFile); eerr == nil && env["KAFKA_ZOOKEEPER_CONNECT"] == "" {
			bs = env["BROKERS"]
		}
	}
	if len(SplitList(bs)) == 0 {
		return "", nil, Usagef("no ZooKeeper and no broker address: pass --zookeeper or --brokers (or set $%s or $%s)", EnvZooKeeper, EnvBrokers)
	}
	return "", SplitList(bs), nil
}

// resolveAddrs is Resolve's logic: flags, then getenv, then (if readEnv is
// not nil and something is missing) the env file. The env file's BROKERS
// only count when its KAFKA_ZOOKEEPER_CONNECT is the ZooKeeper used, so
// that a stale file never mixes two clusters.
func resolveAddrs(zkFlag, brokersFlag string, getenv func(string) string, readEnv func() (map[string]string, error), envFile string) (string, []string, error) {
	zookeeper, bs := zkFlag, brokersFlag
	if zookeeper == "" {
		zookeeper = getenv(EnvZooKeeper)
	}
	if bs == "" {
		bs = getenv(EnvBrokers)
	}
	if (zookeeper == "" || bs == "") && readEnv != nil {
		env, err := readEnv()
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return "", nil, err
		default:
			if zookeeper == "" {
				zookeeper = env["KAFKA_ZOOKEEPER_CONNECT"]
				if zookeeper == "" {
					zookeeper = env["ZOOKEEPER"]
				}
			}
			if bs == "" && zookeeper == env["KAFKA_ZOOKEEPER_CONNECT"] {
				bs = env["BROKERS"]
			}
		}
	}
	if zookeeper == "" {
		where := ""
		if readEnv != nil {
			where = fmt.Sprintf(", or run 'demo up' here to write %s", envFile)
		}
		return "", nil, Usagef("no ZooKeeper address: pass --zookeeper or set $%s%s", EnvZooKeeper, where)
	}
	return zookeeper, SplitList(bs), nil
}

// ReadEnvFile parses KEY=VALUE lines ('#' comments and blank lines
// ignored). A missing file is an error matching os.ErrNotExist.
func ReadEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("env file %s line %d: want KEY=VALUE, got %q", path, n, line)
		}
		env[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", path, err)
	}
	return env, nil
}
