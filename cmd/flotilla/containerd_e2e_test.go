package main

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"flotilla/api"
	"flotilla/internal/testutil"
	"flotilla/network/netlab"
	"flotilla/runtime/containerd"
	"flotilla/scenarios/lab"
)

// needContainerdLab skips (or, under CI, fails) a test that needs root,
// a containerd that answers, the CNI plugins, and the lab network free
// (one containerd lab at a time: another one's, of another test run,
// refuses this one).
func needContainerdLab(t *testing.T) string {
	t.Helper()
	socket := lab.DefaultContainerdSocket()
	missing := ""
	switch {
	case os.Geteuid() != 0:
		missing = "root"
	case !exists(socket):
		missing = "containerd at " + socket + " ($" + lab.ContainerdSocketEnv + ")"
	case !exists("/usr/lib/cni/bridge"):
		missing = "the CNI plugins (containernetworking-plugins)"
	}
	if missing == "" {
		// A socket file outlives its daemon (containerd installed, not running).
		if err := containerd.Ping(context.Background(), socket, 3*time.Second); err != nil {
			missing = "a containerd that answers at " + socket + " (" + err.Error() + ")"
		}
	}
	for _, tool := range []string{"ctr", "ip", "dig", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil && missing == "" {
			missing = tool
		}
	}
	if missing != "" {
		testutil.SkipOrFail(t, "the containerd lab needs %s: run as root with containerd running (see .ci/run)", missing)
	}
	if holder := labNetworkHolder(t); holder != "" {
		testutil.SkipOrFail(t, "another containerd lab is up (%s holds its network 10.199.0.0/24); one runs at a time", holder)
	}
	return socket
}

// labNetworkHolder names the link that holds an address of the containerd
// lab network, "" when none does.
func labNetworkHolder(t *testing.T) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	block := netip.MustParsePrefix("10.199.0.0/24")
	for _, ifc := range ifaces {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && block.Contains(p.Addr()) {
				return ifc.Name
			}
		}
	}
	return ""
}

// needContainerdLab skips, outside CI, when containerd does not answer:
// a socket file left by a daemon that is gone (the containerd package
// installed but not running) is no containerd.
func TestContainerdLabSkipsWhenContainerdDoesNotAnswer(t *testing.T) {
	testutil.RequireRoot(t, "the containerd lab's checks")
	socket := t.TempDir() + "/containerd.sock"
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	t.Setenv(lab.ContainerdSocketEnv, socket)
	t.Setenv("CI", "") // the skip itself is what is checked
	ran := false
	inner := t.Run("needContainerdLab", func(t *testing.T) {
		needContainerdLab(t)
		ran = true
	})
	if ran || !inner {
		t.Fatalf("needContainerdLab went on with a dead containerd at %s (ran %v, passed %v)", socket, ran, inner)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// hostState is what a containerd lab may leave behind: network namespaces,
// links, routes, mounts, containerd namespaces and processes. Only what
// can be the lab's is listed (its names and address blocks): the tests of
// other packages, which go test may run meanwhile, make their own.
type hostState map[string][]string

func readHostState(t *testing.T, socket, labDir string) hostState {
	t.Helper()
	return readLabHostState(t, socket, labDir, "ce2e")
}

// readLabHostState is readHostState for the containerd lab named lab.
func readLabHostState(t *testing.T, socket, labDir, lab string) hostState {
	t.Helper()
	lines := func(keep func(string) bool, name string, args ...string) []string {
		out, err := exec.Command(name, args...).Output()
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // pgrep: 1 is "none"
			t.Fatalf("%s %v: %v", name, args, err)
		}
		var kept []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l = strings.TrimSpace(l); l != "" && keep(l) {
				kept = append(kept, l)
			}
		}
		slices.Sort(kept)
		return kept
	}
	containsAny := func(subs ...string) func(string) bool {
		return func(l string) bool {
			return slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(l, s) })
		}
	}
	// The lab's node and container network namespaces and its nodes'
	// containerd namespaces: flotilla-LAB-NODE[.ID].
	ours := containsAny("flotilla-" + lab + "-")
	hostLink := func(l string) bool { // "3: name@peer: <...>" of a lab link (fl<tag>-...)
		f := strings.Fields(l)
		return len(f) > 1 && strings.HasPrefix(f[1], "fl") && !strings.HasPrefix(f[1], "fltest")
	}
	return hostState{
		"netns":      lines(ours, "ip", "netns", "list"),
		"links":      lines(hostLink, "ip", "-o", "link", "show"),
		"routes":     lines(containsAny("10.199.", "10.200.", "10.201."), "ip", "route", "show", "table", "all"),
		"mounts":     lines(ours, "cat", "/proc/self/mountinfo"),
		"containerd": lines(ours, "ctr", "--address", socket, "namespaces", "list", "-q"),
		"processes":  lines(containsAny(labDir), "pgrep", "-af", "flotilla"),
		"shims":      lines(ours, "pgrep", "-af", "containerd-shim"),
	}
}

// netnsClient is an HTTP client whose connections start inside a node's
// network namespace, as a process on that node would.
func netnsClient(netns string) *http.Client {
	dialer := &net.Dialer{Timeout: 3 * time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = netlab.Do(netns, func() error {
				conn, err = dialer.DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
	}}
}

// inNode runs a command inside a lab node's namespace (ip netns exec, so
// the node's resolv.conf applies).
func inNode(t *testing.T, netns string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", netns}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// taskPIDs is container ID → task PID from ctr for one node of the lab
// ce2e (its containerd namespace is flotilla-ce2e-NODE).
func taskPIDs(t *testing.T, socket, node string) map[string]int {
	t.Helper()
	return labTaskPIDs(t, socket, "ce2e", node)
}

// labTaskPIDs is taskPIDs for the containerd lab named lab.
func labTaskPIDs(t *testing.T, socket, lab, node string) map[string]int {
	t.Helper()
	out, err := exec.Command("ctr", "--address", socket, "-n", "flotilla-"+lab+"-"+node, "tasks", "list").Output()
	if err != nil {
		t.Fatalf("ctr tasks list for %s: %v", node, err)
	}
	pids := map[string]int{}
	for _, line := range strings.Split(string(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "RUNNING" {
			pids[f[0]], _ = strconv.Atoi(f[1])
		}
	}
	return pids
}

// checkNothingLeft fails the test for what the host has after a lab
// that it did not have before.
func checkNothingLeft(t *testing.T, before, after hostState) {
	t.Helper()
	for what, now := range after {
		var left []string
		for _, x := range now {
			if !slices.Contains(before[what], x) {
				left = append(left, x)
			}
		}
		if len(left) > 0 {
			t.Errorf("lab down left %s behind: %v", what, left)
		}
	}
}

func startContainerdLab(t *testing.T, socket string) *labCLI {
	t.Helper()
	bin := buildBinary(t)
	dir := t.TempDir()
	l := &labCLI{t: t, bin: bin, env: append(os.Environ(), "FLOTILLA_LAB_DIR="+dir, "FLOTILLA_LAB=ce2e", lab.ContainerdSocketEnv+"="+socket)}
	before := readHostState(t, socket, dir)
	t.Cleanup(func() {
		if out, err := l.run("lab", "down"); err != nil {
			t.Errorf("lab down: %v\n%s", err, out)
		}
		checkNothingLeft(t, before, readHostState(t, socket, dir))
	})
	l.must("lab", "up", "--runtime", "containerd", "--timeout", "60s")
	env := l.labEnv()
	l.addr = env[api.AddressEnv]
	if !strings.Contains(l.addr, "https://10.199.0.11:4646") {
		t.Fatalf("lab env: FLOTILLA_ADDR=%q, want the servers on their nodes' addresses, with TLS (the default)", l.addr)
	}
	l.env = append(l.env, api.AddressEnv+"="+l.addr)
	// A containerd lab has mutual TLS by default: its clients use the
	// lab's client certificate.
	for _, k := range []string{api.CACertEnv, api.ClientCertEnv, api.ClientKeyEnv} {
		if env[k] == "" {
			t.Fatalf("lab env exports no %s", k)
		}
		l.env = append(l.env, k+"="+env[k])
	}
	// A containerd lab has ACLs by default: the CLI sends the lab's token.
	if env[api.TokenEnv] == "" {
		t.Fatalf("lab env of a containerd lab exports no %s: ACLs are on by default there", api.TokenEnv)
	}
	l.env = append(l.env, api.TokenEnv+"="+env[api.TokenEnv])
	return l
}

// TestContainerdLab is the real-nodes issue's check: a 3-node containerd
// lab runs a 3-replica service as real containers with addresses in their
// nodes' pod subnets; inside n1 the service's name resolves and its VIP
// reaches replicas on all three nodes; a killed container is restarted; a
// restarted agent re-adopts its containers; a partition cuts a node off
// until healed; and the health checks of the probes issue pass as on the
// sim lab. lab down leaves nothing behind.
func TestContainerdLab(t *testing.T) {
	socket := needContainerdLab(t)
	l := startContainerdLab(t, socket)
	n1 := "flotilla-ce2e-n1"

	spec := "kind: Service\nname: web\nimage: flotilla.local/demo:v1\nargs: [--version, v1]\nreplicas: 3\n" +
		"ports: [{name: http, port: 8080, protocol: http}]\nrestart: {policy: always, backoff: 1s}\n"
	file := t.TempDir() + "/web.yaml"
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	l.must("apply", "-f", file)
	waitFor(t, 90*time.Second, "3 web replicas running and ready, one per node", func() bool {
		nodes := map[string]bool{}
		for _, a := range l.allocs() {
			if a.Service == "web" && a.Status == api.AllocRunning && a.Ready {
				nodes[a.Node] = true
			}
		}
		return len(nodes) == 3
	})

	// Real containers, one per node, each in its node's pod subnet.
	var nodes []*api.Node
	if err := json.Unmarshal([]byte(l.must("get", "nodes", "-o", "json")), &nodes); err != nil {
		t.Fatal(err)
	}
	subnets := map[string]netip.Prefix{}
	for _, n := range nodes {
		subnets[n.Name], _ = netip.ParsePrefix(n.Subnet)
	}
	byNode := map[string]*api.Allocation{}
	for _, a := range l.allocs() {
		if a.Service != "web" || a.DesiredStatus != api.DesiredRun {
			continue
		}
		byNode[a.Node] = a
		ap, err := netip.ParseAddrPort(a.Address)
		if err != nil || !subnets[a.Node].Contains(ap.Addr()) {
			t.Fatalf("allocation %s on %s has address %q, not in the node's pod subnet %s", a.ID, a.Node, a.Address, subnets[a.Node])
		}
		if _, ok := taskPIDs(t, socket, a.Node)[a.ID]; !ok {
			t.Fatalf("ctr -n flotilla-ce2e-%s tasks list shows no running task %s", a.Node, a.ID)
		}
	}

	// Inside n1: the name resolves to the VIP, and the VIP reaches every node.
	var svc api.ServiceDocument
	if err := json.Unmarshal([]byte(l.must("get", "services", "web", "-o", "json")), &svc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "dig web.default.svc.flotilla inside n1 answering the VIP "+svc.VIP, func() bool {
		out, _ := inNode(t, n1, "dig", "+short", "web.default.svc.flotilla")
		return out == svc.VIP
	})
	served := map[string]int{}
	for i := 0; i < 60; i++ {
		out, err := inNode(t, n1, "curl", "-sf", "--max-time", "5", "http://"+svc.VIP+":8080/")
		if err != nil {
			t.Fatalf("curl through the VIP inside n1 (request %d): %v: %s", i, err, out)
		}
		var id map[string]string
		if err := json.Unmarshal([]byte(out), &id); err != nil {
			t.Fatalf("curl through the VIP: %v: %s", err, out)
		}
		served[id["node"]]++
	}
	if len(served) != 3 {
		t.Fatalf("60 requests through the VIP from n1 reached %v, want all three nodes", served)
	}

	// A killed container process is noticed and restarted by policy.
	victim := byNode["n2"]
	pid := taskPIDs(t, socket, "n2")[victim.ID]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the killed container restarted", func() bool {
		for _, a := range l.allocs() {
			if a.ID == victim.ID {
				return a.Restarts == victim.Restarts+1 && a.Status == api.AllocRunning && a.Ready
			}
		}
		return false
	})
	if now := taskPIDs(t, socket, "n2")[victim.ID]; now == 0 || now == pid {
		t.Fatalf("after the kill the task's PID is %d (was %d), want a new process", now, pid)
	}

	// A restarted agent re-adopts its containers: same IDs, same
	// processes, no restart.
	kept := byNode["n1"]
	keptPID := taskPIDs(t, socket, "n1")[kept.ID]
	l.must("lab", "restart", "n1")
	waitFor(t, 30*time.Second, "the restarted agent serving its container's logs", func() bool {
		out, err := l.run("logs", kept.ID)
		return err == nil && strings.Contains(out, "version=v1")
	})
	if now := taskPIDs(t, socket, "n1")[kept.ID]; now != keptPID {
		t.Fatalf("after the agent restarted, task %s has PID %d, want the same process %d", kept.ID, now, keptPID)
	}
	for _, a := range l.allocs() {
		if a.ID == kept.ID && (a.Restarts != kept.Restarts || a.Status != api.AllocRunning) {
			t.Fatalf("after the agent restarted: %+v, want it running with %d restarts", a, kept.Restarts)
		}
	}

	// A partition cuts a node's cable; heal puts it back. n3's agent API
	// answers the lab's client certificate only (mutual TLS), not plain HTTP.
	n3Agent := "https://10.199.0.103:4746/metrics"
	env := l.labEnv()
	withCert := []string{"--cacert", env[api.CACertEnv], "--cert", env[api.ClientCertEnv], "--key", env[api.ClientKeyEnv]}
	curlN3 := func(maxTime string) error {
		_, err := inNode(t, n1, append([]string{"curl", "-sf", "--max-time", maxTime, "-o", "/dev/null"}, append(withCert, n3Agent)...)...)
		return err
	}
	if err := curlN3("2"); err != nil {
		t.Fatalf("n1 cannot reach n3's agent before any partition: %v", err)
	}
	if out, err := inNode(t, n1, "curl", "-sf", "--max-time", "2", "-o", "/dev/null", "--cacert", env[api.CACertEnv], n3Agent); err == nil {
		t.Fatalf("n3's agent answered a client without a certificate: %s", out)
	}
	if out, err := inNode(t, n1, "curl", "-sf", "--max-time", "2", "-o", "/dev/null", "http://10.199.0.103:4746/metrics"); err == nil {
		t.Fatalf("n3's agent answered plain HTTP: %s", out)
	}
	l.must("lab", "partition", "n3")
	if err := curlN3("1"); err == nil {
		t.Fatal("n1 reaches n3's agent while n3 is partitioned")
	}
	l.must("lab", "heal")
	waitFor(t, 10*time.Second, "n3 reachable again after heal", func() bool {
		return curlN3("1") == nil
	})

	t.Run("a refused second lab changes nothing", func(t *testing.T) { checkSecondLabRefused(t, l, socket) })

	l.must("delete", "service", "web")
	t.Run("probes", func(t *testing.T) { checkProbes(t, l, netnsClient(n1)) })
	t.Run("canary under load", func(t *testing.T) { checkCanaryUnderLoad(t, l, n1) })
	t.Run("cpu autoscaling from cgroups", func(t *testing.T) { checkCPUAutoscaling(t, l, n1) })
	t.Run("A/B experiment", func(t *testing.T) { checkABExperiment(t, l, n1) })
	t.Run("shadow rollout", func(t *testing.T) { checkShadowRollout(t, l, n1) })
	t.Run("configs and secrets", func(t *testing.T) { checkSecretsOnContainerd(t, l) })
}

// checkSecretsOnContainerd: a secret reaches a real container as a file
// on a tmpfs of its own (read-only, mode 0400) and as env; the node's
// disk never holds the file; a config reloaded by signal is rewritten in
// the running container, which gets SIGHUP; deleting the service unmounts
// the tmpfs.
func checkSecretsOnContainerd(t *testing.T, l *labCLI) {
	const value = "Containerd-Secret-Value-5521"
	l.must("secret", "create", "cdb", "--from-literal", "password="+value)
	l.must("config", "create", "ctuning", "--from-literal", "level=1")
	spec := "kind: Service\nname: vault\nimage: flotilla.local/demo:v1\nreplicas: 1\n" +
		"ports: [{name: http, port: 8080, protocol: http}]\n" +
		"configs: [{name: ctuning, path: /etc/tuning, reload: signal}]\n" +
		"secrets: [{name: cdb, path: /run/secrets/db, env: {DB_PASSWORD: password}}]\n"
	file := t.TempDir() + "/vault.yaml"
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	l.must("apply", "-f", file)
	var alloc *api.Allocation
	waitFor(t, 90*time.Second, "the vault replica running", func() bool {
		for _, a := range l.allocs() {
			if a.Service == "vault" && a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning {
				alloc = a
				return true
			}
		}
		return false
	})
	if got := l.must("exec", alloc.ID, "--", "cat", "/run/secrets/db/password"); got != value {
		t.Fatalf("the secret's file: %q", got)
	}
	if env := l.must("exec", alloc.ID, "--", "env"); !strings.Contains(env, "DB_PASSWORD="+value+"\n") {
		t.Fatalf("the secret's env:\n%s", env)
	}
	if mounts := l.must("exec", alloc.ID, "--", "cat", "/proc/self/mounts"); !strings.Contains(mounts, " /run/secrets/db tmpfs ro,") {
		t.Fatalf("/run/secrets/db is not a read-only tmpfs in the container:\n%s", mounts)
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	tmpfsOf := func(info []byte) bool {
		for _, line := range strings.Split(string(info), "\n") {
			if strings.Contains(line, "/"+alloc.ID+"/mounts/") && strings.Contains(line, " - tmpfs ") {
				return true
			}
		}
		return false
	}
	if !tmpfsOf(mountinfo) {
		t.Fatalf("no tmpfs of allocation %s on the host", alloc.ID)
	}
	l.must("config", "create", "ctuning", "--from-literal", "level=2", "--replace")
	waitFor(t, 20*time.Second, "the config rewritten and SIGHUP received", func() bool {
		got, err := l.run("exec", alloc.ID, "--", "cat", "/etc/tuning/level")
		return err == nil && got == "2" && strings.Contains(l.must("logs", alloc.ID), "received SIGHUP")
	})
	l.must("delete", "service", "vault")
	waitFor(t, 30*time.Second, "the secret's tmpfs unmounted", func() bool {
		info, err := os.ReadFile("/proc/self/mountinfo")
		return err == nil && !tmpfsOf(info)
	})
}

// checkCPUAutoscaling: the demo app burning 20 ms of real CPU per request
// at 20 requests/s wants 400m; one replica reserves (and is limited to)
// 200m, the target is 50% of it. The agents read the tasks' cgroups, and
// the autoscaler scales the service up.
func checkCPUAutoscaling(t *testing.T, l *labCLI, netns string) {
	spec := "kind: Service\nname: cpuhog\nimage: flotilla.local/demo:v1\nargs: [--version, v1, --cpu-per-request, 20ms]\n" +
		"resources: {cpu: 200m, memory: 32Mi}\nports: [{name: http, port: 8080, protocol: http}]\n" +
		"probes: {readiness: {http: {path: /ready, port: http}, period: 1s}}\n" +
		"autoscale: {min: 1, max: 4, metric: cpu, target: 50}\n"
	file := t.TempDir() + "/cpuhog.yaml"
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	l.must("apply", "-f", file)
	t.Cleanup(func() { l.run("delete", "service", "cpuhog") })
	waitFor(t, 90*time.Second, "1 replica of cpuhog ready", func() bool {
		for _, a := range l.allocs() {
			if a.Service == "cpuhog" && a.DesiredStatus == api.DesiredRun && a.Ready {
				return true
			}
		}
		return false
	})
	var svc api.ServiceDocument
	if err := json.Unmarshal([]byte(l.must("get", "services", "cpuhog", "-o", "json")), &svc); err != nil {
		t.Fatal(err)
	}
	load := exec.Command("ip", "netns", "exec", netns, l.bin, "load", "http://"+svc.VIP+":8080/", "--rate", "20", "--duration", "40s", "-o", "json")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- load.Wait() }()
	t.Cleanup(func() {
		_ = load.Process.Kill()
		<-done
	})
	waitFor(t, 35*time.Second, "the autoscaler to scale cpuhog up on its cgroup's CPU", func() bool {
		var s api.ServiceDocument
		o, err := l.run("get", "services", "cpuhog", "-o", "json")
		return err == nil && json.Unmarshal([]byte(o), &s) == nil && s.ReplicaCount() >= 2 &&
			s.Autoscaled != nil && strings.Contains(s.Autoscaled.Reason, "cpu")
	})
	var top []api.AllocationUsage
	if err := json.Unmarshal([]byte(l.must("top", "allocs", "-o", "json")), &top); err != nil {
		t.Fatal(err)
	}
	for _, u := range top {
		if u.Service == "cpuhog" && u.CPU1m > 0 {
			return
		}
	}
	t.Fatalf("top allocs shows no CPU for cpuhog: %+v", top)
}

// checkCanaryUnderLoad rolls a new revision out in canary steps while
// `flotilla load` inside n1 sends 100 requests a second through the VIP:
// no request fails, both versions answer, and the rollout completes with
// every replica on the new revision.
func checkCanaryUnderLoad(t *testing.T, l *labCLI, netns string) {
	spec := func(version string) string {
		return "kind: Service\nname: canary\nimage: flotilla.local/demo:v1\nargs: [--version, " + version + "]\nreplicas: 3\n" +
			"ports: [{name: http, port: 8080, protocol: http}]\n" +
			"probes: {readiness: {http: {path: /ready, port: http}, period: 1s}}\n" +
			"rollout: {strategy: canary, canary: {steps: [{weight: 30, pause: 3s}, {weight: 60, pause: 3s}, {weight: 100}]}}\n"
	}
	file := t.TempDir() + "/canary.yaml"
	apply := func(version string) {
		if err := os.WriteFile(file, []byte(spec(version)), 0o644); err != nil {
			t.Fatal(err)
		}
		l.must("apply", "-f", file)
	}
	apply("v1")
	waitFor(t, 90*time.Second, "3 replicas of v1 ready", func() bool {
		ready := 0
		for _, a := range l.allocs() {
			if a.Service == "canary" && a.DesiredStatus == api.DesiredRun && a.Ready {
				ready++
			}
		}
		return ready == 3
	})
	var svc api.ServiceDocument
	if err := json.Unmarshal([]byte(l.must("get", "services", "canary", "-o", "json")), &svc); err != nil {
		t.Fatal(err)
	}
	load := exec.Command("ip", "netns", "exec", netns, l.bin, "load", "http://"+svc.VIP+":8080/", "--rate", "100", "--duration", "30s", "-o", "json")
	var out strings.Builder
	load.Stdout = &out
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- load.Wait() }()
	t.Cleanup(func() {
		_ = load.Process.Kill()
		<-done
	})
	apply("v2")
	waitFor(t, 25*time.Second, "the canary rollout to complete", func() bool {
		var r api.Rollout
		o, err := l.run("rollout", "status", "canary", "-o", "json")
		return err == nil && json.Unmarshal([]byte(o), &r) == nil && r.Revision == 2 && r.Phase == api.PhaseCompleted
	})
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatalf("flotilla load: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("flotilla load did not end")
	}
	var sum struct {
		Requests int            `json:"requests"`
		Errors   int            `json:"errors"`
		Versions map[string]int `json:"versions"`
	}
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("load summary: %v: %s", err, out.String())
	}
	if sum.Errors != 0 || sum.Requests < 2000 || sum.Versions["v1"] == 0 || sum.Versions["v2"] == 0 {
		t.Fatalf("load during the canary: %s; want no errors and answers from v1 and v2", out.String())
	}
	for _, a := range l.allocs() {
		if a.Service == "canary" && a.DesiredStatus == api.DesiredRun && a.Revision != 2 {
			t.Fatalf("allocation %s still runs revision %d", a.ID, a.Revision)
		}
	}
}

// checkSecondLabRefused starts a second containerd lab three ways while
// the lab runs (lab up of another name, flotilla bench containerd, then lab
// down of the lab that never started): each is refused, and nothing of the
// running lab changes: every container is the same process, and the host
// still refuses lab addresses (no lab packet may follow the default route
// off the machine).
func checkSecondLabRefused(t *testing.T, l *labCLI, socket string) {
	pids := map[string]map[string]int{}
	for _, n := range []string{"n1", "n2", "n3"} {
		pids[n] = taskPIDs(t, socket, n)
	}
	intact := func(step string) {
		t.Helper()
		for _, ip := range []string{"10.199.7.7", "10.200.1.3", "10.201.0.9"} {
			if routes, err := netlink.RouteGet(net.ParseIP(ip)); !errors.Is(err, unix.EHOSTUNREACH) {
				t.Errorf("%s: route get %s = %v %v, want unreachable", step, ip, routes, err)
			}
		}
		for n, before := range pids {
			if now := taskPIDs(t, socket, n); !maps.Equal(now, before) {
				t.Errorf("%s: the tasks of %s are %v, were %v", step, n, now, before)
			}
		}
		for _, n := range []string{"s1", "n1"} {
			if ok, err := netlab.NetnsExists("flotilla-ce2e-" + n); err != nil || !ok {
				t.Errorf("%s: node %s is gone (%v)", step, n, err)
			}
		}
	}
	intact("before")
	refused := func(what string, err error, out string) {
		t.Helper()
		if err == nil || !strings.Contains(out, "another containerd lab is up") {
			t.Fatalf("%s with a containerd lab up: %v\n%s\nwant a refusal: another containerd lab is up", what, err, out)
		}
	}
	out, err := l.run("lab", "up", "--runtime", "containerd", "--name", "other", "--timeout", "20s")
	refused("lab up --name other", err, out)
	intact("after lab up --name other")
	l.run("lab", "down", "--name", "other") // of a lab that never started: nothing to do
	intact("after lab down --name other")
	out, err = l.run("bench", "containerd", "--agents", "1", "--replicas", "1")
	refused("bench containerd", err, out)
	intact("after bench containerd")
}
