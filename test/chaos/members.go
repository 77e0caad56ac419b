package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zkbalance/zkbalance/internal/proxy"
	"github.com/zkbalance/zkbalance/scenario"
)

// memberProc is one incarnation of a member: a test/member process whose
// ZooKeeper connection goes through its own proxy (none for an ensemble
// member: startMemberConnect) and whose broker connections go through the
// cluster's broker proxies.
type memberProc struct {
	name    string
	id      string
	cmd     *exec.Cmd
	done    chan struct{}
	proxy   *proxy.Proxy // nil when started by startMemberConnect
	logPath string
	stderr  *tailBuffer
}

// startMember runs bin as member name, its ZooKeeper through a new proxy to
// zkAddr and bootstrapping at brokers, with the extra flags (test/member's),
// and waits for its member id.
func startMember(ctx context.Context, bin, dir, name, zkAddr string, brokers []string, group string, topics []string, session time.Duration, extra ...string) (*memberProc, error) {
	px, err := proxy.New(ctx, zkAddr)
	if err != nil {
		return nil, err
	}
	return startMemberWith(bin, dir, name, px.Addr(), px, brokers, group, topics, session, extra...)
}

// startMemberConnect is startMember without a proxy of its own: the member
// connects with connect (e.g. every server of a ZooKeeper ensemble, or
// their proxies).
func startMemberConnect(bin, dir, name, connect string, brokers []string, group string, topics []string, session time.Duration, extra ...string) (*memberProc, error) {
	return startMemberWith(bin, dir, name, connect, nil, brokers, group, topics, session, extra...)
}

// startMemberWith starts the member with connect as its ZooKeeper connect
// string; px (closed when the member ends; may be nil) is its own proxy.
func startMemberWith(bin, dir, name, connect string, px *proxy.Proxy, brokers []string, group string, topics []string, session time.Duration, extra ...string) (*memberProc, error) {
	m := &memberProc{name: name, proxy: px, done: make(chan struct{}), logPath: filepath.Join(dir, name+".log"),
		stderr: &tailBuffer{max: 64 << 10}}
	m.cmd = exec.Command(bin, "-name", name, "-zookeeper", connect, "-group", group,
		"-topics", strings.Join(topics, ","), "-brokers", strings.Join(brokers, ","),
		"-log", m.logPath, "-session-timeout", session.String())
	m.cmd.Args = append(m.cmd.Args, extra...)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	m.cmd.Stderr = m.stderr
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		m.closeProxy()
		return nil, err
	}
	if err := m.cmd.Start(); err != nil {
		m.closeProxy()
		return nil, err
	}
	ids := make(chan string, 1)
	go func() { // ends at the process's exit (stdout EOF)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "member-id "); ok {
				ids <- id
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = m.cmd.Wait(); close(m.done) }() // ends at the process's exit
	select {
	case m.id = <-ids:
		return m, nil
	case <-m.done:
		m.closeProxy()
		return nil, fmt.Errorf("member %s exited at start: %s", name, m.stderr.String())
	case <-time.After(60 * time.Second):
		m.kill()
		return nil, fmt.Errorf("member %s printed no id within 60s: %s", name, m.stderr.String())
	}
}

// kill is kill -9.
func (m *memberProc) kill() {
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.closeProxy()
}

func (m *memberProc) closeProxy() {
	if m.proxy != nil {
		_ = m.proxy.Close()
	}
}

// leave stops the member gracefully (SIGTERM), killing it after 60s.
func (m *memberProc) leave() error {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(60 * time.Second):
		m.kill()
		return fmt.Errorf("member %s did not leave within 60s", m.name)
	}
	m.closeProxy()
	return nil
}

func (m *memberProc) alive() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// readLogs reads every processing log in dir.
func readLogs(dir string) (*scenario.Log, error) {
	var l scenario.Log
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := readLogInto(&l, f); err != nil {
			return nil, err
		}
	}
	return &l, nil
}

// readLogFile reads one member's processing log.
func readLogFile(path string) (*scenario.Log, error) {
	var l scenario.Log
	if err := readLogInto(&l, path); err != nil {
		return nil, err
	}
	return &l, nil
}

func readLogInto(l *scenario.Log, path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if r, ok := scenario.ParseRecord(sc.Text()); ok { // a line cut by kill -9 is skipped
			l.Add(r)
		}
	}
	return sc.Err()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
