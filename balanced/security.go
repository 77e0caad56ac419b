package balanced

import (
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkasasl"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// ZooKeeperAuth is one ZooKeeper credential (a scheme and its bytes, as for
// ZooKeeper's addauth); see Config.ZooKeeperAuth.
type ZooKeeperAuth = zkwatch.Auth

// DigestAuth is the digest-scheme credential "user:password" for
// Config.ZooKeeperAuth.
func DigestAuth(user, password string) ZooKeeperAuth { return zkwatch.DigestAuth(user, password) }

// DigestACL is the ACL for Config.ACL that gives the digest user all
// permissions and everyone else read: zkwatch.DigestACL(zkwatch.PermAll, user,
// password) plus zkwatch.WorldACL(zkwatch.PermRead). Members (and tools such as
// groupstate) without the credentials can still read the group's members,
// owners and offsets, but not change them. Pair it with
// DigestAuth(user, password) in Config.ZooKeeperAuth.
func DigestACL(user, password string) []zkwatch.ACL {
	return append(zkwatch.DigestACL(zkwatch.PermAll, user, password), zkwatch.WorldACL(zkwatch.PermRead)...)
}

// SASL mechanisms for SASL.Mechanism.
const (
	SASLPlain       = sarama.SASLTypePlaintext   // "PLAIN"
	SASLScramSHA256 = sarama.SASLTypeSCRAMSHA256 // "SCRAM-SHA-256"
	SASLScramSHA512 = sarama.SASLTypeSCRAMSHA512 // "SCRAM-SHA-512"
)

// SASL is the SASL authentication of the consumer's Kafka connections (see
// Config.SASL).
type SASL struct {
	// Mechanism is SASLPlain, SASLScramSHA256 or SASLScramSHA512. Default
	// SASLPlain.
	Mechanism string
	// User is the user name. Required.
	User string
	// Password is the user's password. Required.
	Password string
}

// consumerNeeds are the permissions a member needs on the znodes it creates
// (and on the parents it creates, to add and remove their children).
const consumerNeeds = zkwatch.PermRead | zkwatch.PermWrite | zkwatch.PermCreate | zkwatch.PermDelete

// checkZooKeeperSecurity validates ZooKeeperAuth and ACL (filling the
// default ACL) and names the field at fault.
func (c *Config) checkZooKeeperSecurity() (string, error) {
	var digests []string // the ACL ids our digest credentials match
	for i, a := range c.ZooKeeperAuth {
		switch {
		case a.Scheme == "":
			return "ZooKeeperAuth", fmt.Errorf("entry %d has no scheme", i)
		case len(a.Auth) == 0:
			return "ZooKeeperAuth", fmt.Errorf("entry %d (%s) has no credential", i, a.Scheme)
		case a.Scheme == "digest":
			user, pw, ok := strings.Cut(string(a.Auth), ":")
			if !ok || user == "" {
				return "ZooKeeperAuth", fmt.Errorf("entry %d: a digest credential is \"user:password\"", i)
			}
			digests = append(digests, zkwatch.DigestACL(zkwatch.PermAll, user, pw)[0].ID)
		}
	}
	if len(c.ACL) == 0 {
		c.ACL = zkwatch.WorldACL(zkwatch.PermAll)
		return "", nil
	}
	c.ACL = append([]zkwatch.ACL(nil), c.ACL...)
	var granted int32
	for i, a := range c.ACL {
		if a.Perms&^zkwatch.PermAll != 0 {
			return "ACL", fmt.Errorf("entry %d has unknown permission bits %#x", i, a.Perms)
		}
		switch a.Scheme {
		case "":
			return "ACL", fmt.Errorf("entry %d has no scheme", i)
		case "world":
			if a.ID != "anyone" {
				return "ACL", fmt.Errorf("entry %d: the world scheme's only id is \"anyone\" (got %q)", i, a.ID)
			}
			granted |= a.Perms
		case "auth":
			// ZooKeeper grants it to every identity the creator has added,
			// and rejects it when there is none.
			if len(c.ZooKeeperAuth) == 0 {
				return "ACL", fmt.Errorf("entry %d (scheme auth) needs credentials in ZooKeeperAuth", i)
			}
			granted |= a.Perms
		case "digest":
			user, hash, ok := strings.Cut(a.ID, ":")
			if !ok || user == "" || hash == "" {
				return "ACL", fmt.Errorf("entry %d: a digest id is \"user:base64(sha1(user:password))\" (got %q)", i, a.ID)
			}
			for _, d := range digests {
				if d == a.ID {
					granted |= a.Perms
				}
			}
		default:
			// ip, x509, sasl or a custom provider: whether it matches this
			// member is only known to the server.
			granted |= a.Perms
		}
	}
	if granted&consumerNeeds != consumerNeeds {
		what := "without ZooKeeperAuth credentials"
		if len(c.ZooKeeperAuth) > 0 {
			what = "with its ZooKeeperAuth credentials"
		}
		return "ACL", fmt.Errorf("the member, %s, would lack %s on the znodes it creates (it needs read, write, create and delete): add the matching credentials, e.g. DigestAuth(user, password) for DigestACL(user, password)",
			what, permNames(consumerNeeds&^granted))
	}
	return "", nil
}

// permNames spells ZooKeeper permission bits.
func permNames(p int32) string {
	var out []string
	for _, n := range []struct {
		bit  int32
		name string
	}{{zkwatch.PermRead, "read"}, {zkwatch.PermWrite, "write"}, {zkwatch.PermCreate, "create"}, {zkwatch.PermDelete, "delete"}, {zkwatch.PermAdmin, "admin"}} {
		if p&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, ", ")
}

// applyKafkaSecurity copies TLS and SASL into sc and names the field at
// fault.
func (c *Config) applyKafkaSecurity(sc *sarama.Config) (string, error) {
	if c.TLS != nil {
		if sc.Net.TLS.Enable {
			return "TLS", errors.New("set either TLS or Sarama.Net.TLS, not both")
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = c.TLS.Clone()
	}
	if c.SASL == nil {
		return "", nil
	}
	if sc.Net.SASL.Enable {
		return "SASL", errors.New("set either SASL or Sarama.Net.SASL, not both")
	}
	s := *c.SASL
	if s.Mechanism == "" {
		s.Mechanism = SASLPlain
	}
	if s.User == "" || s.Password == "" {
		return "SASL", errors.New("User and Password are required")
	}
	if err := kafkasasl.Apply(sc, s.Mechanism, s.User, s.Password); err != nil {
		return "SASL", fmt.Errorf("unknown mechanism %q (%s, %s or %s)", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	c.SASL = &s
	return "", nil
}

// securityProtocol is the Kafka security protocol the client config speaks:
// the listener protocol to pick from /brokers/ids by default.
func securityProtocol(sc *sarama.Config) string { return kafkasasl.SecurityProtocol(sc) }

// describeSecurity is " (<protocol>[, <mechanism> as <user>])" for errors
// about Kafka connections, "" for plaintext.
func describeSecurity(sc *sarama.Config) string {
	p := securityProtocol(sc)
	if p == "PLAINTEXT" {
		return ""
	}
	if sc.Net.SASL.Enable {
		return fmt.Sprintf(" (%s, %s as %q)", p, sc.Net.SASL.Mechanism, sc.Net.SASL.User)
	}
	return " (" + p + ")"
}
