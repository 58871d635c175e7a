package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/internal/text"
	"flotilla/runtime"
)

// reconcile brings one allocation's container in line with what the
// servers want, level-triggered: it looks at the desired allocation, the
// agent's memory of it and the runtime, whatever event queued it.
func (a *Agent) reconcile(ctx context.Context, id string) error {
	a.mu.Lock()
	d := a.desired[id]
	var l *localAlloc
	if x := a.local[id]; x != nil {
		c := *x
		l = &c
	}
	a.mu.Unlock()

	st, err := a.rt.Status(ctx, id)
	exists := err == nil
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("status of %s: %w", id, err)
	}
	if d == nil || d.DesiredStatus != api.DesiredRun || d.TerminalStatus() {
		return a.ensureGone(ctx, id, d, exists, st)
	}
	if l != nil && l.Ended != "" {
		// It ended here for good; the scheduler replaces it. Say so again
		// in case the report was lost.
		if exists && st.State == runtime.StateRunning {
			if err := a.rt.Stop(ctx, id, a.cfg.StopGrace); err != nil {
				return err
			}
		}
		if last, ok := a.reporter.Last(id); !ok || last.Status != l.Ended {
			a.report(id, l.Ended, "ended on this node", nil, l.Restarts)
		}
		return nil
	}
	if exists && !belongsTo(st, d) {
		// Left by another cluster (or an older service of the same name)
		// under the same ID: not ours to adopt.
		a.cfg.Logger.Warn("removing a container that belongs to something else", "alloc", id,
			"container_service", st.Namespace+"/"+st.Service, "container_revision", st.Revision,
			"service", d.ServiceKey(), "revision", d.Revision)
		if st.State != runtime.StateExited {
			if err := a.rt.Stop(ctx, id, 0); err != nil {
				return fmt.Errorf("stop foreign container %s: %w", id, err)
			}
		}
		if err := a.rt.Remove(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("remove foreign container %s: %w", id, err)
		}
		exists, l = false, nil
		if err := a.saveLocal(id, nil); err != nil {
			return err
		}
	}
	if !exists {
		return a.start(ctx, d, l)
	}
	// The revision's spec drives the probes: a container adopted from an
	// earlier run of the agent (containerd's outlive it) needs it fetched.
	if _, _, err := a.containerSpec(ctx, d); err != nil && !errors.Is(err, runtime.ErrInvalidSpec) {
		return err
	}
	if l == nil {
		// Running, but forgotten (state lost): adopt it.
		l = &localAlloc{ID: id, Namespace: d.Namespace, Service: d.Service, Revision: d.Revision, Started: true}
		if err := a.saveLocal(id, l); err != nil {
			return err
		}
	}
	switch st.State {
	case runtime.StateCreated:
		if err := a.rt.Start(ctx, id); err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		a.watchExit(ctx, id)
		return a.reportCurrent(ctx, id, l)
	case runtime.StateExited:
		return a.handleExit(ctx, d, l, st)
	}
	if err := a.renewCertificates(ctx, d, l); err != nil { // certs.go
		return err
	}
	if err := a.reloadFiles(ctx, d, l); err != nil {
		return err
	}
	a.watchExit(ctx, id)
	return a.reportCurrent(ctx, id, l)
}

// belongsTo reports whether a container found under an allocation's ID was
// made for that allocation's service and revision (true when the runtime
// does not say).
func belongsTo(st runtime.Status, d *api.Allocation) bool {
	if st.Service == "" {
		return true
	}
	return st.Service == d.Service && st.Namespace == d.Namespace && st.Revision == d.Revision
}

// ensureGone stops and removes a container nobody wants, and tells the
// servers when they still think it may run.
func (a *Agent) ensureGone(ctx context.Context, id string, d *api.Allocation, exists bool, st runtime.Status) error {
	a.stopProbes(id)
	a.forgetCertificates(id)
	if exists {
		if st.State != runtime.StateExited {
			if err := a.rt.Stop(ctx, id, a.cfg.StopGrace); err != nil {
				return fmt.Errorf("stop %s: %w", id, err)
			}
		}
		if err := a.rt.Remove(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("remove %s: %w", id, err)
		}
		a.cfg.Logger.Info("stopped allocation", "alloc", id)
	}
	if d != nil && !d.TerminalStatus() {
		reason := "stopped"
		if d.DesiredReason != "" {
			reason += ": " + d.DesiredReason
		}
		restarts := d.Restarts
		a.mu.Lock()
		if l := a.local[id]; l != nil {
			restarts = l.Restarts
		}
		a.mu.Unlock()
		a.report(id, api.AllocComplete, reason, nil, restarts)
	}
	if d == nil {
		a.reporter.Forget(id)
	}
	return a.saveLocal(id, nil)
}

// start creates and starts a container for an allocation.
func (a *Agent) start(ctx context.Context, d *api.Allocation, l *localAlloc) error {
	spec, svc, err := a.containerSpec(ctx, d)
	if l == nil {
		l = &localAlloc{ID: d.ID, Namespace: d.Namespace, Service: d.Service, Revision: d.Revision}
	}
	if errors.Is(err, runtime.ErrInvalidSpec) {
		return a.fail(d.ID, l, err.Error())
	}
	if err != nil {
		return err
	}
	if wait := l.NextStart.Sub(a.cfg.Clock.Now()); !l.NextStart.IsZero() && wait > 0 {
		// It was waiting out a restart backoff when its container went
		// (the agent restarted): the backoff still holds.
		a.queue.AddAfter(d.ID, wait)
		return nil
	}
	l.NextStart = time.Time{}
	// Its configs and secrets, fetched for this start (files.go).
	if ready, err := a.withFiles(ctx, d, svc, l, &spec); errors.Is(err, runtime.ErrInvalidSpec) {
		return a.fail(d.ID, l, err.Error())
	} else if !ready {
		return err
	}
	// And its certificates, a new key each (certs.go).
	if ready, err := a.withCertificates(ctx, d, svc, l, &spec); errors.Is(err, runtime.ErrInvalidSpec) {
		return a.fail(d.ID, l, err.Error())
	} else if !ready {
		return err
	}
	if l.Started {
		// It ran here before and its container is gone (the agent
		// restarted, or someone removed it): this start is a restart.
		l.Restarts++
	}
	a.report(d.ID, api.AllocStarting, "", nil, l.Restarts)
	if err := a.rt.Create(ctx, spec); err != nil && !errors.Is(err, runtime.ErrExists) {
		if errors.Is(err, runtime.ErrInvalidSpec) {
			return a.fail(d.ID, l, err.Error())
		}
		return a.startFailed(d.ID, l, fmt.Errorf("create %s: %w", d.ID, err))
	}
	if err := a.rt.Start(ctx, d.ID); err != nil {
		return a.startFailed(d.ID, l, fmt.Errorf("start %s: %w", d.ID, err))
	}
	l.Started = true
	if err := a.saveLocal(d.ID, l); err != nil {
		return err
	}
	a.cfg.Logger.Info("started allocation", "alloc", d.ID, "service", d.ServiceKey(), "revision", d.Revision)
	a.watchExit(ctx, d.ID)
	return a.reportCurrent(ctx, d.ID, l)
}

// startFailed reports why an allocation's container could not be created
// or started (an image that cannot be pulled, say) on the allocation
// itself, as Kubernetes shows ErrImagePull on the pod, and returns err
// for the worker to retry with its backoff.
func (a *Agent) startFailed(id string, l *localAlloc, err error) error {
	a.report(id, api.AllocStarting, err.Error()+" (retrying)", nil, l.Restarts)
	return err
}

// handleExit applies the restart policy to a container that exited while
// its allocation should run.
func (a *Agent) handleExit(ctx context.Context, d *api.Allocation, l *localAlloc, st runtime.Status) error {
	_, svc, err := a.containerSpec(ctx, d)
	if errors.Is(err, runtime.ErrInvalidSpec) {
		return a.fail(d.ID, l, err.Error())
	}
	if err != nil {
		return err
	}
	now := a.cfg.Clock.Now()
	killed := a.stopProbes(d.ID)
	if l.NextStart.IsZero() {
		code := st.ExitCode
		if killed != "" && code == 0 {
			// Killed by its probes: a failure, however it exited.
			code = 137
		}
		dec := decideRestart(svc.Restart, code, l.Recent, now)
		reason := dec.Reason
		cause := exitCause(code, killed, st.Error)
		switch {
		case killed != "":
			reason = killed + "; " + reason
		case st.Error != "":
			reason += " (" + st.Error + ")"
		}
		l.LastExit = cause
		a.cfg.Logger.Info("allocation exited", "alloc", d.ID, "exit_code", st.ExitCode, "decision", reason)
		if !dec.Restart {
			l.Ended = dec.Status
			if err := a.saveLocal(d.ID, l); err != nil {
				return err
			}
			a.report(d.ID, dec.Status, reason, nil, l.Restarts)
			return nil
		}
		l.NextStart = now.Add(dec.Wait)
		if err := a.saveLocal(d.ID, l); err != nil {
			return err
		}
		a.report(d.ID, api.AllocStarting, reason, nil, l.Restarts)
	}
	if wait := l.NextStart.Sub(now); wait > 0 {
		a.queue.AddAfter(d.ID, wait)
		return nil
	}
	if err := a.rt.Start(ctx, d.ID); err != nil {
		return fmt.Errorf("restart %s: %w", d.ID, err)
	}
	l.Restarts++
	why := l.LastExit
	if why == "" {
		why = "its container exited"
	}
	a.reporter.Event(api.AllocEvent{Allocation: d.ID, Type: api.EventAllocationRestart, Time: now,
		Message: fmt.Sprintf("restarted after %s (%d restart%s so far)", why, l.Restarts, text.Plural(l.Restarts))})
	l.Recent = append(pruneBefore(l.Recent, now.Add(-svc.Restart.Window.Std())), now)
	l.NextStart = time.Time{}
	if err := a.saveLocal(d.ID, l); err != nil {
		return err
	}
	a.watchExit(ctx, d.ID)
	return a.reportCurrent(ctx, d.ID, l)
}

// exitCause says why a container stopped: what killed it, its exit code
// and, past 128, the signal that ended it.
func exitCause(code int, killed, runtimeErr string) string {
	cause := fmt.Sprintf("exited with code %d", code)
	if code > 128 && code < 128+65 {
		cause += " after " + signalName(syscall.Signal(code-128))
	}
	if killed != "" {
		cause = killed + "; " + cause
	}
	if runtimeErr != "" {
		cause += " (" + runtimeErr + ")"
	}
	return cause
}

// signalName is "SIGKILL" for 9, as people read signals.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return fmt.Sprintf("signal %d", int(sig))
}

func pruneBefore(times []time.Time, cutoff time.Time) []time.Time {
	out := times[:0:0]
	for _, t := range times {
		if !t.Before(cutoff) {
			out = append(out, t)
		}
	}
	return out
}

// fail ends an allocation that cannot run here.
func (a *Agent) fail(id string, l *localAlloc, reason string) error {
	a.stopProbes(id)
	l.Ended = api.AllocFailed
	if err := a.saveLocal(id, l); err != nil {
		return err
	}
	a.cfg.Logger.Warn("allocation failed", "alloc", id, "reason", reason)
	a.report(id, api.AllocFailed, reason, nil, l.Restarts)
	return nil
}

// reportCurrent reports a started container as the runtime sees it.
func (a *Agent) reportCurrent(ctx context.Context, id string, l *localAlloc) error {
	st, err := a.rt.Status(ctx, id)
	if err != nil {
		return fmt.Errorf("status of %s: %w", id, err)
	}
	if st.State != runtime.StateRunning {
		// It exited already: the exit watcher queues it again.
		return nil
	}
	a.mu.Lock()
	var svc *api.ServiceSpec
	if d := a.desired[id]; d != nil {
		svc = a.specs[specKey(d)]
	}
	a.mu.Unlock()
	if svc != nil {
		a.startProbes(ctx, id, st.IP, svc)
	}
	a.report(id, api.AllocRunning, "", &st, l.Restarts)
	return nil
}

// report records a status for the next batch. A running allocation is
// ready when its readiness probe (or, without one, its start) says so.
func (a *Agent) report(id, status, message string, st *runtime.Status, restarts int) {
	u := api.AllocStatusUpdate{ID: id, Status: status, Message: message, Restarts: restarts}
	if st != nil {
		u.Ready = status == api.AllocRunning && a.isReady(id)
		u.Address = a.allocAddress(id, st)
	}
	a.reporter.Set(u)
}

// allocAddress is ip:port of the container's first port.
func (a *Agent) allocAddress(id string, st *runtime.Status) string {
	if st.IP == "" {
		return ""
	}
	port := 8080
	a.mu.Lock()
	d := a.desired[id]
	var svc *api.ServiceSpec
	if d != nil {
		svc = a.specs[specKey(d)]
	}
	a.mu.Unlock()
	if svc != nil && len(svc.Ports) > 0 {
		port = svc.Ports[0].Port
	}
	return net.JoinHostPort(st.IP, strconv.Itoa(port))
}

// exitNotifier is a runtime that calls back when a container exits, so
// that no goroutine per container waits for it (the null runtime of
// thousands of fake nodes, whose waiting goroutines took gigabytes).
type exitNotifier interface {
	NotifyExit(id string, fn func())
}

// watchExit queues the allocation again when its container exits.
func (a *Agent) watchExit(ctx context.Context, id string) {
	a.mu.Lock()
	if a.waiting[id] {
		a.mu.Unlock()
		return
	}
	a.waiting[id] = true
	a.mu.Unlock()
	if n, ok := a.rt.(exitNotifier); ok {
		n.NotifyExit(id, func() {
			a.mu.Lock()
			delete(a.waiting, id)
			a.mu.Unlock()
			if ctx.Err() == nil {
				a.queue.Add(id)
			}
		})
		return
	}
	go func() {
		_, err := a.rt.Wait(ctx, id)
		a.mu.Lock()
		delete(a.waiting, id)
		a.mu.Unlock()
		if err == nil || errors.Is(err, runtime.ErrNotFound) {
			a.queue.Add(id)
		}
	}()
}

// specKey names an allocation's revision: its index tells a service
// deleted and created again (whose revisions start again at 1) from the
// one before.
func specKey(d *api.Allocation) string {
	return d.Namespace + "/" + d.Service + "/" + strconv.Itoa(d.Revision) + "@" + strconv.FormatUint(d.RevisionIndex, 10)
}

// containerSpec builds the container for an allocation from its revision's
// spec, which it fetches once per revision.
func (a *Agent) containerSpec(ctx context.Context, d *api.Allocation) (runtime.ContainerSpec, *api.ServiceSpec, error) {
	key := specKey(d)
	a.mu.Lock()
	svc := a.specs[key]
	a.mu.Unlock()
	if svc == nil {
		call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, 5*time.Second)
		rev, err := a.cfg.Revisions.Get(call, d.Namespace, d.Service, d.Revision, d.RevisionIndex)
		cancel()
		if errors.Is(err, api.ErrNotFound) {
			return runtime.ContainerSpec{}, nil, fmt.Errorf("revision %d of %s is gone: %w", d.Revision, d.ServiceKey(), runtime.ErrInvalidSpec)
		}
		if err != nil {
			return runtime.ContainerSpec{}, nil, fmt.Errorf("fetch revision %d of %s: %w", d.Revision, d.ServiceKey(), err)
		}
		if d.RevisionIndex != 0 && rev.CreateIndex != d.RevisionIndex {
			return runtime.ContainerSpec{}, nil, fmt.Errorf("revision %d of %s belongs to a service of that name created since: %w", d.Revision, d.ServiceKey(), runtime.ErrInvalidSpec)
		}
		svc = &rev.Spec
		a.mu.Lock()
		a.specs[key] = svc
		a.mu.Unlock()
	}
	env := map[string]string{}
	for k, v := range svc.Env {
		env[k] = v
	}
	env["FLOTILLA_NODE"] = a.cfg.Name
	env["FLOTILLA_ALLOC"] = d.ID
	env["FLOTILLA_SERVICE"] = d.Service
	env["FLOTILLA_NAMESPACE"] = d.Namespace
	env["FLOTILLA_REVISION"] = strconv.Itoa(d.Revision)
	return runtime.ContainerSpec{
		ID: d.ID, Namespace: d.Namespace, Service: d.Service, Revision: d.Revision, Node: a.cfg.Name,
		Image: svc.Image, Command: svc.Command, Args: svc.Args, Env: env, Ports: svc.Ports, Resources: svc.Resources,
	}, svc, nil
}
