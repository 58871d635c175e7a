package virtual

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing/synctest"
	"time"

	"flotilla/scenarios/scenario"
	"flotilla/scheduler"
)

// Options are a virtual run's.
type Options struct {
	// Report shows the run (wrap it in scenario.StableIDs for a trace
	// that compares across runs).
	Report scenario.Reporter
	// Log receives the servers' and agents' logs (discarded when nil).
	Log io.Writer
	// Dir holds the lab's data (a temporary directory, removed at the
	// end, when empty).
	Dir string
	// Seed, when non-zero, replays the random choices of Flotilla's own
	// code: the lab's (Spec.Seed) and the loads' (scenario.Runner.Seed).
	// The libraries' come from math/rand's global source, which the
	// caller seeds.
	Seed uint64
	// tweak, when set, changes each server's configuration (tests).
	tweak func(*scheduler.Config)
}

// Play starts the lab the scenario asks for in this process and plays the
// scenario on it, then stops the lab. It must run inside a synctest
// bubble (internal/bubble.Run, or synctest.Test in a test): outside one,
// the simulated network works but time is the machine's.
func Play(sc *scenario.Scenario, o Options) (err error) {
	// A containerd lab is played with the sim runtime, whose replicas
	// live inside their agents: gossip's verdict on a node that fails (or
	// is cut off) marks it down at once, where a containerd node's
	// containers may outlive their agent, so that it is first taken out
	// of rotation and marked down when its heartbeat TTL lapses.
	if sc.Lab.Runtime != "" && sc.Lab.Runtime != scenario.RuntimeSim && sc.Lab.Runtime != scenario.RuntimeContainerd {
		return fmt.Errorf("lab.runtime %s: virtual time runs the sim runtime only; run the scenario live", sc.Lab.Runtime)
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "flotilla-virtual-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()
	c, err := Start(ctx, Spec{Servers: sc.Lab.Servers, Agents: sc.Lab.Agents, Seed: o.Seed, tweak: o.tweak}, dir, o.Log)
	if err != nil {
		return fmt.Errorf("start a virtual lab: %w", err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stop the virtual lab: %w", cerr)
		}
	}()
	client := c.Client()
	client.AttemptTimeout = 5 * time.Second
	where := c.Describe()
	if sc.Lab.Runtime == scenario.RuntimeContainerd {
		where += " (standing in for the containerd lab the scenario asks for)"
	}
	r := &scenario.Runner{Cluster: client, Lab: c, DNS: c.DNS(), Net: c.Net, Virtual: true, Where: where, Report: o.Report, Seed: o.Seed,
		Settle: synctest.Wait}
	if err := r.Check(sc); err != nil {
		return err
	}
	return r.Run(ctx, sc)
}
