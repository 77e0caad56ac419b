package cluster

import "testing"

func TestEnsembleConfigChecks(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", Config{}, true},
		{"three", Config{ZooKeeperServers: 3, ZooKeeperProxies: true}, true},
		{"seven", Config{ZooKeeperServers: 7}, true},
		{"eight", Config{ZooKeeperServers: 8}, false},
		{"negative", Config{ZooKeeperServers: -1}, false},
		{"kraft quorum", Config{KRaft: true, ZooKeeperServers: 3}, false},
		{"kraft proxies", Config{KRaft: true, ZooKeeperProxies: true}, false},
	} {
		if err := tt.cfg.checkEnsemble(); (err == nil) != tt.ok {
			t.Errorf("%s: checkEnsemble = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
