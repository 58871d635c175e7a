package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"flotilla/api"
)

// Lab is what node faults need of the lab a run started: the lab
// package's faults, and which of its processes are servers.
type Lab interface {
	Kill(name string) error
	Pause(name string) error
	Resume(name string) error
	Restart(name string) error
	WaitReady(ctx context.Context, name string, timeout time.Duration) error
	Servers() []string
}

// Partitioner is what partition and heal faults need of a lab: one whose
// nodes have links to cut (a containerd lab), or a virtual one. Heal
// without names reconnects every node. The runner asks a Lab for it, so
// labs (and fakes) without partitions need not have it.
type Partitioner interface {
	Partition(names ...string) error
	Heal(names ...string) error
}

// restartReady bounds the wait for a restarted process to be ready, as
// `flotilla lab restart` does.
const restartReady = 30 * time.Second

// appFaultTimeout bounds one request to a demo app's admin endpoint.
const appFaultTimeout = 5 * time.Second

// nodeFault kills, pauses, resumes, restarts, cuts off or reconnects a
// lab process and says what it did.
func (r *run) nodeFault(ctx context.Context, f *FaultStep) (string, error) {
	if r.lab == nil {
		return "", fmt.Errorf("node faults need the lab the run starts (this run uses --address)")
	}
	target := f.nodeTarget()
	links, _ := r.lab.(Partitioner)
	if (f.Partition != "" || f.Heal != "") && links == nil {
		return "", errors.New("partitions need a lab whose links can be cut: a containerd lab, or --virtual")
	}
	if f.Heal == NodeAll {
		if err := links.Heal(); err != nil {
			return "", fmt.Errorf("heal: %w", err)
		}
		return "every node is connected again", nil
	}
	name, why, err := r.resolveNode(ctx, target)
	if err != nil {
		return "", err
	}
	leader := ""
	if slices.Contains(r.lab.Servers(), name) && (f.Kill != "" || f.Pause != "" || f.Partition != "") {
		if l, err := r.cluster.Leader(ctx); err == nil {
			leader = l.Leader
		}
	}
	var verb string
	switch {
	case f.Kill != "":
		verb, err = "killed", r.lab.Kill(name)
	case f.Pause != "":
		verb, err = "paused (SIGSTOP)", r.lab.Pause(name)
	case f.Resume != "":
		verb, err = "resumed", r.lab.Resume(name)
	case f.Restart != "":
		start := time.Now()
		if err = r.lab.Restart(name); err == nil {
			err = r.lab.WaitReady(ctx, name, restartReady)
		}
		verb = fmt.Sprintf("restarted, ready in %.1fs", time.Since(start).Seconds())
	case f.Partition != "":
		verb, err = "cut off the network: it keeps running, but reaches nobody and nobody reaches it", links.Partition(name)
	case f.Heal != "":
		verb, err = "connected again", links.Heal(name)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	r.lastNode = name
	if leader == name {
		r.world.lostLeader = name
		why = " (the leader)"
	}
	return name + why + " " + verb, nil
}

// resolveNode turns leader, follower and last into a process name.
func (r *run) resolveNode(ctx context.Context, target string) (name, why string, err error) {
	switch target {
	case NodeLast:
		if r.lastNode == "" {
			// Parse refuses this; a runner must not fault node "" either.
			return "", "", errors.New("last: no node fault came before")
		}
		return r.lastNode, "", nil
	case NodeLeader, NodeFollower:
		l, err := r.cluster.Leader(ctx)
		if err != nil {
			return "", "", fmt.Errorf("find the leader: %w", err)
		}
		if l.Leader == "" {
			return "", "", fmt.Errorf("find the leader: there is none")
		}
		if target == NodeLeader {
			return l.Leader, " (the leader)", nil
		}
		for _, s := range r.lab.Servers() {
			if s != l.Leader {
				return s, " (a follower)", nil
			}
		}
		return "", "", fmt.Errorf("no server but the leader %s", l.Leader)
	}
	return target, "", nil
}

// appFault sends the fault to the demo app of the allocations it targets,
// through its admin endpoints, and names them.
func (r *run) appFault(ctx context.Context, f *FaultStep) (string, error) {
	ns := namespaceOr(f.Namespace)
	allocs, _, err := r.cluster.Allocations(ctx, api.AllocFilter{Namespace: ns, Service: f.Service}, api.QueryOptions{})
	if err != nil {
		return "", fmt.Errorf("read allocations of %s: %w", f.Service, err)
	}
	var targets []*api.Allocation
	for _, a := range allocs {
		if a.DesiredStatus == api.DesiredRun && a.Status == api.AllocRunning && a.Address != "" &&
			(f.Node == "" || a.Node == f.Node) && (f.Revision == 0 || a.Revision == f.Revision) {
			targets = append(targets, a)
		}
	}
	// Always the same ones, whatever order the API lists them in.
	slices.SortFunc(targets, func(a, b *api.Allocation) int {
		return strings.Compare(a.Node+"/"+a.ID, b.Node+"/"+b.ID)
	})
	if len(targets) == 0 {
		return "", fmt.Errorf("no running allocation of %s to fault", f.Service)
	}
	n := f.Replicas
	switch {
	case f.All, f.restores() && n == 0:
		n = len(targets)
	case n == 0:
		n = 1
	}
	if n > len(targets) {
		return "", fmt.Errorf("%d allocations of %s to fault, only %d run", n, f.Service, len(targets))
	}
	path, what := f.adminRequest()
	var hit []string
	for _, a := range targets[:n] {
		if err := r.postAdmin(ctx, a.Address, path); err != nil {
			return "", fmt.Errorf("%s of %s on %s: %w", what, a.ID, a.Node, err)
		}
		hit = append(hit, a.ID+" on "+a.Node)
	}
	return fmt.Sprintf("%s: %s", what, strings.Join(hit, ", ")), nil
}

// restores reports whether an app fault puts things back (then it goes to
// every allocation unless told otherwise).
func (f *FaultStep) restores() bool {
	return f.Readiness == "pass" || f.Liveness == "pass" || f.Latency == "0" || f.Latency == "0s" ||
		(f.ErrorRate != "" && mustRate(f.ErrorRate) == 0)
}

func mustRate(s string) float64 {
	r, _ := parseRate(s) // validated
	return r
}

// adminRequest is the demo app's admin path for the fault, and what it
// does in words.
func (f *FaultStep) adminRequest() (path, what string) {
	switch {
	case f.Crash:
		return "/admin/crash", "crashed"
	case f.Readiness != "":
		return "/admin/readiness?fail=" + fmt.Sprint(f.Readiness == "fail"), "readiness " + f.Readiness
	case f.Liveness != "":
		return "/admin/liveness?fail=" + fmt.Sprint(f.Liveness == "fail"), "liveness " + f.Liveness
	case f.Latency != "":
		return "/admin/latency?d=" + url.QueryEscape(f.Latency), "latency " + f.Latency
	}
	return "/admin/errors?rate=" + url.QueryEscape(f.ErrorRate), "error rate " + f.ErrorRate
}

func (r *run) postAdmin(ctx context.Context, address, path string) error {
	ctx, cancel := context.WithTimeout(ctx, appFaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+address+path, nil)
	if err != nil {
		return err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
