package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// defaultEnvFile is where 'demo up' writes the cluster's addresses and where
// the other commands read them when --zookeeper / --brokers are not given.
const defaultEnvFile = ".zkbalance.env"

// clusterFlags are the connection flags shared by every command that talks to
// a running cluster.
type clusterFlags struct {
	zookeeper *string
	brokers   *string
	envFile   *string
}

func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	return &clusterFlags{
		zookeeper: fs.String("zookeeper", "", `ZooKeeper connect string with the Kafka chroot, "host:port[,host:port][/chroot]" (default: KAFKA_ZOOKEEPER_CONNECT from --env-file)`),
		brokers:   fs.String("brokers", "", "Kafka bootstrap addresses, comma-separated (default: BROKERS from --env-file, else read from ZooKeeper)"),
		envFile:   fs.String("env-file", defaultEnvFile, "file written by 'demo up' to read addresses from"),
	}
}

// resolve returns the ZooKeeper connect string and the broker addresses
// (possibly empty: then they come from /brokers/ids). Flags win over the env
// file.
func (cf *clusterFlags) resolve() (zookeeper string, brokers []string, err error) {
	zookeeper, bs := *cf.zookeeper, *cf.brokers
	if zookeeper == "" || bs == "" {
		env, err := readEnvFile(*cf.envFile)
		if err != nil && !(errors.Is(err, os.ErrNotExist) && zookeeper != "") {
			if errors.Is(err, os.ErrNotExist) {
				return "", nil, fmt.Errorf("%w: no --zookeeper given and no %s: pass --zookeeper or run 'demo up' first", errUsage, *cf.envFile)
			}
			return "", nil, err
		}
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
	if zookeeper == "" {
		return "", nil, fmt.Errorf("%w: no ZooKeeper address: pass --zookeeper or run 'demo up' first", errUsage)
	}
	for _, b := range strings.Split(bs, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return zookeeper, brokers, nil
}

// readEnvFile parses KEY=VALUE lines ('#' comments and blank lines ignored).
func readEnvFile(path string) (map[string]string, error) {
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
