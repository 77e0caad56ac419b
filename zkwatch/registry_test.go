package zkwatch_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// registryWantMalformed fails t unless err is a *ParseError for path that
// matches ErrMalformed and names path in its message.
func registryWantMalformed(t *testing.T, path string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", path)
	}
	if !errors.Is(err, zkwatch.ErrMalformed) {
		t.Errorf("errors.Is(%v, ErrMalformed) = false", err)
	}
	var pe *zkwatch.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("%v (%T) is not a *ParseError", err, err)
	}
	if pe.Path != path || pe.Err == nil {
		t.Errorf("ParseError{Path: %q, Err: %v}, want Path %q and a cause", pe.Path, pe.Err, path)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %q", err, path)
	}
}

func registryMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func plaintext(host string, port int) zkwatch.Endpoint {
	return zkwatch.Endpoint{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: host, Port: port}
}

const kafka39Broker = `{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://127.0.0.1:29092"],"jmx_port":-1,"port":29092,"host":"127.0.0.1","version":5,"timestamp":"1795426452383"}`

func TestParseBroker(t *testing.T) {
	tests := []struct {
		name, path, data string
		want             zkwatch.Broker
	}{
		{"v5 kafka 3.9.2 capture", "/brokers/ids/1", kafka39Broker, zkwatch.Broker{
			ID: 1, Version: 5, Host: "127.0.0.1", Port: 29092, JMXPort: -1, Timestamp: registryMs(1795426452383),
			Endpoints:                   []zkwatch.Endpoint{plaintext("127.0.0.1", 29092)},
			ListenerSecurityProtocolMap: map[string]string{"PLAINTEXT": "PLAINTEXT"},
			Features:                    json.RawMessage(`{}`),
		}},
		{"v1 kafka 0.8", "/brokers/ids/0", `{"jmx_port":-1,"timestamp":"1428512949385","host":"kafka1","version":1,"port":9092}`, zkwatch.Broker{
			ID: 0, Version: 1, Host: "kafka1", Port: 9092, JMXPort: -1, Timestamp: registryMs(1428512949385),
			Endpoints: []zkwatch.Endpoint{plaintext("kafka1", 9092)},
		}},
		{"v1 ignores endpoints", "/brokers/ids/2", `{"version":1,"host":"h","port":1,"endpoints":["garbage"]}`, zkwatch.Broker{
			ID: 2, Version: 1, Host: "h", Port: 1, JMXPort: -1, Endpoints: []zkwatch.Endpoint{plaintext("h", 1)},
		}},
		{"v2 kafka 0.9", "/brokers/ids/3", `{"jmx_port":-1,"timestamp":"1450000000000","endpoints":["PLAINTEXT://kafka1:9092"],"host":"kafka1","version":2,"port":9092}`, zkwatch.Broker{
			ID: 3, Version: 2, Host: "kafka1", Port: 9092, JMXPort: -1, Timestamp: registryMs(1450000000000),
			Endpoints: []zkwatch.Endpoint{plaintext("kafka1", 9092)},
		}},
		{"v2 host and port only", "/brokers/ids/3", `{"version":2,"host":"h","port":9092,"endpoints":[]}`, zkwatch.Broker{
			ID: 3, Version: 2, Host: "h", Port: 9092, JMXPort: -1, Endpoints: []zkwatch.Endpoint{plaintext("h", 9092)},
		}},
		{"v3 rack and SSL", "/brokers/ids/4", `{"jmx_port":7071,"timestamp":"1470000000000","endpoints":["PLAINTEXT://kafka1:9092","SSL://kafka1:9093"],"rack":"r1","host":"kafka1","version":3,"port":9092}`, zkwatch.Broker{
			ID: 4, Version: 3, Host: "kafka1", Port: 9092, JMXPort: 7071, Timestamp: registryMs(1470000000000), Rack: "r1",
			Endpoints: []zkwatch.Endpoint{plaintext("kafka1", 9092), {Listener: "SSL", SecurityProtocol: "SSL", Host: "kafka1", Port: 9093}},
		}},
		{"v4 listeners", "/brokers/ids/5", `{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","INTERNAL":"SSL"},"endpoints":["PLAINTEXT://kafka1:9092","INTERNAL://kafka1-int:9093"],"rack":null,"jmx_port":9999,"host":"kafka1","timestamp":"1530000000000","port":9092,"version":4}`, zkwatch.Broker{
			ID: 5, Version: 4, Host: "kafka1", Port: 9092, JMXPort: 9999, Timestamp: registryMs(1530000000000),
			Endpoints:                   []zkwatch.Endpoint{plaintext("kafka1", 9092), {Listener: "INTERNAL", SecurityProtocol: "SSL", Host: "kafka1-int", Port: 9093}},
			ListenerSecurityProtocolMap: map[string]string{"PLAINTEXT": "PLAINTEXT", "INTERNAL": "SSL"},
		}},
		{"v5 no PLAINTEXT listener", "/kafka/brokers/ids/2147483647", `{"features":{"metadata.version":{"min_version":1,"max_version":21}},"listener_security_protocol_map":{"INTERNAL":"SASL_SSL","EXTERNAL":"SSL"},"endpoints":["INTERNAL://10.0.0.5:9093","EXTERNAL://kafka1.example.com:9094"],"jmx_port":-1,"port":-1,"host":null,"version":5,"timestamp":"1795426452383"}`, zkwatch.Broker{
			ID: 2147483647, Version: 5, Host: "", Port: -1, JMXPort: -1, Timestamp: registryMs(1795426452383),
			Endpoints: []zkwatch.Endpoint{
				{Listener: "INTERNAL", SecurityProtocol: "SASL_SSL", Host: "10.0.0.5", Port: 9093},
				{Listener: "EXTERNAL", SecurityProtocol: "SSL", Host: "kafka1.example.com", Port: 9094},
			},
			ListenerSecurityProtocolMap: map[string]string{"INTERNAL": "SASL_SSL", "EXTERNAL": "SSL"},
			Features:                    json.RawMessage(`{"metadata.version":{"min_version":1,"max_version":21}}`),
		}},
		{"v5 IPv6 and zone", "/brokers/ids/6", `{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","LINK":"PLAINTEXT"},"endpoints":["PLAINTEXT://[::1]:9092","LINK://[fe80::1%eth0]:0"],"jmx_port":-1,"port":9092,"host":"::1","version":5,"features":{ "a" : 1 }}`, zkwatch.Broker{
			ID: 6, Version: 5, Host: "::1", Port: 9092, JMXPort: -1,
			Endpoints:                   []zkwatch.Endpoint{plaintext("::1", 9092), {Listener: "LINK", SecurityProtocol: "PLAINTEXT", Host: "fe80::1%eth0", Port: 0}},
			ListenerSecurityProtocolMap: map[string]string{"PLAINTEXT": "PLAINTEXT", "LINK": "PLAINTEXT"},
			Features:                    json.RawMessage(`{"a":1}`),
		}},
		{"tolerated: unbracketed IPv6, lower case, numeric timestamp, no jmx_port, unknown fields", "/brokers/ids/7",
			`{"version":3,"endpoints":["plaintext://::1:9092","sasl_ssl://h:9094"],"timestamp":1795426452383,"future":{"x":[1]},"host":null}`, zkwatch.Broker{
				ID: 7, Version: 3, Port: -1, JMXPort: -1, Timestamp: registryMs(1795426452383),
				Endpoints: []zkwatch.Endpoint{plaintext("::1", 9092), {Listener: "SASL_SSL", SecurityProtocol: "SASL_SSL", Host: "h", Port: 9094}},
			}},
		{"v4 without a map uses protocol names", "/brokers/ids/8", `{"version":4,"endpoints":["SSL://h:9093"],"timestamp":""}`, zkwatch.Broker{
			ID: 8, Version: 4, Port: -1, JMXPort: -1, Endpoints: []zkwatch.Endpoint{{Listener: "SSL", SecurityProtocol: "SSL", Host: "h", Port: 9093}},
		}},
		{"v2 with a map and lower-case names", "/brokers/ids/9", `{"version":2,"listener_security_protocol_map":{"client":"ssl"},"endpoints":["Client://h:1"]}`, zkwatch.Broker{
			ID: 9, Version: 2, Port: -1, JMXPort: -1, Endpoints: []zkwatch.Endpoint{{Listener: "CLIENT", SecurityProtocol: "SSL", Host: "h", Port: 1}},
			ListenerSecurityProtocolMap: map[string]string{"CLIENT": "SSL"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := zkwatch.ParseBroker(tt.path, []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseBroker(%s)\n got %+v\nwant %+v", tt.path, got, tt.want)
			}
		})
	}
}

func TestParseBrokerErrors(t *testing.T) {
	const v5 = `{"version":5,"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":[%s]}`
	ep := func(s string) string { return strings.Replace(v5, "%s", s, 1) }
	tests := []struct{ name, path, data string }{
		{"empty data", "/brokers/ids/1", ""},
		{"blank data", "/brokers/ids/1", " \n"},
		{"null", "/brokers/ids/1", "null"},
		{"array", "/brokers/ids/1", "[]"},
		{"string", "/brokers/ids/1", `"PLAINTEXT://h:1"`},
		{"number", "/brokers/ids/1", "5"},
		{"truncated", "/brokers/ids/1", `{"version":1,"host":"h"`},
		{"trailing data", "/brokers/ids/1", `{"version":1,"host":"h","port":1} x`},
		{"no version", "/brokers/ids/1", `{"host":"h","port":9092,"jmx_port":-1}`},
		{"null version", "/brokers/ids/1", `{"version":null,"host":"h","port":9092}`},
		{"string version", "/brokers/ids/1", `{"version":"1","host":"h","port":9092}`},
		{"version 0", "/brokers/ids/1", `{"version":0,"host":"h","port":9092}`},
		{"version 6", "/brokers/ids/1", `{"version":6,"host":"h","port":9092}`},
		{"negative version", "/brokers/ids/1", `{"version":-1,"host":"h","port":9092}`},
		{"fractional version", "/brokers/ids/1", `{"version":1.5,"host":"h","port":9092}`},
		{"huge version", "/brokers/ids/1", `{"version":99999999999999999999,"host":"h","port":9092}`},
		{"v1 no host", "/brokers/ids/1", `{"version":1,"port":9092}`},
		{"v1 null host", "/brokers/ids/1", `{"version":1,"host":null,"port":9092}`},
		{"v1 empty host", "/brokers/ids/1", `{"version":1,"host":"","port":9092}`},
		{"v1 bad host", "/brokers/ids/1", `{"version":1,"host":"a host","port":9092}`},
		{"v1 no port", "/brokers/ids/1", `{"version":1,"host":"h"}`},
		{"v1 port -1", "/brokers/ids/1", `{"version":1,"host":"h","port":-1}`},
		{"v1 port 65536", "/brokers/ids/1", `{"version":1,"host":"h","port":65536}`},
		{"v1 port string", "/brokers/ids/1", `{"version":1,"host":"h","port":"9092"}`},
		{"v1 port 1e30", "/brokers/ids/1", `{"version":1,"host":"h","port":1e30}`},
		{"host number", "/brokers/ids/1", `{"version":1,"host":7,"port":9092}`},
		{"port -2", "/brokers/ids/1", `{"version":3,"endpoints":["SSL://h:1"],"host":null,"port":-2}`},
		{"port 65536 beside endpoints", "/brokers/ids/1", `{"version":3,"endpoints":["SSL://h:1"],"host":"h","port":65536}`},
		{"jmx_port 70000", "/brokers/ids/1", `{"version":1,"host":"h","port":1,"jmx_port":70000}`},
		{"jmx_port string", "/brokers/ids/1", `{"version":1,"host":"h","port":1,"jmx_port":"-1"}`},
		{"v2 nothing", "/brokers/ids/1", `{"version":2,"host":null,"port":-1}`},
		{"v5 empty endpoints", "/brokers/ids/1", ep(``)},
		{"endpoints not an array", "/brokers/ids/1", `{"version":2,"endpoints":"PLAINTEXT://h:1"}`},
		{"endpoint null", "/brokers/ids/1", ep(`null`)},
		{"endpoint number", "/brokers/ids/1", ep(`9092`)},
		{"endpoint no scheme", "/brokers/ids/1", ep(`"h:9092"`)},
		{"endpoint empty listener", "/brokers/ids/1", ep(`"://h:9092"`)},
		{"endpoint no port", "/brokers/ids/1", ep(`"PLAINTEXT://h"`)},
		{"endpoint empty port", "/brokers/ids/1", ep(`"PLAINTEXT://h:"`)},
		{"endpoint port 65536", "/brokers/ids/1", ep(`"PLAINTEXT://h:65536"`)},
		{"endpoint port -1", "/brokers/ids/1", ep(`"PLAINTEXT://h:-1"`)},
		{"endpoint port +1", "/brokers/ids/1", ep(`"PLAINTEXT://h:+1"`)},
		{"endpoint port huge", "/brokers/ids/1", ep(`"PLAINTEXT://h:99999999999999999999"`)},
		{"endpoint empty host", "/brokers/ids/1", ep(`"PLAINTEXT://:9092"`)},
		{"endpoint bad host", "/brokers/ids/1", ep(`"PLAINTEXT://h/x:9092"`)},
		{"endpoint unclosed bracket", "/brokers/ids/1", ep(`"PLAINTEXT://[::1:9092"`)},
		{"endpoint no colon after bracket", "/brokers/ids/1", ep(`"PLAINTEXT://[::1]9092"`)},
		{"endpoint empty brackets", "/brokers/ids/1", ep(`"PLAINTEXT://[]:9092"`)},
		{"v2 unknown protocol", "/brokers/ids/1", `{"version":2,"endpoints":["FOO://h:9092"]}`},
		{"v4 listener not in map", "/brokers/ids/1", ep(`"INTERNAL://h:9093"`)},
		{"duplicate listener", "/brokers/ids/1", ep(`"PLAINTEXT://h:1","plaintext://g:2"`)},
		{"map unknown protocol", "/brokers/ids/1", `{"version":4,"listener_security_protocol_map":{"A":"TLS"},"endpoints":["A://h:1"]}`},
		{"map null protocol", "/brokers/ids/1", `{"version":4,"listener_security_protocol_map":{"A":null},"endpoints":["A://h:1"]}`},
		{"map empty listener", "/brokers/ids/1", `{"version":4,"listener_security_protocol_map":{"":"SSL"},"endpoints":["SSL://h:1"]}`},
		{"map conflicting case", "/brokers/ids/1", `{"version":4,"listener_security_protocol_map":{"a":"SSL","A":"PLAINTEXT"},"endpoints":["A://h:1"]}`},
		{"map not an object", "/brokers/ids/1", `{"version":4,"listener_security_protocol_map":["A"],"endpoints":["PLAINTEXT://h:1"]}`},
		{"timestamp not digits", "/brokers/ids/1", `{"version":1,"host":"h","port":1,"timestamp":"yesterday"}`},
		{"timestamp negative", "/brokers/ids/1", `{"version":1,"host":"h","port":1,"timestamp":"-5"}`},
		{"timestamp fractional", "/brokers/ids/1", `{"version":1,"host":"h","port":1,"timestamp":1.5}`},
		{"timestamp huge", "/brokers/ids/1", `{"version":1,"host":"h","port":1,"timestamp":"99999999999999999999"}`},
		{"timestamp object", "/brokers/ids/1", `{"version":1,"host":"h","port":1,"timestamp":{}}`},
		{"timestamp bool", "/brokers/ids/1", `{"version":1,"host":"h","port":1,"timestamp":true}`},
		{"rack number", "/brokers/ids/1", `{"version":3,"endpoints":["SSL://h:1"],"rack":3}`},
		{"id not a number", "/brokers/ids/x", kafka39Broker},
		{"id negative", "/brokers/ids/-1", kafka39Broker},
		{"id with sign", "/brokers/ids/+1", kafka39Broker},
		{"id leading zero", "/brokers/ids/01", kafka39Broker},
		{"id over int32", "/brokers/ids/2147483648", kafka39Broker},
		{"id empty", "/brokers/ids/", kafka39Broker},
		{"empty path", "", kafka39Broker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := zkwatch.ParseBroker(tt.path, []byte(tt.data))
			registryWantMalformed(t, tt.path, err)
			if !reflect.DeepEqual(b, zkwatch.Broker{}) {
				t.Errorf("ParseBroker returned %+v with its error, want the zero Broker", b)
			}
		})
	}
}

func TestParseErrorWrapsJSONErrors(t *testing.T) {
	_, err := zkwatch.ParseBroker("/brokers/ids/1", []byte(`{"version":`))
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		t.Errorf("errors.As(%v, *json.SyntaxError) = false", err)
	}
	_, err = zkwatch.ParseTopic("/brokers/topics/t", []byte(`{"version":"1"}`))
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) {
		t.Errorf("errors.As(%v, *json.UnmarshalTypeError) = false", err)
	}
	if !errors.Is(err, zkwatch.ErrMalformed) || errors.Is(err, zkwatch.ErrNoEndpoint) {
		t.Errorf("%v: wrong sentinel", err)
	}
	const want = `zkwatch: malformed znode /brokers/ids/1: broker registration: missing "version"`
	if _, err := zkwatch.ParseBroker("/brokers/ids/1", []byte(`{}`)); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestBrokerEndpoint(t *testing.T) {
	parse := func(data string) zkwatch.Broker {
		b, err := zkwatch.ParseBroker("/brokers/ids/1", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	listeners := parse(`{"version":4,"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","INTERNAL":"SSL","REPL":"SSL"},"endpoints":["PLAINTEXT://h:9092","INTERNAL://i:9093","REPL://r:9094"],"host":"h","port":9092}`)
	noPlain := parse(`{"version":5,"listener_security_protocol_map":{"INTERNAL":"SASL_SSL"},"endpoints":["INTERNAL://[::1]:9093"],"host":null,"port":-1}`)
	v1 := parse(`{"version":1,"host":"old","port":9092}`)
	internal := zkwatch.Endpoint{Listener: "INTERNAL", SecurityProtocol: "SSL", Host: "i", Port: 9093}
	tests := []struct {
		name               string
		b                  zkwatch.Broker
		listener, protocol string
		want               zkwatch.Endpoint // zero: want ErrNoEndpoint
	}{
		{"default is PLAINTEXT", listeners, "", "", plaintext("h", 9092)},
		{"by listener", listeners, "INTERNAL", "", internal},
		{"listener case-insensitive", listeners, "internal", "", internal},
		{"listener wins over protocol", listeners, "INTERNAL", "PLAINTEXT", internal},
		{"first of a protocol", listeners, "", "SSL", internal},
		{"protocol case-insensitive", listeners, "", "plaintext", plaintext("h", 9092)},
		{"unknown listener", listeners, "EXTERNAL", "", zkwatch.Endpoint{}},
		{"unused protocol", listeners, "", "SASL_SSL", zkwatch.Endpoint{}},
		{"no PLAINTEXT listener", noPlain, "", "", zkwatch.Endpoint{}},
		{"no PLAINTEXT listener by name", noPlain, "PLAINTEXT", "", zkwatch.Endpoint{}},
		{"only SASL_SSL", noPlain, "", "SASL_SSL", zkwatch.Endpoint{Listener: "INTERNAL", SecurityProtocol: "SASL_SSL", Host: "::1", Port: 9093}},
		{"v1", v1, "", "", plaintext("old", 9092)},
		{"v1 by listener", v1, "PLAINTEXT", "", plaintext("old", 9092)},
		{"v1 has no SSL", v1, "", "SSL", zkwatch.Endpoint{}},
		{"hand-built v1 falls back to host and port", zkwatch.Broker{ID: 3, Version: 1, Host: "hb", Port: 1}, "", "PLAINTEXT", plaintext("hb", 1)},
		{"hand-built v1 by listener", zkwatch.Broker{ID: 3, Version: 1, Host: "hb", Port: 1}, "plaintext", "", plaintext("hb", 1)},
		{"hand-built v1 has no SSL", zkwatch.Broker{ID: 3, Version: 1, Host: "hb", Port: 1}, "", "SSL", zkwatch.Endpoint{}},
		{"zero Broker", zkwatch.Broker{}, "", "", zkwatch.Endpoint{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.b.Endpoint(tt.listener, tt.protocol)
			if tt.want == (zkwatch.Endpoint{}) {
				if !errors.Is(err, zkwatch.ErrNoEndpoint) || got != (zkwatch.Endpoint{}) {
					t.Fatalf("Endpoint(%q, %q) = %+v, %v; want ErrNoEndpoint", tt.listener, tt.protocol, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Endpoint(%q, %q) = %+v, %v; want %+v", tt.listener, tt.protocol, got, err, tt.want)
			}
		})
	}
}

func TestEndpointAddr(t *testing.T) {
	for e, want := range map[zkwatch.Endpoint]string{
		{Host: "kafka1", Port: 9092}:       "kafka1:9092",
		{Host: "10.0.0.1", Port: 0}:        "10.0.0.1:0",
		{Host: "::1", Port: 9092}:          "[::1]:9092",
		{Host: "fe80::1%eth0", Port: 9093}: "[fe80::1%eth0]:9093",
	} {
		if got := e.Addr(); got != want {
			t.Errorf("%+v.Addr() = %q, want %q", e, got, want)
		}
	}
}

func TestRegistryPaths(t *testing.T) {
	for got, want := range map[string]string{
		zkwatch.BrokerIDsPath:                       "/brokers/ids",
		zkwatch.BrokerTopicsPath:                    "/brokers/topics",
		zkwatch.BrokerPath(0):                       "/brokers/ids/0",
		zkwatch.BrokerPath(1001):                    "/brokers/ids/1001",
		zkwatch.TopicPath("orders.v1"):              "/brokers/topics/orders.v1",
		zkwatch.PartitionStatePath("orders", 12):    "/brokers/topics/orders/partitions/12/state",
		zkwatch.PartitionStatePath("t", 2147483647): "/brokers/topics/t/partitions/2147483647/state",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// TestRegistryTestdata parses every file in testdata/registry: broker_,
// topic_ and state_ files must parse, bad_<kind>_ files must fail.
func TestRegistryTestdata(t *testing.T) {
	parsers := map[string]struct {
		path  string
		parse func(path string, data []byte) error
	}{
		"broker": {zkwatch.BrokerPath(1), func(p string, d []byte) error { _, err := zkwatch.ParseBroker(p, d); return err }},
		"topic":  {zkwatch.TopicPath("t"), func(p string, d []byte) error { _, err := zkwatch.ParseTopic(p, d); return err }},
		"state":  {zkwatch.PartitionStatePath("t", 0), func(p string, d []byte) error { _, err := zkwatch.ParsePartitionState(p, d); return err }},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "registry", "*"))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, file := range files {
		name := filepath.Base(file)
		bad := strings.HasPrefix(name, "bad_")
		kind, _, _ := strings.Cut(strings.TrimPrefix(name, "bad_"), "_")
		p, ok := parsers[kind]
		if !ok {
			if bad {
				t.Errorf("%s: want bad_broker_, bad_topic_ or bad_state_", file)
			}
			continue
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			err = p.parse(p.path, data)
			if bad {
				registryWantMalformed(t, p.path, err)
			} else if err != nil {
				t.Error(err)
			}
		})
		if bad {
			counts["bad"]++
		} else {
			counts[kind]++
		}
	}
	for _, kind := range []string{"broker", "topic", "state", "bad"} {
		if counts[kind] == 0 {
			t.Errorf("no %s_ files in testdata/registry", kind)
		}
	}
}

func TestParseTopic(t *testing.T) {
	const id = "Hk8yPZ9lQq20uy5NDw5lJg"
	tests := []struct {
		name, path, data string
		want             zkwatch.Topic
	}{
		{"v1", "/brokers/topics/orders", `{"version":1,"partitions":{"0":[1,2],"1":[2,3]}}`, zkwatch.Topic{
			Name: "orders", Version: 1, Partitions: map[int32][]int32{0: {1, 2}, 1: {2, 3}},
		}},
		{"v2 no reassignment", "/brokers/topics/orders", `{"version":2,"partitions":{"0":[1,2]},"adding_replicas":{},"removing_replicas":{}}`, zkwatch.Topic{
			Name: "orders", Version: 2, Partitions: map[int32][]int32{0: {1, 2}},
		}},
		{"v3 kafka 3.9.2 capture", "/kafka/brokers/topics/capture", `{"partitions":{"0":[3,1,2],"1":[1,2,3],"2":[2,3,1],"3":[3,2,1],"4":[1,3,2]},"topic_id":"dkTxDiqgTXCJGhgXgRtpfQ","adding_replicas":{},"removing_replicas":{},"version":3}`, zkwatch.Topic{
			Name: "capture", Version: 3, TopicID: "dkTxDiqgTXCJGhgXgRtpfQ",
			Partitions: map[int32][]int32{0: {3, 1, 2}, 1: {1, 2, 3}, 2: {2, 3, 1}, 3: {3, 2, 1}, 4: {1, 3, 2}},
		}},
		{"v3 shape, odd topic name", "/brokers/topics/t.x-1_2", `{"partitions":{"0":[1],"1":[1],"2":[1]},"topic_id":"` + id + `","adding_replicas":{},"removing_replicas":{},"version":3}`, zkwatch.Topic{
			Name: "t.x-1_2", Version: 3, TopicID: id, Partitions: map[int32][]int32{0: {1}, 1: {1}, 2: {1}},
		}},
		{"v3 reassigning", "/brokers/topics/t", `{"version":3,"topic_id":"` + id + `","partitions":{"0":[1,2,3],"1":[2,3,1]},"adding_replicas":{"0":[3]},"removing_replicas":{"1":[1]}}`, zkwatch.Topic{
			Name: "t", Version: 3, TopicID: id, Partitions: map[int32][]int32{0: {1, 2, 3}, 1: {2, 3, 1}},
			AddingReplicas: map[int32][]int32{0: {3}}, RemovingReplicas: map[int32][]int32{1: {1}},
		}},
		{"reassignment of unknown partitions or none is dropped", "/brokers/topics/t", `{"version":2,"partitions":{"0":[1]},"adding_replicas":{"0":[],"7":[2]},"removing_replicas":{"9":[1]}}`, zkwatch.Topic{
			Name: "t", Version: 2, Partitions: map[int32][]int32{0: {1}},
		}},
		{"unknown fields, null topic_id, big ids", "/brokers/topics/t", `{"version":3,"topic_id":null,"x":{"y":[]},"partitions":{"2147483647":[2147483647,0]}}`, zkwatch.Topic{
			Name: "t", Version: 3, Partitions: map[int32][]int32{2147483647: {2147483647, 0}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := zkwatch.ParseTopic(tt.path, []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseTopic(%s)\n got %+v\nwant %+v", tt.path, got, tt.want)
			}
		})
	}
}

func TestParseTopicErrors(t *testing.T) {
	part := func(s string) string { return `{"version":1,"partitions":{` + s + `}}` }
	tests := []struct{ name, path, data string }{
		{"empty data", "/brokers/topics/t", ""},
		{"null", "/brokers/topics/t", "null"},
		{"array", "/brokers/topics/t", `[{"version":1}]`},
		{"truncated", "/brokers/topics/t", `{"version":1,"partitions":{"0":[1,2]`},
		{"no version", "/brokers/topics/t", `{"partitions":{"0":[1]}}`},
		{"version 0", "/brokers/topics/t", `{"version":0,"partitions":{"0":[1]}}`},
		{"version 4", "/brokers/topics/t", `{"version":4,"partitions":{"0":[1]}}`},
		{"version string", "/brokers/topics/t", `{"version":"1","partitions":{"0":[1]}}`},
		{"no partitions", "/brokers/topics/t", `{"version":1}`},
		{"null partitions", "/brokers/topics/t", `{"version":1,"partitions":null}`},
		{"empty partitions", "/brokers/topics/t", part(``)},
		{"partitions array", "/brokers/topics/t", `{"version":1,"partitions":[[1,2]]}`},
		{"partition not a number", "/brokers/topics/t", part(`"zero":[1]`)},
		{"partition negative", "/brokers/topics/t", part(`"-1":[1]`)},
		{"partition leading zero", "/brokers/topics/t", part(`"01":[1]`)},
		{"partition with sign", "/brokers/topics/t", part(`"+1":[1]`)},
		{"partition with space", "/brokers/topics/t", part(`" 1":[1]`)},
		{"partition over int32", "/brokers/topics/t", part(`"2147483648":[1]`)},
		{"replicas not an array", "/brokers/topics/t", part(`"0":1`)},
		{"replicas null", "/brokers/topics/t", part(`"0":null`)},
		{"replicas empty", "/brokers/topics/t", part(`"0":[]`)},
		{"replica null", "/brokers/topics/t", part(`"0":[1,null]`)},
		{"replica negative", "/brokers/topics/t", part(`"0":[-1]`)},
		{"replica twice", "/brokers/topics/t", part(`"0":[1,2,1]`)},
		{"replica fractional", "/brokers/topics/t", part(`"0":[1.5]`)},
		{"replica string", "/brokers/topics/t", part(`"0":["1"]`)},
		{"replica over int32", "/brokers/topics/t", part(`"0":[2147483648]`)},
		{"replica huge", "/brokers/topics/t", part(`"0":[1e400]`)},
		{"topic_id not base64", "/brokers/topics/t", `{"version":3,"topic_id":"not a uuid","partitions":{"0":[1]}}`},
		{"topic_id empty", "/brokers/topics/t", `{"version":3,"topic_id":"","partitions":{"0":[1]}}`},
		{"topic_id too short", "/brokers/topics/t", `{"version":3,"topic_id":"AAAA","partitions":{"0":[1]}}`},
		{"topic_id number", "/brokers/topics/t", `{"version":3,"topic_id":7,"partitions":{"0":[1]}}`},
		{"adding_replicas bad partition", "/brokers/topics/t", `{"version":2,"partitions":{"0":[1]},"adding_replicas":{"x":[1]}}`},
		{"adding_replicas null list", "/brokers/topics/t", `{"version":2,"partitions":{"0":[1]},"adding_replicas":{"0":null}}`},
		{"removing_replicas negative", "/brokers/topics/t", `{"version":2,"partitions":{"0":[1]},"removing_replicas":{"0":[-3]}}`},
		{"removing_replicas array", "/brokers/topics/t", `{"version":2,"partitions":{"0":[1]},"removing_replicas":[]}`},
		{"empty topic name", "/brokers/topics/", `{"version":1,"partitions":{"0":[1]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := zkwatch.ParseTopic(tt.path, []byte(tt.data))
			registryWantMalformed(t, tt.path, err)
			if !reflect.DeepEqual(got, zkwatch.Topic{}) {
				t.Errorf("ParseTopic returned %+v with its error, want the zero Topic", got)
			}
		})
	}
}

func TestTopicPartitionIDs(t *testing.T) {
	tp, err := zkwatch.ParseTopic("/brokers/topics/t", []byte(`{"version":1,"partitions":{"10":[1],"2":[1],"0":[1],"1":[1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tp.PartitionIDs(), []int32{0, 1, 2, 10}; !reflect.DeepEqual(got, want) {
		t.Errorf("PartitionIDs() = %v, want %v", got, want)
	}
	if got := (zkwatch.Topic{}).PartitionIDs(); len(got) != 0 {
		t.Errorf("zero Topic: PartitionIDs() = %v", got)
	}
}

func TestParsePartitionState(t *testing.T) {
	tests := []struct {
		name, path, data string
		want             zkwatch.PartitionState
	}{
		{"kafka 3.9.2 capture", "/brokers/topics/orders/partitions/3/state", `{"controller_epoch":1,"leader":3,"version":1,"leader_epoch":0,"isr":[3,1,2]}`, zkwatch.PartitionState{
			Topic: "orders", Partition: 3, Leader: 3, LeaderEpoch: 0, ControllerEpoch: 1, ISR: []int32{3, 1, 2}, Version: 1,
		}},
		{"kafka 3.9.2 capture, leader stopped", "/brokers/topics/single/partitions/0/state", `{"controller_epoch":2,"leader":-1,"version":1,"leader_epoch":1,"isr":[1]}`, zkwatch.PartitionState{
			Topic: "single", Partition: 0, Leader: zkwatch.NoLeader, LeaderEpoch: 1, ControllerEpoch: 2, ISR: []int32{1}, Version: 1,
		}},
		{"leader_recovery_state 0", "/kafka/brokers/topics/a.b/partitions/0/state", `{"controller_epoch":2,"leader":1,"version":1,"leader_epoch":3,"isr":[1],"leader_recovery_state":0}`, zkwatch.PartitionState{
			Topic: "a.b", Partition: 0, Leader: 1, LeaderEpoch: 3, ControllerEpoch: 2, ISR: []int32{1}, Version: 1,
		}},
		{"recovering", "/brokers/topics/t/partitions/2147483647/state", `{"controller_epoch":2,"leader":3,"version":1,"leader_epoch":4,"isr":[3],"leader_recovery_state":1}`, zkwatch.PartitionState{
			Topic: "t", Partition: 2147483647, Leader: 3, LeaderEpoch: 4, ControllerEpoch: 2, ISR: []int32{3}, Version: 1, LeaderRecoveryState: 1,
		}},
		{"no leader, empty ISR, unknown field", "t/partitions/1/state", `{"controller_epoch":3,"leader":-1,"version":1,"leader_epoch":5,"isr":[],"zk":true}`, zkwatch.PartitionState{
			Topic: "t", Partition: 1, Leader: zkwatch.NoLeader, LeaderEpoch: 5, ControllerEpoch: 3, ISR: []int32{}, Version: 1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := zkwatch.ParsePartitionState(tt.path, []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePartitionState(%s)\n got %+v\nwant %+v", tt.path, got, tt.want)
			}
		})
	}
}

func TestParsePartitionStateErrors(t *testing.T) {
	const ok = `{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1]}`
	with := func(field, value string) string { // ok with field replaced, or removed if value is ""
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(ok), &m); err != nil {
			panic(err)
		}
		if value == "" {
			delete(m, field)
		} else {
			m[field] = json.RawMessage(value)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	const p = "/brokers/topics/t/partitions/0/state"
	tests := []struct{ name, path, data string }{
		{"path without state", "/brokers/topics/t/partitions/0", ok},
		{"path partition not a number", "/brokers/topics/t/partitions/x/state", ok},
		{"path partition negative", "/brokers/topics/t/partitions/-1/state", ok},
		{"path partition leading zero", "/brokers/topics/t/partitions/00/state", ok},
		{"path partition over int32", "/brokers/topics/t/partitions/2147483648/state", ok},
		{"path no partitions element", "/brokers/topics/t/partition/0/state", ok},
		{"path empty topic", "/brokers/topics//partitions/0/state", ok},
		{"path too short", "partitions/0/state", ok},
		{"path empty", "", ok},
		{"empty data", p, ""},
		{"null", p, "null"},
		{"number", p, "1"},
		{"truncated", p, ok[:len(ok)-1]},
		{"no version", p, with("version", "")},
		{"version 2", p, with("version", "2")},
		{"version string", p, with("version", `"1"`)},
		{"no leader", p, with("leader", "")},
		{"null leader", p, with("leader", "null")},
		{"leader -2", p, with("leader", "-2")},
		{"leader over int32", p, with("leader", "2147483648")},
		{"leader string", p, with("leader", `"1"`)},
		{"no leader_epoch", p, with("leader_epoch", "")},
		{"negative leader_epoch", p, with("leader_epoch", "-1")},
		{"no controller_epoch", p, with("controller_epoch", "")},
		{"negative controller_epoch", p, with("controller_epoch", "-1")},
		{"controller_epoch huge", p, with("controller_epoch", "1e400")},
		{"no isr", p, with("isr", "")},
		{"null isr", p, with("isr", "null")},
		{"isr string", p, with("isr", `"1,2"`)},
		{"isr null element", p, with("isr", `[1,null]`)},
		{"isr negative", p, with("isr", `[-1]`)},
		{"isr twice", p, with("isr", `[2,2]`)},
		{"leader_recovery_state 2", p, with("leader_recovery_state", "2")},
		{"leader_recovery_state -1", p, with("leader_recovery_state", "-1")},
		{"leader_recovery_state string", p, with("leader_recovery_state", `"0"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := zkwatch.ParsePartitionState(tt.path, []byte(tt.data))
			registryWantMalformed(t, tt.path, err)
			if !reflect.DeepEqual(got, zkwatch.PartitionState{}) {
				t.Errorf("ParsePartitionState returned %+v with its error, want the zero PartitionState", got)
			}
		})
	}
}
