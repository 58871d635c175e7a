// Package lab starts and manages local clusters: servers and agents as
// separate, daemonised flotilla processes on loopback, with their logs and
// data under a lab directory, faults on demand (kill, pause, resume,
// restart), a wait until one process is ready again (ready.go) and the
// processes' own logs (logs.go). It talks to the cluster only through the
// public API.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"flotilla/api"
	"flotilla/internal/atomicfile"
	"flotilla/internal/text"
)

// Roles of lab processes.
const (
	RoleServer = "server"
	RoleAgent  = "agent"
)

// DirEnv overrides where labs live (default ~/.flotilla/labs).
const DirEnv = "FLOTILLA_LAB_DIR"

// Config says what lab to start.
type Config struct {
	Name    string
	Servers int
	Agents  int
	Runtime string
	// Root is the directory labs live in; the lab's own is Root/Name.
	Root string
	// BasePort: servers use BasePort+10i (+1 Raft, +2 gossip), agents
	// BasePort+100+10i (+2 gossip); DefaultBasePort when 0. A sim lab's
	// loopback ranges are derived from it (ranges.go).
	BasePort int
	// Binary is the flotilla executable to run.
	Binary string
	// ReadyTimeout bounds the wait for a leader and every agent ready.
	ReadyTimeout time.Duration
	// HeartbeatTTL is the servers' node heartbeat TTL.
	HeartbeatTTL time.Duration
	// ContainerdSocket is containerd's socket for a containerd lab
	// (DefaultContainerdSocket when empty).
	ContainerdSocket string
	// PlaintextGossip turns off what every lab has by default: a gossip
	// pool encrypted with a key of its own (gossip.go).
	PlaintextGossip bool
	// TLS secures the lab with mutual TLS: a CA and certificates of its
	// own (tls.go).
	TLS bool
	// ACL starts the servers with ACLs and the lab's own token (acl.go).
	ACL bool
}

// Process is one lab process.
type Process struct {
	Name    string   `json:"name"`
	Role    string   `json:"role"`
	PID     int      `json:"pid"`
	HTTP    string   `json:"http"`
	Gossip  string   `json:"gossip"`
	Raft    string   `json:"raft,omitempty"`
	DNS     string   `json:"dns,omitempty"`
	Args    []string `json:"args"`
	Log     string   `json:"log"`
	DataDir string   `json:"dataDir"`
	// A containerd lab's node: its network namespace, the host end of its
	// veth and its address on the lab bridge.
	Netns    string       `json:"netns,omitempty"`
	HostVeth string       `json:"hostVeth,omitempty"`
	Address  netip.Prefix `json:"address,omitzero"`
	// ContainerdNamespace is a containerd lab agent's namespace in the
	// daemon (flotilla-LAB-NODE), its containers' network namespaces
	// being ContainerdNamespace.ID. Empty in a lab recorded before labs
	// had their own: its agents used flotilla-NODE.
	ContainerdNamespace string `json:"containerdNamespace,omitempty"`
}

// Lab is a lab's recorded state (lab.json in its directory).
type Lab struct {
	Name      string    `json:"name"`
	Runtime   string    `json:"runtime"`
	Dir       string    `json:"dir"`
	Binary    string    `json:"binary"`
	Processes []Process `json:"processes"`
	StartedAt time.Time `json:"startedAt"`
	// Network is a containerd lab's host side; nil for sim labs.
	Network *Network `json:"network,omitempty"`
	// VIPs and Nodes are where the cluster's service VIPs and node
	// addresses come from: a sim lab's own loopback ranges, a containerd
	// lab's VIP range and cluster CIDR.
	VIPs  netip.Prefix `json:"vips,omitzero"`
	Nodes netip.Prefix `json:"nodes,omitzero"`
	// TLS is a lab with TLS's client certificate and CA (tls.go).
	TLS *TLSFiles `json:"tls,omitempty"`
	// ACL: the servers enforce ACLs; the lab's token is in its directory.
	ACL bool `json:"acl,omitempty"`
}

// DefaultRoot is $FLOTILLA_LAB_DIR, else ~/.flotilla/labs.
func DefaultRoot() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "flotilla-labs")
	}
	return filepath.Join(home, ".flotilla", "labs")
}

func stateFile(dir string) string { return filepath.Join(dir, "lab.json") }

// lock takes the lab's lock (flock on lab.lock) so that lab commands on the
// same lab run one at a time: each reads the state, acts and writes it
// back while holding it.
func lock(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "lab.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// locked runs fn holding the lab's lock, on the state as last saved.
func (l *Lab) locked(fn func() error) error {
	unlock, err := lock(l.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	if fresh, err := Load(filepath.Dir(l.Dir), l.Name); err == nil {
		*l = *fresh
	}
	return fn()
}

// Load reads a lab's state; os.ErrNotExist when there is none.
func Load(root, name string) (*Lab, error) {
	data, err := os.ReadFile(stateFile(filepath.Join(root, name)))
	if err != nil {
		return nil, err
	}
	var l Lab
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("lab %s: read state: %w", name, err)
	}
	return &l, nil
}

func (l *Lab) save() error {
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(stateFile(l.Dir), data, 0o644)
}

// Process finds a process by name (s1, n2).
func (l *Lab) Process(name string) (*Process, error) {
	for i := range l.Processes {
		if l.Processes[i].Name == name {
			return &l.Processes[i], nil
		}
	}
	var names []string
	for _, p := range l.Processes {
		names = append(names, p.Name)
	}
	return nil, fmt.Errorf("lab %s has no node %q (it has %s)", l.Name, name, strings.Join(names, ", "))
}

// Addresses is the servers' API addresses, for FLOTILLA_ADDR.
func (l *Lab) Addresses() string {
	var out []string
	for _, p := range l.Processes {
		if p.Role == RoleServer {
			out = append(out, l.scheme()+"://"+p.HTTP)
		}
	}
	return strings.Join(out, ",")
}

// DNS is the first agent's DNS server address ("" without agents).
func (l *Lab) DNS() string {
	for _, p := range l.Processes {
		if p.DNS != "" {
			return p.DNS
		}
	}
	return ""
}

// DigServer is DNS() written for dig in bash, which splits an unquoted
// variable: `dig @$FLOTILLA_DNS web.default.svc.flotilla` expands to
// `dig @127.0.0.1 -p 4749 ...` (a lab cannot use port 53 without root).
// zsh and fish do not split it; they have DNSServer and DNSPort.
func (l *Lab) DigServer() string {
	host, port := l.DNSServer()
	if host == "" {
		return ""
	}
	return host + " -p " + port
}

// DNSServer is DNS() taken apart: the host and the port, for
// `dig @$FLOTILLA_DNS_SERVER -p $FLOTILLA_DNS_PORT`, which every shell
// runs alike.
func (l *Lab) DNSServer() (host, port string) {
	host, port, err := net.SplitHostPort(l.DNS())
	if err != nil {
		return "", ""
	}
	return host, port
}

// Env is the shell exports that point clients at the lab; bash, zsh and
// fish (`flotilla lab env | source`) read them.
func (l *Lab) Env() string {
	root := filepath.Dir(l.Dir)
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	env := fmt.Sprintf("export %s=%s\nexport FLOTILLA_LAB=%s\nexport %s=%s\n", api.AddressEnv, l.Addresses(), l.Name, DirEnv, root) + l.tlsEnv() + l.aclExport()
	if l.DNS() != "" {
		host, port := l.DNSServer()
		env += fmt.Sprintf("export FLOTILLA_DNS_SERVER=%s\nexport FLOTILLA_DNS_PORT=%s\nexport FLOTILLA_DNS_ADDR=%s\nexport FLOTILLA_DNS=%q\n",
			host, port, l.DNS(), l.DigServer())
	}
	return env
}

// Running reports whether a process of the lab is alive (paused counts).
func (l *Lab) Running(p *Process) bool { return alive(p) }

// AnyRunning reports whether any process of the lab is alive.
func (l *Lab) AnyRunning() bool {
	for i := range l.Processes {
		if alive(&l.Processes[i]) {
			return true
		}
	}
	return false
}

// Up starts a new lab and waits until it is ready. A lab refused before it
// starts anything leaves no directory behind that was not there before.
func Up(ctx context.Context, cfg Config, out io.Writer) (_ *Lab, err error) {
	if err := api.ValidateName("--name", cfg.Name); err != nil {
		return nil, err
	}
	if cfg.Servers < 1 || cfg.Servers > 9 {
		return nil, fmt.Errorf("--servers: want 1 to 9, got %d", cfg.Servers)
	}
	if cfg.Agents < 0 || cfg.Agents > 50 {
		return nil, fmt.Errorf("--agents: want 0 to 50, got %d", cfg.Agents)
	}
	switch cfg.Runtime {
	case "sim":
	case "containerd":
		if cfg.ContainerdSocket == "" {
			cfg.ContainerdSocket = DefaultContainerdSocket()
		}
		if err := checkContainerd(cfg.ContainerdSocket); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("--runtime %q: want sim or containerd", cfg.Runtime)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	if cfg.HeartbeatTTL <= 0 {
		cfg.HeartbeatTTL = 5 * time.Second
	}
	if cfg.BasePort == 0 {
		cfg.BasePort = DefaultBasePort
	}
	dir := filepath.Join(cfg.Root, cfg.Name)
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, fs.ErrNotExist)
	unlock, err := lock(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	defer func() {
		// Nothing recorded (no lab.json): a new directory goes, lock file
		// and all, before the lock is let go.
		if _, statErr := os.Stat(stateFile(dir)); err != nil && created && errors.Is(statErr, fs.ErrNotExist) {
			os.RemoveAll(dir)
		}
	}()
	// From the checks of what is free on this host until every process
	// has started: no other lab up takes the same ports, ranges or lab
	// network meanwhile.
	unlockHost, err := hostLock()
	if err != nil {
		return nil, err
	}
	hostLocked := true
	defer func() {
		if hostLocked {
			unlockHost()
		}
	}()
	if old, err := Load(cfg.Root, cfg.Name); err == nil {
		if old.AnyRunning() {
			return nil, fmt.Errorf("lab %s is already running (flotilla lab status --name %s; flotilla lab down --name %s)", cfg.Name, cfg.Name, cfg.Name)
		}
		// What an earlier lab of this name left (it was killed half-way,
		// or its down failed) goes before anything new is made.
		if err := old.down(io.Discard); err != nil {
			return nil, err
		}
	}
	l := &Lab{Name: cfg.Name, Runtime: cfg.Runtime, Dir: dir, Binary: cfg.Binary, StartedAt: time.Now().UTC(), ACL: cfg.ACL}
	l.plan(cfg)
	// Refused before anything of the new lab is made or recorded.
	if l.Network == nil {
		if err := checkPorts(l.Processes); err != nil {
			return nil, err
		}
		if err := checkSimRanges(cfg.BasePort, l.VIPs, l.Nodes, runningSimClusters()); err != nil {
			return nil, fmt.Errorf("lab %s: %w", l.Name, err)
		}
	} else if err := l.checkNetworkFree(); err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.Name, err)
	}
	// A new lab starts clean: earlier data of this lab goes, with any
	// mount an earlier one left in it (its replicas' secrets).
	if err := unmountUnder(filepath.Join(dir, "data")); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(dir, "data")); err != nil {
		return nil, err
	}
	for _, sub := range []string{"data", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	if !cfg.PlaintextGossip {
		if err := writeGossipKey(dir); err != nil {
			return nil, err
		}
	}
	if err := l.writeKeyring(); err != nil { // keyring.go
		return nil, err
	}
	if err := l.writeCertificates(time.Now()); err != nil {
		return nil, err
	}
	if err := l.writeACLToken(); err != nil {
		return nil, err
	}
	start := time.Now()
	if l.Network != nil {
		// Saved first: a lab that dies while its network is half made is
		// cleaned up by the next down or up.
		if err := l.save(); err != nil {
			return nil, err
		}
		if err := l.setupNetwork(); err != nil {
			l.down(io.Discard)
			return nil, err
		}
	}
	for i := range l.Processes {
		if err := l.start(&l.Processes[i], true); err != nil {
			l.down(io.Discard)
			return nil, err
		}
	}
	if err := l.save(); err != nil {
		l.down(io.Discard)
		return nil, err
	}
	unlockHost()
	hostLocked = false
	if err := l.waitReady(ctx, cfg.Agents, cfg.ReadyTimeout); err != nil {
		tails := l.logTails(5)
		l.down(io.Discard)
		return nil, fmt.Errorf("lab %s did not become ready: %w%s", cfg.Name, err, tails)
	}
	fmt.Fprintf(out, "lab %s is up in %.1fs: %s, %s, runtime %s (VIPs from %s, nodes from %s)\n",
		l.Name, time.Since(start).Seconds(), text.Count(cfg.Servers, "server"), text.Count(cfg.Agents, "agent"), cfg.Runtime, l.VIPs, l.Nodes)
	return l, nil
}

// plan lays out the processes and their ports: on loopback with a port
// block each for a sim lab, on the standard ports of each node's own
// address for a containerd lab.
func (l *Lab) plan(cfg Config) {
	for i := 0; i < cfg.Servers; i++ {
		l.Processes = append(l.Processes, Process{Name: fmt.Sprintf("s%d", i+1), Role: RoleServer})
	}
	for i := 0; i < cfg.Agents; i++ {
		l.Processes = append(l.Processes, Process{Name: fmt.Sprintf("n%d", i+1), Role: RoleAgent})
	}
	if cfg.Runtime == "containerd" {
		l.planNetwork(cfg)
		l.VIPs, l.Nodes = labVIPCIDR, labPodCIDR
	} else {
		l.VIPs, l.Nodes = simRanges(cfg.BasePort)
	}
	// addr is where a process's port is: port is its offset in the sim
	// lab's block and its number on a node of a containerd lab.
	addr := func(p *Process, i, offset, port int) string {
		if p.Netns != "" {
			return labAddr(p, port)
		}
		base := cfg.BasePort + 10*i
		if p.Role == RoleAgent {
			base += 100
		}
		return "127.0.0.1:" + strconv.Itoa(base+offset)
	}
	var gossip, httpAddrs []string
	for i := 0; i < cfg.Servers; i++ {
		p := &l.Processes[i]
		p.HTTP, p.Raft, p.Gossip = addr(p, i, 0, 4646), addr(p, i, 1, 4647), addr(p, i, 2, 4648)
		gossip = append(gossip, p.Gossip)
		httpAddrs = append(httpAddrs, "http://"+p.HTTP)
	}
	zones := []string{"a", "b", "c"}
	for i := range l.Processes {
		p := &l.Processes[i]
		p.DataDir = filepath.Join(l.Dir, "data", p.Name)
		p.Log = filepath.Join(l.Dir, "logs", p.Name+".log")
		if p.Role == RoleServer {
			p.Args = []string{"server", "--name", p.Name, "--data-dir", p.DataDir, "--http", p.HTTP, "--raft", p.Raft, "--gossip", p.Gossip,
				"--bootstrap-expect", strconv.Itoa(cfg.Servers), "--join", strings.Join(gossip, ","), "--heartbeat-ttl", api.Duration(cfg.HeartbeatTTL).String(),
				"--keyring-file", l.keyringFile()}
			if p.Netns == "" {
				p.Args = append(p.Args, "--vip-cidr", l.VIPs.String(), "--sim-cidr", l.Nodes.String())
			}
		} else {
			a := i - cfg.Servers
			p.HTTP, p.Gossip, p.DNS = addr(p, a, 0, 4746), addr(p, a, 2, 4748), addr(p, a, 9, 53)
			p.Args = []string{"agent", "--name", p.Name, "--data-dir", p.DataDir, "--servers", strings.Join(httpAddrs, ","),
				"--http", p.HTTP, "--gossip", p.Gossip, "--join", strings.Join(gossip, ","), "--runtime", cfg.Runtime,
				"--dns", p.DNS, "--cpu", "4", "--memory", "4Gi", "--labels", "zone=" + zones[a%len(zones)],
				// A lab sends nothing off this machine: names outside the
				// cluster's zone are refused at once, not forwarded to the
				// host's resolvers (a containerd lab's nodes have no route
				// to them anyway, netlab.go).
				"--dns-upstream", "none"}
		}
		if p.Netns != "" {
			p.Args = append(p.Args, l.containerdArgs(p)...)
		}
		if !cfg.PlaintextGossip {
			p.Args = append(p.Args, "--gossip-key-file", GossipKeyFile(l.Dir))
		}
		p.Args = append(p.Args, l.aclArgs(p)...)
	}
	l.planTLS(cfg)
}

// checkPorts fails, naming the port, when any address the lab needs is
// taken; nothing has been started yet.
func checkPorts(procs []Process) error {
	for _, p := range procs {
		addrs := map[string]string{p.HTTP: "http", p.Gossip: "gossip", p.Raft: "raft", p.DNS: "dns"}
		for addr, what := range addrs {
			if addr == "" {
				continue
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("port %s (%s %s) is in use; stop what holds it or choose other ports with --base-port", addr, p.Name, what)
			}
			l.Close()
			if what == "gossip" || what == "dns" {
				u, err := net.ListenPacket("udp", addr)
				if err != nil {
					return fmt.Errorf("UDP port %s (%s %s) is in use; choose other ports with --base-port", addr, p.Name, what)
				}
				u.Close()
			}
		}
	}
	return nil
}

// start runs a process as a daemon: its own session, output to its log.
func (l *Lab) start(p *Process, truncate bool) error {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	logf, err := os.OpenFile(p.Log, flags, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := l.nodeCommand(p)
	l.aclEnv(cmd, p)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.PID = cmd.Process.Pid
	// The process outlives this command; it is reaped by whoever inherits it.
	return cmd.Process.Release()
}

// waitReady waits for a leader and for every agent's node to be ready.
func (l *Lab) waitReady(ctx context.Context, agents int, timeout time.Duration) error {
	client, err := l.Client()
	if err != nil {
		return err
	}
	client.RetryFor = 0
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		for i := range l.Processes {
			if p := &l.Processes[i]; !alive(p) {
				return fmt.Errorf("%s exited (see %s)", p.Name, p.Log)
			}
		}
		leader, err := client.Leader(ctx)
		switch {
		case err != nil:
			last = err.Error()
		case leader.Leader == "":
			last = "no leader yet"
		default:
			nodes, _, err := client.Nodes(ctx, api.QueryOptions{})
			if err != nil {
				last = err.Error()
				break
			}
			ready := 0
			for _, n := range nodes {
				if n.Status == api.NodeReady {
					ready++
				}
			}
			if ready >= agents {
				return nil
			}
			last = fmt.Sprintf("%d of %d agents ready", ready, agents)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %s", timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *Lab) logTails(lines int) string {
	var b strings.Builder
	for i := range l.Processes {
		b.WriteString(l.logTail(&l.Processes[i], lines))
	}
	return b.String()
}

// Down stops every process the lab started (TERM, then KILL after 5s). It
// removes nothing: logs and data stay in the lab directory.
func (l *Lab) Down(out io.Writer) error {
	return l.locked(func() error { return l.down(out) })
}

func (l *Lab) down(out io.Writer) error {
	for i := range l.Processes {
		p := &l.Processes[i]
		if alive(p) {
			syscall.Kill(p.PID, syscall.SIGCONT) // a paused process cannot exit
			syscall.Kill(p.PID, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := range l.Processes {
		p := &l.Processes[i]
		for alive(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // polling a process we do not own
		}
		if alive(p) {
			syscall.Kill(p.PID, syscall.SIGKILL)
			waitGone(p, 5*time.Second)
		}
		if p.PID != 0 {
			fmt.Fprintf(out, "stopped %s (pid %d)\n", p.Name, p.PID)
		}
		p.PID = 0
	}
	// Whatever else runs on this lab's data (a process its state lost
	// track of) goes too: lab down leaves nothing behind.
	for _, pid := range strays(filepath.Join(l.Dir, "data") + string(filepath.Separator)) {
		syscall.Kill(pid, syscall.SIGCONT)
		syscall.Kill(pid, syscall.SIGKILL)
		// Gone (or a zombie) before down returns: a SIGKILL is delivered
		// asynchronously.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if st := procState(pid); st == 0 || st == 'Z' {
				break
			}
		}
		fmt.Fprintf(out, "killed stray process %d\n", pid)
	}
	if err := l.teardownNetwork(out); err != nil {
		return err
	}
	return l.save()
}

// strays lists the processes whose command line names a data dir inside
// dataRoot.
func strays(dataRoot string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || procState(pid) == 'Z' {
			continue
		}
		if strings.Contains(string(cmdline), "\x00--data-dir\x00"+dataRoot) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Signal faults: kill, pause, resume.

// Kill kills a process at once, as a crash or power loss would.
func (l *Lab) Kill(name string) error {
	return l.locked(func() error { return l.kill(name) })
}

func (l *Lab) kill(name string) error {
	p, err := l.Process(name)
	if err != nil {
		return err
	}
	if !alive(p) {
		return fmt.Errorf("%s is not running", name)
	}
	syscall.Kill(p.PID, syscall.SIGKILL)
	if !waitGone(p, 5*time.Second) {
		return fmt.Errorf("%s (pid %d) did not die", name, p.PID)
	}
	p.PID = 0
	if l.Network != nil && p.Role == RoleAgent {
		// A crashed machine's containers die with it (containerd's would
		// outlive the agent alone).
		if err := l.crashContainers(p); err != nil {
			return err
		}
	}
	return l.save()
}

// Pause freezes a process (SIGSTOP): it stops answering, as a hung node.
func (l *Lab) Pause(name string) error { return l.signal(name, syscall.SIGSTOP) }

// Resume thaws a paused process.
func (l *Lab) Resume(name string) error { return l.signal(name, syscall.SIGCONT) }

func (l *Lab) signal(name string, sig syscall.Signal) error {
	return l.locked(func() error {
		p, err := l.Process(name)
		if err != nil {
			return err
		}
		if !alive(p) {
			return fmt.Errorf("%s is not running", name)
		}
		return syscall.Kill(p.PID, sig)
	})
}

// Restart stops a process if it runs and starts it again with its data.
func (l *Lab) Restart(name string) error {
	return l.locked(func() error { return l.restart(name) })
}

func (l *Lab) restart(name string) error {
	p, err := l.Process(name)
	if err != nil {
		return err
	}
	if p.Role == RoleAgent {
		if servers := l.ServersStopped(); servers != "" {
			// It would register with nobody, and run until lab down.
			return fmt.Errorf("%s would find no server: every server of lab %s is stopped (%s); lab restart one first, or lab up for a new lab", name, l.Name, servers)
		}
	}
	if alive(p) {
		syscall.Kill(p.PID, syscall.SIGCONT)
		syscall.Kill(p.PID, syscall.SIGTERM)
		if !waitGone(p, 5*time.Second) {
			syscall.Kill(p.PID, syscall.SIGKILL)
			waitGone(p, 5*time.Second)
		}
	}
	if err := l.start(p, false); err != nil {
		return err
	}
	return l.save()
}

// ServersStopped names the lab's servers when none of them runs ("s1, s2,
// s3"), else "".
func (l *Lab) ServersStopped() string {
	var names []string
	for i := range l.Processes {
		p := &l.Processes[i]
		if p.Role != RoleServer {
			continue
		}
		if alive(p) {
			return ""
		}
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

// State describes a process for lab status: running, paused or stopped.
func (l *Lab) State(p *Process) string {
	if !alive(p) {
		return "stopped"
	}
	if procState(p.PID) == 'T' {
		return "paused"
	}
	return "running"
}

func waitGone(p *Process, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for alive(p) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling a process we do not own
	}
	return true
}

// alive reports whether the process is still the lab's: the PID exists, is
// not a zombie, and runs flotilla with this node's name (PIDs are reused).
func alive(p *Process) bool {
	if p.PID <= 0 {
		return false
	}
	// Our own child (a lab started by this process): Wait4 says for sure,
	// and reaps it if it exited. Its command line is no proof while it
	// execs (nsenter becoming flotilla): /proc shows none for a moment.
	var ws syscall.WaitStatus
	switch pid, err := syscall.Wait4(p.PID, &ws, syscall.WNOHANG, nil); {
	case pid == p.PID:
		return false
	case pid == 0 && err == nil:
		return true
	}
	if err := syscall.Kill(p.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if procState(p.PID) == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return false
	}
	return strings.Contains(string(cmdline), "\x00--name\x00"+p.Name+"\x00")
}

// procState is the state letter of /proc/PID/stat (R, S, T, Z, ...).
func procState(pid int) byte {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command is in parentheses and may contain spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+2 >= len(data) {
		return 0
	}
	return data[i+2]
}
