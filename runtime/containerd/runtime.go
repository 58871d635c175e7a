package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"flotilla/network/cni"
	"flotilla/runtime"
)

// DefaultAddress is the system containerd's socket.
const DefaultAddress = "/run/containerd/containerd.sock"

// DemoImagePrefix names the demo image, which the runtime builds itself
// (any tag: "flotilla.local/demo:v1").
const DemoImagePrefix = "flotilla.local/demo:"

// ArchivePrefix names an image imported from an OCI archive file:
// "oci-archive:/path/to/image.tar".
const ArchivePrefix = "oci-archive:"

// NamespacePrefix + the node's name is the node's containerd namespace.
const NamespacePrefix = "flotilla-"

// snapshotter is where images are unpacked and containers' root file
// systems are made (containerd's default on Linux).
const snapshotter = "overlayfs"

// Network attaches containers to the node's network (*cni.Network).
type Network interface {
	// Setup makes the container's network namespace; it is safe to retry.
	Setup(ctx context.Context, id string, hostPorts []cni.PortMapping) (netnsPath string, ip netip.Addr, err error)
	// Remove detaches the container; an absent attachment is success.
	Remove(ctx context.Context, id string) error
	// Lookup is the container's address.
	Lookup(ctx context.Context, id string) (netip.Addr, error)
}

// Config is one node's runtime.
type Config struct {
	// Address is containerd's socket (DefaultAddress when empty).
	Address string
	// Node is the node's name; its containerd namespace is "flotilla-"+Node.
	Node string
	// Namespace, when set, is the node's containerd namespace instead: a
	// lab gives each of its nodes one of its own (flotilla-LAB-NODE), so
	// that labs sharing one daemon never touch each other's containers.
	Namespace string
	// Network attaches containers; nil shares the host's network namespace
	// (the IP is 127.0.0.1: only for tests that run one container).
	Network Network
	// StateDir is required: each container's files (the log, mounted
	// config and secret files, resolv.conf, hosts, hostname) are under
	// StateDir/containers/ID.
	StateDir string
	// DNS are the nameservers of the containers' /etc/resolv.conf.
	DNS []string
	// Binary is the flotilla executable for the demo image (os.Executable
	// when empty).
	Binary string
	// Logger gets the runtime's own lines (not the containers' output).
	Logger *slog.Logger
}

// Runtime runs one node's containers on containerd. It is safe for
// concurrent use. Everything it reports is read from containerd and the
// state directory, so a new Runtime sees what an earlier one started.
type Runtime struct {
	cfg       Config
	namespace string
	client    *client.Client
	log       *slog.Logger

	mu       sync.Mutex
	creating map[string]bool           // IDs whose Create is under way
	samples  map[string]cpuSample      // the previous CPU reading per container
	images   map[string]containerImage // resolved images, by imageKey
}

// New connects to containerd and checks that it answers.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Node == "" {
		return nil, errors.New("containerd runtime: node name is required")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("containerd runtime: state dir is required")
	}
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("containerd runtime: find the flotilla binary for the demo image: %w", err)
		}
		cfg.Binary = exe
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: state dir: %w", err)
	}
	cfg.StateDir = stateDir
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "containers"), 0o755); err != nil {
		return nil, fmt.Errorf("containerd runtime: %w", err)
	}
	ns := cfg.Namespace
	if ns == "" {
		ns = NamespacePrefix + cfg.Node
	}
	c, err := connect(ctx, cfg.Address, ns)
	if err != nil {
		return nil, fmt.Errorf("containerd runtime for node %s: %w", cfg.Node, err)
	}
	r := &Runtime{
		cfg:       cfg,
		namespace: ns,
		client:    c,
		log:       cfg.Logger.With("runtime", "containerd", "node", cfg.Node),
		creating:  map[string]bool{},
		samples:   map[string]cpuSample{},
		images:    map[string]containerImage{},
	}
	if err := r.writeLogDriver(); err != nil {
		c.Close()
		return nil, fmt.Errorf("containerd runtime for node %s: %w", cfg.Node, err)
	}
	return r, nil
}

// connect dials containerd for namespace ns. The v2 client dials lazily
// (grpc.NewClient), so it asks for the daemon's version to find out
// whether anyone answers.
func connect(ctx context.Context, address, ns string) (*client.Client, error) {
	c, err := client.New(address, client.WithDefaultNamespace(ns), client.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Version(vctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	return c, nil
}

// Namespace is the node's containerd namespace.
func (r *Runtime) Namespace() string { return r.namespace }

// Close closes the connection. The containers go on running: they outlive
// the agent, and the next Runtime re-adopts them.
func (r *Runtime) Close() error {
	return r.client.Close()
}

// containerDir is where a container's files are.
func (r *Runtime) containerDir(id string) string {
	return filepath.Join(r.cfg.StateDir, "containers", id)
}

// logPath is the file the log driver appends the container's output to.
func (r *Runtime) logPath(id string) string {
	return filepath.Join(r.containerDir(id), "log")
}

// load finds a container; ErrNotFound when it is absent.
func (r *Runtime) load(ctx context.Context, id string) (client.Container, error) {
	if id == "" {
		return nil, fmt.Errorf("container with an empty ID: %w", runtime.ErrNotFound)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load container %s: %w", id, err)
	}
	return c, nil
}
