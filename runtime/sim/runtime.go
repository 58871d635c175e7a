package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/seeded"
	"flotilla/internal/vnet"
	"flotilla/runtime"
	"flotilla/runtime/toolbox"
	"flotilla/runtime/workload"
)

// DefaultPort is where a container listens when its spec names no port and
// its args no --listen.
const DefaultPort = 8080

// Config is one node's runtime.
type Config struct {
	// Node is the node's name; FLOTILLA_NODE when a spec carries none.
	Node string
	// Subnet is the node's /24 inside 127.0.0.0/8, e.g. 127.128.3.0/24.
	Subnet netip.Prefix
	// Logger gets the runtime's own lines (not the containers' output).
	Logger *slog.Logger
	// Clock drives the workloads' timers and Stop's grace period; nil means
	// the wall clock. Virtual scenarios pass their fake clock.
	Clock clock.Clock
	// LogLimit is how many bytes of output are kept per container
	// (DefaultLogLimit when 0).
	LogLimit int
	// DNS is the node's cluster DNS server (host:port, as the agent's
	// --dns), which the names that exec's wget, fetch and nslookup look up
	// go to, with NAMESPACE.svc.flotilla and svc.flotilla as search
	// domains, as a container's resolv.conf would say. An unspecified
	// host (":4749", "0.0.0.0:4749") is this machine's loopback. Empty, or
	// port 0 (a port only the agent knows once it listens): the host's
	// resolvers.
	DNS string
	// FilesDir, when set, is where containers' configs and secrets are
	// also written, a directory per container (FilesDir/ID/PATH; secret
	// files mode 0400), as a real node keeps them; "" keeps them in
	// memory only.
	FilesDir string
	// Net is where the containers listen and where exec's wget, fetch and
	// nslookup dial: nil for the host's network, or a simulated one
	// (vnet.Memory) with the agent's DNS server on it.
	Net vnet.Net
	// Seed, when non-zero, makes each run of each workload draw its
	// errors, latencies and conversions from a source derived from it,
	// the node and the container, so that a virtual scenario run with
	// --seed replays; 0 draws them at random.
	Seed uint64
}

// searchDomain is the cluster DNS zone (network/dns's default).
const searchDomain = "svc.flotilla"

// Runtime runs a node's containers in process. It is safe for concurrent use.
type Runtime struct {
	cfg   Config
	log   *slog.Logger
	clock clock.Clock

	dns string // Config.DNS, dialable; "" for the host's resolvers

	mu         sync.Mutex
	addresses  *addressPool
	containers map[string]*container
	closed     bool
	runs       sync.WaitGroup // one per running container
}

var errClosed = errors.New("runtime is closed")

// New makes a node's runtime. It holds no container: those of an earlier
// process died with it.
func New(cfg Config) (*Runtime, error) {
	pool, err := newAddressPool(cfg.Subnet)
	if err != nil {
		return nil, fmt.Errorf("sim runtime: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.LogLimit <= 0 {
		cfg.LogLimit = DefaultLogLimit
	}
	dns, err := dnsServer(cfg.DNS)
	if err != nil {
		return nil, fmt.Errorf("sim runtime: %w", err)
	}
	return &Runtime{
		cfg:        cfg,
		dns:        dns,
		log:        cfg.Logger.With("runtime", "sim", "node", cfg.Node),
		clock:      cfg.Clock,
		addresses:  pool,
		containers: map[string]*container{},
	}, nil
}

// dnsServer is the address containers' lookups dial for the agent's DNS
// listen address: the same, with an unspecified host made loopback.
func dnsServer(listen string) (string, error) {
	if listen == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("DNS server %q: %w", listen, err)
	}
	switch n, err := strconv.Atoi(port); {
	case err != nil || n < 0 || n > 65535:
		return "", fmt.Errorf("DNS server %q: bad port", listen)
	case n == 0:
		return "", nil
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// container is one allocation's workload and what the runtime knows of it.
// Its mutable fields are guarded by Runtime.mu.
type container struct {
	id        string
	namespace string
	ip        netip.Addr
	cfg       workload.Config
	env       map[string]string
	files     *filesFS
	logs      *logBuffer
	memory    api.Memory // the limit; 0 for none

	state      runtime.State
	exitCode   int
	errMsg     string
	startedAt  time.Time
	finishedAt time.Time
	app        *workload.App
	cancel     context.CancelFunc
	exited     chan struct{} // closed when the current run has ended
	killReason string        // set by Stop when it kills
	changed    chan struct{} // closed and replaced on every change of state
	removed    bool
	execs      int // commands running in it
	starts     int // how many times it was started
	// signals are those Signal sent it, in order (a config's reload).
	signals []string
	// plainFiles and mounts are what its files were made of (mounts.go).
	plainFiles map[string][]byte
	mounts     []runtime.FileMount
}

// notify wakes everything waiting on a change of c.
func (c *container) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *container) status() runtime.Status {
	return runtime.Status{
		ID:         c.id,
		State:      c.state,
		IP:         c.ip.String(),
		ExitCode:   c.exitCode,
		Error:      c.errMsg,
		StartedAt:  c.startedAt,
		FinishedAt: c.finishedAt,
	}
}

// lookup finds a container; the caller holds r.mu.
func (r *Runtime) lookup(id string) (*container, error) {
	c, ok := r.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	return c, nil
}

// Hostname is the HOSTNAME a container gets: service + "-" + the first 5
// characters of its ID.
func Hostname(spec runtime.ContainerSpec) string {
	prefix := spec.ID[:min(5, len(spec.ID))]
	if spec.Service == "" {
		return prefix
	}
	return spec.Service + "-" + prefix
}

// Create prepares a container: parses its args as the workload's flags
// (a bad one fails here, naming the flag), and takes its address.
func (r *Runtime) Create(ctx context.Context, spec runtime.ContainerSpec) error {
	if spec.ID == "" {
		return errors.New("create container: empty ID")
	}
	env := maps.Clone(spec.Env)
	if env == nil {
		env = map[string]string{}
	}
	env[workload.EnvNode] = cmp.Or(spec.Node, r.cfg.Node)
	env[workload.EnvAllocation] = spec.ID
	env[workload.EnvHostname] = Hostname(spec)
	cfg, err := workload.ParseArgs(spec.Args, env)
	if err != nil {
		return fmt.Errorf("create container %s: args: %w (%w)", spec.ID, err, runtime.ErrInvalidSpec)
	}
	cfg.Simulated = true
	cfg.Clock = r.clock
	cfg.Net = r.cfg.Net
	files, err := r.mountFiles(spec.ID, spec.Files, spec.Mounts)
	if err != nil {
		return fmt.Errorf("create container %s: %w (%w)", spec.ID, err, runtime.ErrInvalidSpec)
	}
	ports := listenPorts(spec.Ports, cfg.Listen)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("create container %s: %w", spec.ID, errClosed)
	}
	if _, ok := r.containers[spec.ID]; ok {
		return fmt.Errorf("create container %s: %w", spec.ID, runtime.ErrExists)
	}
	ip, err := r.addresses.take(func(a netip.Addr) bool { return portsFree(r.cfg.Net, a, ports) })
	if err != nil {
		return fmt.Errorf("create container %s: %w", spec.ID, err)
	}
	cfg.Listen = net.JoinHostPort(ip.String(), strconv.Itoa(ports[0]))
	cfg.ExtraListen = nil
	for _, p := range ports[1:] {
		cfg.ExtraListen = append(cfg.ExtraListen, net.JoinHostPort(ip.String(), strconv.Itoa(p)))
	}
	r.containers[spec.ID] = &container{
		id:         spec.ID,
		namespace:  cmp.Or(spec.Namespace, "default"),
		ip:         ip,
		cfg:        cfg,
		env:        env,
		files:      files,
		plainFiles: maps.Clone(spec.Files),
		mounts:     cloneMounts(spec.Mounts),
		logs:       newLogBuffer(r.cfg.LogLimit, r.clock.Now),
		memory:     spec.Resources.Memory,
		state:      runtime.StateCreated,
		changed:    make(chan struct{}),
	}
	r.log.Debug("container created", "id", spec.ID, "ip", ip)
	return nil
}

// listenPorts are the spec's ports, first one first; without any, the
// port of --listen, else DefaultPort.
func listenPorts(specPorts []api.Port, listen string) []int {
	var ports []int
	for _, p := range specPorts {
		if p.Port > 0 && !slices.Contains(ports, p.Port) {
			ports = append(ports, p.Port)
		}
	}
	if len(ports) > 0 {
		return ports
	}
	if _, port, err := net.SplitHostPort(listen); err == nil {
		if n, err := strconv.Atoi(port); err == nil && n > 0 {
			return []int{n}
		}
	}
	return []int{DefaultPort}
}

// portsFree checks that nothing else (another runtime on the same subnet,
// in this process or another) listens on the address on n, so that two
// test runs or two labs that picked the same subnet do not collide.
func portsFree(n vnet.Net, ip netip.Addr, ports []int) bool {
	for _, p := range ports {
		ln, err := vnet.Or(n).Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// Start runs a created or exited container (a restart: the same address,
// the logs go on).
func (r *Runtime) Start(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("start container %s: %w", id, errClosed)
	}
	c, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if c.state == runtime.StateRunning {
		return fmt.Errorf("start container %s: %w", id, runtime.ErrRunning)
	}
	c.starts++
	cfg := c.cfg
	if src := seeded.Source(r.cfg.Seed, r.cfg.Node, id, strconv.Itoa(c.starts)); src != nil {
		cfg.Rand = src
	}
	app := workload.New(cfg, c.logs)
	runCtx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	c.app, c.cancel, c.exited, c.killReason = app, cancel, exited, ""
	c.state, c.exitCode, c.errMsg = runtime.StateRunning, 0, ""
	c.startedAt, c.finishedAt = r.clock.Now(), time.Time{}
	c.notify()
	r.runs.Add(1)
	go r.run(runCtx, c, app, exited)
	r.log.Debug("container started", "id", id, "ip", c.ip)
	if c.cfg.StartupDelay == 0 {
		// A process that binds its port first thing has done so by the
		// time anyone can reach it; without this wait a probe sent at
		// once races the app's goroutine, and virtual runs would tell
		// either story.
		r.mu.Unlock()
		select {
		case <-app.Serving():
		case <-exited:
		case <-ctx.Done():
		}
		r.mu.Lock()
	}
	return nil
}

// run is a container's one goroutine: the workload's Run, then the exit.
func (r *Runtime) run(ctx context.Context, c *container, app *workload.App, exited chan struct{}) {
	defer r.runs.Done()
	var err error
	if need := app.Stats().Memory; c.memory > 0 && need > c.memory {
		err = &workload.ExitError{Code: workload.ExitKilled,
			Reason: fmt.Sprintf("OOMKilled: the workload needs %v, over its memory limit of %v", need, c.memory)}
		fmt.Fprintf(c.logs, "out of memory: %s\n", err.(*workload.ExitError).Reason)
	} else {
		err = app.Run(ctx, nil)
	}
	code, reason := 0, ""
	var exit *workload.ExitError
	switch {
	case errors.As(err, &exit):
		code, reason = exit.Code, exit.Reason
	case err != nil:
		code, reason = workload.ExitCrash, err.Error()
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if code == workload.ExitKilled && c.killReason != "" {
		reason = c.killReason
	}
	c.state, c.exitCode, c.errMsg = runtime.StateExited, code, reason
	c.finishedAt = r.clock.Now()
	c.app = nil
	c.cancel()
	r.log.Debug("container exited", "id", c.id, "code", code, "reason", reason)
	close(exited)
	c.notify()
}

// Stop asks the workload to stop (its graceful shutdown, --shutdown-delay
// included), waits up to grace, then kills it (exit code 137). A grace of
// 0 kills at once. Stopping an exited container is not an error.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	c, err := r.lookup(id)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("stop: %w", err)
	}
	if c.state != runtime.StateRunning {
		r.mu.Unlock()
		return nil
	}
	app, cancel, exited := c.app, c.cancel, c.exited
	r.mu.Unlock()

	cancel()
	var graceOver <-chan time.Time
	if grace > 0 {
		graceOver = r.clock.After(grace)
	} else {
		over := make(chan time.Time)
		close(over)
		graceOver = over
	}
	var stopErr error
	select {
	case <-exited:
		return nil
	case <-graceOver:
	case <-ctx.Done():
		stopErr = fmt.Errorf("stop container %s: killed before its grace period ended: %w", id, ctx.Err())
	}
	r.mu.Lock()
	if c.exited == exited && c.killReason == "" {
		c.killReason = fmt.Sprintf("killed: still running %v after being asked to stop", grace)
	}
	r.mu.Unlock()
	app.Kill()
	<-exited // Kill returns the workload at once
	return stopErr
}

// Remove deletes a stopped container and frees its address.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if c.state == runtime.StateRunning {
		return fmt.Errorf("remove container %s: %w", id, runtime.ErrRunning)
	}
	delete(r.containers, id)
	r.addresses.release(c.ip)
	r.removeFiles(id)
	c.removed = true
	c.notify()
	r.log.Debug("container removed", "id", id)
	return nil
}

// List reports every container, by ID.
func (r *Runtime) List(ctx context.Context) ([]runtime.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Status, 0, len(r.containers))
	for _, c := range r.containers {
		out = append(out, c.status())
	}
	slices.SortFunc(out, func(a, b runtime.Status) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Status reports one container.
func (r *Runtime) Status(ctx context.Context, id string) (runtime.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return runtime.Status{}, err
	}
	return c.status(), nil
}

// Wait blocks until the container has exited (at once if it has), it is
// removed (ErrNotFound), or ctx ends.
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.Status, error) {
	for {
		r.mu.Lock()
		c, err := r.lookup(id)
		if err != nil {
			r.mu.Unlock()
			return runtime.Status{}, fmt.Errorf("wait: %w", err)
		}
		if c.state == runtime.StateExited {
			s := c.status()
			r.mu.Unlock()
			return s, nil
		}
		changed := c.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return runtime.Status{}, fmt.Errorf("wait for container %s: %w", id, ctx.Err())
		}
	}
}

// Stats are the workload's model: CPU from its request rate, memory from
// --memory, and its request count.
func (r *Runtime) Stats(ctx context.Context, id string) (runtime.Stats, error) {
	r.mu.Lock()
	c, err := r.lookup(id)
	var app *workload.App
	if err == nil {
		app = c.app
	}
	r.mu.Unlock()
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("stats: %w", err)
	}
	if app == nil {
		return runtime.Stats{}, fmt.Errorf("stats of container %s: %w", id, runtime.ErrNotRunning)
	}
	s := app.Stats()
	return runtime.Stats{CPU: s.CPU, Memory: s.Memory, Requests: s.Requests}, nil
}

// Exec runs a toolbox command with the container's environment and files;
// "localhost" in a URL is the container itself, and other names are looked
// up through Config.DNS. The command ends when the container does.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, stdout, stderr io.Writer) (int, error) {
	if len(cmd) == 0 {
		return 0, fmt.Errorf("exec in container %s: empty command", id)
	}
	r.mu.Lock()
	c, err := r.lookup(id)
	if err != nil {
		r.mu.Unlock()
		return 0, fmt.Errorf("exec: %w", err)
	}
	if c.state != runtime.StateRunning {
		r.mu.Unlock()
		return 0, fmt.Errorf("exec in container %s: %w", id, runtime.ErrNotRunning)
	}
	env, files, ip, exited, namespace := maps.Clone(c.env), c.files, c.ip, c.exited, c.namespace
	c.execs++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		c.execs--
		r.mu.Unlock()
	}()

	execCtx := toolbox.WithLoopback(ctx, ip)
	if vnet.IsHost(r.cfg.Net) {
		// The container lives on the host's loopback, with the rest of
		// the cluster: a wget beyond it would leave the machine.
		execCtx = toolbox.WithReach(execCtx, loopback, ipv6Loopback)
	} else {
		execCtx = toolbox.WithNet(execCtx, r.cfg.Net)
	}
	if r.dns != "" {
		execCtx = toolbox.WithResolver(execCtx, toolbox.Resolver{Server: r.dns,
			Search: []string{namespace + "." + searchDomain, searchDomain}})
	}
	execCtx, cancel := context.WithCancel(execCtx)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-execCtx.Done():
		}
	}()
	return toolbox.Run(execCtx, cmd, env, files, stdout, stderr), nil
}

// Logs copies the container's kept output (the last LogLimit bytes, across
// restarts) to w; with follow it goes on until ctx ends or the container
// exits. Following a container that is not running returns at once.
func (r *Runtime) Logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	return r.SelectLogs(ctx, id, follow, -1, time.Time{}, w)
}

// SelectLogs is Logs from the last tail lines (all when tail < 0, none
// when 0) among those written at or after since (all when it is zero),
// by the runtime's clock; a line's time is when its first byte was written.
func (r *Runtime) SelectLogs(ctx context.Context, id string, follow bool, tail int, since time.Time, w io.Writer) error {
	r.mu.Lock()
	c, err := r.lookup(id)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("logs: %w", err)
	}
	buf := c.logs
	r.mu.Unlock()

	offset := buf.selectFrom(tail, since)
	for {
		// The state is read before the output, so that the lines written
		// before an exit are copied before following stops.
		r.mu.Lock()
		running := c.state == runtime.StateRunning && !c.removed
		changed := c.changed
		r.mu.Unlock()
		data, next, more := buf.readFrom(offset)
		offset = next
		if len(data) > 0 {
			if _, err := w.Write(data); err != nil {
				return fmt.Errorf("logs of container %s: %w", id, err)
			}
		}
		if !follow || !running {
			return nil
		}
		select {
		case <-more:
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// Close kills every running container and waits for their goroutines; the
// runtime refuses new containers afterwards. The agent calls it on the way
// out, tests in their cleanup.
func (r *Runtime) Close() error {
	r.mu.Lock()
	r.closed = true
	var apps []*workload.App
	for _, c := range r.containers {
		if c.state == runtime.StateRunning {
			if c.killReason == "" {
				c.killReason = "killed: the runtime closed"
			}
			apps = append(apps, c.app)
		}
	}
	r.mu.Unlock()
	for _, app := range apps {
		app.Kill()
	}
	r.runs.Wait()
	return nil
}
