package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/kafkasasl"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// The environment variables the passwords default to (see SecurityHelp).
const (
	EnvSASLPassword = "ZKBALANCE_SASL_PASSWORD"
	EnvZKPassword   = "ZKBALANCE_ZK_PASSWORD"
)

// ZooKeeper ACLs for --zk-acl.
const (
	ACLWorld      = "world"       // world:anyone ALL
	ACLDigest     = "digest"      // the --zk-user ALL, world:anyone READ (balanced.DigestACL)
	ACLDigestOnly = "digest-only" // the --zk-user ALL, nobody else anything
)

// SecurityHelp describes the security flags, for command help texts.
const SecurityHelp = `Secured clusters: --zk-user U authenticates to ZooKeeper with the digest
scheme (addauth digest U:password) on every session; znodes the command
creates get --zk-acl (default with --zk-user: ` + ACLDigest + `, i.e. U may do
everything and everyone else may read, as balanced.DigestACL; ` + ACLDigestOnly + `:
only U; ` + ACLWorld + `: everyone everything, the default without --zk-user).
--sasl-user U authenticates to Kafka with --sasl-mechanism PLAIN (default),
SCRAM-SHA-256 or SCRAM-SHA-512. --tls encrypts the Kafka connections,
verifying the brokers against the system's CAs, or only those in
--tls-ca FILE (PEM); --tls-cert FILE and --tls-key FILE (PEM) present a
client certificate; --tls-server-name names the host the brokers'
certificate must be for (default: the host of each address). Any --tls-*
flag implies --tls. --listener NAME picks the brokers' endpoint from
/brokers/ids (default: the first whose security protocol fits: PLAINTEXT,
SSL with TLS, SASL_PLAINTEXT with SASL, SASL_SSL with both).

Passwords are never taken on the command line (other users see it in ps):
each comes from a file, --zk-password-file F or --sasl-password-file F
(the file's only line; a trailing newline is ignored), or else from the
environment, $` + EnvZKPassword + ` or $` + EnvSASLPassword + `.`

// SecurityFlags are the flags of ZooKeeper digest authentication, Kafka
// SASL and TLS, and the broker listener (see SecurityHelp).
type SecurityFlags struct {
	zkUser, zkPasswordFile, zkACL         *string
	saslMechanism, saslUser, saslPwFile   *string
	tls                                   *bool
	tlsCA, tlsCert, tlsKey, tlsServerName *string
	listener                              *string
}

// AddSecurityFlags adds the security flags to fs.
func AddSecurityFlags(fs *flag.FlagSet) *SecurityFlags {
	return &SecurityFlags{
		zkUser:         fs.String("zk-user", "", "ZooKeeper digest user `U` (password: --zk-password-file or $"+EnvZKPassword+")"),
		zkPasswordFile: fs.String("zk-password-file", "", "file `F` holding the --zk-user password (default: $"+EnvZKPassword+")"),
		zkACL:          fs.String("zk-acl", "", "ACL of the znodes the command creates: "+ACLDigest+", "+ACLDigestOnly+" or "+ACLWorld+" (default: "+ACLDigest+" with --zk-user, else "+ACLWorld+")"),
		saslMechanism:  fs.String("sasl-mechanism", "", "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default PLAIN)"),
		saslUser:       fs.String("sasl-user", "", "Kafka SASL user `U` (password: --sasl-password-file or $"+EnvSASLPassword+")"),
		saslPwFile:     fs.String("sasl-password-file", "", "file `F` holding the --sasl-user password (default: $"+EnvSASLPassword+")"),
		tls:            fs.Bool("tls", false, "connect to Kafka with TLS (implied by any --tls-* flag)"),
		tlsCA:          fs.String("tls-ca", "", "PEM `FILE` of the CA certificates to verify the brokers with (default: the system's)"),
		tlsCert:        fs.String("tls-cert", "", "PEM `FILE` of the client certificate (with --tls-key)"),
		tlsKey:         fs.String("tls-key", "", "PEM `FILE` of the client certificate's private key (with --tls-cert)"),
		tlsServerName:  fs.String("tls-server-name", "", "host `NAME` the brokers' certificates must be for (default: each address's host)"),
		listener:       fs.String("listener", "", "broker listener `NAME` to use from /brokers/ids (default: the first of the security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"),
	}
}

// Security is what the security flags resolved to: ZooKeeper credentials
// and ACL, Kafka SASL and TLS, the listener. The zero value (and nil) is
// an unsecured cluster: no credentials, world ACL, PLAINTEXT.
type Security struct {
	// ZooKeeperAuth are the credentials added to every ZooKeeper session.
	ZooKeeperAuth []zkwatch.Auth
	// ACL is the ACL of the znodes a command creates; nil: world:anyone ALL.
	ACL []zkwatch.ACL
	// SASL authenticates the Kafka connections; nil: no SASL.
	SASL *balanced.SASL
	// TLS encrypts the Kafka connections; nil: no TLS.
	TLS *tls.Config
	// Listener names the endpoint to use from /brokers/ids; "": by the
	// security protocol.
	Listener string
}

// Resolve reads the password files (or the environment) and the TLS files
// and returns the Security the flags describe. Mistakes are usage errors;
// unreadable files are plain errors naming the file.
func (sf *SecurityFlags) Resolve() (*Security, error) {
	return sf.resolve(os.Getenv, os.ReadFile)
}

func (sf *SecurityFlags) resolve(getenv func(string) string, readFile func(string) ([]byte, error)) (*Security, error) {
	if sf == nil {
		return &Security{}, nil
	}
	s := &Security{Listener: strings.TrimSpace(*sf.listener)}
	// ZooKeeper.
	zkUser := *sf.zkUser
	switch {
	case zkUser == "" && *sf.zkPasswordFile != "":
		return nil, Usagef("--zk-password-file needs --zk-user")
	case strings.Contains(zkUser, ":"):
		return nil, Usagef("--zk-user %q: a digest user name has no ':'", zkUser)
	}
	var zkPassword string
	if zkUser != "" {
		pw, err := secret("--zk-password-file", *sf.zkPasswordFile, EnvZKPassword, getenv, readFile)
		if err != nil {
			return nil, err
		}
		zkPassword = pw
		s.ZooKeeperAuth = []zkwatch.Auth{zkwatch.DigestAuth(zkUser, zkPassword)}
	}
	acl := *sf.zkACL
	if acl == "" {
		acl = ACLWorld
		if zkUser != "" {
			acl = ACLDigest
		}
	}
	switch acl {
	case ACLWorld:
	case ACLDigest, ACLDigestOnly:
		if zkUser == "" {
			return nil, Usagef("--zk-acl %s needs --zk-user", acl)
		}
		s.ACL = balanced.DigestACL(zkUser, zkPassword)
		if acl == ACLDigestOnly {
			s.ACL = zkwatch.DigestACL(zkwatch.PermAll, zkUser, zkPassword)
		}
	default:
		return nil, Usagef("--zk-acl %q: want %s, %s or %s", acl, ACLDigest, ACLDigestOnly, ACLWorld)
	}
	// Kafka SASL.
	switch {
	case *sf.saslUser == "" && (*sf.saslMechanism != "" || *sf.saslPwFile != ""):
		return nil, Usagef("--sasl-mechanism and --sasl-password-file need --sasl-user")
	case *sf.saslUser != "":
		mech := strings.ToUpper(*sf.saslMechanism)
		switch mech {
		case "":
			mech = kafkasasl.Plain
		case kafkasasl.Plain, kafkasasl.ScramSHA256, kafkasasl.ScramSHA512:
		default:
			return nil, Usagef("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", *sf.saslMechanism)
		}
		pw, err := secret("--sasl-password-file", *sf.saslPwFile, EnvSASLPassword, getenv, readFile)
		if err != nil {
			return nil, err
		}
		s.SASL = &balanced.SASL{Mechanism: mech, User: *sf.saslUser, Password: pw}
	}
	// Kafka TLS.
	if (*sf.tlsCert == "") != (*sf.tlsKey == "") {
		return nil, Usagef("--tls-cert and --tls-key go together")
	}
	if *sf.tls || *sf.tlsCA != "" || *sf.tlsCert != "" || *sf.tlsServerName != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: *sf.tlsServerName}
		if *sf.tlsCA != "" {
			b, err := readFile(*sf.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", *sf.tlsCA)
			}
		}
		if *sf.tlsCert != "" {
			certPEM, err := readFile(*sf.tlsCert)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert: %w", err)
			}
			keyPEM, err := readFile(*sf.tlsKey)
			if err != nil {
				return nil, fmt.Errorf("--tls-key: %w", err)
			}
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", *sf.tlsCert, *sf.tlsKey, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		s.TLS = cfg
	}
	return s, nil
}

// secret is a password from the file named by flag (when file is set) or
// else from the environment variable env.
func secret(flagName, file, env string, getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	if file == "" {
		if pw := getenv(env); pw != "" {
			return pw, nil
		}
		return "", Usagef("no password: pass %s F or set $%s", flagName, env)
	}
	b, err := readFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case pw == "":
		return "", fmt.Errorf("%s %s: the file is empty", flagName, file)
	case strings.ContainsAny(pw, "\r\n"):
		return "", fmt.Errorf("%s %s: the password file must hold one line", flagName, file)
	}
	return pw, nil
}

// ApplySarama enables s's TLS and SASL on sc.
func (s *Security) ApplySarama(sc *sarama.Config) error {
	if s == nil {
		return nil
	}
	if s.TLS != nil {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = s.TLS.Clone()
	}
	if s.SASL != nil {
		if err := kafkasasl.Apply(sc, s.SASL.Mechanism, s.SASL.User, s.SASL.Password); err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
	}
	return nil
}

// Protocol is the Kafka security protocol s speaks: PLAINTEXT, SSL,
// SASL_PLAINTEXT or SASL_SSL.
func (s *Security) Protocol() string {
	sc := sarama.NewConfig()
	if err := s.ApplySarama(sc); err != nil {
		return "PLAINTEXT"
	}
	return kafkasasl.SecurityProtocol(sc)
}

// ApplyBalanced sets the ZooKeeper credentials and ACL, the Kafka SASL
// and TLS and the listener of a balanced consumer.
func (s *Security) ApplyBalanced(cfg *balanced.Config) {
	if s == nil {
		return
	}
	cfg.ZooKeeperAuth = s.ZooKeeperAuth
	cfg.ACL = s.ACL
	cfg.SASL = s.SASL
	cfg.TLS = s.TLS
	cfg.Listener = s.Listener
}

// describe is " (SASL_SSL, SCRAM-SHA-256 as "bob")" for errors about
// Kafka connections, "" for PLAINTEXT.
func (s *Security) describe() string {
	p := s.Protocol()
	if p == "PLAINTEXT" {
		return ""
	}
	if s.SASL != nil {
		return fmt.Sprintf(" (%s, %s as %q)", p, s.SASL.Mechanism, s.SASL.User)
	}
	return " (" + p + ")"
}

// ExplainSecurity puts a reason naming the flags in front of an error
// caused by authentication or TLS: ZooKeeper's NOAUTH, a failed SASL
// authentication, an untrusted or misnamed broker certificate, a broker
// that wants a client certificate. Other errors are returned as they are.
func ExplainSecurity(err error) error {
	why := securityReason(err)
	if why == "" {
		return err
	}
	return fmt.Errorf("%s: %w", why, err)
}

// securityReason is ExplainSecurity's reason for err, "" when it has none.
func securityReason(err error) string {
	if err == nil {
		return ""
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		alert     tls.AlertError
	)
	var why string
	switch {
	case errors.Is(err, zkwatch.ErrNoAuth):
		why = "not authenticated to ZooKeeper for this znode (NOAUTH): pass --zk-user with the password of the group's digest ACL (--zk-password-file or $" + EnvZKPassword + "), or check them"
	case errors.Is(err, zkwatch.ErrAuthFailed):
		why = "ZooKeeper authentication failed: check --zk-user and its password"
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed):
		why = "Kafka SASL authentication failed: check --sasl-user, --sasl-mechanism and the password (--sasl-password-file or $" + EnvSASLPassword + ")"
	case errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		why = "Kafka SASL authentication failed: the brokers do not accept this --sasl-mechanism"
	case errors.As(err, &unknownCA):
		why = "Kafka TLS: the broker's certificate is signed by an unknown authority: pass its CA with --tls-ca"
	case errors.As(err, &hostname):
		why = "Kafka TLS: the broker's certificate is not for this host: check the address or --tls-server-name"
	case errors.As(err, &alert) && (alert == 42 || alert == 116), // bad_certificate, certificate_required
		// A TCP connection gets the broker's alert as a net.OpError
		// wrapping crypto/tls's unexported alert type: only its text tells.
		strings.Contains(err.Error(), "remote error: tls: bad certificate"),
		strings.Contains(err.Error(), "remote error: tls: certificate required"):
		why = "Kafka TLS: the broker refused the client certificate (it needs one signed by a CA it trusts): check --tls-cert and --tls-key"
	}
	return why
}

// IsSecurityError tells whether ExplainSecurity has a reason for err: an
// authentication or TLS failure, a configuration mistake rather than an
// outage.
func IsSecurityError(err error) bool { return securityReason(err) != "" }
