package agent

import (
	"context"
	"time"

	"flotilla/api"
	"flotilla/internal/clock"
	"flotilla/runtime"
)

// usageInterval is how often the runtime's figures of the running
// allocations go to the servers, where the autoscaler's cpu and memory
// metrics and `flotilla top` read them.
const usageInterval = time.Second

// usageStatsTimeout bounds one container's reading (containerd asks the
// task's cgroup and the demo app's /metrics).
const usageStatsTimeout = 500 * time.Millisecond

// usageLoop reads Runtime.Stats of every running container each
// usageInterval and reports them in one batch.
func (a *Agent) usageLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.cfg.Clock.After(usageInterval):
		}
		reports := a.readUsage(ctx)
		if len(reports) == 0 {
			continue
		}
		call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, 2*time.Second)
		err := a.servers.ReportUsage(call, a.cfg.Name, reports)
		cancel()
		if err != nil && ctx.Err() == nil {
			a.cfg.Logger.Debug("report usage", "err", err)
		}
	}
}

// readUsage reads the figures of the running containers this node is
// meant to run; a container that cannot be read is left out (the leader
// treats a missing figure conservatively).
func (a *Agent) readUsage(ctx context.Context) []api.AllocUsage {
	list, err := a.rt.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.cfg.Logger.Debug("list containers for usage", "err", err)
		}
		return nil
	}
	a.mu.Lock()
	wanted := make(map[string]bool, len(a.desired))
	for id, al := range a.desired {
		wanted[id] = al.DesiredStatus == api.DesiredRun
	}
	a.mu.Unlock()
	var reports []api.AllocUsage
	for _, st := range list {
		if st.State != runtime.StateRunning || !wanted[st.ID] {
			continue
		}
		call, cancel := clock.WithTimeout(ctx, a.cfg.Clock, usageStatsTimeout)
		s, err := a.rt.Stats(call, st.ID)
		cancel()
		if err != nil {
			continue
		}
		reports = append(reports, api.AllocUsage{ID: st.ID, CPU: s.CPU, Memory: s.Memory})
	}
	return reports
}
