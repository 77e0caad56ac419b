package zkwatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Endpoint is one listener a broker advertises: where clients of that
// listener connect and which security protocol they speak.
type Endpoint struct {
	// Listener is the listener name, upper case ("PLAINTEXT", "INTERNAL").
	// Before listener names existed (registration versions 1 to 3) it is the
	// security protocol.
	Listener string
	// SecurityProtocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (or
	// TRACE, from Kafka 0.9 and 0.10).
	SecurityProtocol string
	// Host is a host name or an IP address, without brackets; never empty.
	Host string
	// Port is in 0..65535.
	Port int
}

// Addr returns the endpoint's "host:port", with an IPv6 host in brackets.
func (e Endpoint) Addr() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// Broker is a broker registration, the data of the ephemeral znode
// /brokers/ids/<id>, in any of Kafka's versions 1 to 5.
type Broker struct {
	// ID is the broker id, taken from the znode name.
	ID int32
	// Version is the registration's version, 1 to 5.
	Version int
	// Host and Port are the legacy fields: the address of the broker's
	// (first) PLAINTEXT endpoint. From version 2 on, Host is "" and Port is
	// -1 when the broker has no PLAINTEXT endpoint; use Endpoints instead.
	Host string
	Port int
	// JMXPort is the broker's JMX port; -1 when JMX is off or the field is
	// absent.
	JMXPort int
	// Timestamp is when the broker registered (versions 2 and up, to the
	// millisecond, in UTC); the zero Time when absent.
	Timestamp time.Time
	// Endpoints lists the broker's listeners in registration order, each
	// listener once. It is never empty: for version 1, or a later version
	// without "endpoints", it holds one PLAINTEXT endpoint made from Host and
	// Port.
	Endpoints []Endpoint
	// Rack is the broker's rack ("broker.rack"), or "".
	Rack string
	// ListenerSecurityProtocolMap maps listener name to security protocol,
	// both upper case, as registered (versions 4 and up); nil when absent.
	ListenerSecurityProtocolMap map[string]string
	// Features is the version 5 "features" object, compacted and not
	// interpreted; nil when absent or null.
	Features json.RawMessage
}

// Security protocols a registration may name; a listener without an entry in
// listener_security_protocol_map must be named after one of them.
var knownSecurityProtocols = map[string]bool{
	"PLAINTEXT":      true,
	"SSL":            true,
	"SASL_PLAINTEXT": true,
	"SASL_SSL":       true,
	"TRACE":          true, // Kafka 0.9–0.10 only
}

// brokerJSON is the registration as written; pointers tell absent or null
// fields from zero values.
type brokerJSON struct {
	Version                     *int               `json:"version"`
	Host                        *string            `json:"host"`
	Port                        *int               `json:"port"`
	JMXPort                     *int               `json:"jmx_port"`
	Timestamp                   json.RawMessage    `json:"timestamp"`
	Endpoints                   []*string          `json:"endpoints"`
	Rack                        *string            `json:"rack"`
	ListenerSecurityProtocolMap map[string]*string `json:"listener_security_protocol_map"`
	Features                    json.RawMessage    `json:"features"`
}

// ParseBroker parses the data of the broker registration znode at path
// (/brokers/ids/<id>, with or without a chroot). The broker id is the last
// element of path.
//
// Version 1 has only "host" and "port". Versions 2 and 3 list "endpoints" as
// "PROTOCOL://host:port"; versions 4 and 5 name endpoints by listener
// ("INTERNAL://host:9093") and map each listener to its security protocol in
// "listener_security_protocol_map". As Kafka does, the map is used whenever
// present, and a listener missing from it (or, without a map, a listener not
// named after a security protocol) is an error. IPv6 hosts are written in
// brackets ("PLAINTEXT://[::1]:9092"). Unknown fields are ignored.
//
// Errors are *ParseError values naming path and matching ErrMalformed: empty
// data or JSON null, invalid JSON or a wrong JSON type, a version outside 1
// to 5, no endpoint (neither "endpoints" nor "host" and "port"), a bad
// endpoint string, a port outside 0..65535, a malformed timestamp. ParseBroker
// does no I/O and never panics.
func ParseBroker(path string, data []byte) (Broker, error) {
	id, ok := parseNonNegInt32(znodeBase(path))
	if !ok {
		return Broker{}, registryErr(path, "broker id %q is not a non-negative 32-bit decimal integer", znodeBase(path))
	}
	b, err := parseBroker(data)
	if err != nil {
		return Broker{}, registryErr(path, "broker registration: %w", err)
	}
	b.ID = id
	return b, nil
}

func parseBroker(data []byte) (Broker, error) {
	var j brokerJSON
	if err := decodeRegistryObject(data, &j); err != nil {
		return Broker{}, err
	}
	if j.Version == nil {
		return Broker{}, errors.New(`missing "version"`)
	}
	b := Broker{Version: *j.Version, Port: -1, JMXPort: -1}
	if b.Version < 1 || b.Version > 5 {
		return Broker{}, fmt.Errorf("unsupported version %d, want 1 to 5", b.Version)
	}
	if j.Host != nil {
		b.Host = *j.Host
	}
	if j.Port != nil {
		if b.Port = *j.Port; b.Port < -1 || b.Port > 65535 {
			return Broker{}, fmt.Errorf("port %d out of range", b.Port)
		}
	}
	if j.JMXPort != nil {
		if b.JMXPort = *j.JMXPort; b.JMXPort < -1 || b.JMXPort > 65535 {
			return Broker{}, fmt.Errorf("jmx_port %d out of range", b.JMXPort)
		}
	}
	if j.Rack != nil {
		b.Rack = *j.Rack
	}
	var err error
	if b.Timestamp, err = parseRegistrationTime(j.Timestamp); err != nil {
		return Broker{}, err
	}
	if len(j.Features) > 0 && string(j.Features) != "null" {
		var buf bytes.Buffer
		if err := json.Compact(&buf, j.Features); err != nil {
			return Broker{}, fmt.Errorf("features: %w", err)
		}
		b.Features = json.RawMessage(buf.Bytes())
	}
	if j.ListenerSecurityProtocolMap != nil {
		if b.ListenerSecurityProtocolMap, err = parseProtocolMap(j.ListenerSecurityProtocolMap); err != nil {
			return Broker{}, err
		}
	}

	if b.Version >= 2 && len(j.Endpoints) > 0 {
		seen := make(map[string]bool, len(j.Endpoints))
		for i, s := range j.Endpoints {
			if s == nil {
				return Broker{}, fmt.Errorf("endpoint %d is null", i)
			}
			e, err := parseEndpoint(*s, b.ListenerSecurityProtocolMap)
			if err != nil {
				return Broker{}, fmt.Errorf("endpoint %q: %w", *s, err)
			}
			if seen[e.Listener] {
				return Broker{}, fmt.Errorf("listener %s registered twice", e.Listener)
			}
			seen[e.Listener] = true
			b.Endpoints = append(b.Endpoints, e)
		}
		return b, nil
	}

	// Version 1, or a later version without endpoints: the PLAINTEXT
	// address in host and port is all there is.
	if b.Host == "" || b.Port < 0 {
		if b.Version == 1 {
			return Broker{}, errors.New(`version 1 without "host" and "port"`)
		}
		return Broker{}, errors.New(`neither "endpoints" nor "host" and "port"`)
	}
	if err := checkEndpointHost(b.Host); err != nil {
		return Broker{}, err
	}
	b.Endpoints = []Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: b.Host, Port: b.Port}}
	return b, nil
}

// parseRegistrationTime parses the "timestamp" field: a string of decimal
// milliseconds since the epoch, as Kafka writes it, or a JSON number.
func parseRegistrationTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, fmt.Errorf("timestamp: %w", err)
		}
		if s == "" {
			return time.Time{}, nil
		}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 0 {
		return time.Time{}, fmt.Errorf("timestamp %s is not milliseconds since the epoch", raw)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// parseProtocolMap normalises listener_security_protocol_map to upper case
// and checks every protocol is known.
func parseProtocolMap(raw map[string]*string) (map[string]string, error) {
	m := make(map[string]string, len(raw))
	for listener, protocol := range raw {
		if protocol == nil {
			return nil, fmt.Errorf("listener_security_protocol_map: listener %q has a null protocol", listener)
		}
		name, proto := strings.ToUpper(listener), strings.ToUpper(*protocol)
		if name == "" {
			return nil, errors.New("listener_security_protocol_map: empty listener name")
		}
		if !knownSecurityProtocols[proto] {
			return nil, fmt.Errorf("listener_security_protocol_map: listener %s: unknown security protocol %q", name, *protocol)
		}
		if prev, dup := m[name]; dup && prev != proto {
			return nil, fmt.Errorf("listener_security_protocol_map: listener %s mapped twice", name)
		}
		m[name] = proto
	}
	return m, nil
}

// parseEndpoint parses "LISTENER://host:port" (or "LISTENER://[ipv6]:port"),
// taking the security protocol from protocols, or, when protocols is nil,
// from the listener name itself.
func parseEndpoint(s string, protocols map[string]string) (Endpoint, error) {
	i := strings.LastIndex(s, "://")
	if i <= 0 {
		return Endpoint{}, errors.New("want LISTENER://host:port")
	}
	e := Endpoint{Listener: strings.ToUpper(s[:i])}
	hostport := s[i+len("://"):]
	var port string
	if rest, ok := strings.CutPrefix(hostport, "["); ok {
		host, after, ok := strings.Cut(rest, "]")
		if !ok || !strings.HasPrefix(after, ":") {
			return Endpoint{}, errors.New("want [ipv6]:port")
		}
		e.Host, port = host, after[1:]
	} else {
		j := strings.LastIndexByte(hostport, ':')
		if j < 0 {
			return Endpoint{}, errors.New("no port")
		}
		e.Host, port = hostport[:j], hostport[j+1:]
	}
	if err := checkEndpointHost(e.Host); err != nil {
		return Endpoint{}, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Endpoint{}, fmt.Errorf("port %q is not in 0..65535", port)
	}
	e.Port = int(n)
	if protocols != nil {
		p, ok := protocols[e.Listener]
		if !ok {
			return Endpoint{}, fmt.Errorf("listener %s not in listener_security_protocol_map", e.Listener)
		}
		e.SecurityProtocol = p
	} else {
		if !knownSecurityProtocols[e.Listener] {
			return Endpoint{}, fmt.Errorf("unknown security protocol %s (and no listener_security_protocol_map)", e.Listener)
		}
		e.SecurityProtocol = e.Listener
	}
	return e, nil
}

// checkEndpointHost accepts what Kafka's endpoint pattern accepts as a host
// (letters, digits, '-', '.', '_', ':' and '%'), but not an empty host.
func checkEndpointHost(host string) error {
	if host == "" {
		return errors.New("empty host")
	}
	for _, c := range []byte(host) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == ':', c == '%':
		default:
			return fmt.Errorf("host %q: invalid character %q", host, c)
		}
	}
	return nil
}

// Endpoint returns the endpoint clients should connect to.
//
// With listener set, it is the endpoint of that listener (compared case-
// insensitively, as Kafka does) and securityProtocol is ignored. Otherwise it
// is the first endpoint speaking securityProtocol, which defaults to
// "PLAINTEXT". A Broker with no Endpoints (not one from ParseBroker) falls
// back to Host and Port for PLAINTEXT. If nothing matches, the error wraps
// ErrNoEndpoint.
func (b Broker) Endpoint(listener, securityProtocol string) (Endpoint, error) {
	legacy := len(b.Endpoints) == 0 && b.Host != "" && b.Port >= 0 && b.Port <= 65535
	if listener != "" {
		name := strings.ToUpper(listener)
		for _, e := range b.Endpoints {
			if e.Listener == name {
				return e, nil
			}
		}
		if legacy && name == "PLAINTEXT" {
			return b.legacyEndpoint(), nil
		}
		return Endpoint{}, fmt.Errorf("broker %d has no listener %s: %w", b.ID, name, ErrNoEndpoint)
	}
	proto := strings.ToUpper(securityProtocol)
	if proto == "" {
		proto = "PLAINTEXT"
	}
	for _, e := range b.Endpoints {
		if e.SecurityProtocol == proto {
			return e, nil
		}
	}
	if legacy && proto == "PLAINTEXT" {
		return b.legacyEndpoint(), nil
	}
	return Endpoint{}, fmt.Errorf("broker %d has no %s endpoint: %w", b.ID, proto, ErrNoEndpoint)
}

func (b Broker) legacyEndpoint() Endpoint {
	return Endpoint{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: b.Host, Port: b.Port}
}
