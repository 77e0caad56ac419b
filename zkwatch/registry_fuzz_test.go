package zkwatch_test

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// registrySeeds adds every testdata/registry file for kind ("broker",
// "topic", "state", good and bad_) to f's corpus, with add.
func registrySeeds(f *testing.F, kind string, add func(data []byte)) {
	for _, pattern := range []string{kind + "_*", "bad_" + kind + "_*"} {
		files, err := filepath.Glob(filepath.Join("testdata", "registry", pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			add(data)
		}
	}
}

// registryCheckErr checks the contract every parse error keeps.
func registryCheckErr(t *testing.T, path string, err error) {
	t.Helper()
	var pe *zkwatch.ParseError
	if !errors.Is(err, zkwatch.ErrMalformed) || !errors.As(err, &pe) || pe.Path != path || pe.Err == nil ||
		!strings.Contains(err.Error(), path) {
		t.Fatalf("error %q (%T) breaks the contract for path %q", err, err, path)
	}
}

var registryProtocols = map[string]bool{"PLAINTEXT": true, "SSL": true, "SASL_PLAINTEXT": true, "SASL_SSL": true, "TRACE": true}

func FuzzParseBroker(f *testing.F) {
	for _, data := range []string{
		// docs/PROTOCOL.md, versions 1 to 5.
		`{"version":1,"host":"h","port":9092,"jmx_port":-1}`,
		`{"version":2,"host":"h","port":9092,"jmx_port":-1,"timestamp":"1428512949385","endpoints":["PLAINTEXT://h:9092"]}`,
		`{"version":3,"host":"h","port":9092,"jmx_port":-1,"timestamp":"1428512949385","endpoints":["PLAINTEXT://h:9092","SSL://h:9093"],"rack":"r1"}`,
		`{"version":4,"host":"h","port":9092,"jmx_port":-1,"timestamp":"1428512949385","endpoints":["PLAINTEXT://h:9092","INTERNAL://h:9093"],"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","INTERNAL":"SSL"}}`,
		`{"version":5,"host":null,"port":-1,"jmx_port":-1,"timestamp":"1428512949385","endpoints":["INTERNAL://h:9093"],"listener_security_protocol_map":{"INTERNAL":"SSL"},"features":{}}`,
		kafka39Broker,
		`{"version":5,"endpoints":["PLAINTEXT://[::1]:9092","B://[fe80::1%eth0]:0"],"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","b":"sasl_ssl"},"timestamp":17}`,
		`{"version":3,"endpoints":["plaintext://::1:9092"]}`,
		// Malformed.
		``, `null`, `[]`, `{}`, `{"version":1}`, `{"version":6,"host":"h","port":1}`,
		`{"version":2,"endpoints":["PLAINTEXT://h"]}`, `{"version":2,"endpoints":["PLAINTEXT://[::1:1"]}`,
		`{"version":4,"endpoints":["X://h:1"],"listener_security_protocol_map":{"Y":"SSL"}}`,
		`{"version":1,"host":"h","port":1e99}`, `{"version":1,"host":"h","port":1,"timestamp":"x"}`,
	} {
		f.Add("1", []byte(data))
	}
	registrySeeds(f, "broker", func(data []byte) { f.Add("1", data) })
	f.Add("-1", []byte(kafka39Broker))
	f.Add("01", []byte(kafka39Broker))
	f.Add("2147483648", []byte(kafka39Broker))

	f.Fuzz(func(t *testing.T, id string, data []byte) {
		path := zkwatch.BrokerIDsPath + "/" + id
		b, err := zkwatch.ParseBroker(path, data)
		if err != nil {
			registryCheckErr(t, path, err)
			return
		}
		if strconv.Itoa(int(b.ID)) != path[strings.LastIndexByte(path, '/')+1:] || b.ID < 0 {
			t.Fatalf("id %d from path %q", b.ID, path)
		}
		if b.Version < 1 || b.Version > 5 || b.Port < -1 || b.Port > 65535 || b.JMXPort < -1 || b.JMXPort > 65535 {
			t.Fatalf("out of range: %+v", b)
		}
		if b.Version == 1 && (b.Host == "" || b.Port < 0) {
			t.Fatalf("v1 without host and port: %+v", b)
		}
		if len(b.Endpoints) == 0 {
			t.Fatalf("no endpoints: %+v", b)
		}
		for _, e := range b.Endpoints {
			if e.Listener == "" || !registryProtocols[e.SecurityProtocol] || e.Host == "" || e.Port < 0 || e.Port > 65535 {
				t.Fatalf("bad endpoint %+v", e)
			}
			if host, port, err := net.SplitHostPort(e.Addr()); err != nil || host != e.Host || port != strconv.Itoa(e.Port) {
				t.Fatalf("%+v: Addr() = %q does not split back", e, e.Addr())
			}
			if got, err := b.Endpoint(e.Listener, ""); err != nil || got != e {
				t.Fatalf("Endpoint(%q, \"\") = %+v, %v; want %+v", e.Listener, got, err, e)
			}
			if got, err := b.Endpoint("", e.SecurityProtocol); err != nil || got.SecurityProtocol != e.SecurityProtocol {
				t.Fatalf("Endpoint(\"\", %q) = %+v, %v", e.SecurityProtocol, got, err)
			}
		}
		if _, err := b.Endpoint("", ""); err != nil && !errors.Is(err, zkwatch.ErrNoEndpoint) {
			t.Fatalf("Endpoint: %v does not wrap ErrNoEndpoint", err)
		}
		again, err := zkwatch.ParseBroker(path, registryEncodeBroker(t, b))
		if err != nil {
			t.Fatalf("re-encoded %+v does not parse: %v", b, err)
		}
		if !registryEqualFeatures(t, b.Features, again.Features) {
			t.Fatalf("features %s != %s", b.Features, again.Features)
		}
		b.Features, again.Features = nil, nil
		if !reflect.DeepEqual(b, again) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, b)
		}
	})
}

// registryEncodeBroker writes b the way a broker of b.Version would.
func registryEncodeBroker(t *testing.T, b zkwatch.Broker) []byte {
	m := map[string]any{"version": b.Version, "port": b.Port, "jmx_port": b.JMXPort}
	if b.Host != "" {
		m["host"] = b.Host
	}
	if !b.Timestamp.IsZero() {
		m["timestamp"] = strconv.FormatInt(b.Timestamp.UnixMilli(), 10)
	}
	if b.Rack != "" {
		m["rack"] = b.Rack
	}
	if b.ListenerSecurityProtocolMap != nil {
		m["listener_security_protocol_map"] = b.ListenerSecurityProtocolMap
	}
	if b.Features != nil {
		m["features"] = b.Features
	}
	// Endpoints made from host and port are not written back.
	if synthesized := []zkwatch.Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: b.Host, Port: b.Port}}; !reflect.DeepEqual(b.Endpoints, synthesized) {
		var eps []string
		for _, e := range b.Endpoints {
			eps = append(eps, e.Listener+"://"+e.Addr())
		}
		m["endpoints"] = eps
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func registryEqualFeatures(t *testing.T, a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		t.Fatalf("features %s or %s is not JSON", a, b)
	}
	return reflect.DeepEqual(va, vb)
}

func FuzzParseTopic(f *testing.F) {
	for _, data := range []string{
		// docs/PROTOCOL.md, versions 1 to 3.
		`{"version":1,"partitions":{"0":[1,2],"1":[2,3]}}`,
		`{"version":2,"partitions":{"0":[1,2],"1":[2,3]},"adding_replicas":{},"removing_replicas":{}}`,
		`{"version":3,"partitions":{"0":[1,2],"1":[2,3]},"adding_replicas":{},"removing_replicas":{},"topic_id":"dkTxDiqgTXCJGhgXgRtpfQ"}`,
		`{"version":3,"partitions":{"0":[1,2,3]},"adding_replicas":{"0":[3],"5":[1]},"removing_replicas":{"0":[]}}`,
		// Malformed.
		``, `null`, `{}`, `{"version":1}`, `{"version":1,"partitions":{}}`, `{"version":1,"partitions":{"-1":[1]}}`,
		`{"version":1,"partitions":{"0":[]}}`, `{"version":1,"partitions":{"0":[1,1]}}`, `{"version":1,"partitions":{"0":[1e10]}}`,
		`{"version":3,"partitions":{"0":[1]},"topic_id":"x"}`,
	} {
		f.Add("t", []byte(data))
	}
	registrySeeds(f, "topic", func(data []byte) { f.Add("t", data) })
	f.Add("", []byte(`{"version":1,"partitions":{"0":[1]}}`))

	f.Fuzz(func(t *testing.T, name string, data []byte) {
		path := zkwatch.TopicPath(name)
		tp, err := zkwatch.ParseTopic(path, data)
		if err != nil {
			registryCheckErr(t, path, err)
			return
		}
		if tp.Name == "" || !strings.HasSuffix(path, "/"+tp.Name) || tp.Version < 1 || tp.Version > 3 || len(tp.Partitions) == 0 {
			t.Fatalf("bad topic %+v from %q", tp, path)
		}
		ids := tp.PartitionIDs()
		for i, p := range ids {
			if p < 0 || (i > 0 && ids[i-1] >= p) || len(tp.Partitions[p]) == 0 {
				t.Fatalf("partitions %v of %+v", ids, tp)
			}
		}
		for _, m := range []map[int32][]int32{tp.Partitions, tp.AddingReplicas, tp.RemovingReplicas} {
			for p, replicas := range m {
				if _, ok := tp.Partitions[p]; !ok || len(replicas) == 0 {
					t.Fatalf("partition %d of %+v", p, tp)
				}
				registryCheckIDs(t, replicas)
			}
		}
		again, err := zkwatch.ParseTopic(path, registryEncodeTopic(t, tp))
		if err != nil || !reflect.DeepEqual(tp, again) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, tp)
		}
	})
}

func registryCheckIDs(t *testing.T, ids []int32) {
	seen := map[int32]bool{}
	for _, id := range ids {
		if id < 0 || seen[id] {
			t.Fatalf("broker ids %v", ids)
		}
		seen[id] = true
	}
}

func registryEncodeTopic(t *testing.T, tp zkwatch.Topic) []byte {
	enc := func(m map[int32][]int32) map[string][]int32 {
		out := map[string][]int32{}
		for p, r := range m {
			out[strconv.Itoa(int(p))] = r
		}
		return out
	}
	m := map[string]any{"version": tp.Version, "partitions": enc(tp.Partitions),
		"adding_replicas": enc(tp.AddingReplicas), "removing_replicas": enc(tp.RemovingReplicas)}
	if tp.TopicID != "" {
		m["topic_id"] = tp.TopicID
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func FuzzParsePartitionState(f *testing.F) {
	for _, data := range []string{
		// docs/PROTOCOL.md and Kafka 3.9.
		`{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1,2]}`,
		`{"controller_epoch":2,"leader":-1,"version":1,"leader_epoch":1,"isr":[1]}`,
		`{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1],"leader_recovery_state":0}`,
		`{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1],"leader_recovery_state":1}`,
		// Malformed.
		``, `null`, `{}`, `{"controller_epoch":1,"leader":-2,"version":1,"leader_epoch":0,"isr":[1]}`,
		`{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":null}`,
		`{"controller_epoch":1,"leader":1,"version":2,"leader_epoch":0,"isr":[1]}`,
		`{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1],"leader_recovery_state":2}`,
	} {
		f.Add("t", "0", []byte(data))
	}
	registrySeeds(f, "state", func(data []byte) { f.Add("t", "0", data) })
	f.Add("a/b", "2147483647", []byte(`{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[]}`))
	f.Add("", "-1", []byte(`{}`))

	f.Fuzz(func(t *testing.T, topic, partition string, data []byte) {
		path := zkwatch.BrokerTopicsPath + "/" + topic + "/partitions/" + partition + "/state"
		s, err := zkwatch.ParsePartitionState(path, data)
		if err != nil {
			registryCheckErr(t, path, err)
			return
		}
		suffix := "/" + s.Topic + "/partitions/" + strconv.Itoa(int(s.Partition)) + "/state"
		if s.Topic == "" || strings.Contains(s.Topic, "/") || s.Partition < 0 || !strings.HasSuffix(path, suffix) {
			t.Fatalf("topic %q partition %d from %q", s.Topic, s.Partition, path)
		}
		if s.Version != 1 || s.Leader < zkwatch.NoLeader || s.LeaderEpoch < 0 || s.ControllerEpoch < 0 ||
			s.ISR == nil || (s.LeaderRecoveryState != 0 && s.LeaderRecoveryState != 1) {
			t.Fatalf("bad state %+v", s)
		}
		registryCheckIDs(t, s.ISR)
		data, err = json.Marshal(map[string]any{"version": s.Version, "leader": s.Leader, "leader_epoch": s.LeaderEpoch,
			"controller_epoch": s.ControllerEpoch, "isr": s.ISR, "leader_recovery_state": s.LeaderRecoveryState})
		if err != nil {
			t.Fatal(err)
		}
		again, err := zkwatch.ParsePartitionState(path, data)
		if err != nil || !reflect.DeepEqual(s, again) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, s)
		}
	})
}
