package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"flotilla/agent/probe"
	"flotilla/api"
	"flotilla/internal/vnet"
)

// probing is one running container's probes.
type probing struct {
	cancel context.CancelFunc
	// ready is the readiness verdict: only ready allocations get traffic.
	ready bool
	// killed says why the probes killed the container, for its exit report.
	killed string
}

// newProbeClient is the client that checks HTTP probes, dialing through n
// (nil: the host's network); no keep-alive, so that every check opens a
// connection as a new client would.
func newProbeClient(n vnet.Net) *http.Client {
	t := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if !vnet.IsHost(n) {
		t.DialContext = n.DialContext
	}
	return &http.Client{Transport: t}
}

// startProbes runs a running container's probes, once.
func (a *Agent) startProbes(ctx context.Context, id, ip string, svc *api.ServiceSpec) {
	a.mu.Lock()
	if _, ok := a.probes[id]; ok {
		a.mu.Unlock()
		return
	}
	if svc.Probes == (api.Probes{}) {
		// Nothing to run: ready as soon as it runs, reported so in the
		// running report itself, and no goroutines (ten thousand fake
		// nodes hold a hundred thousand of these).
		a.probes[id] = &probing{cancel: func() {}, ready: true}
		a.mu.Unlock()
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &probing{cancel: cancel}
	a.probes[id] = p
	a.mu.Unlock()

	events := make(chan probe.Event)
	runner := &probe.Runner{Probes: svc.Probes, Clock: a.cfg.Clock, Events: events,
		Check: func(ctx context.Context, pr *api.Probe) error { return a.check(ctx, id, ip, svc, pr) }}
	go func() {
		for {
			select {
			case <-pctx.Done():
				return
			case e := <-events:
				a.probeEvent(id, p, e)
			}
		}
	}()
	go func() {
		verdict := runner.Run(pctx)
		if verdict.Kind == "" || pctx.Err() != nil {
			return
		}
		// Startup gave up, or liveness failed: kill it; the restart
		// policy decides what comes next when the exit is seen, and its
		// report says why the container died.
		a.mu.Lock()
		p.killed = verdict.Message
		a.mu.Unlock()
		if err := a.rt.Stop(pctx, id, a.cfg.StopGrace); err != nil && pctx.Err() == nil {
			a.cfg.Logger.Warn("kill unhealthy container", "alloc", id, "err", err)
		}
	}()
}

// probeEvent records a verdict change and reports it.
func (a *Agent) probeEvent(id string, p *probing, e probe.Event) {
	if e.Kind == probe.Readiness {
		a.mu.Lock()
		p.ready = e.Passing
		a.mu.Unlock()
	}
	ev := api.AllocEvent{Allocation: id, Message: e.Message, Time: e.Time, Type: api.EventProbeSucceeded}
	switch {
	case !e.Passing && e.Kind == probe.Liveness:
		ev.Type = api.EventLivenessKilled
	case !e.Passing && e.Kind == probe.Startup:
		ev.Type = api.EventStartupKilled
	case !e.Passing:
		ev.Type = api.EventProbeFailed
	}
	if e.Message != "no readiness probe" {
		a.reporter.Event(ev)
	}
	a.cfg.Logger.Info("probe", "alloc", id, "probe", e.Kind, "passing", e.Passing, "message", e.Message)
	a.queue.Add(id) // report the new readiness
}

// stopProbes ends a container's probes and returns why they killed it,
// if they did.
func (a *Agent) stopProbes(id string) (killed string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.probes[id]; ok {
		p.cancel()
		delete(a.probes, id)
		return p.killed
	}
	return ""
}

// isReady is the readiness verdict of a running container's probes.
func (a *Agent) isReady(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.probes[id]
	return ok && p.ready
}

// portNumber resolves a probe's port: a name of the service's ports, or a
// number.
func portNumber(svc *api.ServiceSpec, ref api.PortRef) (int, error) {
	if ref.Name == "" {
		return ref.Number, nil
	}
	for _, p := range svc.Ports {
		if p.Name == ref.Name {
			return p.Port, nil
		}
	}
	return 0, fmt.Errorf("no port named %q", ref.Name)
}

// check runs one probe check against the container: HTTP and TCP reach
// its address, exec runs inside it.
func (a *Agent) check(ctx context.Context, id, ip string, svc *api.ServiceSpec, p *api.Probe) error {
	switch {
	case p.HTTP != nil:
		port, err := portNumber(svc, p.HTTP.Port)
		if err != nil {
			return err
		}
		path := p.HTTP.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(ip, strconv.Itoa(port))+path, nil)
		if err != nil {
			return err
		}
		for k, v := range p.HTTP.Headers {
			req.Header.Set(k, v)
		}
		req.Header.Set("User-Agent", "flotilla-probe")
		resp, err := a.probeClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP %d from %s", resp.StatusCode, path)
		}
		return nil
	case p.TCP != nil:
		port, err := portNumber(svc, p.TCP.Port)
		if err != nil {
			return err
		}
		conn, err := vnet.Or(a.cfg.Net).DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case p.Exec != nil:
		var out strings.Builder
		code, err := a.rt.Exec(ctx, id, p.Exec.Command, io.Discard, &out)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("%s exited with %d: %s", p.Exec.Command[0], code, strings.TrimSpace(out.String()))
		}
		return nil
	}
	return fmt.Errorf("probe has no check")
}
