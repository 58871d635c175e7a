package containerd

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"flotilla/api"
	"flotilla/network/cni"
	"flotilla/runtime"
	"flotilla/runtime/workload"
)

// Container labels: what a later Runtime needs to know of a container.
const (
	labelAlloc      = "flotilla.alloc"
	labelService    = "flotilla.service"
	labelNamespace  = "flotilla.namespace"
	labelRevision   = "flotilla.revision"
	labelNode       = "flotilla.node"
	labelIP         = "flotilla.ip"
	labelPort       = "flotilla.port"       // where the workload listens
	labelDemo       = "flotilla.demo"       // "true": the demo workload (Stats reads its /metrics)
	labelStartedAt  = "flotilla.started-at" // RFC 3339, set by Start
	labelKillReason = "flotilla.kill-reason"
)

// createTimeout and startTimeout bound the parts of Create and Start that
// a caller's cancellation does not cut short.
const (
	createTimeout = 30 * time.Second
	startTimeout  = 30 * time.Second
)

// DefaultPort is where a container listens when its spec names no port and
// its args no --listen (as in the sim runtime).
const DefaultPort = 8080

// hostIP is a container's address when it shares the host's network.
var hostIP = netip.MustParseAddr("127.0.0.1")

// Hostname is the hostname a container gets: service + "-" + the first 5
// characters of its ID (the sim runtime's rule).
func Hostname(spec runtime.ContainerSpec) string {
	prefix := spec.ID[:min(5, len(spec.ID))]
	if spec.Service == "" {
		return prefix
	}
	return spec.Service + "-" + prefix
}

// Create makes the container: image ready, network attached, files
// written, container record with its snapshot and OCI spec. It starts
// nothing.
func (r *Runtime) Create(ctx context.Context, spec runtime.ContainerSpec) (err error) {
	if spec.ID == "" {
		return fmt.Errorf("create container: empty ID: %w", runtime.ErrInvalidSpec)
	}
	fail := func(what string, err error) error {
		if what == "" {
			return fmt.Errorf("create container %s: %w", spec.ID, err)
		}
		return fmt.Errorf("create container %s: %s: %w", spec.ID, what, err)
	}
	if err := validateFiles(spec.Files); err != nil {
		return fail("files", fmt.Errorf("%w (%w)", err, runtime.ErrInvalidSpec))
	}
	if err := validateMounts(spec.Mounts); err != nil { // mounts.go
		return fail("mounts", fmt.Errorf("%w (%w)", err, runtime.ErrInvalidSpec))
	}
	if !r.claim(spec.ID) {
		return fail("", runtime.ErrExists)
	}
	defer r.release(spec.ID)
	took := newStepTimes()
	// Before anything is set up: Network.Setup would reattach (and so cut
	// off) a running container of the same ID.
	if _, err := r.client.LoadContainer(ctx, spec.ID); err == nil {
		return fail("", runtime.ErrExists)
	} else if !errdefs.IsNotFound(err) {
		return fail("look for an existing container", err)
	}

	took.step("load")
	// A shim of this ID without a container (orphans.go), left by an
	// earlier container of the same ID (IDs repeat across clusters), would
	// make every Start fail, or pass its task off as this one's.
	if err := r.reapOrphans(ctx, spec.ID); err != nil {
		return fail("", err)
	}
	took.step("check")
	img, err := r.resolveImage(ctx, spec.Image)
	if err != nil {
		return fail("image "+spec.Image, err)
	}
	took.step("image")

	// What follows (network attachment, files, snapshot, record) is made
	// and undone as one: a caller that gives up half-way (the agent
	// stopping) must not cut it between two steps, leaving a netns and a
	// snapshot that no record refers to, or a record made by the daemon
	// after the client stopped waiting. So it runs to its end on a context
	// of its own, bounded by createTimeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	// From here on a failure undoes what was done.
	dir := r.containerDir(spec.ID)
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
		defer cancel()
		// A record the daemon made after the client stopped waiting (the
		// timeout) is this Create's too: the ID was not taken before.
		if err := r.client.ContainerService().Delete(ctx, spec.ID); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("undo a failed create: container record", "id", spec.ID, "err", err)
		}
		if r.cfg.Network != nil {
			if err := r.cfg.Network.Remove(ctx, spec.ID); err != nil {
				r.log.Warn("undo a failed create: network", "id", spec.ID, "err", err)
			}
		}
		if err := r.client.SnapshotService(snapshotter).Remove(ctx, spec.ID); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("undo a failed create: snapshot", "id", spec.ID, "err", err)
		}
		if err := removeContainerDir(dir); err != nil {
			r.log.Warn("undo a failed create: files", "id", spec.ID, "err", err)
		}
	}
	undo := true
	defer func() {
		if err != nil && undo {
			cleanup()
		}
	}()

	// The snapshot is made under a lease, which keeps the garbage
	// collector off it until the record refers to it.
	ctx, done, err := r.client.WithLease(ctx)
	if err != nil {
		return fail("lease", err)
	}
	defer done(context.WithoutCancel(ctx))
	if img, err = r.prepareSnapshot(ctx, spec.ID, spec.Image, img); err != nil {
		return fail("snapshot", err)
	}
	took.step("snapshot")
	env := r.environment(spec, img.config.Env)
	args, port, err := processArgs(spec, img, env)
	if err != nil {
		return fail("", err)
	}

	ip := hostIP
	netns := oci.WithHostNamespace(specs.NetworkNamespace)
	if r.cfg.Network != nil {
		var nsPath string
		nsPath, ip, err = r.cfg.Network.Setup(ctx, spec.ID, hostPorts(spec.Ports))
		if err != nil {
			return fail("network", err)
		}
		netns = oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPath})
	}
	took.step("network")
	hostname := Hostname(spec)
	mounts, err := r.writeFiles(dir, spec, hostname, ip)
	if err != nil {
		return fail("files", err)
	}
	fileMounts, err := r.writeMounts(dir, spec.Mounts) // configs and secrets (mounts.go)
	if err != nil {
		return fail("mounts", err)
	}
	mounts = append(mounts, fileMounts...)

	labels := map[string]string{
		labelAlloc:     spec.ID,
		labelService:   spec.Service,
		labelNamespace: spec.Namespace,
		labelRevision:  strconv.Itoa(spec.Revision),
		labelNode:      r.cfg.Node,
		labelIP:        ip.String(),
		labelPort:      strconv.Itoa(port),
	}
	if img.demo {
		labels[labelDemo] = "true"
	}
	specOpts := []oci.SpecOpts{
		withProcess(args, env, cmp.Or(img.config.WorkingDir, "/")),
		oci.WithHostname(hostname),
		oci.WithMounts(mounts),
		netns,
	}
	if img.config.User != "" {
		specOpts = append(specOpts, oci.WithUser(img.config.User))
	}
	specOpts = append(specOpts, resourceLimits(spec.Resources)...)
	_, err = r.client.NewContainer(ctx, spec.ID,
		withRootFS(img, spec.ID),
		client.WithContainerLabels(labels),
		client.WithNewSpec(specOpts...),
	)
	if errdefs.IsAlreadyExists(err) {
		undo = false // another Create of the same ID won the race: its things stay
		return fail("", runtime.ErrExists)
	}
	if err != nil {
		return fail("", err)
	}
	took.step("record")
	r.log.Debug("container created", took.log("id", spec.ID, "ip", ip, "image", spec.Image)...)
	return nil
}

// prepareSnapshot makes the container's root file system on the image's
// unpacked layers. A snapshot of the ID is what a Create that died
// half-way (the agent killed) leaves: it would make this one fail for
// ever, and goes. An image gone from containerd since it was resolved is
// resolved again.
func (r *Runtime) prepareSnapshot(ctx context.Context, id, ref string, img containerImage) (containerImage, error) {
	sn := r.client.SnapshotService(snapshotter)
	removedStale, resolvedAgain := false, false
	for {
		_, err := sn.Prepare(ctx, id, img.parent)
		switch {
		case err == nil:
			return img, nil
		case errdefs.IsAlreadyExists(err) && !removedStale:
			removedStale = true
			if err := sn.Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
				return img, fmt.Errorf("remove a stale snapshot: %w", err)
			}
		case errdefs.IsNotFound(err) && !resolvedAgain:
			resolvedAgain = true
			r.forgetImage(ref)
			if img, err = r.resolveImage(ctx, ref); err != nil {
				return img, fmt.Errorf("image %s: %w", ref, err)
			}
		default:
			return img, err
		}
	}
}

// withRootFS names the image and the prepared snapshot in the record
// (client.WithNewSnapshot would read the image's layers and ask the daemon
// about its snapshotter again for every container).
func withRootFS(img containerImage, id string) client.NewContainerOpts {
	return func(_ context.Context, _ *client.Client, c *containers.Container) error {
		c.Image = img.image.Name()
		c.Snapshotter = snapshotter
		c.SnapshotKey = id
		return nil
	}
}

// claim marks id as being created by this Runtime; false when it is already.
func (r *Runtime) claim(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.creating[id] {
		return false
	}
	r.creating[id] = true
	return true
}

func (r *Runtime) release(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.creating, id)
}

// environment is the container's: the image's, then the spec's, then what
// the runtime sets (FLOTILLA_NODE, FLOTILLA_ALLOC, HOSTNAME), which wins.
func (r *Runtime) environment(spec runtime.ContainerSpec, imageEnv []string) []string {
	env := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, ok := env[name]; !ok {
			order = append(order, name)
		}
		env[name] = value
	}
	for _, kv := range imageEnv {
		name, value, _ := strings.Cut(kv, "=")
		set(name, value)
	}
	if _, ok := env["PATH"]; !ok {
		set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Env)) {
		set(name, spec.Env[name])
	}
	set(workload.EnvNode, cmp.Or(spec.Node, r.cfg.Node))
	set(workload.EnvAllocation, spec.ID)
	set(workload.EnvHostname, Hostname(spec))
	out := make([]string, 0, len(order))
	for _, name := range order {
		out = append(out, name+"="+env[name])
	}
	return out
}

// processArgs are the container's command line, as Docker makes it:
// Command replaces the image's entrypoint, Args replace its cmd. The demo
// workload listens on the first port of the spec (--listen :PORT before
// the spec's args, so that a --listen of theirs wins); its args are checked
// as the sim runtime checks them. port is where the workload listens.
func processArgs(spec runtime.ContainerSpec, img containerImage, env []string) (args []string, port int, err error) {
	port = firstPort(spec.Ports)
	entrypoint, cmd := img.config.Entrypoint, img.config.Cmd
	if len(spec.Command) > 0 {
		entrypoint, cmd = spec.Command, nil
	}
	if len(spec.Args) > 0 || len(spec.Command) > 0 {
		cmd = spec.Args
	}
	workloadArgs := img.demo && len(spec.Command) == 0
	if workloadArgs && port > 0 {
		cmd = append([]string{"--listen", ":" + strconv.Itoa(port)}, cmd...)
	}
	args = append(slices.Clone(entrypoint), cmd...)
	if len(args) == 0 {
		return nil, 0, fmt.Errorf("no command: the image has no entrypoint and the spec no command (%w)", runtime.ErrInvalidSpec)
	}
	if workloadArgs {
		envMap := map[string]string{}
		for _, kv := range env {
			name, value, _ := strings.Cut(kv, "=")
			envMap[name] = value
		}
		cfg, err := workload.ParseArgs(cmd, envMap)
		if err != nil {
			return nil, 0, fmt.Errorf("args: %w (%w)", err, runtime.ErrInvalidSpec)
		}
		if _, p, err := net.SplitHostPort(cfg.Listen); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 {
				port = n
			}
		}
	}
	if port == 0 {
		port = DefaultPort
	}
	return args, port, nil
}

// firstPort is the spec's first port, 0 when it has none.
func firstPort(ports []api.Port) int {
	for _, p := range ports {
		if p.Port > 0 {
			return p.Port
		}
	}
	return 0
}

// hostPorts are the ports the spec publishes on the node.
func hostPorts(ports []api.Port) []cni.PortMapping {
	var out []cni.PortMapping
	for _, p := range ports {
		if p.HostPort <= 0 || p.Port <= 0 {
			continue
		}
		proto := "tcp"
		if strings.EqualFold(p.Protocol, "udp") {
			proto = "udp"
		}
		out = append(out, cni.PortMapping{HostPort: p.HostPort, ContainerPort: p.Port, Protocol: proto})
	}
	return out
}

// withProcess sets the command line, environment and working directory
// from the image config and the spec (oci.WithImageConfig would mount the
// root file system to read /etc/group; the runtime needs none of that).
func withProcess(args, env []string, cwd string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.Args = args
		s.Process.Env = env
		s.Process.Cwd = cwd
		return nil
	}
}

// cfsPeriod is the CPU quota's period (the kernel's default, 100ms).
const cfsPeriod = 100_000

// resourceLimits turn the spec's resources into cgroup limits: memory as a
// hard limit, CPU millicores as a CFS quota (250m = 25ms every 100ms) and
// proportional shares (1024 per core).
func resourceLimits(res api.Resources) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if res.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(res.Memory)))
	}
	if res.CPU > 0 {
		shares := max(uint64(res.CPU)*1024/1000, 2)
		quota := max(int64(res.CPU)*cfsPeriod/1000, 1000)
		opts = append(opts, oci.WithCPUShares(shares), oci.WithCPUCFS(quota, cfsPeriod))
	}
	return opts
}

// validateFiles checks that every mounted file has an absolute path to a
// file and that no file is the directory of another.
func validateFiles(files map[string][]byte) error {
	for p := range files {
		clean := path.Clean(p)
		if !strings.HasPrefix(p, "/") || clean == "/" {
			return fmt.Errorf("file %q: want an absolute path to a file", p)
		}
		for q := range files {
			if q != p && strings.HasPrefix(path.Clean(q), clean+"/") {
				return fmt.Errorf("file %q: a directory of file %q", p, q)
			}
		}
	}
	return nil
}

// writeFiles writes the container's mounted files under dir (files/ for
// the spec's, then hostname, hosts and resolv.conf) and returns their
// read-only bind mounts. A spec file at /etc/hosts (say) replaces the
// runtime's.
func (r *Runtime) writeFiles(dir string, spec runtime.ContainerSpec, hostname string, ip netip.Addr) ([]specs.Mount, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var mounts []specs.Mount
	bind := func(source, target string) {
		mounts = append(mounts, specs.Mount{Destination: target, Type: "bind", Source: source, Options: []string{"rbind", "ro", "nosuid", "nodev"}})
	}
	for _, p := range slices.Sorted(maps.Keys(spec.Files)) {
		source := filepath.Join(dir, "files", filepath.FromSlash(path.Clean(p)))
		if err := os.MkdirAll(filepath.Dir(source), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(source, spec.Files[p], 0o644); err != nil {
			return nil, err
		}
		bind(source, path.Clean(p))
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if ip.IsValid() && !ip.IsLoopback() {
		hosts += ip.String() + "\t" + hostname + "\n"
	} else {
		hosts = "127.0.0.1\tlocalhost " + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	}
	resolv := ""
	if spec.Namespace != "" {
		resolv += "search " + spec.Namespace + ".svc.flotilla svc.flotilla\n"
	} else {
		resolv += "search svc.flotilla\n"
	}
	for _, ns := range r.cfg.DNS {
		resolv += "nameserver " + ns + "\n"
	}
	resolv += "options ndots:3\n"
	for _, f := range []struct{ name, target, data string }{
		{"hostname", "/etc/hostname", hostname + "\n"},
		{"hosts", "/etc/hosts", hosts},
		{"resolv.conf", "/etc/resolv.conf", resolv},
	} {
		if _, ok := spec.Files[f.target]; ok {
			continue
		}
		source := filepath.Join(dir, f.name)
		if err := os.WriteFile(source, []byte(f.data), 0o644); err != nil {
			return nil, err
		}
		bind(source, f.target)
	}
	return mounts, nil
}
